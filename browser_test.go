package caddyjwt

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// This file tests what a browser meets, against a real Caddy: the cookie
// that carries the token, the redirect to the login page and the
// browser/API distinction, the login page itself, private Cache-Control on
// authenticated responses, and jwt_logout. The real-browser version of the
// same flow is e2e/.

// browserHeaders are what Chromium sends when it navigates to a page.
func browserHeaders() http.Header {
	return http.Header{
		"Accept":         {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Sec-Fetch-Mode": {"navigate"},
		"Sec-Fetch-Dest": {"document"},
	}
}

// withHeader returns h with one more header field.
func withHeader(h http.Header, key, value string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(key, value)
	return h
}

// formPost posts a form as a browser does (Accept lists text/html) or as
// an API client does (browser false).
func formPost(t *testing.T, url string, form url.Values, browser bool) (*http.Response, string) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if browser {
		h["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
		h["Sec-Fetch-Mode"] = "navigate"
	}
	return do(t, "POST", url, h, form.Encode())
}

// setCookie finds the Set-Cookie line of a cookie by name.
func setCookie(t *testing.T, resp *http.Response, name string) string {
	t.Helper()
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	t.Fatalf("no Set-Cookie for %s; got %q", name, resp.Header.Values("Set-Cookie"))
	return ""
}

// cookieAttrs splits a Set-Cookie line into its value and attributes
// (attribute names lower-cased; flags map to "").
func cookieAttrs(line string) (value string, attrs map[string]string) {
	parts := strings.Split(line, ";")
	_, value, _ = strings.Cut(parts[0], "=")
	attrs = map[string]string{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		attrs[strings.ToLower(k)] = v
	}
	return value, attrs
}

// browserSite is a site with a protected static area, a login page and a
// logout link, like the README's recipe.
func browserSite(t *testing.T, cookieLines ...string) (globals, site string) {
	t.Helper()
	root := t.TempDir()
	for name, content := range map[string]string{
		"index.html":         "<h1>Public</h1>",
		"private/index.html": "<h1>Private area</h1>",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cookie := "cookie"
	if len(cookieLines) > 0 {
		cookie = "cookie " + strings.Join(cookieLines, "\n")
	}
	globals = jwtOption(backendBlock("site",
		"secret "+testSecret,
		"lifetime 30m",
		"user alice "+bcryptHashForTest(t, "right"),
		cookie))
	site = `
	root * ` + root + `
	jwt_login /login
	jwt_logout /logout {
		redirect /login
	}
	jwt_auth /private/* {
		redirect /login
	}
	file_server`
	return globals, site
}

func TestLoginSetsTheCookie(t *testing.T) {
	tests := []struct {
		name   string
		cookie []string // the cookie line and its block
		want   map[string]string
		absent []string
	}{
		{
			name:   "defaults: named after the backend, HttpOnly, Secure, Lax, path /, Max-Age = lifetime",
			cookie: []string{"cookie"},
			want:   map[string]string{"httponly": "", "secure": "", "samesite": "Lax", "path": "/", "max-age": "1800"},
			absent: []string{"domain"},
		},
		{
			name:   "every attribute as configured",
			cookie: []string{"cookie session {", "\tdomain example.test", "\tpath /app", "\tsame_site strict", "}"},
			want: map[string]string{"httponly": "", "secure": "", "samesite": "Strict", "path": "/app",
				"domain": "example.test", "max-age": "1800"},
		},
		{
			name:   "insecure drops Secure for plain-http development",
			cookie: []string{"cookie {", "\tinsecure", "}"},
			want:   map[string]string{"httponly": "", "samesite": "Lax", "path": "/"},
			absent: []string{"secure"},
		},
		{
			name:   "same_site none keeps Secure",
			cookie: []string{"cookie {", "\tsame_site none", "}"},
			want:   map[string]string{"httponly": "", "secure": "", "samesite": "None"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startCaddy(t, jwtOption(backendBlock("site",
				"secret "+testSecret, "lifetime 30m", "user alice "+bcryptHashForTest(t, "right"),
				strings.Join(tt.cookie, "\n\t\t\t"))), `jwt_login /login`)
			name := "jwt_site"
			if strings.HasPrefix(tt.cookie[0], "cookie session") {
				name = "session"
			}
			for _, browser := range []bool{false, true} {
				resp, body := formPost(t, base+"/login", url.Values{"username": {"alice"}, "password": {"right"}}, browser)
				if want := map[bool]int{false: 200, true: 303}[browser]; resp.StatusCode != want {
					t.Fatalf("browser=%v: status %d, want %d: %s", browser, resp.StatusCode, want, body)
				}
				value, attrs := cookieAttrs(setCookie(t, resp, name))
				if strings.Count(value, ".") != 2 {
					t.Errorf("browser=%v: cookie value is not a JWT: %q", browser, value)
				}
				if !browser && value != jsonField(t, body, "token") {
					t.Errorf("the cookie carries another token than the body")
				}
				for k, v := range tt.want {
					if got, ok := attrs[k]; !ok || got != v {
						t.Errorf("browser=%v: attribute %s = %q (present %v), want %q; line %v", browser, k, got, ok, v, attrs)
					}
				}
				for _, k := range tt.absent {
					if _, ok := attrs[k]; ok {
						t.Errorf("browser=%v: attribute %s should be absent: %v", browser, k, attrs)
					}
				}
			}
		})
	}
}

func TestLoginWithoutCookieSetsNone(t *testing.T) {
	base := startCaddy(t, jwtOption(backendBlock("api", "secret "+testSecret, "user alice "+bcryptHashForTest(t, "right"))),
		`jwt_login /login`)
	resp, body := formPost(t, base+"/login", url.Values{"username": {"alice"}, "password": {"right"}}, false)
	// Only the device cookie, which carries no token.
	cookies := resp.Cookies()
	if resp.StatusCode != 200 || len(cookies) != 1 || cookies[0].Name != "jwt_device_api" {
		t.Fatalf("status %d, Set-Cookie %q: %s", resp.StatusCode, resp.Header.Values("Set-Cookie"), body)
	}
}

func TestBrowserLoginRedirects(t *testing.T) {
	globals, site := browserSite(t)
	base := startCaddy(t, globals, site)
	tests := []struct {
		name     string
		redirect string
		want     string
	}{
		{"a local path is honored", "/private/", "/private/"},
		{"a local path keeps its query", "/private/?tab=2", "/private/?tab=2"},
		{"no redirect field goes home", "", "/"},
		{"a protocol-relative URL goes home", "//evil.example", "/"},
		{"a backslash URL goes home", `/\evil.example`, "/"},
		{"encoded slashes go home", "/%2F%2Fevil.example", "/"},
		{"an absolute URL goes home", "https://evil.example", "/"},
		{"a javascript URL goes home", "javascript:alert(1)", "/"},
		{"a header injection goes home", "/ok%0d%0aSet-Cookie:x", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"username": {"alice"}, "password": {"right"}}
			if tt.redirect != "" {
				form.Set("redirect", tt.redirect)
			}
			resp, body := formPost(t, base+"/login", form, true)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.want {
				t.Fatalf("got %d to %q, want 303 to %q: %s", resp.StatusCode, resp.Header.Get("Location"), tt.want, body)
			}
			setCookie(t, resp, "jwt_site")
			if strings.Contains(body, "token") {
				t.Errorf("a browser redirect should not carry the token in its body: %s", body)
			}
		})
	}
	t.Run("a JSON login stays JSON even with a redirect field", func(t *testing.T) {
		resp, body := do(t, "POST", base+"/login", map[string]string{"Content-Type": "application/json"},
			`{"username":"alice","password":"right","redirect":"/private/"}`)
		if resp.StatusCode != 200 || jsonField(t, body, "token") == "" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}

func TestBrowserLoginFailureShowsThePageAgain(t *testing.T) {
	globals, site := browserSite(t)
	base := startCaddy(t, globals, site)
	tests := []struct {
		name    string
		form    url.Values
		status  int
		message string
	}{
		{"wrong password", url.Values{"username": {"alice"}, "password": {"wrong"}, "redirect": {"/private/"}},
			400, "Wrong username or password."},
		{"unknown user, same message", url.Values{"username": {"mallory"}, "password": {"right"}, "redirect": {"/private/"}},
			400, "Wrong username or password."},
		{"empty password", url.Values{"username": {"alice"}, "password": {""}, "redirect": {"/private/"}},
			400, "Enter your username and password."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := formPost(t, base+"/login", tt.form, true)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want the HTML page", ct)
			}
			for _, want := range []string{
				`role="alert"`, tt.message,
				`name="redirect" value="/private/"`,
				`value="` + tt.form.Get("username") + `"`,
				`aria-invalid="true"`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			if len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("a failed login set a cookie: %q", resp.Header.Values("Set-Cookie"))
			}
			if resp.Header.Get("Content-Security-Policy") != loginPageCSP {
				t.Errorf("the failure page lacks the CSP")
			}
		})
	}
	t.Run("an API client still gets JSON", func(t *testing.T) {
		resp, body := formPost(t, base+"/login", url.Values{"username": {"alice"}, "password": {"wrong"}}, false)
		if resp.StatusCode != 400 || jsonField(t, body, "detail") != "LOGIN_BAD_CREDENTIALS" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("an unsafe redirect is not echoed into the page", func(t *testing.T) {
		resp, body := formPost(t, base+"/login", url.Values{"username": {"alice"}, "password": {"wrong"}, "redirect": {"//evil.example"}}, true)
		if resp.StatusCode != 400 || strings.Contains(body, "evil.example") {
			t.Fatalf("status %d, page:\n%s", resp.StatusCode, body)
		}
	})
}

func TestBrowserLoginRateLimitShowsThePage(t *testing.T) {
	globals := jwtOption(backendBlock("site", "secret "+testSecret, "user alice "+bcryptHashForTest(t, "right"), "cookie"))
	base := startCaddy(t, globals, `
	jwt_login /login {
		rate_limit 1 1m
	}`)
	form := url.Values{"username": {"alice"}, "password": {"wrong"}, "redirect": {"/private/"}}
	formPost(t, base+"/login", form, true)
	resp, body := formPost(t, base+"/login", form, true)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, want := range []string{"Too many failed attempts", `role="alert"`, `value="/private/"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
}

func TestLoginPage(t *testing.T) {
	globals, site := browserSite(t)
	base := startCaddy(t, globals, site)

	resp, body := do(t, "GET", base+"/login?redirect=%2Fprivate%2F%3Fa%3D1", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for header, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
	for _, want := range []string{
		`<form method="post" action="/login">`,
		`<label for="username">`, `<label for="password">`,
		`autocomplete="username"`, `autocomplete="current-password"`,
		`type="password"`,
		`name="redirect" value="/private/?a=1"`,
		`role="alert" hidden`,
		`name="viewport" content="width=device-width, initial-scale=1"`,
		`<html lang="en">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: nothing is loaded from anywhere, and nothing runs.
	for _, banned := range []string{"<script", "<link", "src=", "url(", "@import", "http://", "https://"} {
		if strings.Contains(body, banned) {
			t.Errorf("page contains %q; it must be self-contained and work without JavaScript", banned)
		}
	}

	t.Run("an unsafe redirect in the query is left out", func(t *testing.T) {
		_, body := do(t, "GET", base+"/login?redirect=%2F%2Fevil.example", nil, "")
		if strings.Contains(body, "evil") || !strings.Contains(body, `name="redirect" value=""`) {
			t.Errorf("page:\n%s", body)
		}
	})
	t.Run("HEAD has the headers and no body", func(t *testing.T) {
		resp, body := do(t, "HEAD", base+"/login", nil, "")
		if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("status %d, body %q, CSP %q", resp.StatusCode, body, resp.Header.Get("Content-Security-Policy"))
		}
	})
	t.Run("the form posts back to the path the browser used", func(t *testing.T) {
		base := startCaddy(t, globals, `
	handle_path /auth/* {
		jwt_login
	}`)
		_, body := do(t, "GET", base+"/auth/login", nil, "")
		if !strings.Contains(body, `action="/auth/login"`) {
			t.Errorf("action is not the original path:\n%s", body)
		}
	})
}

func TestAuthAcceptsTheCookie(t *testing.T) {
	globals := jwtOption(
		backendBlock("site", "secret "+testSecret, "cookie"),
		backendBlock("other", "secret other-secret-0123456789-abcdefghijklmnop", "cookie other_session"))
	base := startCaddy(t, globals, `
	jwt_auth /one/* site
	jwt_auth /both/* site other
	respond "hello {http.auth.user.id} via {http.auth.jwt.backend}"`)
	good := hs256(t, testSecret, validClaims("alice", nil))
	otherGood := hs256(t, "other-secret-0123456789-abcdefghijklmnop", validClaims("olga", nil))
	expired := hs256(t, testSecret, validClaims("alice", map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()}))
	cookie := func(name, value string) http.Header { return http.Header{"Cookie": {name + "=" + value}} }

	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		body   string
	}{
		{"a valid cookie is accepted without an Authorization header", "/one/", cookie("jwt_site", good), 200, "hello alice via site"},
		{"the cookie among others is found", "/one/", http.Header{"Cookie": {"a=1; jwt_site=" + good + "; b=2"}}, 200, "hello alice via site"},
		{"an expired cookie is refused", "/one/", cookie("jwt_site", expired), 401, ""},
		{"a garbage cookie is refused", "/one/", cookie("jwt_site", "not-a-token"), 401, ""},
		{"an empty cookie is no token", "/one/", cookie("jwt_site", ""), 401, ""},
		{"a cookie of another name is not read", "/one/", cookie("jwt_other", good), 401, ""},
		{"another backend's cookie is not read by this one", "/one/", cookie("other_session", otherGood), 401, ""},
		{"each listed backend's cookie is read", "/both/", cookie("other_session", otherGood), 200, "hello olga via other"},
		{"the Authorization header wins over the cookie", "/one/",
			http.Header{"Authorization": {"Bearer " + good}, "Cookie": {"jwt_site=garbage"}}, 200, "hello alice via site"},
		{"a bad Authorization header is not rescued by a good cookie", "/one/",
			http.Header{"Authorization": {"Bearer " + expired}, "Cookie": {"jwt_site=" + good}}, 401, ""},
		{"a Basic Authorization header leaves the cookie in charge", "/one/",
			http.Header{"Authorization": {"Basic YTpi"}, "Cookie": {"jwt_site=" + good}}, 200, "hello alice via site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+tt.path, tt.header)
			if resp.StatusCode != tt.status || (tt.body != "" && body != tt.body) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}

func TestAuthRedirectsBrowsersToLogin(t *testing.T) {
	globals := jwtOption(backendBlock("site", "secret "+testSecret, "cookie"))
	base := startCaddy(t, globals, `
	jwt_auth /private/* {
		redirect /login
	}
	jwt_auth /app/* {
		redirect /sso/login?realm=staff
	}
	jwt_auth /api/*
	respond "in"`)
	expired := hs256(t, testSecret, validClaims("alice", map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()}))
	accept := func(v string) http.Header { return http.Header{"Accept": {v}} }

	tests := []struct {
		name     string
		method   string
		path     string
		header   http.Header
		status   int
		location string
	}{
		{"a navigation without a token goes to the login page", "GET", "/private/", browserHeaders(), 302, "/login?redirect=%2Fprivate%2F"},
		{"the original query comes along, escaped", "GET", "/private/a%20b?x=1&y=2", browserHeaders(), 302,
			"/login?redirect=" + url.QueryEscape("/private/a%20b?x=1&y=2")},
		{"a login URL with a query string keeps it", "GET", "/app/", browserHeaders(), 302, "/sso/login?realm=staff&redirect=%2Fapp%2F"},
		{"an expired cookie also goes to the login page", "GET", "/private/",
			withHeader(browserHeaders(), "Cookie", "jwt_site="+expired), 302, "/login?redirect=%2Fprivate%2F"},
		{"HEAD navigations are redirected too", "HEAD", "/private/", browserHeaders(), 302, "/login?redirect=%2Fprivate%2F"},
		{"an old browser without Sec-Fetch-Mode is known by Accept", "GET", "/private/", accept("text/html,*/*;q=0.8"), 302, "/login?redirect=%2Fprivate%2F"},
		{"an API client gets 401", "GET", "/private/", nil, 401, ""},
		{"curl's */* is not a browser", "GET", "/private/", accept("*/*"), 401, ""},
		{"text/html;q=0 is not a browser", "GET", "/private/", accept("text/html;q=0, application/json"), 401, ""},
		{"fetch() from a page gets 401 even asking for HTML", "GET", "/private/",
			http.Header{"Accept": {"text/html"}, "Sec-Fetch-Mode": {"cors"}}, 401, ""},
		{"a POST navigation gets 401, not a redirect that would lose its body", "POST", "/private/", browserHeaders(), 401, ""},
		{"without redirect a browser gets 401", "GET", "/api/", browserHeaders(), 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, tt.method, base+tt.path, tt.header)
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
				t.Fatalf("got %d to %q, want %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location, body)
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer challenge")
			}
			if tt.status == 302 && resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("redirect is cacheable: %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestAuthMarksResponsesPrivate(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "page.html"), []byte("<p>secret page</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cached" {
			w.Header().Set("Cache-Control", "public, max-age=60")
		}
		_, _ = w.Write([]byte("from upstream"))
	}))
	defer upstream.Close()
	upstreamAddr := strings.TrimPrefix(upstream.URL, "http://")

	globals := jwtOption(backendBlock("site", "secret "+testSecret, "cookie"))
	base := startCaddy(t, globals, `
	jwt_auth /files/* {
		redirect /login
	}
	jwt_auth /proxy/*
	jwt_auth /raw/* {
		cache_control off
	}
	handle /files/* {
		root * `+root+`
		uri strip_prefix /files
		file_server
	}
	handle /proxy/* {
		uri strip_prefix /proxy
		reverse_proxy `+upstreamAddr+`
	}
	handle /raw/* {
		respond "raw"
	}
	handle {
		respond "public"
	}`)
	auth := bearer(hs256(t, testSecret, validClaims("alice", nil)))

	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		want   []string // every Cache-Control value of the response
	}{
		{"a file_server page behind jwt_auth is private", "/files/page.html", auth, 200, []string{"private, no-cache"}},
		{"the cookie works the same way", "/files/page.html",
			http.Header{"Cookie": {"jwt_site=" + auth.Get("Authorization")[len("Bearer "):]}}, 200, []string{"private, no-cache"}},
		{"a proxied response without Cache-Control is private", "/proxy/plain", auth, 200, []string{"private, no-cache"}},
		{"a proxied response's own Cache-Control is kept, not doubled", "/proxy/cached", auth, 200, []string{"public, max-age=60"}},
		{"cache_control off leaves responses alone", "/raw/x", auth, 200, nil},
		{"a public page is not touched", "/public", nil, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+tt.path, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Values("Cache-Control"); !sameStrings(got, tt.want) {
				t.Errorf("Cache-Control %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("a 304 revalidation is private too", func(t *testing.T) {
		resp, _ := sendAuth(t, "GET", base+"/files/page.html", auth)
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Skip("file_server sent no ETag")
		}
		resp, _ = sendAuth(t, "GET", base+"/files/page.html", withHeader(auth, "If-None-Match", etag))
		if resp.StatusCode != 304 || resp.Header.Get("Cache-Control") != "private, no-cache" {
			t.Errorf("status %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	})
}

func TestLogout(t *testing.T) {
	globals := jwtOption(
		backendBlock("site", "secret "+testSecret, "user alice "+bcryptHashForTest(t, "right"),
			"cookie sess {\n\t\t\t\tdomain example.test\n\t\t\t\tpath /app\n\t\t\t}"),
		backendBlock("api", "secret "+testSecret))
	base := startCaddy(t, globals, `
	jwt_logout /logout site {
		redirect /bye
	}
	jwt_logout /default-logout site
	jwt_logout /api-logout api`)

	tests := []struct {
		name     string
		method   string
		path     string
		header   http.Header
		status   int
		location string
		clears   bool
	}{
		{"an API client's POST clears the cookie with 204", "POST", "/logout", nil, 204, "", true},
		{"a browser's POST clears the cookie and goes on to redirect", "POST", "/logout", http.Header{"Accept": {"text/html"}}, 303, "/bye", true},
		{"a plain link (GET) works too", "GET", "/logout", browserHeaders(), 303, "/bye", true},
		{"the default redirect is /", "GET", "/default-logout", browserHeaders(), 303, "/", true},
		{"a Bearer-only backend has nothing to clear: 204", "POST", "/api-logout", nil, 204, "", false},
		{"a Bearer-only backend answers a browser with 204 as well", "GET", "/api-logout", browserHeaders(), 204, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, tt.method, base+tt.path, tt.header)
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
				t.Fatalf("got %d to %q, want %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location, body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if !tt.clears {
				if n := len(resp.Header.Values("Set-Cookie")); n != 0 {
					t.Errorf("%d Set-Cookie lines, want none", n)
				}
				return
			}
			value, attrs := cookieAttrs(setCookie(t, resp, "sess"))
			if value != "" {
				t.Errorf("cleared cookie still has a value: %q", value)
			}
			for k, v := range map[string]string{"max-age": "0", "path": "/app", "domain": "example.test", "httponly": "", "secure": ""} {
				if got, ok := attrs[k]; !ok || got != v {
					t.Errorf("attribute %s = %q (present %v), want %q", k, got, ok, v)
				}
			}
		})
	}
	t.Run("other methods get 405 with Allow", func(t *testing.T) {
		resp, _ := sendAuth(t, "PUT", base+"/logout", nil)
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" || len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("status %d, Allow %q, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Values("Set-Cookie"))
		}
	})
}

