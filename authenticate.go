package caddyjwt

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http/httpguts"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Auth{})
}

// Auth lets a request through only when it carries a valid token for one of
// its backends, and fails it with 401 (400 for a malformed Authorization
// header, 403 when a `require` rule does not hold) otherwise. Failures are handler errors, so `handle_errors` can
// render them; the reason is in `{http.auth.jwt.error}`. With `redirect`,
// a browser navigating to a page is sent to the login page instead. A CORS
// preflight needs a token like any other request, unless AllowPreflight is
// set.
//
// The token is the first one present of: an `Authorization: Bearer`
// header, then the cookie of each backend that has one, then the
// `from_header` header, then the `from_query` parameter.
//
// A response it lets through is authenticated content: unless it carries a
// Cache-Control header of its own, it gets `Cache-Control: private,
// no-cache`, so no shared cache keeps it and a browser asks again after a
// logout.
//
// On success it sets `{http.auth.user.id}` (the backend's user claim, which
// Caddy's access log shows as user_id), `{http.auth.user.<claim>}` for each
// top-level claim, and `{http.auth.jwt.backend}`.
//
// It can also answer another proxy that asks whether a request may pass
// (forward auth: Caddy's forward_auth, nginx auth_request, Traefik
// ForwardAuth): IdentityHeaders tell that proxy who the bearer is, and
// Forwarded reads the request it asks about.
type Auth struct {
	// The backends a token may be valid for, tried in this order. May be
	// left empty when exactly one backend is defined. Default: the only
	// backend.
	Backends []string `json:"backends,omitempty"`

	// Where a browser without a valid token is sent instead of getting a
	// 401: the login page, a local path or an absolute URL. The request's
	// original URI is added as the `redirect` query parameter, so the login
	// page can send the browser back. A browser is a GET or HEAD request
	// whose Sec-Fetch-Mode is navigate or, without that header, whose Accept
	// lists text/html; API clients always get status codes. Default: none.
	Redirect string `json:"redirect,omitempty"`

	// Leaves the responses it lets through alone, instead of giving those
	// without a Cache-Control header `Cache-Control: private, no-cache`.
	// Default: false.
	DisableCacheControl bool `json:"disable_cache_control,omitempty"`

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

	// Lets CORS preflights (OPTIONS with Origin and
	// Access-Control-Request-Method) through untouched, without a token,
	// for a next handler that answers them itself. Anyone can send such a
	// request, so the next handler must not answer an OPTIONS with
	// protected content. Default: false, a preflight needs a token like
	// any other request.
	AllowPreflight bool `json:"allow_preflight,omitempty"`

	// Reads the request that another proxy asks about (forward auth) from
	// its X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host and
	// X-Forwarded-Uri headers, when the request comes from a trusted proxy
	// (the server's trusted_proxies); anyone else's are ignored. The
	// original method decides whether a browser is redirected, and the
	// original URL becomes the redirect target: its path and query when
	// Redirect is a local path, the whole URL when Redirect is absolute
	// and the original host is one of RedirectHosts, else `/`.
	// Default: false.
	Forwarded bool `json:"forwarded,omitempty"`

	// The hosts whose URLs may be the redirect target, with Forwarded and
	// an absolute Redirect: host names or IPv4 addresses, matched on any
	// port, or `*.example.com` for every name under example.com. The
	// login page needs them in its own redirect_hosts. Default: none.
	RedirectHosts []string `json:"redirect_hosts,omitempty"`

	// Response headers that tell a proxy asking about a request (forward
	// auth) who the bearer is, for it to copy onto the request it passes
	// on: set on every request let through, to the user id or a claim, and
	// to an empty value when the token lacks the claim, so the header is
	// always the token's word. Default: none.
	IdentityHeaders []IdentityHeader `json:"identity_headers,omitempty"`

	backends []*Backend
	// cookies are the names of the backends' cookies, in backend order.
	cookies []string
	// redirectPrefix is Redirect followed by "?redirect=" or "&redirect=".
	redirectPrefix string
	// localLogin says Redirect is a local path: a forwarded request's
	// original path is then the target, on the proxy's own host.
	localLogin bool
	// hosts are the prepared RedirectHosts.
	hosts hostList
	// identity are the prepared IdentityHeaders.
	identity []identityField
	// rules are the prepared Require rules.
	rules []rule
	// challenge is the WWW-Authenticate value without error attributes.
	challenge string
	logger    *zap.Logger
	// lines are where the Caddyfile set each setting, for errors.
	lines *settingLines
}

