package caddyjwt

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Login{})
}

// Defaults of the login limiter.
const (
	defaultRateLimitCount  = 10
	defaultRateLimitWindow = 5 * time.Minute

	// maxLoginBody bounds a login request body.
	maxLoginBody = 64 << 10
)

// Login is a login endpoint: it takes a username and password, as an OAuth2
// password form or as JSON, checks them against its backend's users, and
// answers with a signed token:
//
//	{"token": T, "access_token": T, "token_type": "bearer", "expires_in": 3600}
//
// Failures answer 400 with {"error": ..., "detail": ...}, as fastapi-users
// does. GET and HEAD serve a login page; a browser that posts its form is
// sent on (303) to the form's `redirect` field after a success, and sees the
// page again with a message after a failure. When the backend has a cookie,
// every success also sets it.
type Login struct {
	// The backend whose users may log in and whose key signs the tokens.
	// May be left empty when exactly one backend is defined. Default: the
	// only backend.
	Backend string `json:"backend,omitempty"`

	// Brute-force protection: failed logins allowed per client IP (an
	// IPv6 client per /64, and 16 times as many per /48), or per device
	// cookie, and twice as many successful ones per client and five times
	// as many per user, counted for the backend: shared by its logins with the same
	// limit and kept across config reloads. Default: 10 failures per 5
	// minutes.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`

	// The path this login is served at, when its route matches one
	// literal path; the Caddyfile adapter fills it in from the
	// directive's matcher. It is the default refresh_path of the
	// backend's cookie. Default: none.
	Path string `json:"path,omitempty"`

	// Path of an html/template file that replaces the built-in login page.
	// It gets the fields Action, Redirect, Error, Username and Backend (see
	// docs/jwt_login.md). A template that does not parse is a configuration
	// error. Default: the built-in page.
	Page string `json:"page,omitempty"`

	// The hosts, besides this site, that a browser may be sent to after
	// logging in: an absolute http(s) URL in the `redirect` field is
	// honored when its host is one of them, for apps on other hosts whose
	// proxy asks jwt_auth (forward auth). Host names or IPv4 addresses,
	// matched on any port, or `*.example.com` for every name under
	// example.com (not example.com itself). Default: none, local paths
	// only.
	RedirectHosts []string `json:"redirect_hosts,omitempty"`

	app     *App
	backend *Backend
	page    *template.Template
	// hosts are the prepared RedirectHosts, and csp the login page's
	// Content-Security-Policy, whose form-action allows them.
	hosts hostList
	csp   string
	// limits is nil with rate_limit off, and once Cleanup gave it back.
	limits  *loginLimits
	devices *deviceCookies
	logger  *zap.Logger
	// lines are where the Caddyfile set each setting, for errors.
	lines *settingLines
}

