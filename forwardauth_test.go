package caddyjwt

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// These tests put caddy-jwt behind another proxy that asks it whether a
// request may pass (forward auth): Caddy's own forward_auth, in one Caddy
// config with two sites over loopback. The auth site runs jwt_login and
// jwt_auth; the front site asks it before it proxies to an app that
// reports the identity headers it was given.

// echoApp is the app behind the front site: it answers every request with
// the X-User and X-Role values it received, as JSON, and counts requests.
type echoApp struct {
	hits atomic.Int64
	addr string
}

// seen is what the app reports of one request.
type seen struct {
	User []string `json:"user"`
	Role []string `json:"role"`
}

func startEchoApp(t *testing.T) *echoApp {
	t.Helper()
	app := new(echoApp)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{User: r.Header.Values("X-User"), Role: r.Header.Values("X-Role")})
	}))
	t.Cleanup(srv.Close)
	app.addr = strings.TrimPrefix(srv.URL, "http://")
	return app
}

// forwardAuthSites is a running Caddy with the auth site and the front
// site.
type forwardAuthSites struct {
	auth, front string // base URLs
	frontHost   string // the front site's host:port, as browsers see it
	app         *echoApp
}

// loginURL is the auth site's login page.
func (s forwardAuthSites) loginURL() string { return s.auth + "/auth/login" }

// startForwardAuth runs the two sites; trusted is the auth server's
// trusted_proxies range, which must hold 127.0.0.1 for the front site's
// X-Forwarded-* headers to count.
func startForwardAuth(t *testing.T, trusted string) forwardAuthSites {
	t.Helper()
	app := startEchoApp(t)
	globals := func(authPort string) string {
		return `
	servers :` + authPort + ` {
		trusted_proxies static ` + trusted + `
	}
` + jwtOption(backendBlock("app",
			"secret "+testSecret,
			"user alice "+bcryptHashForTest(t, "alice-pw")+" role=editor",
			"user bob "+bcryptHashForTest(t, "bob-pw"),
			"refresh 1h",
			"cookie {\n\t\t\t\tinsecure\n\t\t\t}"))
	}
	// The auth site: the login page, and one jwt_auth per kind of check
	// the front site asks for.
	authSite := func(authPort string) string {
		login := "http://127.0.0.1:" + authPort + "/auth/login"
		return `
	jwt_login /auth/login {
		redirect_hosts 127.0.0.1 *.example.com
	}
	jwt_auth /auth/check {
		forwarded
		redirect ` + login + `
		redirect_hosts 127.0.0.1
		identity_header X-User
		identity_header X-Role role
	}
	jwt_auth /auth/editors {
		forwarded
		require role editor
		identity_header X-User
		identity_header X-Role role
	}
	jwt_auth /auth/local {
		forwarded
		redirect /auth/login
	}
	jwt_auth /auth/elsewhere {
		forwarded
		redirect ` + login + `
		redirect_hosts app.example.com
	}
	respond /auth/* 200`
	}
	// The front site: each path prefix asks another check.
	frontSite := func(authPort string) string {
		var b strings.Builder
		for _, route := range []struct{ path, check string }{
			{"/editors/*", "/auth/editors"},
			{"/local/*", "/auth/local"},
			{"/elsewhere/*", "/auth/elsewhere"},
			{"*", "/auth/check"},
		} {
			b.WriteString(`
	handle ` + route.path + ` {
		forward_auth 127.0.0.1:` + authPort + ` {
			uri ` + route.check + `
			copy_headers X-User X-Role
		}
		reverse_proxy ` + app.addr + `
	}`)
		}
		return b.String()
	}
	ports := runOnFreePorts(t, 2, func(p []string) string {
		return "{\n" + testGlobals + globals(p[0]) + "}\n\n" +
			"http://127.0.0.1:" + p[0] + " {" + authSite(p[0]) + "\n}\n\n" +
			"http://127.0.0.1:" + p[1] + " {" + frontSite(p[0]) + "\n}\n"
	})
	if !waitForPort(t, "127.0.0.1:"+ports[1], nil) {
		t.Fatalf("the front site does not listen on %s", ports[1])
	}
	return forwardAuthSites{
		auth:      "http://127.0.0.1:" + ports[0],
		front:     "http://127.0.0.1:" + ports[1],
		frontHost: "127.0.0.1:" + ports[1],
		app:       app,
	}
}

