package caddyjwt

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// This file tests how jwt_login and jwt_logout tell a request that a page
// of another origin made the browser send (login and logout CSRF): the
// decision itself, then both endpoints on a real Caddy.

func TestCrossSite(t *testing.T) {
	tests := []struct {
		name   string
		host   string
		header map[string]string
		want   bool
	}{
		{"a client that is not a browser sends none of the headers", "example.com", nil, false},

		{"Sec-Fetch-Site same-origin passes", "example.com", map[string]string{"Sec-Fetch-Site": "same-origin"}, false},
		{"Sec-Fetch-Site none (typed in, bookmarked) passes", "example.com", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"Sec-Fetch-Site cross-site is refused", "example.com", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"Sec-Fetch-Site same-site, a sibling subdomain, is another origin", "example.com", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
		{"an unknown Sec-Fetch-Site is refused", "example.com", map[string]string{"Sec-Fetch-Site": "same-planet"}, true},
		{"Sec-Fetch-Site same-origin is trusted over an Origin a Host-rewriting proxy no longer matches", "backend:8080",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://example.com"}, false},
		{"Sec-Fetch-Site cross-site is trusted over a matching Origin", "example.com",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://example.com"}, true},

		{"the request's own Origin passes", "example.com", map[string]string{"Origin": "https://example.com"}, false},
		{"Origin's default https port matches a Host that names it", "example.com:443", map[string]string{"Origin": "https://example.com"}, false},
		{"Origin's default http port matches a Host that names it", "example.com:80", map[string]string{"Origin": "http://example.com"}, false},
		{"an https Origin matches a Host without port behind a TLS proxy", "example.com", map[string]string{"Origin": "https://example.com"}, false},
		{"Origin with the same explicit port passes", "example.com:8443", map[string]string{"Origin": "https://example.com:8443"}, false},
		{"host names compare without case", "Example.COM", map[string]string{"Origin": "https://example.com"}, false},
		{"an IPv6 Origin with port matches", "[::1]:8080", map[string]string{"Origin": "http://[::1]:8080"}, false},
		{"an IPv6 Origin without port matches", "[::1]", map[string]string{"Origin": "http://[::1]"}, false},
		{"another IPv6 address is refused", "[::1]:8080", map[string]string{"Origin": "http://[::2]:8080"}, true},
		{"another port is another origin", "example.com", map[string]string{"Origin": "https://example.com:8443"}, true},
		{"an https Origin does not match Host's explicit port 80", "example.com:80", map[string]string{"Origin": "https://example.com"}, true},
		{"another site's Origin is refused", "example.com", map[string]string{"Origin": "http://evil.example"}, true},
		{"a sibling subdomain's Origin is refused", "example.com", map[string]string{"Origin": "https://app.example.com"}, true},
		{"a look-alike host is refused", "example.com", map[string]string{"Origin": "https://example.com.evil.example"}, true},
		{"Origin null (a sandboxed frame, a data: URL) is refused", "example.com", map[string]string{"Origin": "null"}, true},
		{"an Origin of another scheme is refused", "example.com", map[string]string{"Origin": "chrome-extension://example.com"}, true},
		{"an Origin that does not parse is refused", "example.com", map[string]string{"Origin": "http://exa mple.com"}, true},
		{"Origin decides over a Referer of another site", "example.com",
			map[string]string{"Origin": "https://example.com", "Referer": "https://evil.example/x"}, false},
		{"Origin decides over a Referer of this site", "example.com",
			map[string]string{"Origin": "https://evil.example", "Referer": "https://example.com/x"}, true},

		{"without Origin, the site's own Referer passes", "example.com", map[string]string{"Referer": "https://example.com/account?tab=1"}, false},
		{"without Origin, another site's Referer is refused", "example.com", map[string]string{"Referer": "http://evil.example/x"}, true},
		{"a Referer with user info names the host after it", "example.com", map[string]string{"Referer": "https://example.com@evil.example/"}, true},
		{"a relative Referer names no host and is refused", "example.com", map[string]string{"Referer": "/x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/login", nil)
			r.Host = tt.host
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := crossSite(r); got != tt.want {
				t.Errorf("crossSite = %v, want %v", got, tt.want)
			}
		})
	}
}

// startCookieLogin runs a site whose backend has a cookie, with alice as
// its user and jwt_login at /login, jwt_logout at /logout; it returns the
// site's base URL.
func startCookieLogin(t *testing.T, moreSite string) string {
	t.Helper()
	globals := loginGlobals("\t\t\tuser alice " + bcryptHashForTest(t, "alice-pw") + "\n\t\t\tcookie {\n\t\t\t\tinsecure\n\t\t\t}")
	return startCaddy(t, globals, "jwt_login /login\n\tjwt_logout /logout\n"+moreSite)
}

// TestLoginRefusesOtherOrigins: a login a page of another origin made the
// browser send (login CSRF) is refused before any password check, by
// Sec-Fetch-Site or, from a browser that sends none, by Origin or Referer,
// and sets no cookie; logins from the site itself, and from clients that
// are not browsers, go through.
func TestLoginRefusesOtherOrigins(t *testing.T) {
	base := startCookieLogin(t, "")
	site := loginSite{t, base + "/login"}
	browser := func(h map[string]string) map[string]string {
		h["Accept"] = "text/html"
		return h
	}
	navigate := func(fetchSite string) map[string]string {
		return map[string]string{"Sec-Fetch-Site": fetchSite, "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
	}
	for _, tt := range []struct {
		name     string
		send     func() (*http.Response, string)
		status   int
		contains string
	}{
		{"another site's form", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", navigate("cross-site"))
		}, 403, "sent from another site"},
		{"another site's fetch", func() (*http.Response, string) {
			return site.json("alice", "alice-pw", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"})
		}, 403, `"detail":"cross-site login refused"`},
		{"another site's fetch, wrong password", func() (*http.Response, string) {
			return site.json("alice", "wrong", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
		}, 403, `"error":"invalid_request"`},
		{"the site's own form", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", navigate("same-origin"))
		}, 303, ""},
		// A sibling subdomain may be another party's (or taken over).
		{"a sibling subdomain's form", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", navigate("same-site"))
		}, 403, "sent from another site"},
		{"a typed-in or bookmarked form", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", navigate("none"))
		}, 303, ""},
		{"a form posted from another site's page, with Origin only", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", browser(map[string]string{"Origin": "http://evil.example"}))
		}, 403, "sent from another site"},
		{"a form posted from another site's page, with Referer only", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", browser(map[string]string{"Referer": "http://evil.example/x"}))
		}, 403, "sent from another site"},
		{"a form posted from a sandboxed frame (Origin null)", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", browser(map[string]string{"Origin": "null"}))
		}, 403, "sent from another site"},
		{"a fetch from another site's page", func() (*http.Response, string) {
			return site.json("alice", "alice-pw", map[string]string{"Origin": "http://evil.example"})
		}, 403, `{"error":"invalid_request","detail":"cross-site login refused"}`},
		{"a fetch from another port of this host", func() (*http.Response, string) {
			return site.json("alice", "alice-pw", map[string]string{"Origin": "http://127.0.0.1:1"})
		}, 403, `"detail":"cross-site login refused"`},

		{"the site's own form, with its Origin", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", browser(map[string]string{"Origin": base}))
		}, 303, ""},
		{"the site's own form, with its Referer only", func() (*http.Response, string) {
			return site.form("alice", "alice-pw", browser(map[string]string{"Referer": base + "/login?redirect=%2F"}))
		}, 303, ""},
		{"the site's own fetch", func() (*http.Response, string) {
			return site.json("alice", "alice-pw", map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"})
		}, 200, `"token"`},
		{"a client that is not a browser: no Origin, no Referer", func() (*http.Response, string) {
			return site.json("alice", "alice-pw", nil)
		}, 200, `"token"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.send()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body does not contain %q: %s", tt.contains, body)
			}
			cookies := resp.Header.Values("Set-Cookie")
			if refused := tt.status == 403; refused != (len(cookies) == 0) {
				t.Errorf("status %d with Set-Cookie %q", resp.StatusCode, cookies)
			}
		})
	}
	// A link from another site to the login page still shows it.
	resp, body := do(t, "GET", site.url, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "<form") {
		t.Errorf("GET from another site: status %d, want the page: %s", resp.StatusCode, body)
	}
	// Refused logins are not failed logins: the limit is untouched.
	for i := 0; i < 12; i++ {
		site.json("alice", "wrong", map[string]string{"Sec-Fetch-Site": "cross-site"})
	}
	site.tokenOf(site.json("alice", "alice-pw", nil))
}

// TestLogoutRefusesOtherOrigins: a logout a page of another origin made the
// browser send, by a form, a link or an image, is refused as such a login
// is, and clears no cookie; the site's own logout goes through.
func TestLogoutRefusesOtherOrigins(t *testing.T) {
	base := startCookieLogin(t, "")
	nav := browserHeaders
	for _, tt := range []struct {
		name   string
		method string
		header http.Header
		status int
	}{
		{"a form on another site's page", "POST", http.Header{"Origin": {"http://evil.example"}}, 403},
		{"a form in a sandboxed frame", "POST", http.Header{"Origin": {"null"}}, 403},
		{"a link on another site's page", "GET", withHeader(nav(), "Sec-Fetch-Site", "cross-site"), 403},
		{"a link on a sibling subdomain's page", "GET", withHeader(nav(), "Sec-Fetch-Site", "same-site"), 403},
		{"a link on another site's page, from a browser without Sec-Fetch-Site", "GET",
			withHeader(http.Header{"Accept": {"text/html"}}, "Referer", "http://evil.example/x"), 403},
		{"an image on another site's page", "GET",
			http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Dest": {"image"}}, 403},

		{"the site's own form", "POST", http.Header{"Origin": {base}, "Accept": {"text/html"}}, 303},
		{"the site's own link", "GET", withHeader(nav(), "Sec-Fetch-Site", "same-origin"), 303},
		{"the site's own link, from a browser without Sec-Fetch-Site", "GET",
			withHeader(http.Header{"Accept": {"text/html"}}, "Referer", base+"/account"), 303},
		{"an address typed in", "GET", withHeader(nav(), "Sec-Fetch-Site", "none"), 303},
		{"a client that is not a browser", "POST", nil, 204},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, tt.method, base+"/logout", tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			cookies := resp.Header.Values("Set-Cookie")
			if tt.status != 403 {
				value, attrs := cookieAttrs(setCookie(t, resp, "jwt_api"))
				if value != "" || attrs["max-age"] != "0" {
					t.Errorf("the logout did not clear the cookie: %q", cookies)
				}
				return
			}
			if len(cookies) != 0 {
				t.Errorf("a refused logout set %q", cookies)
			}
			if body != `{"error":"invalid_request","detail":"cross-site logout refused"}` || resp.Header.Get("Location") != "" {
				t.Errorf("body %q, Location %q", body, resp.Header.Get("Location"))
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}

	t.Run("a Bearer-only backend refuses it too", func(t *testing.T) {
		base := startCaddy(t, singleBackend, "jwt_logout /logout")
		resp, body := sendAuth(t, "POST", base+"/logout", http.Header{"Origin": {"http://evil.example"}})
		if resp.StatusCode != 403 || !strings.Contains(body, "cross-site logout refused") {
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
	})
}

// TestTrustedOriginRecipe runs the README's Caddyfile that lets one other
// origin sign people in and out: the three headers crossSite reads are
// removed for requests whose Origin is that app's, inside a route so that
// it runs before jwt_login (Origin last, since the matcher reads it). The
// app it names can log in and out, any other origin still cannot.
func TestTrustedOriginRecipe(t *testing.T) {
	t.Setenv("JWT_SECRET", testSecret)
	users := tempFile(t, "users", "alice:"+bcryptHashForTest(t, "alice-pw")+"\n")
	base := runREADMECaddyfile(t, docRecipe(t, "docs/jwt_login.md", "## Logins and logouts from another origin"), "", users)
	site := loginSite{t, base + "/auth/login"}
	fromApp := map[string]string{"Origin": "https://app.example.com", "Sec-Fetch-Site": "same-site", "Referer": "https://app.example.com/"}

	site.tokenOf(site.json("alice", "alice-pw", fromApp))
	if resp, body := site.json("alice", "alice-pw", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); resp.StatusCode != 403 {
		t.Errorf("a login from another origin: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"/auth/logout", fromApp, ""); resp.StatusCode != 204 {
		t.Errorf("a logout from the app: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"/auth/logout", map[string]string{"Origin": "https://app.example.com.evil.example"}, ""); resp.StatusCode != 403 {
		t.Errorf("a logout from a look-alike origin: %d %s", resp.StatusCode, body)
	}
}
