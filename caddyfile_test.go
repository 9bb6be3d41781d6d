package caddyjwt

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddyserver/caddy/v2"
)

// jwtOption writes the global `jwt` option with the given backends.
func jwtOption(backends ...string) string {
	return "\tjwt {\n" + strings.Join(backends, "") + "\t}\n"
}

// backendBlock writes one backend block with one setting per line.
func backendBlock(name string, lines ...string) string {
	var b strings.Builder
	b.WriteString("\t\tbackend " + name + " {\n")
	for _, l := range lines {
		b.WriteString("\t\t\t" + l + "\n")
	}
	b.WriteString("\t\t}\n")
	return b.String()
}

// adaptedConfig adapts a test Caddyfile and decodes the JSON.
func adaptedConfig(t *testing.T, globals, site string) map[string]any {
	t.Helper()
	out, err := adapt(caddyfileFor("8080", globals, site))
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// handlerObjects lists every handler of an adapted config in the order a
// request meets them (routes are arrays; map keys are walked sorted, which
// never reorders handlers since they only nest through arrays).
func handlerObjects(v any) []map[string]any {
	var out []map[string]any
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["handler"]; ok {
			out = append(out, v)
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, handlerObjects(v[k])...)
		}
	case []any:
		for _, e := range v {
			out = append(out, handlerObjects(e)...)
		}
	}
	return out
}

// jwtHandlers lists the jwt_* handler objects of an adapted config.
func jwtHandlers(cfg map[string]any) []any {
	var out []any
	for _, h := range handlerObjects(cfg["apps"].(map[string]any)["http"]) {
		if name, _ := h["handler"].(string); strings.HasPrefix(name, "jwt_") {
			out = append(out, h)
		}
	}
	return out
}

// jsonValue decodes a JSON literal of a test table.
func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test table: %v\n%s", err, s)
	}
	return v
}

func sameJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	if w := jsonValue(t, want); !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		wj, _ := json.Marshal(w)
		t.Fatalf("%s:\n got  %s\n want %s", what, g, wj)
	}
}

