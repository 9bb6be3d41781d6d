package caddyjwt

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// This file tests the configuration of the browser features: the cookie
// block, `page`, `jwt_logout`, `redirect` and `cache_control`, as Caddyfile
// (adapt) and as JSON (provision), and where jwt_logout runs.

func TestBrowserCaddyfileAdaptsToJSON(t *testing.T) {
	page := tempFile(t, "login.html", `<form action="{{.Action}}"></form>`)
	globals := jwtOption(backendBlock("site",
		"secret "+testSecret,
		"user alice "+bcryptHashForTest(t, "pw"),
		"cookie sess {\n\t\t\t\tdomain example.test\n\t\t\t\tpath /app\n\t\t\t\tsame_site Strict\n\t\t\t\tinsecure\n\t\t\t}"))
	site := `
	jwt_login /login {
		page ` + page + `
	}
	jwt_logout /logout {
		redirect /bye
	}
	jwt_auth /private/* {
		redirect /login?from=app
		cache_control off
	}`
	cfg := adaptedConfig(t, globals, site)
	raw, _ := json.Marshal(cfg)
	for _, want := range []string{
		`"cookie":{"domain":"example.test","insecure":true,"name":"sess","path":"/app","same_site":"strict"}`,
		`"page":` + string(mustJSON(t, page)),
		`{"backend":"site","handler":"jwt_logout","redirect":"/bye"}`,
		`{"backends":["site"],"disable_cache_control":true,"handler":"jwt_auth","redirect":"/login?from=app"}`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("adapted config lacks %s\n%s", want, raw)
		}
	}

	t.Run("a bare cookie line keeps the JSON minimal", func(t *testing.T) {
		cfg := adaptedConfig(t, jwtOption(backendBlock("site", "secret "+testSecret, "cookie")), "respond ok")
		raw, _ := json.Marshal(cfg)
		if !strings.Contains(string(raw), `"cookie":{}`) {
			t.Errorf("adapted config:\n%s", raw)
		}
	})
}