// IdentityHeader is a response header of jwt_auth that carries the user id
// or a claim of the token it accepted.
type IdentityHeader struct {
	// The header's name, such as X-User. Required.
	Header string `json:"header"`

	// The top-level claim whose value the header carries, written as its
	// `{http.auth.user.<claim>}` placeholder is. Default: the user id (the
	// backend's user claim).
	Claim string `json:"claim,omitempty"`
}

// identityField is a prepared IdentityHeader.
type identityField struct {
	// name is the canonical header name.
	name string
	// claim is the claim, "" for the user id.
	claim string
}

// value is the field's value for a verified token: the claim as its
// placeholder shows it, "" when the token lacks it.
func (f identityField) value(id *identity) string {
	if f.claim == "" {
		return id.userID
	}
	id.renderOnce.Do(id.render)
	s, _ := id.values[f.claim].(string)
	return s
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
	if h.backends, err = h.validate(app); err != nil {
		return reportConfigError(ctx, err)
	}
	h.cookies = h.cookies[:0]
	for _, b := range h.backends {
		if b.Cookie != nil && !slices.Contains(h.cookies, b.Cookie.Name) {
			h.cookies = append(h.cookies, b.Cookie.Name)
		}
	}
	h.challenge = `Bearer realm="` + h.backends[0].name + `"`
	h.rules = h.rules[:0]
	for _, r := range h.Require {
		prepared, _ := newRule(r) // validate checked it
		h.rules = append(h.rules, prepared)
	}
	if h.Redirect != "" {
		h.redirectPrefix, _ = loginRedirectPrefix(h.Redirect) // validate checked it
		h.localLogin = isLocalPath(h.Redirect)
	}
	h.hosts, _ = newHostList(h.RedirectHosts) // validate checked it
	h.identity = h.identity[:0]
	for _, ih := range h.IdentityHeaders {
		h.identity = append(h.identity, identityField{name: http.CanonicalHeaderKey(ih.Header), claim: ih.Claim})
	}
	return nil
}

// validate checks the settings against the backends of app, names the
// backend when it was left to default, and returns the backends; the
// Caddyfile adapter runs it too.
func (h *Auth) validate(app *App) ([]*Backend, error) {
	resolved, backends, err := app.backendList("jwt_auth", h.Backends)
	if err != nil {
		return nil, err
	}
	h.Backends = resolved
	for i, r := range h.Require {
		if _, err := newRule(r); err != nil {
			return nil, &configError{scope: "jwt_auth", setting: "require", index: i, msg: err.Error()}
		}
	}
	if h.FromHeader != "" && strings.EqualFold(h.FromHeader, "Authorization") {
		return nil, settingError("jwt_auth", "from_header", "Authorization is always read; name another header")
	}
	// A name no request can carry would silently never match.
	if h.FromHeader != "" && !httpguts.ValidHeaderFieldName(h.FromHeader) {
		return nil, settingError("jwt_auth", "from_header", "%q is not a valid header name", h.FromHeader)
	}
	if h.Redirect != "" {
		if _, err := loginRedirectPrefix(h.Redirect); err != nil {
			return nil, settingError("jwt_auth", "redirect", "%v", err)
		}
	}
	if err := h.validateForwardAuth(); err != nil {
		return nil, err
	}
	return backends, nil
}