func TestCaddyfileGlobalOptionAdaptsToJSON(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	secret48 := strings.Repeat("s", 48)
	secret64 := strings.Repeat("s", 64)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	// api is a jwt option whose one backend, api, has testSecret and lines;
	// apiJSON is the jwt app it adapts to, fields following the secret.
	api := func(lines ...string) string {
		return jwtOption(backendBlock("api", append([]string{"secret " + testSecret}, lines...)...))
	}
	apiJSON := func(fields string) string {
		return `{"backends":{"api":{"secrets":[{"value":` + q(testSecret) + `}],` + fields + `}}}`
	}
	tests := []struct {
		name    string
		globals string
		want    string // the jwt app
	}{
		{
			"a secret alone",
			jwtOption(backendBlock("api", "secret "+testSecret)),
			`{"backends":{"api":{"secrets":[{"value":` + q(testSecret) + `}]}}}`,
		},
		{
			"a secret with a key ID",
			jwtOption(backendBlock("api", "secret "+testSecret+" key-2026")),
			`{"backends":{"api":{"secrets":[{"value":` + q(testSecret) + `,"kid":"key-2026"}]}}}`,
		},
		{
			"a repeated secret keeps its order: the first signs, all verify",
			jwtOption(backendBlock("api", "secret "+testSecret+" new", "secret old-"+testSecret+" old")),
			`{"backends":{"api":{"secrets":[{"value":` + q(testSecret) + `,"kid":"new"},{"value":` + q("old-"+testSecret) + `,"kid":"old"}]}}}`,
		},
		{
			"algorithm HS384 with a 48-byte secret",
			jwtOption(backendBlock("api", "algorithm HS384", "secret "+secret48)),
			`{"backends":{"api":{"secrets":[{"value":"` + secret48 + `"}],"algorithm":"HS384"}}}`,
		},
		{
			"algorithm HS512 after its 64-byte secret",
			jwtOption(backendBlock("api", "secret "+secret64, "algorithm HS512")),
			`{"backends":{"api":{"secrets":[{"value":"` + secret64 + `"}],"algorithm":"HS512"}}}`,
		},
		{
			"lifetime",
			api("lifetime 2h30m"),
			apiJSON(`"lifetime":9000000000000`),
		},
		{
			"lifetime in days, Caddy's extension",
			api("lifetime 1d"),
			apiJSON(`"lifetime":86400000000000`),
		},
		{
			"issuer",
			api("issuer https://auth.example.com"),
			apiJSON(`"issuer":"https://auth.example.com"`),
		},
		{
			"one audience",
			api("audience fastapi-users:auth"),
			apiJSON(`"audience":["fastapi-users:auth"]`),
		},
		{
			"several audiences on one line",
			api("audience web mobile cli"),
			apiJSON(`"audience":["web","mobile","cli"]`),
		},
		{
			"audience lines add up",
			api("audience web", "audience mobile"),
			apiJSON(`"audience":["web","mobile"]`),
		},
		{
			"leeway",
			api("leeway 5s"),
			apiJSON(`"leeway":5000000000`),
		},
		{
			"leeway 0s is kept, so it does not fall back to the 30s default",
			api("leeway 0s"),
			apiJSON(`"leeway":0`),
		},
		{
			"user_claim",
			api("user_claim user_id"),
			apiJSON(`"user_claim":"user_id"`),
		},
		{
			"users file",
			api("users /etc/caddy/users.htpasswd"),
			apiJSON(`"users_file":"/etc/caddy/users.htpasswd"`),
		},
		{
			"a user without claims",
			api("user alice " + hash),
			apiJSON(`"users":[{"username":"alice","password":"` + hash + `"}]`),
		},
		{
			"a user with claims; a value may contain =",
			api("user alice " + hash + " role=admin team=blue query=a=b"),
			apiJSON(`"users":[{"username":"alice","password":"` + hash + `","claims":{"role":"admin","team":"blue","query":"a=b"}}]`),
		},
		{
			"several users beside a users file",
			api("user alice "+hash, "user bob "+hash+" role=ops", "users users.json"),
			apiJSON(`"users_file":"users.json","users":[{"username":"alice","password":"` + hash + `"},{"username":"bob","password":"` + hash + `","claims":{"role":"ops"}}]`),
		},
		{
			"placeholders are kept for provision",
			jwtOption(backendBlock("api", "secret {env.JWT_SECRET}", "secret {file./run/secrets/old} old", "users {env.USERS_FILE}")),
			`{"backends":{"api":{"secrets":[{"value":"{env.JWT_SECRET}"},{"value":"{file./run/secrets/old}","kid":"old"}],"users_file":"{env.USERS_FILE}"}}}`,
		},
		{
			"two backends",
			jwtOption(backendBlock("web", "secret "+testSecret), backendBlock("api.v2", "secret "+testSecret, "lifetime 5m")),
			`{"backends":{"web":{"secrets":[{"value":` + q(testSecret) + `}]},"api.v2":{"secrets":[{"value":` + q(testSecret) + `}],"lifetime":300000000000}}}`,
		},
		{
			"two jwt options add up",
			jwtOption(backendBlock("a", "secret "+testSecret)) + jwtOption(backendBlock("b", "secret "+testSecret)),
			`{"backends":{"a":{"secrets":[{"value":` + q(testSecret) + `}]},"b":{"secrets":[{"value":` + q(testSecret) + `}]}}}`,
		},
		{
			"every setting at once",
			jwtOption(backendBlock("api",
				"secret "+secret64+" k1", "algorithm HS512", "lifetime 15m", "issuer me", "audience a b",
				"leeway 1s", "user_claim uid", "users /u", "user alice "+hash+" role=admin")),
			`{"backends":{"api":{"secrets":[{"value":"` + secret64 + `","kid":"k1"}],"algorithm":"HS512","lifetime":900000000000,
			"issuer":"me","audience":["a","b"],"leeway":1000000000,"user_claim":"uid","users_file":"/u",
			"users":[{"username":"alice","password":"` + hash + `","claims":{"role":"admin"}}]}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := adaptedConfig(t, tt.globals, "respond ok")
			sameJSON(t, "jwt app", cfg["apps"].(map[string]any)["jwt"], tt.want)
			// What the adapter wrote must load back into the app strictly.
			raw, _ := json.Marshal(cfg["apps"].(map[string]any)["jwt"])
			var app App
			if err := caddy.StrictUnmarshalJSON(raw, &app); err != nil {
				t.Fatalf("adapted JSON does not load into App: %v", err)
			}
		})
	}
}

func TestCaddyfileDirectivesAdaptToJSON(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	one := jwtOption(backendBlock("api", "secret "+testSecret, "user alice "+hash))
	two := jwtOption(backendBlock("web", "secret "+testSecret, "user alice "+hash), backendBlock("partner", "secret "+testSecret))
	tests := []struct {
		name    string
		globals string
		site    string
		want    string // the jwt_* handlers, in order
	}{
		{"jwt_login naming its backend", one, "jwt_login /login api",
			`[{"handler":"jwt_login","backend":"api"}]`},
		{"jwt_login without a backend uses the only one", one, "jwt_login /login",
			`[{"handler":"jwt_login","backend":"api"}]`},
		{"jwt_login without a matcher", one, "jwt_login",
			`[{"handler":"jwt_login","backend":"api"}]`},
		{"jwt_login with a rate limit", one, "jwt_login /login {\n\t\trate_limit 5 10m\n\t}",
			`[{"handler":"jwt_login","backend":"api","rate_limit":{"count":5,"window":600000000000}}]`},
		{"jwt_login with the rate limit off", one, "jwt_login /login api {\n\t\trate_limit off\n\t}",
			`[{"handler":"jwt_login","backend":"api","rate_limit":{"disabled":true}}]`},
		{"jwt_login picks one of several backends", two, "jwt_login /login web",
			`[{"handler":"jwt_login","backend":"web"}]`},
		{"jwt_auth naming one backend", one, "jwt_auth /api/* api",
			`[{"handler":"jwt_auth","backends":["api"]}]`},
		{"jwt_auth without a backend uses the only one", one, "jwt_auth",
			`[{"handler":"jwt_auth","backends":["api"]}]`},
		{"jwt_auth keeps the order of several backends", two, "jwt_auth partner web",
			`[{"handler":"jwt_auth","backends":["partner","web"]}]`},
		{"jwt_auth with an empty block", one, "jwt_auth /x {\n\t}",
			`[{"handler":"jwt_auth","backends":["api"]}]`},
		{"jwt_auth letting preflights through", one, "jwt_auth /x {\n\t\tallow_preflight\n\t}",
			`[{"handler":"jwt_auth","backends":["api"],"allow_preflight":true}]`},
		{"both directives", two, "jwt_auth /api/* web partner\n\tjwt_login /login web",
			`[{"handler":"jwt_login","backend":"web"},{"handler":"jwt_auth","backends":["web","partner"]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := adaptedConfig(t, tt.globals, tt.site)
			sameJSON(t, "jwt handlers", jwtHandlers(cfg), tt.want)
		})
	}
}

func TestCaddyfileMatchersStayWithTheirDirective(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	cfg := adaptedConfig(t, jwtOption(backendBlock("api", "secret "+testSecret, "user alice "+hash)),
		"jwt_login /auth/login\n\tjwt_auth /api/*\n\trespond ok")
	raw, _ := json.Marshal(cfg)
	for _, want := range []string{
		`{"handle":[{"backend":"api","handler":"jwt_login"}],"match":[{"path":["/auth/login"]}]}`,
		`{"handle":[{"backends":["api"],"handler":"jwt_auth"}],"match":[{"path":["/api/*"]}]}`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("adapted config lacks %s\n%s", want, raw)
		}
	}
}