// RateLimit limits failed logins per client IP (an IPv6 client per /64),
// shared by the backend's logins with the same limit and kept across
// reloads. The client IP is Caddy's, so it honors the server's
// trusted_proxies and ignores a spoofed X-Forwarded-For.
type RateLimit struct {
	// Failed logins allowed within the window; once a client IP reaches
	// it, every login from it gets 429 until its oldest failure leaves the
	// window. Default: 10.
	Count int `json:"count,omitempty"`

	// The sliding window failures are counted in. Default: 5m.
	Window caddy.Duration `json:"window,omitempty"`

	// Turns the limit off. Default: false.
	Disabled bool `json:"disabled,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Login) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_login",
		New: func() caddy.Module { return new(Login) },
	}
}

// Provision looks the backend up and sets up the limiter.
func (h *Login) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	h.app = app
	if h.backend, err = h.validate(app); err != nil {
		return reportConfigError(ctx, err)
	}
	if err := h.provisionRefreshPath(); err != nil {
		return reportConfigError(ctx, err)
	}
	if h.devices, err = newDeviceCookies(h.backend.name, h.backend.keys.signKey); err != nil {
		return fmt.Errorf("jwt_login: %v", err)
	}
	h.hosts, _ = newHostList(h.RedirectHosts) // validate checked it
	h.csp = loginPageCSP
	if !h.hosts.empty() {
		// A browser applies form-action to where the post redirects too.
		h.csp = strings.Replace(loginPageCSP, "form-action 'self'", "form-action 'self'"+h.hosts.cspSources(), 1)
	}
	h.page = defaultLoginPage
	if h.Page != "" {
		file := caddy.NewReplacer().ReplaceKnown(h.Page, "")
		if h.page, err = loadLoginPage(file); err != nil {
			return fmt.Errorf("jwt_login: page: %v", err)
		}
	}
	rl := RateLimit{}
	if h.RateLimit != nil {
		rl = *h.RateLimit
	}
	if !rl.Disabled {
		if rl.Count == 0 {
			rl.Count = defaultRateLimitCount
		}
		if rl.Window == 0 {
			rl.Window = caddy.Duration(defaultRateLimitWindow)
		}
		// Shared by the backend's logins with the same limit, and kept
		// across reloads, so neither gives a client fresh attempts.
		h.limits = loadLoginLimits(h.backend.name, rl.Count, time.Duration(rl.Window))
		h.limits.shared = app.store.counter()
	}
	return nil
}

// validate checks the settings against the backends of app without reading
// files, names the backend when it was left to default, and returns it; the
// Caddyfile adapter runs it too.
func (h *Login) validate(app *App) (*Backend, error) {
	name, b, err := app.backend(h.Backend)
	if err != nil {
		return nil, fmt.Errorf("jwt_login: %v", err)
	}
	h.Backend = name
	if err := b.canLogin(name); err != nil {
		return nil, fmt.Errorf("jwt_login: %v", err)
	}
	if rl := h.RateLimit; rl != nil && !rl.Disabled && (rl.Count < 0 || rl.Window < 0) {
		return nil, settingError("jwt_login", "rate_limit", "count and window must be positive")
	}
	if h.Path != "" && !isLocalPath(h.Path) {
		return nil, settingError("jwt_login", "path", "%q must be a path such as /auth/login", h.Path)
	}
	if _, err := newHostList(h.RedirectHosts); err != nil {
		return nil, settingError("jwt_login", "redirect_hosts", "%v", err)
	}
	if b.Refresh != nil && b.Cookie != nil && b.Cookie.RefreshPath == "" && h.Path == "" {
		return nil, &configError{scope: backendScope(name), setting: "cookie", sub: "refresh_path",
			msg: "refresh_path is needed for the refresh cookie, since jwt_login is not on one literal path (such as jwt_login /auth/login); set refresh_path to a path that covers jwt_login and jwt_logout, such as /auth"}
	}
	return b, nil
}

// provisionRefreshPath makes this login's path the Path of the backend's
// refresh cookie, when the cookie block does not set one.
func (h *Login) provisionRefreshPath() error {
	b := h.backend
	if b.refresh == nil || b.Cookie == nil || b.Cookie.RefreshPath != "" {
		return nil
	}
	switch b.refresh.path {
	case "":
		b.refresh.path = h.Path
	case h.Path:
	default:
		return &configError{scope: backendScope(b.name), setting: "cookie", sub: "refresh_path",
			msg: fmt.Sprintf("refresh_path is needed for the refresh cookie, since the backend's jwt_login routes are at %s and %s; set refresh_path to a path that covers both and jwt_logout", b.refresh.path, h.Path)}
	}
	return nil
}

// Cleanup gives the limiters back to the pool: they are dropped with their
// counts when no loaded config uses them any more.
func (h *Login) Cleanup() error {
	if h.limits == nil {
		return nil
	}
	err := h.limits.release()
	h.limits = nil
	return err
}

// errorBody is the JSON body of a refused login or logout, in
// fastapi-users' shape.
type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// tokenBody is the JSON body of a successful login: `token` for
// fastapi-users' clients, the rest for OAuth2 (RFC 6749 §5.1) clients.
type tokenBody struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	// With refresh: the refresh token and its seconds to live.
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
}

func (h *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		redirect := r.URL.Query().Get("redirect")
		if r.Method == http.MethodGet && h.silentRefresh(w, r, redirect) {
			return nil
		}
		return h.servePage(w, r, http.StatusOK, loginForm{redirect: redirect}, "")
	case http.MethodPost:
	default:
		h.backend.metrics.loginInvalidRequest.Inc()
		w.Header().Set("Allow", "GET, HEAD, POST")
		return writeJSON(w, http.StatusMethodNotAllowed, errorBody{"invalid_request", "method not allowed; use POST"})
	}
	// A browser's form gets pages and redirects; everything else gets JSON.
	browser := expectsPage(r)
	ip := clientIP(r)

	// A login another site makes the browser send would sign the visitor
	// in as whoever that site chose (login CSRF).
	if crossSite(r) {
		return h.refuse(w, r, ip, browser, http.StatusForbidden, "cross-site login refused", loginForm{},
			"This sign-in was sent from another site, so it was not used. To sign in, use this form.")
	}

	// A client with a device cookie is trusted for the user it names, so
	// its request is read first; any other is counted by its address before
	// its request is even read.
	now := time.Now()
	var form loginForm
	read := h.devices.present(r)
	deviceID, trusted := "", false
	if read {
		var status int
		var detail string
		if form, status, detail = readCredentials(r, h.backend.refresh != nil); status != 0 {
			return h.refuseForm(w, r, ip, browser, form, status, detail)
		}
		if form.grant == "password" {
			deviceID, trusted = h.devices.find(r, form.username, now)
		}
	}
	var adm admission
	if h.limits != nil {
		var wait time.Duration
		var by count
		adm, wait, by = h.limits.admit(ip, deviceID, now)
		if wait > 0 && trusted && by.l == h.limits.fails {
			// A device cookie with too many failures is trusted no more
			// until they leave the window; the client is counted by its
			// address.
			deviceID, trusted = "", false
			adm, wait, by = h.limits.admit(ip, "", now)
		}
		if wait > 0 {
			if browser && !read {
				// Reading the form (bounded, no hash) keeps what was
				// typed and where the person was going.
				form, _, _ = readCredentials(r, h.backend.refresh != nil)
			}
			return h.rateLimited(w, r, ip, browser, form, wait, by.l.refused(by.key, now, h.app.rateLimitedDelay))
		}
	}
	if !read {
		var status int
		var detail string
		if form, status, detail = readCredentials(r, h.backend.refresh != nil); status != 0 {
			adm.settle(notChecked)
			return h.refuseForm(w, r, ip, browser, form, status, detail)
		}
	}
	if form.grant == "refresh_token" {
		result, err := h.refreshGrant(w, r, form, ip, browser)
		adm.settle(result)
		return err
	}
	if h.limits != nil {
		if wait, by := h.limits.admitUser(&adm, form.username, now); wait > 0 {
			adm.settle(notChecked)
			return h.rateLimited(w, r, ip, browser, form, wait, by.l.refused(by.key, now, h.app.rateLimitedDelay))
		}
	}
	result, err := h.login(w, r, form, ip, browser, deviceID)
	adm.settle(result)
	return err
}

// rateLimited answers a login refused by its limits. again says the client
// was refused moments ago already: it is answered only after a delay.
func (h *Login) rateLimited(w http.ResponseWriter, r *http.Request, ip string, browser bool, form loginForm, wait time.Duration, again bool) error {
	h.logFailure(ip, "", "rate limited")
	h.backend.metrics.loginRateLimited.Inc()
	secs := int64((wait + time.Second - 1) / time.Second)
	if again {
		_ = sleepContext(r.Context(), min(wait, h.app.rateLimitedDelay))
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	if browser {
		return h.servePage(w, r, http.StatusTooManyRequests, form,
			"Too many failed attempts. Try again in "+waitText(secs)+".")
	}
	return writeJSON(w, http.StatusTooManyRequests, errorBody{"too_many_requests", "LOGIN_RATE_LIMITED"})
}

// refuseForm refuses a request whose credentials could not be read.
func (h *Login) refuseForm(w http.ResponseWriter, r *http.Request, ip string, browser bool, form loginForm, status int, detail string) error {
	message := "The sign-in form could not be read. Please try again."
	if status == http.StatusBadRequest && (form.username == "" || form.password == "") {
		message = "Enter your username and password."
	}
	return h.refuse(w, r, ip, browser, status, detail, form, message)
}

// refuse answers a login refused before any password check as an
// invalid_request: a browser gets the page with message, anything else
// JSON with detail, which is also the reason logged.
func (h *Login) refuse(w http.ResponseWriter, r *http.Request, ip string, browser bool, status int, detail string, form loginForm, message string) error {
	h.backend.metrics.loginInvalidRequest.Inc()
	if c := h.logger.Check(zap.DebugLevel, "login request refused"); c != nil {
		c.Write(zap.String("backend", h.backend.name), zap.String("client_ip", ip), zap.String("reason", detail))
	}
	if browser {
		return h.servePage(w, r, status, form, message)
	}
	code := "invalid_request"
	if form.errCode != "" {
		code = form.errCode
	}
	return writeJSON(w, status, errorBody{code, detail})
}

// login checks the credentials and answers, with pages and redirects for a
// browser and JSON otherwise; deviceID is the device whose cookie of the
// user the client showed, "" for none. The outcome tells the limits what to
// count.
func (h *Login) login(w http.ResponseWriter, r *http.Request, form loginForm, ip string, browser bool, deviceID string) (outcome, error) {
	release, err := h.app.acquireHashSlot(r.Context(), deviceID != "", h.backend.checkCost())
	if err != nil {
		// A client that went away while waiting is not worth a warning.
		if errors.Is(err, errBusy) {
			h.logger.Warn("login refused: too many concurrent logins",
				zap.String("backend", h.backend.name), zap.String("client_ip", ip))
		}
		h.backend.metrics.loginBusy.Inc()
		w.Header().Set("Retry-After", "1")
		if browser {
			return notChecked, h.servePage(w, r, http.StatusServiceUnavailable, form, "The server is busy. Try again in a moment.")
		}
		return notChecked, writeJSON(w, http.StatusServiceUnavailable, errorBody{"temporarily_unavailable", "LOGIN_BUSY"})
	}
	start := time.Now()
	user, err := h.backend.Authenticate(form.username, form.password)
	release(err != nil)
	h.backend.evenOut(r.Context(), start)
	if err != nil {
		logged := form.username
		if errors.Is(err, errNoSuchUser) {
			logged = ""
		}
		h.logFailure(ip, logged, err.Error())
		h.backend.metrics.loginBadCredentials.Inc()
		if browser {
			return failed, h.servePage(w, r, http.StatusBadRequest, form, "Wrong username or password.")
		}
		return failed, writeJSON(w, http.StatusBadRequest, errorBody{"invalid_grant", "LOGIN_BAD_CREDENTIALS"})
	}

	iss, err := h.backend.login(r.Context(), user)
	if err != nil {
		return succeeded, caddyhttp.Error(http.StatusInternalServerError, err)
	}
	h.backend.metrics.loginSuccess.Inc()
	h.logger.Info("login succeeded",
		zap.String("backend", h.backend.name), zap.String("user", user.name), zap.String("client_ip", ip))
	http.SetCookie(w, h.devices.issue(r, user.name, deviceID, time.Now()))
	return succeeded, h.respond(w, iss, browser, form.redirect)
}

// respond hands out the tokens of a login or refresh: in the cookies when
// the backend has them, and as JSON, or for a browser as a 303 to
// redirect, when it is a local path or a URL on one of redirect_hosts, and
// else to /.
func (h *Login) respond(w http.ResponseWriter, iss issued, browser bool, redirect string) error {
	if c := h.backend.Cookie; c != nil {
		http.SetCookie(w, c.issue(iss.token, time.Duration(iss.expiresIn)*time.Second))
		if iss.refresh != "" {
			http.SetCookie(w, c.refreshCookie(iss.refresh, h.backend.refresh.path, time.Duration(iss.refreshIn)*time.Second))
		}
	}
	if browser {
		w.Header().Set("Location", h.hosts.target(redirect))
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	return writeJSON(w, http.StatusOK, tokenBody{
		Token: iss.token, AccessToken: iss.token, TokenType: "bearer", ExpiresIn: iss.expiresIn,
		RefreshToken: iss.refresh, RefreshExpiresIn: iss.refreshIn,
	})
}

// waitText says how long a person must wait, for the login page.
func waitText(secs int64) string {
	if secs <= 90 {
		return strconv.FormatInt(secs, 10) + " seconds"
	}
	return strconv.FormatInt((secs+59)/60, 10) + " minutes"
}

// logFailure writes the audit line of a failed login. Its message and
// fields are stable, for fail2ban: msg "login failed", client_ip, reason,
// backend, and user only when the user exists (people type passwords into
// the username field).
func (h *Login) logFailure(ip, user, reason string) {
	fields := []zap.Field{zap.String("backend", h.backend.name), zap.String("client_ip", ip), zap.String("reason", reason)}
	if user != "" {
		fields = append(fields, zap.String("user", user))
	}
	h.logger.Warn("login failed", fields...)
}

// servePage writes the login page with the given status. form is what the
// previous attempt sent, if any; message says why it failed.
func (h *Login) servePage(w http.ResponseWriter, r *http.Request, status int, form loginForm, message string) error {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	data := loginPageData{
		Action:   formAction(r),
		Error:    message,
		Username: form.username,
		Backend:  h.backend.name,
	}
	// The hidden field only ever carries a target that will be honored.
	if h.hosts.target(form.redirect) == form.redirect {
		data.Redirect = form.redirect
	}
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, data); err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Login)(nil)
	_ caddy.CleanerUpper          = (*Login)(nil)
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
)