// appSaw sends a request to the front site and returns what the app saw;
// the request must reach it.
func (s forwardAuthSites) appSaw(t *testing.T, path string, header http.Header) seen {
	t.Helper()
	before := s.app.hits.Load()
	resp, body := sendAuth(t, "GET", s.front+path, header)
	if resp.StatusCode != http.StatusOK || s.app.hits.Load() != before+1 {
		t.Fatalf("GET %s: %d, app requests %d → %d: %s", path, resp.StatusCode, before, s.app.hits.Load(), body)
	}
	var got seen
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("the app's answer is not JSON: %v: %s", err, body)
	}
	return got
}

// refused sends a request to the front site that must not reach the app,
// and returns the answer.
func (s forwardAuthSites) refused(t *testing.T, method, path string, header http.Header) *http.Response {
	t.Helper()
	before := s.app.hits.Load()
	resp, body := sendAuth(t, method, s.front+path, header)
	if s.app.hits.Load() != before {
		t.Fatalf("%s %s reached the app: %d %s", method, path, resp.StatusCode, body)
	}
	return resp
}

func TestForwardAuthWithCaddysForwardAuth(t *testing.T) {
	s := startForwardAuth(t, "127.0.0.1/32")
	alice := hs256(t, testSecret, validClaims("alice", map[string]any{"role": "editor"}))
	bob := hs256(t, testSecret, validClaims("bob", nil))
	expired := hs256(t, testSecret, validClaims("alice", map[string]any{"exp": 1000, "iat": 900}))

	t.Run("a valid token passes, and the app learns who it is", func(t *testing.T) {
		got := s.appSaw(t, "/app/page", bearer(alice))
		if strings.Join(got.User, "|") != "alice" || strings.Join(got.Role, "|") != "editor" {
			t.Errorf("the app saw X-User %q, X-Role %q; want alice, editor", got.User, got.Role)
		}
		got = s.appSaw(t, "/app/page", http.Header{"Cookie": {"jwt_app=" + alice}})
		if strings.Join(got.User, "|") != "alice" {
			t.Errorf("with the cookie, the app saw X-User %q", got.User)
		}
	})

	t.Run("the check itself answers 2xx with every identity header, empty for a missing claim", func(t *testing.T) {
		resp, body := sendAuth(t, "GET", s.auth+"/auth/check", bearer(bob))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-User") != "bob" {
			t.Fatalf("got %d, X-User %q: %s", resp.StatusCode, resp.Header.Get("X-User"), body)
		}
		if v, ok := resp.Header["X-Role"]; !ok || len(v) != 1 || v[0] != "" {
			t.Errorf("X-Role = %q (present %v), want one empty value", v, ok)
		}
	})

	t.Run("API clients are refused with the 401 of jwt_auth", func(t *testing.T) {
		for name, h := range map[string]http.Header{
			"no token":      nil,
			"expired token": bearer(expired),
			"curl":          {"Accept": {"*/*"}},
		} {
			resp := s.refused(t, "GET", "/app/page", h)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="app"`) {
				t.Errorf("%s: got %d, WWW-Authenticate %q; want 401 with the challenge", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("a failed require line is a 403", func(t *testing.T) {
		resp := s.refused(t, "GET", "/editors/x", bearer(bob))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("got %d, WWW-Authenticate %q; want 403 insufficient_scope", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if got := s.appSaw(t, "/editors/x", bearer(alice)); strings.Join(got.User, "|") != "alice" {
			t.Errorf("an editor: the app saw X-User %q", got.User)
		}
	})

	t.Run("a browser is sent to the login page with the original URL", func(t *testing.T) {
		original := "http://" + s.frontHost + "/app/page?q=1&x=a%20b"
		want := s.loginURL() + "?redirect=" + url.QueryEscape(original)
		for name, h := range map[string]http.Header{
			"no token":      browserHeaders(),
			"expired token": withHeader(browserHeaders(), "Cookie", "jwt_app="+expired),
			// The front proxy does not trust its clients, so it replaces
			// their X-Forwarded-* with its own.
			"a client's own X-Forwarded-* headers": withHeader(withHeader(withHeader(browserHeaders(),
				"X-Forwarded-Host", "evil.example"), "X-Forwarded-Uri", "/evil"), "X-Forwarded-Proto", "https"),
		} {
			resp := s.refused(t, "GET", "/app/page?q=1&x=a%20b", h)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
				t.Errorf("%s: got %d to %q, want 302 to %q", name, resp.StatusCode, resp.Header.Get("Location"), want)
			}
		}
	})

	t.Run("the original method decides: a browser's POST gets 401, not a redirect", func(t *testing.T) {
		// forward_auth asks with GET; only X-Forwarded-Method says POST.
		resp := s.refused(t, "POST", "/app/form", browserHeaders())
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("got %d to %q, want 401", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("with a local login URL the target is the original path", func(t *testing.T) {
		resp := s.refused(t, "GET", "/local/page?q=1", browserHeaders())
		if want := "/auth/login?redirect=" + url.QueryEscape("/local/page?q=1"); resp.Header.Get("Location") != want {
			t.Errorf("got %d to %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})

	t.Run("a host that is not in redirect_hosts is not the target", func(t *testing.T) {
		resp := s.refused(t, "GET", "/elsewhere/page", browserHeaders())
		if want := s.loginURL() + "?redirect=%2F"; resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Errorf("got %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})

	t.Run("identity headers a client sends never reach the app", func(t *testing.T) {
		spoofed := func(h http.Header) http.Header {
			h = h.Clone()
			if h == nil {
				h = http.Header{}
			}
			h["X-User"] = []string{"admin", "root"}
			h["X-Role"] = []string{"admin"}
			return h
		}
		for _, name := range []string{"no token", "expired token"} {
			h := spoofed(nil)
			if name == "expired token" {
				h = spoofed(bearer(expired))
			}
			if resp := s.refused(t, "GET", "/app/page", h); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: got %d, want 401", name, resp.StatusCode)
			}
		}
		// bob's token has no role claim: the check answers X-Role empty,
		// and the client's X-Role must not survive that.
		for user, tok := range map[string]string{"alice": alice, "bob": bob} {
			got := s.appSaw(t, "/app/page", spoofed(bearer(tok)))
			if strings.Join(got.User, "|") != user {
				t.Errorf("%s: the app saw X-User %q", user, got.User)
			}
			for _, v := range append(got.User, got.Role...) {
				if v == "admin" || v == "root" {
					t.Errorf("%s: the app saw the client's spoofed value %q: %+v", user, v, got)
				}
			}
		}
	})

	t.Run("after login a browser goes back to an allowed host, and nowhere else", func(t *testing.T) {
		target := "http://" + s.frontHost + "/app/page?q=1"
		tests := []struct{ redirect, want string }{
			{target, target},
			{"https://app.example.com/x", "https://app.example.com/x"},
			{"/local/path", "/local/path"},
			{"http://evil.example/", "/"},
			{"http://127.0.0.1.evil.example/", "/"},
			{"http://evil.example@" + s.frontHost + "/", "/"},
			{"//" + s.frontHost + "/", "/"},
			{`http:\\` + s.frontHost + `\`, "/"},
			{"https://example.com/", "/"},
			{"javascript:alert(1)//" + s.frontHost, "/"},
		}
		var cookie string
		for _, tt := range tests {
			resp, body := formPost(t, s.loginURL(), url.Values{"username": {"alice"}, "password": {"alice-pw"}, "redirect": {tt.redirect}}, true)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.want {
				t.Errorf("redirect %q: got %d to %q, want 303 to %q: %s", tt.redirect, resp.StatusCode, resp.Header.Get("Location"), tt.want, body)
			}
			cookie, _ = cookieAttrs(setCookie(t, resp, "jwt_app"))
		}
		// The cookie it set is what the front site's check accepts.
		if got := s.appSaw(t, "/app/page?q=1", http.Header{"Cookie": {"jwt_app=" + cookie}}); strings.Join(got.User, "|") != "alice" {
			t.Errorf("with the login's cookie, the app saw X-User %q", got.User)
		}
	})

	t.Run("the login page carries an allowed URL and lets its form go there", func(t *testing.T) {
		target := "http://" + s.frontHost + "/app/page?q=1&x=2"
		for redirect, want := range map[string]string{target: target, "http://evil.example/": ""} {
			resp, body := do(t, "GET", s.loginURL()+"?redirect="+url.QueryEscape(redirect), map[string]string{"Accept": "text/html"}, "")
			if got := hiddenRedirect(t, body); resp.StatusCode != http.StatusOK || got != want {
				t.Errorf("redirect %q: got %d with the hidden field %q, want %q", redirect, resp.StatusCode, got, want)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "form-action 'self' 127.0.0.1:* *.example.com:*;") {
				t.Errorf("the page's form-action does not allow the redirect hosts: %s", csp)
			}
		}
	})

	t.Run("a silent refresh honours an allowed URL too, and only that", func(t *testing.T) {
		resp, body := formPost(t, s.loginURL(), url.Values{"username": {"alice"}, "password": {"alice-pw"}}, true)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		refresh, _ := cookieAttrs(setCookie(t, resp, "jwt_app_refresh"))
		target := "http://" + s.frontHost + "/app/page"
		for _, tt := range []struct{ redirect, want string }{{target, target}, {"http://evil.example/", "/"}} {
			resp, body := do(t, "GET", s.loginURL()+"?redirect="+url.QueryEscape(tt.redirect),
				map[string]string{"Accept": "text/html", "Cookie": "jwt_app_refresh=" + refresh}, "")
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.want {
				t.Fatalf("redirect %q: got %d to %q, want 303 to %q: %s", tt.redirect, resp.StatusCode, resp.Header.Get("Location"), tt.want, body)
			}
			refresh, _ = cookieAttrs(setCookie(t, resp, "jwt_app_refresh"))
		}
	})
}

// hiddenRedirect is the value of the login page's hidden redirect field.
func hiddenRedirect(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="redirect" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hidden redirect field in the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

func TestForwardAuthIgnoresAnUntrustedProxy(t *testing.T) {
	// The auth site trusts another network, so the front site's
	// X-Forwarded-* headers are anyone's.
	s := startForwardAuth(t, "10.0.0.0/8")
	// The target is the check's own URI, as without forwarded; forward_auth
	// keeps the original query on it.
	tests := []struct {
		name, method, url string
		header            http.Header
		target            string
	}{
		{"through the front site", "GET", s.front + "/app/page?q=1", browserHeaders(), "/auth/check?q=1"},
		{"a POST through the front site, which forward_auth asks about with GET", "POST", s.front + "/app/page", browserHeaders(), "/auth/check"},
		{"straight at the check, with made-up headers", "GET", s.auth + "/auth/check", withHeader(withHeader(withHeader(withHeader(browserHeaders(),
			"X-Forwarded-Host", "127.0.0.1"), "X-Forwarded-Uri", "/wanted"), "X-Forwarded-Proto", "http"), "X-Forwarded-Method", "GET"), "/auth/check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, tt.method, tt.url, tt.header)
			if want := s.loginURL() + "?redirect=" + url.QueryEscape(tt.target); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
				t.Errorf("got %d to %q, want 302 to %q: %s", resp.StatusCode, resp.Header.Get("Location"), want, body)
			}
		})
	}
	// Identity headers still work: they do not depend on trust.
	alice := hs256(t, testSecret, validClaims("alice", map[string]any{"role": "editor"}))
	if got := s.appSaw(t, "/app/page", bearer(alice)); strings.Join(got.User, "|") != "alice" {
		t.Errorf("the app saw X-User %q", got.User)
	}
}

func TestRedirectHostsSyntax(t *testing.T) {
	for _, ok := range [][]string{
		{"app.example.com"}, {"APP.Example.COM"}, {"*.example.com"}, {"localhost"}, {"127.0.0.1"},
		{"a.example.com", "*.b.example.org", "10.1.2.3"}, {"xn--bcher-kva.example"},
	} {
		if _, err := newHostList(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "*", "*.", "*.com", "**.example.com", "a.*.example.com", "https://app.example.com", "app.example.com:443",
		"app.example.com/", "app.example.com.", "-app.example.com", "app_x.example.com", "user@app.example.com",
		"::1", "[::1]", "app example.com", "bücher.example", `app.example.com\`,
	} {
		if _, err := newHostList([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRedirectHostsAllowURLs(t *testing.T) {
	hosts, err := newHostList([]string{"app.example.com", "*.apps.example.org", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		allow  bool
	}{
		{"https://app.example.com/", true},
		{"https://app.example.com", true},
		{"http://app.example.com/a/b?c=d&e=%2F#top", true},
		{"https://APP.example.com/x", true},
		{"HTTPS://app.example.com/x", true},
		{"https://app.example.com:8443/x", true},
		{"https://app.example.com?x=1", true},
		{"https://app.example.com//double/slash", true},
		{"https://a.apps.example.org/", true},
		{"https://a.b.apps.example.org/", true},
		{"http://127.0.0.1:8080/x", true},

		{"https://apps.example.org/", false}, // the wildcard is for names under it
		{"https://evil.example/", false},
		{"https://app.example.com.evil.example/", false},
		{"https://evilapp.example.com/", false},
		{"https://evil.example@app.example.com/", false}, // userinfo
		{"https://app.example.com@evil.example/", false}, // userinfo
		{"https://app.example.com:443@evil.example/", false},
		{"https://app.example.com:x/", false},
		{"https://app.example.com:/", false},
		{"https://app.example.com./", false},
		{"https://app%2eexample.com/", false},
		{"https://app.example.com%2f@evil.example/", false},
		{`https://app.example.com\@evil.example/`, false}, // backslashes
		{`https:\\app.example.com/`, false},
		{`https:/\app.example.com/`, false},
		{`/\app.example.com/`, false},
		{"//app.example.com/", false}, // protocol-relative
		{"https:/app.example.com/", false},
		{"https:app.example.com/", false},
		{"ftp://app.example.com/", false},
		{"javascript://app.example.com/%0aalert(1)", false},
		{"data:text/html,https://app.example.com/", false},
		{"https://app.example.com/\r\nSet-Cookie: x", false},
		{"https://app.ex\tample.com/", false},
		{" https://app.example.com/", false},
		{"https://[::1]/", false},
		{"http://127.1/", false},
		{"http://2130706433/", false},
		{"https://app.example.com/" + strings.Repeat("a", maxRedirectBytes), false},
		{"", false},
		{"/local", false}, // a local path, which target passes on its own
	}
	for _, tt := range tests {
		if got := hosts.allowsURL(tt.target); got != tt.allow {
			t.Errorf("allowsURL(%q) = %v, want %v", tt.target, got, tt.allow)
		}
		want := "/"
		if tt.allow || isLocalPath(tt.target) {
			want = tt.target
		}
		if got := hosts.target(tt.target); got != want {
			t.Errorf("target(%q) = %q, want %q", tt.target, got, want)
		}
	}
	if (hostList{}).allowsURL("https://app.example.com/") {
		t.Error("an empty list allows a URL")
	}
}

func TestForwardedRedirectTarget(t *testing.T) {
	hosts, err := newHostList([]string{"app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := &Auth{hosts: hosts}
	local := &Auth{localLogin: true}
	request := func(trusted bool, h map[string][]string) *http.Request {
		r := httptest.NewRequest("GET", "/auth/check", nil)
		for k, v := range h {
			r.Header[k] = v
		}
		ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: trusted})
		return r.WithContext(ctx)
	}
	fwd := func(proto, host, uri string) map[string][]string {
		return map[string][]string{"X-Forwarded-Proto": {proto}, "X-Forwarded-Host": {host}, "X-Forwarded-Uri": {uri}}
	}
	tests := []struct {
		name    string
		auth    *Auth
		trusted bool
		header  map[string][]string
		want    string
	}{
		{"the original URL on an allowed host", elsewhere, true, fwd("https", "app.example.com", "/a?b=1"), "https://app.example.com/a?b=1"},
		{"a proto in capitals", elsewhere, true, fwd("HTTPS", "app.example.com", "/a"), "https://app.example.com/a"},
		{"a port", elsewhere, true, fwd("http", "app.example.com:8080", "/a"), "http://app.example.com:8080/a"},
		{"a host not allowed", elsewhere, true, fwd("https", "evil.example", "/a"), "/"},
		{"a host with userinfo", elsewhere, true, fwd("https", "evil.example@app.example.com", "/a"), "/"},
		{"a host that is a list", elsewhere, true, fwd("https", "app.example.com, evil.example", "/a"), "/"},
		{"a URI that does not start with /", elsewhere, true, fwd("https", "app.example.com", ".evil.example/"), "/"},
		{"a URI that moves the host", elsewhere, true, fwd("https", "app.example.com", "@evil.example/"), "/"},
		{"a URI with a backslash", elsewhere, true, fwd("https", "app.example.com", `/\evil.example`), "/"},
		{"another scheme", elsewhere, true, fwd("javascript", "app.example.com", "/a"), "/"},
		{"a proto that is a list", elsewhere, true, fwd("https,http", "app.example.com", "/a"), "/"},
		{"no proto", elsewhere, true, fwd("", "app.example.com", "/a"), "/"},
		{"two hosts", elsewhere, true, map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"app.example.com", "evil.example"}, "X-Forwarded-Uri": {"/a"}}, "/"},
		{"no X-Forwarded-Uri: the request is its own", elsewhere, true, map[string][]string{"X-Forwarded-Host": {"app.example.com"}}, ""},
		{"an untrusted client", elsewhere, false, fwd("https", "app.example.com", "/a"), ""},
		{"a local login: the original path", local, true, fwd("https", "evil.example", "/a?b=1"), "/a?b=1"},
		{"a local login: a path that leaves the site", local, true, fwd("https", "app.example.com", "//evil.example/"), "/"},
		{"a local login: an encoded one", local, true, fwd("https", "app.example.com", "/%2F%2Fevil.example/"), "/"},
		{"a local login, untrusted", local, false, fwd("https", "app.example.com", "/a"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if f, ok := readForwarded(request(tt.trusted, tt.header)); ok {
				got = tt.auth.forwardedTarget(f)
			}
			if got != tt.want {
				t.Errorf("target = %q, want %q", got, tt.want)
			}
		})
	}
	r := request(true, map[string][]string{"X-Forwarded-Method": {"POST"}})
	if f, _ := readForwarded(r); f.method != "POST" || navigates(f.method, browserHeaders()) {
		t.Errorf("a forwarded POST: method %q", f.method)
	}
}