func TestCaddyfileDirectiveOrderNeedsNoOrderLine(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	globals := jwtOption(backendBlock("api", "secret "+testSecret, "user alice "+hash))
	// Written in the reverse of the order they must run in, with no
	// `order` option and no `route` block around them.
	site := `
	respond "open sesame"
	file_server /files/*
	reverse_proxy /upstream/* 127.0.0.1:9
	basic_auth /admin/* {
		bob ` + hash + `
	}
	header X-Test yes
	jwt_auth
	jwt_login /login`
	cfg := adaptedConfig(t, globals, site)
	var got []string
	for _, h := range handlerObjects(cfg["apps"].(map[string]any)["http"]) {
		if name := h["handler"].(string); name != "subroute" {
			got = append(got, name)
		}
	}
	pos := func(name string) int {
		for i, n := range got {
			if n == name {
				return i
			}
		}
		t.Fatalf("no %s handler in %v", name, got)
		return -1
	}
	if !(pos("jwt_login") < pos("jwt_auth") && pos("jwt_auth") < pos("authentication") &&
		pos("authentication") < pos("static_response") && pos("jwt_auth") < pos("reverse_proxy") &&
		pos("jwt_auth") < pos("file_server")) {
		t.Fatalf("handler order %v: want jwt_login, then jwt_auth, before basic_auth (authentication) and every content handler", got)
	}

	// And in a real Caddy: the unmatched respond is behind jwt_auth, while
	// the login endpoint is reachable without a token.
	base := startCaddy(t, globals, "respond \"open sesame\"\n\tjwt_auth\n\tjwt_login /login")
	if resp, body := do(t, "GET", base+"/", nil, ""); resp.StatusCode != 401 || strings.Contains(body, "sesame") {
		t.Fatalf("GET / without a token: %d %q, want 401 from jwt_auth", resp.StatusCode, body)
	}
	token := loginSite{t, base + "/login"}.token("alice", "pw")
	resp, body := sendAuth(t, "GET", base+"/", bearer(token))
	if resp.StatusCode != 200 || body != "open sesame" {
		t.Fatalf("GET / with the token: %d %q", resp.StatusCode, body)
	}
}

// caddyfileLine is the line of the test Caddyfile where marker last occurs.
func caddyfileLine(t *testing.T, globals, site, marker string) int {
	t.Helper()
	full := caddyfileFor("0", globals, site)
	i := strings.LastIndex(full, marker)
	if i < 0 {
		t.Fatalf("marker %q not in the Caddyfile", marker)
	}
	return 1 + strings.Count(full[:i], "\n")
}

// caddyfilePosition matches the positions in the test Caddyfile that an
// error names.
var caddyfilePosition = regexp.MustCompile(`Caddyfile:(\d+)\b`)

// wantErrorAt checks that the last position err names, which is where the
// error is, is the line of the test Caddyfile where marker last occurs.
func wantErrorAt(t *testing.T, err error, globals, site, marker string) {
	t.Helper()
	want := fmt.Sprint(caddyfileLine(t, globals, site, marker))
	m := caddyfilePosition.FindAllStringSubmatch(err.Error(), -1)
	if len(m) == 0 || m[len(m)-1][1] != want {
		t.Errorf("error does not point at Caddyfile:%s (%q):\n%v", want, marker, err)
	}
}