// validateForwardAuth checks the settings for answering another proxy:
// redirect_hosts and identity_header.
func (h *Auth) validateForwardAuth() error {
	if _, err := newHostList(h.RedirectHosts); err != nil {
		return settingError("jwt_auth", "redirect_hosts", "%v", err)
	}
	if len(h.RedirectHosts) > 0 {
		// Hosts that are never used would look like a protection.
		switch {
		case !h.Forwarded:
			return settingError("jwt_auth", "redirect_hosts", "only used with forwarded, for the original URL that a trusted proxy sends")
		case h.Redirect == "":
			return settingError("jwt_auth", "redirect_hosts", "only used with redirect <login-url>")
		case isLocalPath(h.Redirect):
			return settingError("jwt_auth", "redirect_hosts", "not used: redirect %q is a local path, so the original path is the target, on the host the browser is on; give redirect the login page's absolute URL, or remove redirect_hosts", h.Redirect)
		}
	}
	seen := make(map[string]bool, len(h.IdentityHeaders))
	for i, ih := range h.IdentityHeaders {
		name := http.CanonicalHeaderKey(ih.Header)
		var msg string
		switch {
		case !httpguts.ValidHeaderFieldName(ih.Header):
			msg = fmt.Sprintf("%q is not a valid header name", ih.Header)
		case slices.Contains(reservedHeaders, name):
			msg = fmt.Sprintf("%s means something of its own to HTTP clients and proxies; name another header, such as X-User", name)
		case seen[name]:
			msg = fmt.Sprintf("%s is set twice", name)
		}
		if msg != "" {
			return &configError{scope: "jwt_auth", setting: "identity_header", index: i, msg: msg}
		}
		seen[name] = true
	}
	return nil
}

// reservedHeaders are the response headers an identity header must not
// replace: the proxy and the browser read them.
var reservedHeaders = []string{
	"Authorization", "Cache-Control", "Connection", "Content-Length", "Content-Type",
	"Cookie", "Location", "Set-Cookie", "Transfer-Encoding", "Www-Authenticate",
}

// loginRedirectPrefix checks a login URL and returns it ready for the
// `redirect` parameter's value; a query string it has is kept.
func loginRedirectPrefix(loginURL string) (string, error) {
	u, err := url.Parse(loginURL)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %v", loginURL, err)
	}
	switch {
	case u.Fragment != "" || strings.Contains(loginURL, "#"):
		return "", fmt.Errorf("%q has a fragment; the redirect parameter has to come last", loginURL)
	case u.Scheme == "" && u.Host == "" && !isLocalPath(loginURL):
		return "", fmt.Errorf("%q must be a local path (/login) or an absolute http(s) URL", loginURL)
	case u.Scheme != "" && ((u.Scheme != "http" && u.Scheme != "https") || u.Host == ""):
		return "", fmt.Errorf("%q must be a local path (/login) or an absolute http(s) URL", loginURL)
	}
	if strings.Contains(loginURL, "?") {
		if strings.HasSuffix(loginURL, "?") || strings.HasSuffix(loginURL, "&") {
			return loginURL + "redirect=", nil
		}
		return loginURL + "&redirect=", nil
	}
	return loginURL + "?redirect=", nil
}