// TestBrowserFlowWithACookieJar walks the whole flow as a browser without
// JavaScript would, with a real cookie jar: protected page, login page,
// wrong then right password, back to the page, logout, locked out again.
func TestBrowserFlowWithACookieJar(t *testing.T) {
	globals, site := browserSite(t, "{", "\tinsecure", "}")
	base := startCaddy(t, globals, site)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	visit := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var req *http.Request
		if form != nil {
			req, _ = http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, base+path, nil)
		}
		req.Header = mergeHeader(req.Header, browserHeaders())
		return send(t, browser, req)
	}

	resp, body := visit("GET", "/private/", nil)
	if resp.Request.URL.Path != "/login" || resp.Request.URL.Query().Get("redirect") != "/private/" || !strings.Contains(body, "<form") {
		t.Fatalf("the protected page did not lead to the login page: %s %d", resp.Request.URL, resp.StatusCode)
	}
	resp, body = visit("POST", "/login", url.Values{"username": {"alice"}, "password": {"wrong"}, "redirect": {"/private/"}})
	if resp.StatusCode != 400 || !strings.Contains(body, "Wrong username or password.") {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, body)
	}
	resp, body = visit("POST", "/login", url.Values{"username": {"alice"}, "password": {"right"}, "redirect": {"/private/"}})
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/private/" || !strings.Contains(body, "Private area") {
		t.Fatalf("right password did not land on the private page: %s %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "private, no-cache" {
		t.Errorf("the private page is not marked private: %q", resp.Header.Get("Cache-Control"))
	}
	resp, body = visit("GET", "/private/", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Private area") {
		t.Fatalf("a reload lost the session: %d %s", resp.StatusCode, body)
	}
	resp, _ = visit("POST", "/logout", url.Values{})
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("logout did not lead to /login: %s", resp.Request.URL)
	}
	u, _ := url.Parse(base)
	if n := len(jar.Cookies(u)); n != 0 {
		t.Errorf("the jar still has %d cookies after logout", n)
	}
	resp, _ = visit("GET", "/private/", nil)
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("after logout the private page is still open: %s %d", resp.Request.URL, resp.StatusCode)
	}
}