func TestCaddyfileConfigurationErrors(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	okBackend := func(name string, extra ...string) string {
		return backendBlock(name, append([]string{"secret " + testSecret, "user alice " + hash}, extra...)...)
	}
	api := jwtOption(okBackend("api"))
	twoBackends := jwtOption(okBackend("web"), okBackend("partner"))
	withSetting := func(lines ...string) string { return jwtOption(backendBlock("api", lines...)) }
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.htpasswd")
	brokenUsers := tempFile(t, "broken.htpasswd", "alice:"+hash+"\n\nbob has no colon\n")
	md5Users := tempFile(t, "md5.htpasswd", "# from htpasswd -m\nbob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n")
	reservedJSON := tempFile(t, "users.json", "[\n  {\"username\": \"alice\", \"password\": \""+hash+"\"},\n  {\"username\": \"bob\", \"password\": \""+hash+"\", \"claims\": {\"aud\": \"x\"}}\n]\n")
	shortFile := tempFile(t, "short-secret", "too-short\n")

	const (
		adaptStage     = "adapt"
		provisionStage = "provision"
	)
	tests := []struct {
		name    string
		globals string
		site    string
		stage   string
		line    string // adapt errors: the marker whose line the message must name
		env     map[string]string
		want    []string
	}{
		// Syntax of the global option.
		{"unknown setting in a backend", withSetting("secret "+testSecret, "colour blue"), "respond ok",
			adaptStage, "colour blue", nil, []string{`jwt backend "api"`, "colour", "unrecognized subdirective"}},
		{"unknown option in the jwt block", "\tjwt {\n\t\tfrontend api\n\t}\n", "respond ok",
			adaptStage, "frontend api", nil, []string{"jwt", `"frontend"`, "expected backend"}},
		{"arguments after jwt", "\tjwt api\n", "respond ok",
			adaptStage, "jwt api", nil, []string{"wrong argument count"}},
		{"backend without a name", "\tjwt {\n\t\tbackend {\n\t\t\tsecret " + testSecret + "\n\t\t}\n\t}\n", "respond ok",
			adaptStage, "backend {", nil, []string{"backend", "missing name"}},
		{"backend with two names", "\tjwt {\n\t\tbackend a b {\n\t\t\tsecret " + testSecret + "\n\t\t}\n\t}\n", "respond ok",
			adaptStage, "backend a b", nil, []string{`jwt backend "a"`, `"b"`}},
		{"backend name that cannot be a realm", jwtOption(backendBlock(`"my api"`, "secret "+testSecret)), "respond ok",
			adaptStage, `"my api"`, nil, []string{`"my api"`, "letters, digits"}},
		{"backend defined twice", jwtOption(okBackend("api"), okBackend("api")), "respond ok",
			adaptStage, "backend api", nil, []string{`jwt backend "api" is defined twice`}},
		{"backend defined twice across jwt options", api + api, "respond ok",
			adaptStage, "backend api", nil, []string{`jwt backend "api" is defined twice`}},

		// Missing arguments.
		{"secret without a value", withSetting("secret"), "respond ok",
			adaptStage, "secret", nil, []string{`jwt backend "api"`, "secret", "wrong number of arguments (0)"}},
		{"secret with too many values", withSetting("secret " + testSecret + " kid extra"), "respond ok",
			adaptStage, "extra", nil, []string{`jwt backend "api"`, "secret", "wrong number of arguments (3)"}},
		{"algorithm without a value", withSetting("secret "+testSecret, "algorithm"), "respond ok",
			adaptStage, "algorithm", nil, []string{`jwt backend "api"`, "algorithm", "wrong number of arguments"}},
		{"lifetime without a value", withSetting("secret "+testSecret, "lifetime"), "respond ok",
			adaptStage, "lifetime", nil, []string{`jwt backend "api"`, "lifetime", "wrong number of arguments"}},
		{"issuer without a value", withSetting("secret "+testSecret, "issuer"), "respond ok",
			adaptStage, "issuer", nil, []string{`jwt backend "api"`, "issuer", "wrong number of arguments"}},
		{"audience without a value", withSetting("secret "+testSecret, "audience"), "respond ok",
			adaptStage, "audience", nil, []string{`jwt backend "api"`, "audience", "wrong number of arguments"}},
		{"leeway without a value", withSetting("secret "+testSecret, "leeway"), "respond ok",
			adaptStage, "leeway", nil, []string{`jwt backend "api"`, "leeway", "wrong number of arguments"}},
		{"user_claim without a value", withSetting("secret "+testSecret, "user_claim"), "respond ok",
			adaptStage, "user_claim", nil, []string{`jwt backend "api"`, "user_claim", "wrong number of arguments"}},
		{"users without a file", withSetting("secret "+testSecret, "users"), "respond ok",
			adaptStage, "users", nil, []string{`jwt backend "api"`, "users", "wrong number of arguments"}},
		{"user without a hash", withSetting("secret "+testSecret, "user alice"), "respond ok",
			adaptStage, "user alice", nil, []string{`jwt backend "api"`, "user", "wrong number of arguments (1)"}},

		// Key material.
		{"no key material", withSetting("lifetime 1h", "issuer me"), "respond ok",
			adaptStage, "backend api", nil, []string{`jwt backend "api"`, "secret", "no key material"}},
		{"empty backend", "\tjwt {\n\t\tbackend api\n\t}\n", "respond ok",
			adaptStage, "backend api", nil, []string{`jwt backend "api"`, "no key material"}},
		{"HS256 secret shorter than 32 bytes", withSetting("secret " + strings.Repeat("x", 31)), "respond ok",
			adaptStage, "secret xxx", nil, []string{`jwt backend "api"`, "secret", "31 bytes", "HS256", "32"}},
		{"HS384 secret shorter than 48 bytes", withSetting("algorithm HS384", "secret "+strings.Repeat("x", 47)), "respond ok",
			adaptStage, "secret xxx", nil, []string{`jwt backend "api"`, "secret", "47 bytes", "HS384", "48"}},
		{"HS512 secret shorter than 64 bytes", withSetting("algorithm HS512", "secret "+strings.Repeat("x", 63)), "respond ok",
			adaptStage, "secret xxx", nil, []string{`jwt backend "api"`, "secret", "63 bytes", "HS512", "64"}},
		{"algorithm after the secret still decides its length", withSetting("secret "+testSecret, "algorithm HS512"), "respond ok",
			adaptStage, "secret " + testSecret, nil, []string{`jwt backend "api"`, "secret", "40 bytes", "HS512", "64", "algorithm set at Caddyfile:"}},
		{"a short second secret", withSetting("secret "+testSecret, "secret "+strings.Repeat("y", 20)+" old"), "respond ok",
			adaptStage, "secret yyy", nil, []string{`jwt backend "api"`, "secret", "20 bytes"}},
		{"key ID used twice", withSetting("secret "+testSecret+" k1", "secret other-"+testSecret+" k1"), "respond ok",
			adaptStage, "secret other-", nil, []string{`jwt backend "api"`, "secret", `key ID "k1" is used twice`}},
		{"RS256 does not fit a secret", withSetting("secret "+testSecret, "algorithm RS256"), "respond ok",
			adaptStage, "algorithm RS256", nil, []string{`jwt backend "api"`, "algorithm", "RS256 does not fit an HMAC secret", "HS256"}},
		{"EdDSA does not fit a secret", withSetting("algorithm EdDSA", "secret "+testSecret), "respond ok",
			adaptStage, "algorithm EdDSA", nil, []string{`jwt backend "api"`, "algorithm", "EdDSA does not fit"}},
		{"unknown algorithm", withSetting("secret "+testSecret, "algorithm HS1024"), "respond ok",
			adaptStage, "algorithm HS1024", nil, []string{`jwt backend "api"`, "algorithm", `unknown algorithm "HS1024"`, "HS256"}},
		{"algorithm none", withSetting("secret "+testSecret, "algorithm none"), "respond ok",
			adaptStage, "algorithm none", nil, []string{`jwt backend "api"`, "algorithm", `unknown algorithm "none"`}},
		{"algorithm in the wrong case", withSetting("secret "+testSecret, "algorithm hs256"), "respond ok",
			adaptStage, "algorithm hs256", nil, []string{`jwt backend "api"`, "algorithm", `unknown algorithm "hs256"`}},

		// Durations.
		{"lifetime that is not a duration", withSetting("secret "+testSecret, "lifetime soon"), "respond ok",
			adaptStage, "lifetime soon", nil, []string{`jwt backend "api"`, "lifetime", "soon"}},
		{"zero lifetime", withSetting("secret "+testSecret, "lifetime 0s"), "respond ok",
			adaptStage, "lifetime 0s", nil, []string{`jwt backend "api"`, "lifetime", "must be positive"}},
		{"negative lifetime", withSetting("secret "+testSecret, "lifetime -1h"), "respond ok",
			adaptStage, "lifetime -1h", nil, []string{`jwt backend "api"`, "lifetime", "must be positive"}},
		{"negative leeway", withSetting("secret "+testSecret, "leeway -1s"), "respond ok",
			adaptStage, "leeway -1s", nil, []string{`jwt backend "api"`, "leeway", "must not be negative"}},

		// Users.
		{"inline user with an Apache MD5 hash", withSetting("secret "+testSecret, "user bob $apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"), "respond ok",
			adaptStage, "user bob", nil, append([]string{`jwt backend "api"`, "user", `"bob"`, "unsupported"}, bcryptHowTo...)},
		{"inline user with a SHA1 hash", withSetting("secret "+testSecret, "user bob {SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="), "respond ok",
			adaptStage, "user bob", nil, append([]string{`jwt backend "api"`, "user", `"bob"`, "unsupported"}, bcryptHowTo...)},
		{"inline user with a plain text password", withSetting("secret "+testSecret, "user bob hunter2"), "respond ok",
			adaptStage, "user bob", nil, append([]string{`jwt backend "api"`, "user", `"bob"`, "unsupported"}, bcryptHowTo...)},
		{"inline user with a reserved claim", withSetting("secret "+testSecret, "user bob "+hash+" role=x sub=root"), "respond ok",
			adaptStage, "user bob", nil, []string{`jwt backend "api"`, "user", `"bob"`, `claim "sub" is reserved`}},
		{"inline user overriding exp", withSetting("secret "+testSecret, "user bob "+hash+" exp=9999999999"), "respond ok",
			adaptStage, "user bob", nil, []string{`jwt backend "api"`, `claim "exp" is reserved`}},
		{"inline claim without a value sign", withSetting("secret "+testSecret, "user bob "+hash+" admin"), "respond ok",
			adaptStage, "user bob", nil, []string{`jwt backend "api"`, "user", `"admin" is not <claim>=<value>`}},
		{"inline user defined twice", withSetting("secret "+testSecret, "user bob "+hash, "user bob "+hash), "respond ok",
			adaptStage, "user bob", nil, []string{`jwt backend "api"`, "user", `"bob" is defined twice`}},
		{"two users files", withSetting("secret "+testSecret, "users a", "users b"), "respond ok",
			adaptStage, "users b", nil, []string{`jwt backend "api"`, "users", "only one users file"}},
		{"unreadable users file", withSetting("secret "+testSecret, "users "+missing), "respond ok",
			provisionStage, "", nil, []string{`jwt backend "api"`, "users", missing, "no such file"}},
		{"users file that is a directory", withSetting("secret "+testSecret, "users "+dir), "respond ok",
			provisionStage, "", nil, []string{`jwt backend "api"`, "users", dir}},
		{"malformed users file", withSetting("secret "+testSecret, "users "+brokenUsers), "respond ok",
			provisionStage, "", nil, []string{`jwt backend "api"`, "users", brokenUsers + ":3:", "<username>:<hash>"}},
		{"users file with an unsupported hash", withSetting("secret "+testSecret, "users "+md5Users), "respond ok",
			provisionStage, "", nil, append([]string{`jwt backend "api"`, "users", md5Users + ":2:", `"bob"`, "unsupported"}, bcryptHowTo...)},
		{"JSON users file with a reserved claim", withSetting("secret "+testSecret, "users "+reservedJSON), "respond ok",
			provisionStage, "", nil, []string{`jwt backend "api"`, "users", reservedJSON + ":3:", `"bob"`, `claim "aud" is reserved`}},

		// Placeholders, resolved at provision.
		{"secret from an unset environment variable", withSetting("secret {env.CADDY_JWT_TEST_UNSET}"), "respond ok",
			provisionStage, "", nil, []string{`jwt backend "api"`, "secret", "{env.CADDY_JWT_TEST_UNSET}", "empty"}},
		{"secret from a short environment variable", withSetting("secret {env.CADDY_JWT_TEST_SHORT}"), "respond ok",
			provisionStage, "", map[string]string{"CADDY_JWT_TEST_SHORT": "sesame"}, []string{`jwt backend "api"`, "secret", "6 bytes", "32"}},
		{"secret from a missing file", withSetting("secret {file." + missing + "}"), "respond ok",
			provisionStage, "", nil, []string{`jwt backend "api"`, "secret", "empty"}},
		{"secret from a file too short for HS256 (newline stripped)", withSetting("secret {file." + shortFile + "}"), "respond ok",
			provisionStage, "", nil, []string{`jwt backend "api"`, "secret", "9 bytes", "32"}},

		// The directives.
		{"jwt_login naming an unknown backend", api, "jwt_login /login nope",
			adaptStage, "jwt_login /login nope", nil, []string{"jwt_login", `unknown jwt backend "nope"`, "api"}},
		{"jwt_auth naming an unknown backend", twoBackends, "jwt_auth web nope",
			adaptStage, "jwt_auth web nope", nil, []string{"jwt_auth", `unknown jwt backend "nope"`, "partner, web"}},
		{"jwt_login without a backend while several exist", twoBackends, "jwt_login /login",
			adaptStage, "jwt_login", nil, []string{"jwt_login", "name a backend", "2 are defined", "partner, web"}},
		{"jwt_auth without a backend while several exist", twoBackends, "jwt_auth",
			adaptStage, "jwt_auth", nil, []string{"jwt_auth", "name a backend", "partner, web"}},
		{"jwt_auth with no jwt option at all", "", "jwt_auth api",
			adaptStage, "jwt_auth api", nil, []string{"jwt_auth: no jwt backends are defined", "global jwt option"}},
		{"jwt_login with no jwt option at all", "", "jwt_login",
			adaptStage, "jwt_login", nil, []string{"jwt_login: no jwt backends are defined", "global jwt option"}},
		{"jwt option without backends", "\tjwt\n", "jwt_auth",
			adaptStage, "jwt_auth", nil, []string{"jwt_auth: no jwt backends are defined"}},
		{"jwt_login on a backend without users", withSetting("secret " + testSecret), "jwt_login /login",
			adaptStage, "jwt_login", nil, []string{"jwt_login", `jwt backend "api" has no users`}},
		{"jwt_login with two backends", twoBackends, "jwt_login web partner",
			adaptStage, "jwt_login", nil, []string{"jwt_login", "at most one backend"}},
		{"jwt_login with an unknown subdirective", api, "jwt_login /login {\n\t\tcolour blue\n\t}",
			adaptStage, "colour blue", nil, []string{"jwt_login", `unrecognized subdirective "colour"`}},
		{"rate_limit with a count that is not a number", api, "jwt_login {\n\t\trate_limit ten 1m\n\t}",
			adaptStage, "rate_limit", nil, []string{"jwt_login", "rate_limit", "count", `"ten"`}},
		{"rate_limit with a zero count", api, "jwt_login {\n\t\trate_limit 0 1m\n\t}",
			adaptStage, "rate_limit", nil, []string{"jwt_login", "rate_limit", "count"}},
		{"rate_limit with a bad window", api, "jwt_login {\n\t\trate_limit 5 soon\n\t}",
			adaptStage, "rate_limit", nil, []string{"jwt_login", "rate_limit", "window", `"soon"`}},
		{"rate_limit with a zero window", api, "jwt_login {\n\t\trate_limit 5 0s\n\t}",
			adaptStage, "rate_limit", nil, []string{"jwt_login", "rate_limit", "window"}},
		{"rate_limit without arguments", api, "jwt_login {\n\t\trate_limit\n\t}",
			adaptStage, "rate_limit", nil, []string{"jwt_login", "rate_limit", "<count> <window> or off"}},
		{"jwt_auth with an unknown subdirective", api, "jwt_auth {\n\t\tcolour blue\n\t}",
			adaptStage, "colour blue", nil, []string{"jwt_auth", `unrecognized subdirective "colour"`}},
		{"allow_preflight with a value", api, "jwt_auth {\n\t\tallow_preflight on\n\t}",
			adaptStage, "allow_preflight on", nil, []string{"jwt_auth", "allow_preflight", "takes no arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, adaptErr := adapt(caddyfileFor("0", tt.globals, tt.site))
			switch tt.stage {
			case adaptStage:
				if adaptErr == nil {
					t.Fatal("the Caddyfile adapted; want an adapt error")
				}
			case provisionStage:
				if adaptErr != nil {
					t.Fatalf("adapt failed (%v); want it to pass and provisioning to fail", adaptErr)
				}
			}
			err := wantLoadError(t, tt.globals, tt.site, tt.want...)
			msg := err.Error()
			if tt.line != "" {
				wantErrorAt(t, err, tt.globals, tt.site, tt.line)
			}
			if strings.Contains(msg, testSecret) || strings.Contains(msg, "sesame") || strings.Contains(msg, "too-short") {
				t.Errorf("error reveals a secret:\n%s", msg)
			}
		})
	}
}