func TestForwardAuthCaddyfile(t *testing.T) {
	globals := jwtOption(backendBlock("site", "secret "+testSecret, "user alice "+bcryptHashForTest(t, "pw"), "cookie"))
	cfg := adaptedConfig(t, globals, `
	jwt_login /auth/login {
		redirect_hosts app.example.com *.example.org
	}
	jwt_auth /auth/check {
		forwarded
		redirect https://auth.example.com/auth/login
		redirect_hosts app.example.com
		redirect_hosts *.example.org
		identity_header X-User
		identity_header X-Role role
	}`)
	var login, auth map[string]any
	for _, h := range handlerObjects(cfg) {
		switch h["handler"] {
		case "jwt_login":
			login = h
		case "jwt_auth":
			auth = h
		}
	}
	wantJSON := func(what string, got any, want string) {
		t.Helper()
		if g := string(mustJSON(t, got)); g != want {
			t.Errorf("%s = %s, want %s", what, g, want)
		}
	}
	wantJSON("jwt_login redirect_hosts", login["redirect_hosts"], `["app.example.com","*.example.org"]`)
	wantJSON("jwt_auth forwarded", auth["forwarded"], `true`)
	wantJSON("jwt_auth redirect_hosts", auth["redirect_hosts"], `["app.example.com","*.example.org"]`)
	wantJSON("jwt_auth identity_headers", auth["identity_headers"], `[{"header":"X-User"},{"claim":"role","header":"X-Role"}]`)

	const absolute = "redirect https://auth.example.com/login\n\t\t"
	tests := []struct {
		name, site, line string
		want             []string
	}{
		{"a login redirect host with a scheme", "jwt_login /login {\n\t\tredirect_hosts https://app.example.com\n\t}",
			"redirect_hosts https", []string{"jwt_login", "redirect_hosts", `"https://app.example.com" is not a host name`}},
		{"a login redirect_hosts without hosts", "jwt_login /login {\n\t\tredirect_hosts\n\t}",
			"redirect_hosts", []string{"jwt_login", "redirect_hosts", "expected one or more hosts"}},
		{"a wildcard for a whole top-level domain", "jwt_auth {\n\t\tforwarded\n\t\t" + absolute + "redirect_hosts *.com\n\t}",
			"redirect_hosts *.com", []string{"jwt_auth", "redirect_hosts", `"*.com" is not a pattern`}},
		{"an IPv6 redirect host", "jwt_auth {\n\t\tforwarded\n\t\t" + absolute + "redirect_hosts ::1\n\t}",
			"redirect_hosts ::1", []string{"jwt_auth", "redirect_hosts", "IPv4"}},
		{"redirect_hosts without forwarded", "jwt_auth {\n\t\t" + absolute + "redirect_hosts app.example.com\n\t}",
			"redirect_hosts app", []string{"jwt_auth", "redirect_hosts", "only used with forwarded"}},
		{"redirect_hosts without redirect", "jwt_auth {\n\t\tforwarded\n\t\tredirect_hosts app.example.com\n\t}",
			"redirect_hosts app", []string{"jwt_auth", "redirect_hosts", "only used with redirect"}},
		{"redirect_hosts with a local login", "jwt_auth {\n\t\tforwarded\n\t\tredirect /login\n\t\tredirect_hosts app.example.com\n\t}",
			"redirect_hosts app", []string{"jwt_auth", "redirect_hosts", "local path"}},
		{"forwarded with an argument", "jwt_auth {\n\t\tforwarded yes\n\t}",
			"forwarded yes", []string{"jwt_auth", "forwarded", "takes no arguments"}},
		{"identity_header without a name", "jwt_auth {\n\t\tidentity_header\n\t}",
			"identity_header", []string{"jwt_auth", "identity_header", "expected <Header-Name> [<claim>]"}},
		{"identity_header with two claims", "jwt_auth {\n\t\tidentity_header X-Role role group\n\t}",
			"identity_header X-Role", []string{"jwt_auth", "identity_header", "expected <Header-Name> [<claim>]"}},
		{"an identity header that is not a header name", "jwt_auth {\n\t\tidentity_header X-User\n\t\tidentity_header \"X Role\" role\n\t}",
			"identity_header \"X Role\"", []string{"jwt_auth", "identity_header", `"X Role" is not a valid header name`}},
		{"an identity header that HTTP reads", "jwt_auth {\n\t\tidentity_header set-cookie\n\t}",
			"identity_header set-cookie", []string{"jwt_auth", "identity_header", "Set-Cookie means something"}},
		{"an identity header set twice", "jwt_auth {\n\t\tidentity_header X-User\n\t\tidentity_header x-user sub\n\t}",
			"identity_header x-user", []string{"jwt_auth", "identity_header", "X-User is set twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(caddyfileFor("0", globals, tt.site))
			if err == nil {
				t.Fatal("the Caddyfile adapted; want an adapt error")
			}
			wantMentions(t, err, tt.want...)
			wantErrorAt(t, err, globals, tt.site, tt.line)
		})
	}
}

func TestForwardAuthJSONConfigurationErrors(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	app := `{"backends":{"site":{"secrets":[{"value":"` + testSecret + `"}],"users":[{"username":"alice","password":"` + hash + `"}],"cookie":{}}}}`
	tests := []struct {
		name, handler string
		want          []string
	}{
		{"a login redirect host with a path", `{"handler":"jwt_login","redirect_hosts":["app.example.com/x"]}`,
			[]string{"jwt_login", "redirect_hosts", `"app.example.com/x"`}},
		{"redirect_hosts without forwarded", `{"handler":"jwt_auth","redirect":"https://a.example.com/login","redirect_hosts":["app.example.com"]}`,
			[]string{"jwt_auth", "redirect_hosts", "forwarded"}},
		{"an identity header without a name", `{"handler":"jwt_auth","identity_headers":[{"claim":"role"}]}`,
			[]string{"jwt_auth", "identity_header", "not a valid header name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProvisionError(t, app, tt.handler, tt.want...)
		})
	}
}
