package caddyjwt

import (
	"context"
	"fmt"
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Logout{})
}

// Logout clears its backend's token cookie, on POST and, for plain links,
// on GET. API clients get 204; browsers (Accept lists text/html) are sent
// on (303) to Redirect. A backend without a cookie has nothing to clear;
// its logout answers 204. A logout that a browser sent from another origin
// is refused with 403, as jwt_login refuses such a login, and clears
// nothing.
//
// Logging out also revokes the tokens the request carries (the cookie and
// an `Authorization: Bearer` token) by their jti, until they expire, in the
// app's store: jwt_auth refuses them from then on, on every instance that
// shares the store.
type Logout struct {
	// The backend whose cookie is cleared. May be left empty when exactly
	// one backend is defined. Default: the only backend.
	Backend string `json:"backend,omitempty"`

	// Where a browser goes after logging out: a local path. Default: /.
	Redirect string `json:"redirect,omitempty"`

	backend *Backend
	logger  *zap.Logger
	// lines are where the Caddyfile set each setting, for errors.
	lines *settingLines
}

// CaddyModule returns the Caddy module information.
func (Logout) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_logout",
		New: func() caddy.Module { return new(Logout) },
	}
}

// Provision looks the backend up and checks the redirect target.
func (h *Logout) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	if h.backend, err = h.validate(app); err != nil {
		return reportConfigError(ctx, err)
	}
	if h.Redirect == "" {
		h.Redirect = "/"
	}
	return nil
}

// validate checks the settings against the backends of app, names the
// backend when it was left to default, and returns it; the Caddyfile
// adapter runs it too.
func (h *Logout) validate(app *App) (*Backend, error) {
	name, b, err := app.backend(h.Backend)
	if err != nil {
		return nil, fmt.Errorf("jwt_logout: %v", err)
	}
	h.Backend = name
	if h.Redirect != "" && safeRedirect(h.Redirect) != h.Redirect {
		return nil, settingError("jwt_logout", "redirect", "%q must be a local path such as /login", h.Redirect)
	}
	return b, nil
}

func (h *Logout) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	switch r.Method {
	case http.MethodPost, http.MethodGet:
	default:
		w.Header().Set("Allow", "GET, POST")
		return writeJSON(w, http.StatusMethodNotAllowed, errorBody{"invalid_request", "method not allowed; use POST"})
	}
	w.Header().Set("Cache-Control", "no-store")
	// Another site could otherwise sign its visitors out of this one with
	// a link or an image (logout CSRF).
	if crossSite(r) {
		if ce := h.logger.Check(zapcore.DebugLevel, "logout request refused"); ce != nil {
			ce.Write(zap.String("backend", h.backend.name), zap.String("client_ip", clientIP(r)), zap.String("reason", "cross-site logout refused"))
		}
		return writeJSON(w, http.StatusForbidden, errorBody{"invalid_request", "cross-site logout refused"})
	}
	h.revokePresented(r)
	c := h.backend.Cookie
	if c == nil {
		// Bearer tokens live in the client; there is nothing to clear.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.SetCookie(w, c.clear())
	if rs := h.backend.refresh; rs != nil && rs.path != "" {
		http.SetCookie(w, c.refreshCookie("", rs.path, 0))
	}
	if ce := h.logger.Check(zapcore.DebugLevel, "logout"); ce != nil {
		ce.Write(zap.String("backend", h.backend.name), zap.String("client_ip", clientIP(r)))
	}
	if expectsPage(r) {
		w.Header().Set("Location", h.Redirect)
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokePresented revokes the tokens the request carries, in the
// Authorization header and the backend's cookie, until they expire, and
// the refresh family they belong to. Only a token that verifies for the
// backend is revoked, so that nobody can revoke a token id they made up.
func (h *Logout) revokePresented(r *http.Request) {
	b := h.backend
	sids := make(map[string]bool)
	if b.refresh != nil && b.Cookie != nil {
		if ck, err := r.Cookie(b.Cookie.refreshName()); err == nil && ck.Value != "" {
			if sid, ok := h.familyOfRefreshToken(r, ck.Value); ok {
				sids[sid] = true
			}
		}
	}
	var raws []string
	if raw, err := bearerToken(r.Header); err == nil && raw != "" {
		raws = append(raws, raw)
	}
	if c := h.backend.Cookie; c != nil {
		if ck, err := r.Cookie(c.Name); err == nil && ck.Value != "" {
			raws = append(raws, ck.Value)
		}
	}
	for _, raw := range raws {
		id, err := b.Verify(raw)
		if b.refresh != nil && err == errTokenExpired {
			// An expired token still names its family, which logging
			// out ends while it lives.
			if sid := b.expiredSID(raw); sid != "" && b.familyLive(r.Context(), sid) {
				sids[sid] = true
			}
			continue
		}
		if err != nil {
			continue // not ours, or already revoked
		}
		if id.sid != "" && b.refresh != nil {
			sids[id.sid] = true
		}
		if id.jti == "" {
			continue // revocable by user only
		}
		b.store.revoke(revocation{Backend: b.name, JTI: id.jti, Until: id.times.expires().Unix()})
		if ce := h.logger.Check(zapcore.InfoLevel, "token revoked"); ce != nil {
			ce.Write(zap.String("backend", b.name), zap.String("user", id.userID), zap.String("jti", id.jti), zap.String("by", "logout"))
		}
	}
	for sid := range sids {
		b.revokeFamily(sid)
		if ce := h.logger.Check(zapcore.InfoLevel, "session revoked"); ce != nil {
			ce.Write(zap.String("backend", b.name), zap.String("session", sid), zap.String("by", "logout"))
		}
	}
}

// familyOfRefreshToken finds the family of a refresh token, if the store
// knows it.
func (h *Logout) familyOfRefreshToken(r *http.Request, raw string) (string, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	sid, ok, err := h.backend.store.families().familyOf(ctx, h.backend.name, refreshHash(raw))
	if err != nil {
		h.logger.Warn("logout could not end the session of its refresh token: the store is unreachable",
			zap.String("backend", h.backend.name), zap.Error(err))
	}
	return sid, ok
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Logout)(nil)
	_ caddyhttp.MiddlewareHandler = (*Logout)(nil)
)
