// The admin API of the jwt app: revoking a token or a user on a running
// Caddy, through Caddy's own admin endpoint.

package caddyjwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// maxAdminBody bounds a revocation request.
const maxAdminBody = 64 << 10

// adminAPI is the admin.api.jwt module: `POST /jwt/revoke` revokes one
// token by its jti, one session (refresh family) by its sid, or every token
// and session of a user issued up to now. Caddy loads
// every admin.api module with its admin endpoint.
type adminAPI struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.jwt",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision keeps the logger.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	return nil
}

// Routes returns the admin routes of the jwt app.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/jwt/revoke", Handler: caddy.AdminHandlerFunc(a.revoke)}}
}

// revokeRequest is the body of `POST /jwt/revoke`: a backend and exactly
// one of jti, sid and user.
type revokeRequest struct {
	Backend string `json:"backend"`
	JTI     string `json:"jti,omitempty"`
	SID     string `json:"sid,omitempty"`
	User    string `json:"user,omitempty"`
}

// parseRevokeRequest reads a revocation request strictly: one JSON object,
// no unknown fields, exactly one of jti, sid and user.
func parseRevokeRequest(body []byte) (revokeRequest, error) {
	var req revokeRequest
	if !isSingleObject(body) {
		return req, errors.New(`the body must be one JSON object: {"backend": ..., "jti": ...} or {"backend": ..., "user": ...}`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("reading the body: %v", err)
	}
	given := 0
	for _, v := range []string{req.JTI, req.SID, req.User} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return req, errors.New("give exactly one of jti, sid and user")
	}
	return req, nil
}

func (a *adminAPI) revoke(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("use POST")}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil || len(body) > maxAdminBody {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("the body could not be read or is too large")}
	}
	req, err := parseRevokeRequest(body)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	app, err := caddy.ActiveContext().AppIfConfigured("jwt")
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("the running config has no jwt app")}
	}
	jwtApp := app.(*App)
	if req.Backend == "" && len(jwtApp.Backends) > 1 {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("name the backend: the config has several")}
	}
	name, b, err := jwtApp.backend(req.Backend)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
	}
	var rev revocation
	if req.SID != "" {
		// The family ends, and with it every access token it issued.
		rev = b.revokeFamily(req.SID)
	} else {
		rev = b.revocationOf(req.JTI, req.User, time.Now())
		b.store.revoke(rev)
	}
	what := zap.String("jti", rev.JTI)
	switch {
	case rev.User != "":
		what = zap.String("user", rev.User)
	case rev.SID != "":
		what = zap.String("session", rev.SID)
	}
	a.logger.Info("token revoked", zap.String("backend", name), what, zap.String("by", "admin api"))
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"revoked": rev})
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