// provisionJSON provisions a hand-written JSON config (the jwt app and the
// handlers of one route) as `caddy validate` does.
func provisionJSON(t *testing.T, jwtApp, handlers string) error {
	t.Helper()
	apps := `"http":{"servers":{"srv0":{"listen":["127.0.0.1:0"],"routes":[{"handle":[` + handlers + `]}]}}}`
	if jwtApp != "" {
		apps = `"jwt":` + jwtApp + `,` + apps
	}
	var c caddy.Config
	if err := caddy.StrictUnmarshalJSON([]byte(`{"admin":{"disabled":true},"apps":{`+apps+`}}`), &c); err != nil {
		t.Fatalf("test JSON does not parse: %v", err)
	}
	return caddy.Validate(&c)
}

// wantProvisionError provisions a JSON config that must fail, checks that
// the error mentions each of want, and returns it.
func wantProvisionError(t *testing.T, jwtApp, handlers string, want ...string) error {
	t.Helper()
	err := provisionJSON(t, jwtApp, handlers)
	if err == nil {
		t.Fatal("config provisioned; want an error")
	}
	wantMentions(t, err, want...)
	return err
}

// wantLoadError loads a Caddyfile config that must fail, checks that the
// error mentions each of want, and returns it.
func wantLoadError(t *testing.T, globals, site string, want ...string) error {
	t.Helper()
	err := loadError(t, globals, site)
	if err == nil {
		t.Fatal("config loaded; want an error")
	}
	wantMentions(t, err, want...)
	return err
}