func TestBrowserCaddyfileErrors(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	withCookie := func(lines ...string) string {
		return jwtOption(backendBlock("site", "secret "+testSecret, "user alice "+hash, strings.Join(lines, "\n\t\t\t")))
	}
	site := withCookie("cookie")
	brokenPage := tempFile(t, "broken.html", "<p>{{if .Error}}unclosed</p>\n")
	hugePage := tempFile(t, "huge.html", strings.Repeat("x", maxLoginPageBytes+1))
	unknownField := tempFile(t, "unknown.html", "<p>{{.Password}}</p>\n")

	tests := []struct {
		name    string
		globals string
		site    string
		line    string // the marker whose line the message must name
		want    []string
	}{
		{"SameSite=None without Secure, which browsers drop", withCookie("cookie {", "\tsame_site none", "\tinsecure", "}"), "respond ok",
			"cookie {", []string{`jwt backend "site"`, "cookie", "same_site none needs the Secure attribute"}},
		{"an unknown same_site", withCookie("cookie {", "\tsame_site loose", "}"), "respond ok",
			"same_site loose", []string{`jwt backend "site"`, "cookie", `"loose"`}},
		{"an unknown cookie setting", withCookie("cookie {", "\tmax_age 10", "}"), "respond ok",
			"max_age 10", []string{`jwt backend "site"`, "cookie", `unrecognized subdirective "max_age"`}},
		{"a cookie setting without its value", withCookie("cookie {", "\tdomain", "}"), "respond ok",
			"domain", []string{"cookie", "domain", "wrong number of arguments (0)"}},
		{"insecure with a value", withCookie("cookie {", "\tinsecure yes", "}"), "respond ok",
			"insecure yes", []string{"cookie", "insecure", "wrong number of arguments (1)"}},
		{"a cookie name with two words", withCookie("cookie a b"), "respond ok",
			"cookie a b", []string{"cookie", "wrong number of arguments (2)"}},
		{"a cookie name a browser refuses", withCookie(`cookie "my;cookie"`), "respond ok",
			"my;cookie", []string{"cookie", `"my;cookie"`, "invalid Cookie.Name"}},
		{"a cookie path that is not a path", withCookie("cookie {", "\tpath app", "}"), "respond ok",
			"path app", []string{"cookie", `path "app" must start with /`}},
		{"a cookie domain that is not a host", withCookie("cookie {", "\tdomain exa;mple", "}"), "respond ok",
			"domain exa;mple", []string{"cookie", "invalid Cookie.Domain"}},
		{"a __Host- cookie with a domain", withCookie("cookie __Host-jwt {", "\tdomain example.test", "}"), "respond ok",
			"cookie __Host-jwt", []string{"cookie", "__Host-"}},
		{"a __Secure- cookie that is insecure", withCookie("cookie __Secure-jwt {", "\tinsecure", "}"), "respond ok",
			"cookie __Secure-jwt", []string{"cookie", "__Secure-"}},
		{"two cookies on one backend", withCookie("cookie", "cookie other"), "respond ok",
			"cookie other", []string{"only one cookie per backend"}},

		{"a login page template that does not parse", site, "jwt_login /login {\n\t\tpage " + brokenPage + "\n\t}",
			"page " + brokenPage, []string{"jwt_login", "page", "unexpected EOF"}},
		{"a login page template that uses a field that does not exist", site, "jwt_login /login {\n\t\tpage " + unknownField + "\n\t}",
			"page " + unknownField, []string{"jwt_login", "page", "Password"}},
		{"a login page that cannot be read", site, "jwt_login /login {\n\t\tpage /nonexistent/login.html\n\t}",
			"page /nonexistent", []string{"jwt_login", "page", "/nonexistent/login.html"}},
		{"page without a file", site, "jwt_login /login {\n\t\tpage\n\t}",
			"page", []string{"jwt_login", "page"}},
		{"a login page that is a device, which would be read for ever", site, "jwt_login /login {\n\t\tpage /dev/zero\n\t}",
			"page /dev/zero", []string{"jwt_login", "page", "/dev/zero is not a regular file"}},
		{"a login page over 1 MiB", site, "jwt_login /login {\n\t\tpage " + hugePage + "\n\t}",
			"page " + hugePage, []string{"jwt_login", "page", "larger than 1024 KiB"}},

		{"a logout redirect to another site", site, "jwt_logout /logout {\n\t\tredirect //evil.example\n\t}",
			"redirect //evil", []string{"jwt_logout", "redirect", "local path"}},
		{"a logout redirect that is an absolute URL", site, "jwt_logout /logout {\n\t\tredirect https://evil.example/\n\t}",
			"redirect https", []string{"jwt_logout", "redirect", "local path"}},
		{"an unknown logout setting", site, "jwt_logout /logout {\n\t\tpage x\n\t}",
			"page x", []string{"jwt_logout", `unrecognized subdirective "page"`}},
		{"jwt_logout naming an unknown backend", site, "jwt_logout /logout nope",
			"jwt_logout /logout nope", []string{"jwt_logout", `unknown jwt backend "nope"`}},
		{"jwt_logout naming two backends", site, "jwt_logout /logout a b",
			"jwt_logout /logout a b", []string{"jwt_logout", "at most one backend"}},

		{"a login redirect that is a javascript URL", site, "jwt_auth {\n\t\tredirect javascript:alert(1)\n\t}",
			"redirect javascript", []string{"jwt_auth", "redirect", "local path"}},
		{"a login redirect with a fragment", site, "jwt_auth {\n\t\tredirect /login#top\n\t}",
			"redirect /login#top", []string{"jwt_auth", "redirect", "fragment"}},
		{"a login redirect without a URL", site, "jwt_auth {\n\t\tredirect\n\t}",
			"redirect", []string{"jwt_auth", "redirect"}},
		{"cache_control with a value other than off", site, "jwt_auth {\n\t\tcache_control private\n\t}",
			"cache_control private", []string{"jwt_auth", "cache_control", "off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(caddyfileFor("0", tt.globals, tt.site))
			if err == nil {
				t.Fatal("the Caddyfile adapted; want an adapt error")
			}
			wantMentions(t, err, tt.want...)
			wantErrorAt(t, err, tt.globals, tt.site, tt.line)
		})
	}
}

