// Bearer tokens (RFC 6750): reading the Authorization header and quoting
// reasons into the challenge.

package caddyjwt

import (
	"errors"
	"net/http"
	"strings"
)

// Errors about the Authorization header itself; they answer 400.
var (
	errAuthRepeated  = errors.New("more than one Authorization header")
	errAuthMalformed = errors.New("malformed Authorization header")
)

// quotable makes s fit RFC 6750's error_description (printable ASCII except
// `"` and `\`) by replacing anything else with '?'. Reasons are fixed texts,
// but some name a configured claim, which may hold anything.
func quotable(s string) string {
	for i := 0; i < len(s); i++ {
		if !descriptionChar(s[i]) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if !descriptionChar(b[j]) {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}

func descriptionChar(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// bearerToken reads the token of an `Authorization: Bearer` header (the
// scheme is case-insensitive). It returns "" and no error when there is no
// such header or it uses another scheme (RFC 6750 §3.1: a request without
// Bearer credentials gets a challenge without an error code).
func bearerToken(header http.Header) (string, error) {
	token, err := bearerCredentials(header)
	if token != "" && !isB64Token(token) {
		return "", errAuthMalformed
	}
	return token, err
}

// bearerCredentials is bearerToken without the check that the token is a
// b64token, which jwt_auth makes only of a token it has not verified
// before: one it has is made of base64url segments, all b64token bytes.
func bearerCredentials(header http.Header) (string, error) {
	values := header["Authorization"]
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errAuthRepeated
	}
	if token, ok := usualCredentials(values[0]); ok {
		return token, nil
	}
	return anyCredentials(values[0])
}

// usualCredentials reads the usual value, "Bearer " and a token with no
// space around it, as it is: anyCredentials' trimming and case folding
// would leave it so. ok is false for any other value.
func usualCredentials(value string) (token string, ok bool) {
	const prefix = "Bearer "
	if len(value) > len(prefix) && value[:len(prefix)] == prefix && plainByte(value[len(prefix)]) && plainByte(value[len(value)-1]) {
		return value[len(prefix):], true
	}
	return "", false
}

// plainByte tells whether c is a printable ASCII byte other than space:
// neither strings.TrimSpace nor strings.Cut at " " stops at it.
func plainByte(c byte) bool { return c > ' ' && c < 0x7f }

// anyCredentials reads any Authorization header value: the scheme and the
// token may have spaces around them, and the scheme any case.
func anyCredentials(value string) (string, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(value), " ")
	if scheme == "" {
		return "", errAuthMalformed
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", nil
	}
	token := strings.TrimSpace(rest)
	if token == "" {
		return "", errAuthMalformed
	}
	return token, nil
}

// isB64Token tells whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	// Every byte of every token goes through here: a table lookup without
	// a branch per byte is twice as fast as a switch.
	var bad byte
	for _, c := range []byte(s[:end]) {
		bad |= notB64TokenChar[c]
	}
	return bad == 0
}

// notB64TokenChar is 1 for the bytes that are not in a b64token before
// its padding.
var notB64TokenChar = func() (t [256]byte) {
	for c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			t[c] = 1
		}
	}
	return t
}()