func TestJSONConfigurationErrors(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	user := `"users":[{"username":"alice","password":"` + hash + `"}]`
	secret := `"secrets":[{"value":"` + testSecret + `"}]`
	backend := func(fields ...string) string { return `{"backends":{"api":{` + strings.Join(fields, ",") + `}}}` }
	good := backend(secret, user)
	two := `{"backends":{"a":{` + secret + `,` + user + `},"b":{` + secret + `}}}`
	auth := `{"handler":"jwt_auth"}`
	login := `{"handler":"jwt_login"}`
	missing := filepath.Join(t.TempDir(), "missing")
	broken := tempFile(t, "users.json", "[\n  {\"username\": \"alice\", \"password\": \""+hash+"\"}\n  {\"username\": \"bob\"}\n]")

	tests := []struct {
		name     string
		app      string
		handlers string
		want     []string
	}{
		{"no key material", backend(user), auth, []string{`jwt backend "api"`, "secret", "no key material"}},
		{"a backend that is null", `{"backends":{"api":null}}`, auth, []string{`jwt backend "api"`, "empty definition"}},
		{"backend name that cannot be a realm", `{"backends":{"my api":{` + secret + `}}}`, auth, []string{`"my api"`, "letters, digits"}},
		{"empty backend name", `{"backends":{"":{` + secret + `}}}`, auth, []string{"needs a name"}},
		{"unknown field", backend(secret, `"secret":"x"`), auth, []string{"unknown field", "secret"}},
		{"HS256 secret shorter than 32 bytes", backend(`"secrets":[{"value":"` + strings.Repeat("x", 31) + `"}]`), auth, []string{`jwt backend "api"`, "secret", "31 bytes", "32"}},
		{"HS384 secret shorter than 48 bytes", backend(`"algorithm":"HS384"`, secret), auth, []string{`jwt backend "api"`, "secret", "40 bytes", "48"}},
		{"HS512 secret shorter than 64 bytes", backend(`"algorithm":"HS512"`, secret), auth, []string{`jwt backend "api"`, "secret", "40 bytes", "64"}},
		{"empty secret", backend(`"secrets":[{"value":""}]`), auth, []string{`jwt backend "api"`, "secret", "empty"}},
		{"key ID used twice", backend(`"secrets":[{"value":"` + testSecret + `","kid":"k"},{"value":"x` + testSecret + `","kid":"k"}]`), auth, []string{`jwt backend "api"`, "secret", `"k"`, "twice"}},
		{"RS256 with a secret", backend(`"algorithm":"RS256"`, secret), auth, []string{`jwt backend "api"`, "algorithm", "RS256 does not fit"}},
		{"unknown algorithm", backend(`"algorithm":"HS1024"`, secret), auth, []string{`jwt backend "api"`, "algorithm", `unknown algorithm "HS1024"`}},
		{"algorithm none", backend(`"algorithm":"none"`, secret), auth, []string{`jwt backend "api"`, "algorithm", `unknown algorithm "none"`}},
		{"negative lifetime", backend(secret, `"lifetime":-1`), auth, []string{`jwt backend "api"`, "lifetime", "must be positive"}},
		{"negative lifetime as a string", backend(secret, `"lifetime":"-1h"`), auth, []string{`jwt backend "api"`, "lifetime", "must be positive"}},
		{"negative leeway", backend(secret, `"leeway":"-1s"`), auth, []string{`jwt backend "api"`, "leeway", "must not be negative"}},
		{"unreadable users file", backend(secret, `"users_file":"`+missing+`"`), auth, []string{`jwt backend "api"`, "users", missing}},
		{"malformed users file", backend(secret, `"users_file":"`+broken+`"`), auth, []string{`jwt backend "api"`, "users", broken + ":3:"}},
		{"inline user with an unsupported hash", backend(secret, `"users":[{"username":"bob","password":"$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"}]`), auth,
			append([]string{`jwt backend "api"`, "user", `"bob"`, "unsupported"}, bcryptHowTo...)},
		{"inline user with a plain text password", backend(secret, `"users":[{"username":"bob","password":"hunter2"}]`), auth,
			append([]string{`jwt backend "api"`, `"bob"`, "unsupported"}, bcryptHowTo...)},
		{"inline user with a reserved claim", backend(secret, `"users":[{"username":"bob","password":"`+hash+`","claims":{"jti":"x"}}]`), auth,
			[]string{`jwt backend "api"`, "user", `"bob"`, `claim "jti" is reserved`}},
		{"inline user without a username", backend(secret, `"users":[{"password":"`+hash+`"}]`), auth, []string{`jwt backend "api"`, "without a username"}},
		{"inline user defined twice", backend(secret, `"users":[{"username":"a","password":"`+hash+`"},{"username":"a","password":"`+hash+`"}]`), auth,
			[]string{`jwt backend "api"`, `"a" is defined twice`}},
		{"secret from an unset environment variable", backend(`"secrets":[{"value":"{env.CADDY_JWT_TEST_UNSET}"}]`), auth,
			[]string{`jwt backend "api"`, "secret", "{env.CADDY_JWT_TEST_UNSET}", "empty"}},
		{"jwt_login naming an unknown backend", good, `{"handler":"jwt_login","backend":"nope"}`, []string{"jwt_login", `unknown jwt backend "nope"`, "api"}},
		{"jwt_login without a backend while several exist", two, login, []string{"jwt_login", "name a backend", "a, b"}},
		{"jwt_login on a backend without users", two, `{"handler":"jwt_login","backend":"b"}`, []string{"jwt_login", `jwt backend "b" has no users`}},
		{"jwt_login with a negative rate limit", good, `{"handler":"jwt_login","rate_limit":{"count":-1}}`, []string{"jwt_login", "rate_limit"}},
		{"jwt_login with no jwt app", "", login, []string{"jwt_login", "no jwt backends are defined"}},
		{"jwt_auth naming an unknown backend", two, `{"handler":"jwt_auth","backends":["a","nope"]}`, []string{"jwt_auth", `unknown jwt backend "nope"`, "a, b"}},
		{"jwt_auth without a backend while several exist", two, auth, []string{"jwt_auth", "name a backend", "a, b"}},
		{"jwt_auth with no jwt app", "", auth, []string{"jwt_auth", "no jwt backends are defined"}},
		{"jwt_auth reading a header no request can carry", good, `{"handler":"jwt_auth","from_header":"X Token"}`, []string{"jwt_auth", "from_header", `"X Token" is not a valid header name`}},
		{"jwt_auth with no jwt app naming a backend", "", `{"handler":"jwt_auth","backends":["api"]}`, []string{"jwt_auth", `"api"`, "no jwt backends are defined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wantProvisionError(t, tt.app, tt.handlers, tt.want...)
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error reveals the secret:\n%s", err)
			}
		})
	}

	if err := provisionJSON(t, good, login+","+auth); err != nil {
		t.Fatalf("the good JSON config of this table fails: %v", err)
	}
}

