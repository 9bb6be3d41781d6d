package caddyjwt

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/caddyserver/caddy/v2"
)

// FuzzCaddyfileLogin and FuzzCaddyfileAuth adapt a Caddyfile whose site has
// `jwt_login <body>` or `jwt_auth <body>` with a fuzzed body: the rest of
// the directive line (matcher and backends) and its block. Adapting must
// never panic, and every jwt handler that comes out must provision against
// the jwt app the global option declares: whatever `caddy adapt` accepts,
// `caddy run` must accept too, but for what only the environment decides
// (placeholders, files). Seeds are in testdata/fuzz/<name>.

// fuzzUserHash is a bcrypt hash (cost 4) of nothing in particular; parsing
// and provisioning never check a password against it.
const fuzzUserHash = "$2y$04$abcdefghijklmnopqrstuuJ2r3nq9W5T7bx6v8XDxnZLCx2yPgT0S"

// fuzzDirectiveGlobals declares two backends: api, which can log users in,
// and admin, which has no users and can only verify.
const fuzzDirectiveGlobals = "{\n\tadmin off\n\tjwt {\n" +
	"\t\tbackend api {\n\t\t\tsecret " + testSecret + "\n\t\t\tuser alice " + fuzzUserHash + "\n\t\t}\n" +
	"\t\tbackend admin {\n\t\t\tsecret " + testSecret + "\n\t\t}\n" +
	"\t}\n}\n\n"

// fuzzDirectiveApp is the jwt app fuzzDirectiveGlobals adapts to.
const fuzzDirectiveApp = `{"backends":{
	"api":{"secrets":[{"value":"` + testSecret + `"}],"users":[{"username":"alice","password":"` + fuzzUserHash + `"}]},
	"admin":{"secrets":[{"value":"` + testSecret + `"}]}}}`

// adaptFuzzed adapts a Caddyfile that holds the fuzzed input and returns
// its apps' JSON; ok is false when it does not adapt. Input that imports
// is skipped: import reads files named by the input, which is Caddy's
// business and could read anything on this machine (the fixed parts of
// the fuzzed Caddyfiles import nothing).
func adaptFuzzed(t *testing.T, caddyfile string) (apps map[string]json.RawMessage, ok bool) {
	if strings.Contains(caddyfile, "import") {
		t.Skip()
	}
	out, err := adapt(caddyfile)
	if err != nil {
		return nil, false
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("adapted output is not JSON: %v", err)
	}
	return cfg.Apps, true
}

// fuzzHandlers is a fuzz target for the body of directive, seeded with
// seeds (and testdata/fuzz/<name>): each input goes through fuzzDirective,
// and check looks further at each handler of type H it provisions.
func fuzzHandlers[H caddy.Module](f *testing.F, directive string, seeds []string, check func(t *testing.T, h H)) {
	ctx := provisionBackends(f, fuzzDirectiveApp)
	for _, seed := range seeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fuzzDirective(t, ctx, directive, body, func(t *testing.T, m caddy.Module) {
			if h, ok := m.(H); ok {
				check(t, h)
			}
		})
	})
}

// fuzzDirective adapts a site with `<directive> <body>` and provisions
// every jwt handler in it against ctx. It fails the test when something
// adapts that does not provision; check looks at each handler further.
func fuzzDirective(t *testing.T, ctx caddy.Context, directive, body string, check func(t *testing.T, h caddy.Module)) {
	apps, ok := adaptFuzzed(t, fuzzDirectiveGlobals+":0 {\n\t"+directive+" "+body+"\n\trespond ok\n}\n")
	if !ok {
		return
	}
	var routes any
	if err := json.Unmarshal(apps["http"], &routes); err != nil && apps["http"] != nil {
		t.Fatalf("adapted http app is not JSON: %v", err)
	}
	for _, obj := range handlerObjects(routes) {
		var h interface {
			caddy.Module
			caddy.Provisioner
		}
		switch obj["handler"] {
		case "jwt_login":
			h = new(Login)
		case "jwt_auth":
			h = new(Auth)
		case "jwt_logout":
			h = new(Logout)
		default:
			continue
		}
		raw, _ := json.Marshal(obj)
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(raw, &fields)
		delete(fields, "handler")
		raw, _ = json.Marshal(fields)
		if err := caddy.StrictUnmarshalJSON(raw, h); err != nil {
			t.Fatalf("adapted %s does not load: %v\n%s", obj["handler"], err, raw)
		}
		if err := h.Provision(ctx); err != nil {
			// A placeholder is resolved, and a file read, only now.
			if strings.Contains(string(raw), "{") && strings.Contains(err.Error(), "page") {
				continue
			}
			t.Fatalf("adapted %s does not provision: %v\n%s", obj["handler"], err, raw)
		}
		if check != nil {
			check(t, h)
		}
		// jwt_login takes its limiter from a process-wide pool; give it
		// back, or a long fuzz run piles up limiters.
		if c, ok := h.(caddy.CleanerUpper); ok {
			_ = c.Cleanup()
		}
	}
}

func FuzzCaddyfileLogin(f *testing.F) {
	fuzzHandlers(f, "jwt_login", []string{
		"/login api",
		"/login api {\n\t\trate_limit 5 10m\n\t}",
		"api {\n\t\trate_limit off\n\t}",
	}, func(t *testing.T, h *Login) {
		if h.backend == nil || h.backend.name != "api" {
			t.Fatalf("jwt_login adapted for a backend that cannot log anyone in: %q", h.Backend)
		}
		if rl := h.RateLimit; rl != nil && !rl.Disabled && (rl.Count <= 0 || rl.Window <= 0) {
			t.Fatalf("jwt_login adapted with rate_limit %d per %d", rl.Count, rl.Window)
		}
		if (h.limits == nil) != (h.RateLimit != nil && h.RateLimit.Disabled) {
			t.Fatalf("limits %v with rate_limit %+v", h.limits, h.RateLimit)
		}
	})
}

func FuzzCaddyfileAuth(f *testing.F) {
	fuzzHandlers(f, "jwt_auth", []string{
		"/api/* api admin",
		"admin {\n\t\tfrom_header X-Token\n\t\trequire role admin\n\t}",
		"api {\n\t\tredirect /login\n\t\tcache_control off\n\t}",
	}, func(t *testing.T, h *Auth) {
		if len(h.backends) == 0 {
			t.Fatalf("jwt_auth adapted without a backend: %q", h.Backends)
		}
		for _, b := range h.backends {
			if b.name != "api" && b.name != "admin" {
				t.Fatalf("jwt_auth adapted with backend %q", b.name)
			}
		}
		// A header name no request can carry would silently never
		// match.
		if h.FromHeader != "" && !httpguts.ValidHeaderFieldName(h.FromHeader) {
			t.Fatalf("jwt_auth adapted with from_header %q", h.FromHeader)
		}
	})
}