func (h *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Browsers never send credentials on a CORS preflight, so a next
	// handler that answers preflights itself needs them let through. It is
	// no authentication decision, so it is not counted.
	if h.AllowPreflight && isPreflight(r) {
		return next.ServeHTTP(w, r)
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)

	raw, bearer, err := h.token(r)
	if err != nil {
		return h.badRequest(w, repl, err)
	}
	if raw == "" {
		h.backends[0].metrics.authNoToken.Inc()
		return h.unauthorized(w, r, repl, "", "no token")
	}

	var firstErr error
	for _, b := range h.backends {
		l := b.lookup(raw)
		id, err := l.id, l.err
		if !l.found {
			// A token found in a cache was verified before, so only
			// another one of the Authorization header is checked for
			// the bytes RFC 6750 allows there, and once.
			if bearer && !isB64Token(raw) {
				return h.badRequest(w, repl, errAuthMalformed)
			}
			bearer = false
			id, err = b.verifyMiss(raw, &l)
		}
		if err == nil {
			// The placeholders are set on a 403 too: the bearer is known,
			// and the access log should say who was refused.
			repl.Map(id.replace)
			if reason := h.authorize(id); reason != "" {
				b.metrics.authForbidden.Inc()
				return h.fail(w, repl, http.StatusForbidden, "insufficient_scope", reason)
			}
			b.metrics.authOK.Inc()
			for _, f := range h.identity {
				w.Header().Set(f.name, f.value(id))
			}
			if !h.DisableCacheControl {
				w = &privateResponse{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
			}
			return next.ServeHTTP(w, r)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	h.backends[0].metrics.countRejected(firstErr)
	return h.unauthorized(w, r, repl, "invalid_token", firstErr.Error())
}

// badRequest answers a request whose Authorization header is malformed.
func (h *Auth) badRequest(w http.ResponseWriter, repl *caddy.Replacer, err error) error {
	h.backends[0].metrics.authBadRequest.Inc()
	return h.fail(w, repl, http.StatusBadRequest, "invalid_request", err.Error())
}

// unauthorized answers a request without a valid token: a browser is sent
// to the login page when there is one, anything else gets a 401.
func (h *Auth) unauthorized(w http.ResponseWriter, r *http.Request, repl *caddy.Replacer, code, reason string) error {
	if h.redirectPrefix == "" {
		return h.fail(w, repl, http.StatusUnauthorized, code, reason)
	}
	method, target := r.Method, ""
	if h.Forwarded {
		if f, ok := readForwarded(r); ok {
			if f.method != "" {
				method = f.method
			}
			target = h.forwardedTarget(f)
		}
	}
	if !navigates(method, r.Header) {
		return h.fail(w, repl, http.StatusUnauthorized, code, reason)
	}
	if target == "" {
		target = originalURL(r).RequestURI()
	}
	repl.Set("http.auth.jwt.error", reason)
	if c := h.logger.Check(zapcore.DebugLevel, "request sent to login"); c != nil {
		c.Write(zap.String("backend", h.backends[0].name), zap.String("reason", reason))
	}
	w.Header().Set("Location", h.redirectPrefix+url.QueryEscape(target))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
	return nil
}

// forwardedTarget is the redirect target of a request that a trusted proxy
// asks about: the original path and query when the login page is on the
// host the browser is on (Redirect is a local path), the whole original URL
// when the login page is elsewhere and the original host is one of
// RedirectHosts, and "/" when the proxy's headers give neither. It is ""
// when the proxy sent no X-Forwarded-Uri: the request is then its own.
func (h *Auth) forwardedTarget(f forwardedRequest) string {
	switch {
	case f.uri == "":
		return ""
	case h.localLogin:
		return safeRedirect(f.uri)
	case (f.proto == "http" || f.proto == "https") && strings.HasPrefix(f.uri, "/"):
		if target := f.proto + "://" + f.host + f.uri; h.hosts.allowsURL(target) {
			return target
		}
	}
	return "/"
}

// fail sets the RFC 6750 challenge and the error placeholder and returns the
// handler error. code is empty when no token was sent at all: RFC 6750 §3.1
// says such a challenge carries no error attribute.
func (h *Auth) fail(w http.ResponseWriter, repl *caddy.Replacer, status int, code, reason string) error {
	challenge := h.challenge
	switch code {
	case "":
	case "insufficient_scope":
		// The token is fine, its claims are not enough: the client gets
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
		if !h.rules[i].holds(id.claims()) {
			return h.rules[i].reason
		}
	}
	return ""
}

// token finds the request's token in its sources, in order, the first
// present winning: the Authorization header, the backend's
// cookie, from_header, from_query. It returns "" when there is none, and
// an error only for a malformed or repeated Authorization header. bearer
// tells the token is the Authorization header's, not yet checked to be a
// b64token.
func (h *Auth) token(r *http.Request) (raw string, bearer bool, err error) {
	// Authorization: Bearer <token>
	if raw, err := bearerCredentials(r.Header); raw != "" || err != nil {
		return raw, true, err
	}

	// The backends' cookies, in backend order.
	for _, name := range h.cookies {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, false, nil
		}
	}

	// from_header: the whole header value is the token.
	if h.FromHeader != "" {
		if raw := strings.TrimSpace(r.Header.Get(h.FromHeader)); raw != "" {
			return raw, false, nil
		}
	}

	// from_query: off unless configured, since URLs leak into logs.
	if h.FromQuery != "" {
		if raw := r.URL.Query().Get(h.FromQuery); raw != "" {
			return raw, false, nil
		}
	}
	return "", false, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Auth)(nil)
	_ caddyhttp.MiddlewareHandler = (*Auth)(nil)
)