func TestSecretPlaceholdersAreResolvedAtProvision(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	envSecret := "env-" + testSecret
	fileSecret := "file-" + testSecret
	t.Setenv("CADDY_JWT_TEST_SECRET", envSecret)
	secretFile := tempFile(t, "secret", fileSecret+"\n")
	base := startCaddy(t, jwtOption(
		backendBlock("env", "secret {env.CADDY_JWT_TEST_SECRET}", "user alice "+hash),
		backendBlock("file", "secret {file."+secretFile+"}", "user alice "+hash),
	), "jwt_login /env env\n\tjwt_login /file file\n\trespond ok")

	for _, tt := range []struct{ path, secret, wrong string }{
		{"/env", envSecret, "{env.CADDY_JWT_TEST_SECRET}"},
		{"/file", fileSecret, fileSecret + "\n"},
	} {
		token := loginSite{t, base + tt.path}.token("alice", "pw")
		parse := func(key string) error {
			_, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(key), nil }, jwt.WithValidMethods([]string{"HS256"}))
			return err
		}
		if err := parse(tt.secret); err != nil {
			t.Errorf("%s: token is not signed with the resolved secret: %v", tt.path, err)
		}
		if err := parse(tt.wrong); err == nil {
			t.Errorf("%s: token verifies with %q; the placeholder was not resolved as Caddy does", tt.path, tt.wrong)
		}
	}
}

