package caddyjwt

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Auth{})
}

// Auth lets a request through only when it carries a valid token for one of
// its backends, and fails it with 401 (or 400 for a malformed Authorization
// header) otherwise. Failures are handler errors, so `handle_errors` can
// render them; the reason is in `{http.auth.jwt.error}`.
//
// On success it sets `{http.auth.user.id}` (the backend's user claim, which
// Caddy's access log shows as user_id), `{http.auth.user.<claim>}` for each
// top-level claim, and `{http.auth.jwt.backend}`.
type Auth struct {
	// The backends a token may be valid for, tried in this order. May be
	// left empty when exactly one backend is defined. Default: the only
	// backend.
	Backends []string `json:"backends,omitempty"`

	// A request header that may carry the token, tried after the
	// Authorization header: the whole value is the token. Caddy's access
	// log does not redact this header the way it redacts Authorization.
	// Default: none.
	FromHeader string `json:"from_header,omitempty"`

	// A query parameter that may carry the token, tried last. Off by
	// default: URLs end up in logs, browser history and Referer headers.
	// Default: none.
	FromQuery string `json:"from_query,omitempty"`

	// Authorization rules on the claims of a valid token; all must hold,
	// else the request gets 403 with `error="insufficient_scope"`.
	// Default: none, any valid token is enough.
	Require []Rule `json:"require,omitempty"`

	backends []*Backend
	rules    []rule
	// challenge is the WWW-Authenticate value without error attributes.
	challenge string
	logger    *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Auth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_auth",
		New: func() caddy.Module { return new(Auth) },
	}
}

// Provision looks the backends up in the jwt app.
func (h *Auth) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	names := h.Backends
	if len(names) == 0 {
		names = []string{""}
	}
	h.backends = h.backends[:0]
	for _, name := range names {
		b, err := app.backend(name)
		if err != nil {
			return fmt.Errorf("jwt_auth: %v", err)
		}
		h.backends = append(h.backends, b)
	}
	h.challenge = `Bearer realm="` + h.backends[0].name + `"`
	h.rules = h.rules[:0]
	for _, r := range h.Require {
		prepared, err := newRule(r)
		if err != nil {
			return fmt.Errorf("jwt_auth: %v", err)
		}
		h.rules = append(h.rules, prepared)
	}
	if h.FromHeader != "" && strings.EqualFold(h.FromHeader, "Authorization") {
		return fmt.Errorf("jwt_auth: from_header: Authorization is always read; name another header")
	}
	return nil
}

// Errors about the Authorization header itself; they answer 400.
var (
	errAuthRepeated  = errors.New("more than one Authorization header")
	errAuthMalformed = errors.New("malformed Authorization header")
)

func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Browsers never send credentials on a CORS preflight; demanding a
	// token there would only break CORS.
	if isPreflight(r) {
		return next.ServeHTTP(w, r)
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)

	raw, err := h.token(r)
	if err != nil {
		return h.fail(w, repl, http.StatusBadRequest, "invalid_request", err.Error())
	}
	if raw == "" {
		return h.fail(w, repl, http.StatusUnauthorized, "", "no token")
	}

	var firstErr error
	for _, b := range h.backends {
		id, err := b.Verify(raw)
		if err == nil {
			// The placeholders are set on a 403 too: the bearer is known,
			// and the access log should say who was refused.
			repl.Map(id.replace)
			if reason := h.authorize(id); reason != "" {
				return h.fail(w, repl, http.StatusForbidden, "insufficient_scope", reason)
			}
			return next.ServeHTTP(w, r)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return h.fail(w, repl, http.StatusUnauthorized, "invalid_token", firstErr.Error())
}

// fail sets the RFC 6750 challenge and the error placeholder and returns the
// handler error. code is empty when no token was sent at all: RFC 6750 §3.1
// says such a challenge carries no error attribute.
func (h *Auth) fail(w http.ResponseWriter, repl *caddy.Replacer, status int, code, reason string) error {
	challenge := h.challenge
	switch code {
	case "":
	case "insufficient_scope":
		// The token is fine, its claims are not enough: SPEC §4 gives
		// the code alone; the rule that failed is in the placeholder and
		// the log, for the operator rather than the client.
		challenge += `, error="` + code + `"`
	default:
		challenge += `, error="` + code + `", error_description="` + quotable(reason) + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	repl.Set("http.auth.jwt.error", reason)
	if c := h.logger.Check(zapcore.DebugLevel, "request rejected"); c != nil {
		c.Write(zap.String("backend", h.backends[0].name), zap.Int("status", status), zap.String("reason", reason))
	}
	return caddyhttp.Error(status, errors.New(reason))
}

// authorize checks the require rules; it returns why they fail, or "".
func (h *Auth) authorize(id *identity) string {
	for i := range h.rules {
		if !h.rules[i].holds(id.claims) {
			return h.rules[i].reason
		}
	}
	return ""
}

// token finds the request's token in the sources SPEC §4 lists, in order,
// the first present winning: the Authorization header, the backend's
// cookie, from_header, from_query. It returns "" when there is none, and
// an error only for a malformed or repeated Authorization header.
func (h *Auth) token(r *http.Request) (string, error) {
	// Authorization: Bearer <token>
	if raw, err := bearerToken(r.Header); raw != "" || err != nil {
		return raw, err
	}

	// The backend's cookie: see the cookie transport (browsers issue).

	// from_header: the whole header value is the token.
	if h.FromHeader != "" {
		if raw := strings.TrimSpace(r.Header.Get(h.FromHeader)); raw != "" {
			return raw, nil
		}
	}

	// from_query: off unless configured, since URLs leak into logs.
	if h.FromQuery != "" {
		if raw := r.URL.Query().Get(h.FromQuery); raw != "" {
			return raw, nil
		}
	}
	return "", nil
}

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
	values := header["Authorization"]
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errAuthRepeated
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if scheme == "" {
		return "", errAuthMalformed
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", nil
	}
	token := strings.TrimSpace(rest)
	if token == "" || !isB64Token(token) {
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
	for i := 0; i < end; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// isPreflight tells a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// replace provides the placeholders of an authenticated request. Values are
// rendered only when something asks for them.
func (id *identity) replace(key string) (any, bool) {
	rest, ok := strings.CutPrefix(key, "http.auth.")
	if !ok {
		return nil, false
	}
	switch rest {
	case "user.id":
		return id.userID, true
	case "jwt.backend":
		return id.backend, true
	}
	claim, ok := strings.CutPrefix(rest, "user.")
	if !ok {
		return nil, false
	}
	v, ok := id.claims[claim]
	if !ok {
		return nil, false
	}
	return claimString(v), true
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
