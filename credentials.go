// Login credentials: the OAuth2 password form or JSON body a login sends.

package caddyjwt

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// loginForm is what a login request sent.
type loginForm struct {
	username, password string
	// grant is the OAuth2 grant type: "password" (also when none was
	// sent) or "refresh_token", with refreshToken (which may be empty:
	// then the refresh cookie is used).
	grant, refreshToken string
	// errCode is the OAuth2 error of a refused request, when it is not
	// invalid_request.
	errCode string
	// redirect is the form's `redirect` field: where a browser wants to go
	// after logging in. It is checked before any use: a local path, or a
	// URL on one of the login's redirect_hosts (hostList.target).
	redirect string
}

// readCredentials reads username and password, or a refresh token when
// refresh is allowed, from a form or JSON body. A non-zero status says the
// request is refused, with detail saying why.
func readCredentials(r *http.Request, refresh bool) (form loginForm, status int, detail string) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mediaType != "application/x-www-form-urlencoded" && mediaType != "application/json") {
		return form, http.StatusUnsupportedMediaType,
			"unsupported content type; send application/x-www-form-urlencoded or application/json"
	}
	if r.ContentLength > maxLoginBody {
		return form, http.StatusRequestEntityTooLarge, "request body too large"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLoginBody+1))
	if err != nil {
		return form, http.StatusBadRequest, "could not read the request body"
	}
	if len(body) > maxLoginBody {
		return form, http.StatusRequestEntityTooLarge, "request body too large"
	}

	var grantType string
	if mediaType == "application/json" {
		var in struct {
			Username     *string `json:"username"`
			Password     *string `json:"password"`
			GrantType    *string `json:"grant_type"`
			RefreshToken *string `json:"refresh_token"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return form, http.StatusBadRequest, "body is not a JSON object with string fields username and password"
		}
		if in.RefreshToken != nil {
			form.refreshToken = *in.RefreshToken
		}
		if in.Username != nil {
			form.username = *in.Username
		}
		if in.Password != nil {
			form.password = *in.Password
		}
		if in.GrantType != nil {
			grantType = *in.GrantType
			if grantType == "" {
				grantType = "\x00" // present but empty: refused below
			}
		}
	} else {
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return form, http.StatusBadRequest, "malformed form body"
		}
		form.username, form.password = values.Get("username"), values.Get("password")
		form.redirect = values.Get("redirect")
		form.refreshToken = values.Get("refresh_token")
		if gt, ok := values["grant_type"]; ok {
			grantType = gt[0]
			if grantType == "" {
				grantType = "\x00"
			}
		}
	}
	form.grant = "password"
	switch {
	case grantType == "" || grantType == "password":
	case !wellFormedGrant(grantType):
		return form, http.StatusBadRequest, "grant_type is empty or malformed"
	case grantType == "refresh_token" && refresh:
		form.grant = grantType
		return form, 0, ""
	default:
		form.errCode = "unsupported_grant_type"
		if refresh {
			return form, http.StatusBadRequest, "grant_type must be password or refresh_token"
		}
		return form, http.StatusBadRequest, "grant_type must be password"
	}
	switch {
	case form.username == "":
		return form, http.StatusBadRequest, "username is required"
	case form.password == "":
		return form, http.StatusBadRequest, "password is required"
	}
	return form, 0, ""
}

// wellFormedGrant tells whether a grant type is a name or a URI as RFC 6749
// §A.10 allows.
func wellFormedGrant(g string) bool {
	for i := 0; i < len(g); i++ {
		c := g[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0) {
			return false
		}
	}
	return g != ""
}