// FuzzCaddyfileGlobal adapts `{ jwt { backend api { <body> } } }` with a
// fuzzed body. Adapting must never panic, and whatever adapts must be a
// config the jwt app can load: key material present, an HMAC algorithm,
// literal secrets long enough, no negative durations, no reserved claims.
func FuzzCaddyfileGlobal(f *testing.F) {
	f.Add("secret " + testSecret)
	f.Add("secret " + strings.Repeat("k", 64) + " kid\nalgorithm HS512\nlifetime 10m\nleeway 0s\nissuer i\naudience a b\nuser_claim uid")
	f.Add("secret {env.X}\nusers /etc/users\nuser alice $2y$04$abcdefghijklmnopqrstuuJ2r3nq9W5T7bx6v8XDxnZLCx2yPgT0S role=admin")
	f.Fuzz(func(t *testing.T, body string) {
		apps, ok := adaptFuzzed(t, "{\n\tadmin off\n\tjwt {\n\t\tbackend api {\n"+body+"\n\t\t}\n\t}\n}\n\n:0 {\n\tjwt_auth\n\trespond ok\n}\n")
		if !ok || apps["jwt"] == nil {
			return
		}
		var app App
		if err := caddy.StrictUnmarshalJSON(apps["jwt"], &app); err != nil {
			t.Fatalf("adapted jwt app does not load: %v\n%s", err, apps["jwt"])
		}
		for name, b := range app.Backends {
			if err := checkBackendName(name); err != nil {
				t.Fatalf("adapted a bad name: %v", err)
			}
			if b == nil || len(b.Secrets) == 0 {
				t.Fatalf("backend %q adapted without key material", name)
			}
			alg := b.Algorithm
			if alg == "" {
				alg = defaultAlgorithm
			}
			if _, ok := hmacMinKeyBytes[alg]; !ok {
				t.Fatalf("backend %q adapted with algorithm %q", name, b.Algorithm)
			}
			for _, s := range b.Secrets {
				if !strings.ContainsAny(s.Value, "{}") {
					if err := checkSecret(alg, []byte(s.Value)); err != nil {
						t.Fatalf("backend %q adapted with a bad secret: %v", name, err)
					}
				}
			}
			if (b.Lifetime != nil && *b.Lifetime <= 0) || (b.Leeway != nil && *b.Leeway < 0) {
				t.Fatalf("backend %q adapted with a negative duration", name)
			}
			for _, u := range b.Users {
				if _, err := newAccount(u); err != nil {
					t.Fatalf("backend %q adapted an unusable user: %v", name, err)
				}
			}
		}
	})
}

// TestCaddyfileAndJSONReportARuleAlike holds the one validation path: a
// rule about what a setting means is checked by the module's own code, so
// the Caddyfile adapter reports exactly what provisioning the same JSON
// reports, plus the line it read the setting from.
func TestCaddyfileAndJSONReportARuleAlike(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	tests := []struct {
		name                string
		caddyfile, line     string // backend lines; the marker of the line the error names
		site                string
		jsonApp, jsonHandle string
	}{
		{"short secret", "secret 12345", "secret 12345", "respond ok",
			`{"backends":{"api":{"secrets":[{"value":"12345"}]}}}`, `{"handler":"static_response"}`},
		{"unknown algorithm", "secret " + testSecret + "\n\t\t\talgorithm HS999", "algorithm HS999", "respond ok",
			`{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}],"algorithm":"HS999"}}}`, `{"handler":"static_response"}`},
		{"zero lifetime", "secret " + testSecret + "\n\t\t\tlifetime 0s", "lifetime 0s", "respond ok",
			`{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}],"lifetime":0}}}`, `{"handler":"static_response"}`},
		{"cookie path without a slash", "secret " + testSecret + "\n\t\t\tcookie {\n\t\t\t\tpath app\n\t\t\t}", "path app", "respond ok",
			`{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}],"cookie":{"path":"app"}}}}`, `{"handler":"static_response"}`},
		{"second user of one name", "secret " + testSecret + "\n\t\t\tuser alice " + hash + "\n\t\t\tuser alice " + hash, "user alice", "respond ok",
			`{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}],"users":[{"username":"alice","password":"` + hash + `"},{"username":"alice","password":"` + hash + `"}]}}}`, `{"handler":"static_response"}`},
		{"from_header Authorization", "secret " + testSecret, "from_header Authorization", "jwt_auth {\n\t\tfrom_header Authorization\n\t}",
			`{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}]}}}`, `{"handler":"jwt_auth","from_header":"Authorization"}`},
		{"logout redirect off site", "secret " + testSecret, "redirect https", "jwt_logout {\n\t\tredirect https://evil.example/\n\t}",
			`{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}]}}}`, `{"handler":"jwt_logout","redirect":"https://evil.example/"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caddyfile := caddyfileFor("0", jwtOption(backendBlock("api", tt.caddyfile)), tt.site)
			_, adaptErr := adapt(caddyfile)
			if adaptErr == nil {
				t.Fatal("the Caddyfile adapted; want an error")
			}
			jsonErr := provisionJSON(t, tt.jsonApp, tt.jsonHandle)
			if jsonErr == nil {
				t.Fatal("the JSON provisioned; want an error")
			}
			// Caddy wraps both: the adapter with the directive it parsed,
			// provisioning with the module chain. What follows is ours.
			jsonMsg := jsonErr.Error()
			for _, scope := range []string{"jwt backend ", "jwt_auth: ", "jwt_logout: "} {
				if i := strings.LastIndex(jsonMsg, scope); i >= 0 {
					jsonMsg = jsonMsg[i:]
					break
				}
			}
			line := 0 // the last line with the marker
			for i, l := range strings.Split(caddyfile, "\n") {
				if strings.Contains(l, tt.line) {
					line = i + 1
				}
			}
			want := fmt.Sprintf("%s, at Caddyfile:%d", jsonMsg, line)
			if !strings.HasSuffix(adaptErr.Error(), want) {
				t.Errorf("the Caddyfile and JSON paths disagree:\nCaddyfile: %v\nJSON:      %v\nwant the Caddyfile error to end %q", adaptErr, jsonErr, want)
			}
		})
	}
}

// TestProvisionErrorIsLoggedFirstWithWhatToFix: Caddy reports a
// provisioning error at the end of the chain of modules that loaded each
// other; the jwt app also logs it alone, so the line starts with the
// backend and the setting.
func TestProvisionErrorIsLoggedFirstWithWhatToFix(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	missing := filepath.Join(t.TempDir(), "jwt.pem")
	cfg := `{"admin":{"disabled":true},
		"logging":{"logs":{"default":{"writer":{"output":"file","filename":` + strconv.Quote(logFile) + `},"encoder":{"format":"json"}}}},
		"apps":{"jwt":{"backends":{"api":{"sign_key":{"file":` + strconv.Quote(missing) + `}}}},
		"http":{"servers":{"srv0":{"listen":["127.0.0.1:0"],"routes":[{"handle":[{"handler":"jwt_auth"}]}]}}}}}`
	var c caddy.Config
	if err := caddy.StrictUnmarshalJSON([]byte(cfg), &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err == nil {
		t.Fatal("config with a missing sign_key validated")
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	want := `"msg":"jwt backend \"api\": sign_key: `
	if !strings.Contains(string(log), want) {
		t.Errorf("no log line starts with the backend and setting (%s); the log:\n%s", want, log)
	}
}