func TestBrowserJSONConfigurationErrors(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	app := func(cookie string) string {
		return `{"backends":{"site":{"secrets":[{"value":"` + testSecret + `"}],"users":[{"username":"alice","password":"` + hash + `"}]` + cookie + `}}}`
	}
	withCookie := app(`,"cookie":{}`)
	brokenPage := tempFile(t, "broken.html", "{{.Action")
	tests := []struct {
		name     string
		app      string
		handlers string
		want     []string
	}{
		{"SameSite=None without Secure", app(`,"cookie":{"same_site":"none","insecure":true}`), `{"handler":"jwt_auth"}`,
			[]string{`jwt backend "site"`, "cookie", "same_site none needs the Secure attribute"}},
		{"an unknown same_site", app(`,"cookie":{"same_site":"sometimes"}`), `{"handler":"jwt_auth"}`,
			[]string{`jwt backend "site"`, "cookie", `"sometimes"`}},
		{"a bad cookie name", app(`,"cookie":{"name":"a b"}`), `{"handler":"jwt_auth"}`,
			[]string{`jwt backend "site"`, "cookie", "invalid Cookie.Name"}},
		{"a login page that does not parse", withCookie, `{"handler":"jwt_login","page":"` + brokenPage + `"}`,
			[]string{"jwt_login", "page"}},
		{"a logout redirect that leaves the site", withCookie, `{"handler":"jwt_logout","redirect":"/\\evil.example"}`,
			[]string{"jwt_logout", "redirect", "local path"}},
		{"jwt_logout on an unknown backend", withCookie, `{"handler":"jwt_logout","backend":"nope"}`,
			[]string{"jwt_logout", `unknown jwt backend "nope"`}},
		{"a login redirect with another scheme", withCookie, `{"handler":"jwt_auth","redirect":"ftp://example.test/login"}`,
			[]string{"jwt_auth", "redirect", "absolute http(s) URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProvisionError(t, tt.app, tt.handlers, tt.want...)
		})
	}
}

func TestLoginPageTemplate(t *testing.T) {
	page := tempFile(t, "login.html", `<title>ACME</title>
<form method="post" action="{{.Action}}">
<input type="hidden" name="redirect" value="{{.Redirect}}">
<input name="username" value="{{.Username}}">
<p class="err">{{.Error}}</p><p class="backend">{{.Backend}}</p>
</form>`)
	t.Setenv("LOGIN_PAGE", page)
	globals := jwtOption(backendBlock("site", "secret "+testSecret, "user alice "+bcryptHashForTest(t, "right"), "cookie"))
	base := startCaddy(t, globals, `
	jwt_login /login {
		page {env.LOGIN_PAGE}
	}`)

	resp, body := do(t, "GET", base+"/login?redirect=/private/", nil, "")
	want := `<title>ACME</title>
<form method="post" action="/login">
<input type="hidden" name="redirect" value="/private/">
<input name="username" value="">
<p class="err"></p><p class="backend">site</p>
</form>`
	if resp.StatusCode != 200 || body != want {
		t.Fatalf("status %d, page:\n%s\nwant:\n%s", resp.StatusCode, body, want)
	}
	if resp.Header.Get("Content-Security-Policy") != loginPageCSP || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("a custom page lost the security headers")
	}

	resp, body = formPost(t, base+"/login", url.Values{"username": {`<b>"bob"</b>`}, "password": {"x"}, "redirect": {"/private/"}}, true)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{`<p class="err">Wrong username or password.</p>`, `value="&lt;b&gt;&#34;bob&#34;&lt;/b&gt;"`, `value="/private/"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q (html/template must escape what was typed):\n%s", want, body)
		}
	}
}

func TestLogoutRunsBeforeAuthWithoutOrderLine(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	globals := jwtOption(backendBlock("site", "secret "+testSecret, "user alice "+hash, "cookie"))
	// Written in the reverse of the order they must run in.
	site := `
	respond "inside"
	basic_auth /admin/* {
		bob ` + hash + `
	}
	jwt_auth
	jwt_logout /logout
	jwt_login /login`
	var got []string
	for _, h := range handlerObjects(adaptedConfig(t, globals, site)["apps"].(map[string]any)["http"]) {
		if name := h["handler"].(string); name != "subroute" {
			got = append(got, name)
		}
	}
	if want := []string{"jwt_login", "jwt_logout", "jwt_auth", "authentication", "static_response"}; !sameStrings(got, want) {
		t.Errorf("handler order %v, want %v", got, want)
	}

	// And so logging out works on a site that jwt_auth covers entirely.
	base := startCaddy(t, globals, site)
	resp, body := do(t, "POST", base+"/logout", nil, "")
	if resp.StatusCode != 204 {
		t.Fatalf("logout behind jwt_auth: %d %s", resp.StatusCode, body)
	}
}