func mergeHeader(dst, src http.Header) http.Header {
	for k, vs := range src {
		dst[k] = vs
	}
	return dst
}

// TestDemoBrowserFlow runs Caddyfile.example in this process and signs in to
// its members' area as a browser would, so the demo's browser flow keeps
// working (the API part is TestQuickStart's).
func TestDemoBrowserFlow(t *testing.T) {
	base := runExample(t)

	resp, _ := sendAuth(t, "GET", base+"/private/", browserHeaders())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/auth/login?redirect=%2Fprivate%2F" {
		t.Fatalf("members' area without a token: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := sendAuth(t, "GET", base+"/auth/login?redirect=%2Fprivate%2F", browserHeaders())
	if resp.StatusCode != 200 || !strings.Contains(body, `name="redirect" value="/private/"`) {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, body)
	}
	resp, body = formPost(t, base+"/auth/login", url.Values{"username": {demoUser}, "password": {demoPassword}, "redirect": {"/private/"}}, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/private/" {
		t.Fatalf("signing in: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	token, attrs := cookieAttrs(setCookie(t, resp, "jwt_demo"))
	if _, secure := attrs["secure"]; secure {
		t.Errorf("the demo's cookie is Secure, so browsers would not send it over its plain http")
	}
	resp, body = sendAuth(t, "GET", base+"/private/", withHeader(browserHeaders(), "Cookie", "jwt_demo="+token))
	if resp.StatusCode != 200 || !strings.Contains(body, "Members' area") || !strings.Contains(body, `action="/auth/logout"`) {
		t.Fatalf("members' area with the cookie: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "private, no-cache" {
		t.Errorf("members' area Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	resp, _ = formPost(t, base+"/auth/logout", url.Values{}, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("signing out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, attrs := cookieAttrs(setCookie(t, resp, "jwt_demo")); attrs["max-age"] != "0" {
		t.Errorf("signing out did not clear the cookie: %v", attrs)
	}
	_, body = sendAuth(t, "GET", base+"/", nil)
	if !strings.Contains(body, `href="/private/"`) {
		t.Errorf("the public page does not link to the members' area")
	}
}

// TestProtectAStaticSiteRecipe runs the README's "Protect a static site"
// recipe as printed and checks that it does what the text says.
func TestProtectAStaticSiteRecipe(t *testing.T) {
	recipe := docRecipe(t, "docs/recipes.md", "## A static site on a domain")
	if n := strings.Count(recipe, "\n"); n > 15 {
		t.Errorf("the recipe has %d lines; it promises at most 15", n)
	}

	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("<h1>Team handbook</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	users := tempFile(t, "users", "alice:"+bcryptHashForTest(t, "right")+"\n")
	t.Setenv("JWT_SECRET", testSecret)
	if !strings.HasPrefix(recipe, "{\n") {
		t.Fatalf("the recipe does not start with a global options block:\n%s", recipe)
	}
	if !strings.Contains(recipe, "\nexample.com\n") || !strings.Contains(recipe, "/etc/caddy/users") {
		t.Fatalf("the recipe no longer has the site example.com and /etc/caddy/users:\n%s", recipe)
	}
	// The recipe serves the folder Caddy runs in; here that is root.
	base := "http://127.0.0.1:" + runOnFreePort(t, func(port string) string {
		return "{\n" + testGlobals + strings.NewReplacer(
			"\nexample.com\n", "\nhttp://127.0.0.1:"+port+"\nroot * "+root+"\n",
			"/etc/caddy/users", users,
		).Replace(strings.TrimPrefix(recipe, "{\n"))
	})

	resp, _ := sendAuth(t, "GET", base+"/", browserHeaders())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login?redirect=%2F" {
		t.Fatalf("a browser without a token: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := sendAuth(t, "GET", base+"/login?redirect=%2F", browserHeaders())
	if resp.StatusCode != 200 || !strings.Contains(body, "<form") {
		t.Fatalf("the login page inside the protected site: %d", resp.StatusCode)
	}
	resp, _ = sendAuth(t, "GET", base+"/", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an API client without a token: %d, want 401", resp.StatusCode)
	}
	resp, body = formPost(t, base+"/login", url.Values{"username": {"alice"}, "password": {"right"}, "redirect": {"/"}}, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("signing in: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	token, attrs := cookieAttrs(setCookie(t, resp, "jwt_site"))
	if _, ok := attrs["httponly"]; !ok {
		t.Errorf("the cookie is not HttpOnly: %v", attrs)
	}
	for name, h := range map[string]http.Header{
		"the cookie":         withHeader(browserHeaders(), "Cookie", "jwt_site="+token),
		"a Bearer API token": bearer(token),
	} {
		resp, body = sendAuth(t, "GET", base+"/", h)
		if resp.StatusCode != 200 || !strings.Contains(body, "Team handbook") {
			t.Errorf("the site with %s: %d %q", name, resp.StatusCode, body)
		}
	}
}

func TestBrowserDetection(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		header     http.Header
		navigation bool // jwt_auth may redirect it to the login page
		html       bool // jwt_login and jwt_logout answer it with pages and redirects
	}{
		{"Chromium navigating", "GET", browserHeaders(), true, true},
		{"a HEAD navigation", "HEAD", browserHeaders(), true, true},
		{"a form POST navigation", "POST", browserHeaders(), false, true},
		{"an old browser: text/html in Accept", "GET", http.Header{"Accept": {"text/html"}}, true, true},
		{"media type case does not matter", "GET", http.Header{"Accept": {"Text/HTML; charset=utf-8"}}, true, true},
		{"text/html in a second Accept line", "GET", http.Header{"Accept": {"application/json", "text/html;q=0.5"}}, true, true},
		{"text/html refused with q=0", "GET", http.Header{"Accept": {"text/html;q=0"}}, false, false},
		{"text/html refused with q=0.000", "GET", http.Header{"Accept": {"application/json, text/html; q=0.000"}}, false, false},
		{"curl's */*", "GET", http.Header{"Accept": {"*/*"}}, false, false},
		{"text/* is not text/html", "GET", http.Header{"Accept": {"text/*"}}, false, false},
		{"application/xhtml+xml alone is not text/html", "GET", http.Header{"Accept": {"application/xhtml+xml"}}, false, false},
		{"no Accept at all", "GET", nil, false, false},
		{"fetch() asking for HTML is not a navigation", "GET", http.Header{"Accept": {"text/html"}, "Sec-Fetch-Mode": {"cors"}}, false, true},
		{"an image request", "GET", http.Header{"Accept": {"image/avif,image/webp,*/*"}, "Sec-Fetch-Mode": {"no-cors"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://127.0.0.1/private/", nil)
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			if got := isNavigation(r); got != tt.navigation {
				t.Errorf("isNavigation = %v, want %v", got, tt.navigation)
			}
			if got := expectsPage(r); got != tt.html {
				t.Errorf("expectsPage = %v, want %v", got, tt.html)
			}
		})
	}
}
