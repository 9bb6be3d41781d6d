package caddyjwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// This file keeps the documentation honest: the README's quick start runs
// on the built binary exactly as a user would run it, and its two recipes
// run as written, shell setup included; every Caddyfile in README.md,
// SECURITY.md and docs/*.md adapts; docs/json.md's example is what `caddy
// adapt` prints; the recipes do what their text says; the configuration
// errors table is what Caddy reports; and every link between the files
// leads to a heading that exists.

// The demo's fixed facts, as the README and Caddyfile.example state them.
const (
	demoUser     = "demo"
	demoPassword = "demo-password"
	demoPort     = "8080"

	// demoEdDSAHeader is the header of the demo-ed backend's tokens: the
	// kid is the RFC 7638 thumbprint of testdata/demo-ed25519.pem.
	demoEdDSAHeader = `{"alg":"EdDSA","kid":"B0pMoA6zPKAfGSRbECbKXxEflb6g4zoFxeOabf_nlt8","typ":"JWT"}`
)

// TestQuickStart builds ./cmd/caddy, checks Caddyfile.example with `caddy
// validate` and `caddy adapt`, runs it with `caddy run` and replays the
// README's curl session with net/http.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ./cmd/caddy and runs the demo; skipped with -short")
	}
	readme := readFile(t, "README.md")
	quickStart := section(t, readme, "## Quick start")
	for _, cmd := range []string{
		"go run ./cmd/caddy run --config Caddyfile.example",
		"go test ./...",
	} {
		if !strings.Contains(quickStart, "\n"+cmd+"\n") {
			t.Errorf("README's quick start no longer has the command %q", cmd)
		}
	}
	if !strings.Contains(quickStart, "`"+demoEdDSAHeader+"`") {
		t.Errorf("README's quick start no longer shows the EdDSA token header %s", demoEdDSAHeader)
	}

	bin := buildCaddy(t)
	env := caddyEnv(t)

	t.Run("caddy validate accepts Caddyfile.example", func(t *testing.T) {
		cmd := exec.Command(bin, "validate", "--config", "Caddyfile.example")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("Valid configuration")) {
			t.Fatalf("caddy validate: %v\n%s", err, out)
		}
	})

	t.Run("caddy adapt turns Caddyfile.example into the demo config", func(t *testing.T) {
		cmd := exec.Command(bin, "adapt", "--config", "Caddyfile.example")
		cmd.Env = env
		cmd.Stderr = io.Discard
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("caddy adapt: %v", err)
		}
		var cfg struct {
			Apps struct {
				JWT struct {
					Backends map[string]struct {
						Issuer string `json:"issuer"`
						Users  []User `json:"users"`
					} `json:"backends"`
				} `json:"jwt"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatalf("caddy adapt printed no JSON: %v\n%s", err, out)
		}
		demo, ok := cfg.Apps.JWT.Backends["demo"]
		if !ok || len(demo.Users) != 1 || demo.Users[0].Username != demoUser {
			t.Fatalf("the demo backend with its one user is missing: %+v", cfg.Apps.JWT.Backends)
		}
		for _, want := range []string{`"handler":"jwt_login"`, `"handler":"jwt_auth"`, `"/auth/login"`, `"/api/*"`, `"127.0.0.1:8080"`} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("adapted demo config lacks %s", want)
			}
		}
	})

	t.Run("the README's curl session works against caddy run", func(t *testing.T) {
		base, stop := runDemo(t, bin, env)
		curlSession(t, base)
		log := stop()

		// The failed login of the session is logged for fail2ban, and no
		// secret, password or token ever reaches the log.
		if !logHasLine(log, `"msg":"login failed"`, `"client_ip":"127.0.0.1"`, `"reason":"wrong password"`) {
			t.Errorf("no fail2ban line for the failed login in the log:\n%s", log)
		}
		for _, secret := range []string{demoPassword, "demo-secret-do-not-deploy", "eyJ"} {
			if strings.Contains(log, secret) {
				t.Errorf("the log contains %q:\n%s", secret, log)
			}
		}
	})
}

// curlSession is the README's quick-start session, request by request.
func curlSession(t *testing.T, base string) {
	t.Helper()
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	// curl -s -d username=demo -d password=demo-password .../auth/login
	resp, body := do(t, "POST", base+"/auth/login", form, "username="+demoUser+"&password="+demoPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var login struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(body), &login); err != nil {
		t.Fatalf("login answered no JSON: %q", body)
	}
	if login.Token == "" || login.AccessToken != login.Token || login.TokenType != "bearer" || login.ExpiresIn != 3600 {
		t.Errorf("login body does not have the README's shape: %s", body)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("login %s = %q, want %q", k, got, v)
		}
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(login.Token, claims); err != nil {
		t.Fatalf("login token: %v", err)
	}
	if claims["sub"] != demoUser || claims["iss"] != "caddy-jwt-demo" || claims["role"] != "admin" || claims["jti"] == nil {
		t.Errorf("token payload is not the README's: %v", claims)
	}

	// curl -s -H "Authorization: Bearer $TOKEN" .../api/me
	resp, body = sendAuth(t, "GET", base+"/api/me", bearer(login.Token))
	if resp.StatusCode != http.StatusOK || body != `{"user":"demo","role":"admin","backend":"demo"}` {
		t.Errorf("API with the token: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("API Content-Type = %q", ct)
	}

	// curl -si .../api/me, and one with a broken token.
	for _, tc := range []struct {
		name, auth, challenge string
	}{
		{"no token", "", `Bearer realm="demo"`},
		{"broken token", "Bearer x" + login.Token, `Bearer realm="demo", error="invalid_token", error_description="malformed token"`},
	} {
		h := map[string]string{}
		if tc.auth != "" {
			h["Authorization"] = tc.auth
		}
		resp, body = do(t, "GET", base+"/api/me", h, "")
		if resp.StatusCode != http.StatusUnauthorized || body != "" {
			t.Errorf("API with %s: %d %q, want 401 and no body", tc.name, resp.StatusCode, body)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("API with %s: WWW-Authenticate = %q, want %q", tc.name, got, tc.challenge)
		}
	}

	// curl -s -d username=demo -d password=wrong .../auth/login
	resp, body = do(t, "POST", base+"/auth/login", form, "username="+demoUser+"&password=wrong")
	if resp.StatusCode != http.StatusBadRequest || body != `{"error":"invalid_grant","detail":"LOGIN_BAD_CREDENTIALS"}` {
		t.Errorf("wrong password: %d %s", resp.StatusCode, body)
	}

	// The same login at /auth/eddsa/login, and the API with its token.
	ed := loginSite{t, base + "/auth/eddsa/login"}
	edToken := ed.tokenOf(ed.form(demoUser, demoPassword, nil))
	header, err := base64.RawURLEncoding.DecodeString(edToken[:strings.IndexByte(edToken, '.')])
	if err != nil || string(header) != demoEdDSAHeader {
		t.Errorf("EdDSA token header = %s (%v), want the README's %s", header, err, demoEdDSAHeader)
	}
	resp, body = sendAuth(t, "GET", base+"/api/me", bearer(edToken))
	if resp.StatusCode != http.StatusOK || body != `{"user":"demo","role":"admin","backend":"demo-ed"}` {
		t.Errorf("API with the EdDSA token: %d %s", resp.StatusCode, body)
	}

	// The static page at / is public and shows the same session.
	resp, body = do(t, "GET", base+"/", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"caddy-jwt demo", "/auth/login", demoPassword, "Authorization: Bearer $TOKEN", "/api/me"} {
		if !strings.Contains(body, want) {
			t.Errorf("the demo page does not mention %q", want)
		}
	}
}

// docCaddyfileSections are the doc sections that show one complete
// Caddyfile each; TestREADMECaddyfilesAdapt adapts them with every other
// ```caddyfile block of the docs.
var docCaddyfileSections = []struct{ file, heading string }{
	{"docs/jwt.md", "## `secret <value> [<kid>]`"},
	{"docs/jwt_login.md", "## Logins and logouts from another origin"},
	{"docs/jwt_login.md", "## `rate_limit <count> <window>`"},
	{"docs/json.md", "## Example"},
	{"README.md", "## Protect a static site"},
	{"README.md", "## Pass the user to a proxied app"},
	{"docs/recipes.md", "## A static site on a domain"},
	{"docs/recipes.md", "## A proxied app on a domain"},
	{"docs/recipes.md", "## JSON error bodies"},
	{"docs/recipes.md", "## Accept tokens from a fastapi-users app"},
	{"docs/recipes.md", "## Log fastapi-users users in by email"},
	{"docs/recipes.md", "## Verify tokens from an OIDC provider"},
	{"docs/recipes.md", "## Rotate signing keys without downtime"},
	{"docs/recipes.md", "## Role-based access"},
	{"docs/recipes.md", "## Call the API from another origin (CORS)"},
	{"docs/operations.md", "## A log file for logins"},
	{"docs/operations.md", "## Metrics"},
	{"SECURITY.md", "## What you still own"},
}

// docFiles are the Markdown files the doc tests read: the README,
// SECURITY.md and every page under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("docs/*.md")
	if err != nil || len(pages) < 8 {
		t.Fatalf("docs/*.md: %v (%d pages)", err, len(pages))
	}
	return append([]string{"README.md", "SECURITY.md"}, pages...)
}

// TestREADMECaddyfilesAdapt adapts every ```caddyfile block of the README,
// SECURITY.md and docs/*.md, and checks that docs/json.md's example shows
// what `caddy adapt` prints for its Caddyfile.
func TestREADMECaddyfilesAdapt(t *testing.T) {
	for _, s := range docCaddyfileSections {
		if n := len(fencedBlocks(docSection(t, s.file, s.heading), "caddyfile")); n != 1 {
			t.Errorf("%s section %q has %d caddyfile blocks, want 1", s.file, s.heading, n)
		}
	}
	total := 0
	for _, file := range docFiles(t) {
		doc := readFile(t, file)
		blocks := fencedBlocks(doc, "caddyfile")
		total += len(blocks)
		for i, b := range blocks {
			if _, err := adapt(b); err != nil {
				t.Errorf("%s: caddyfile block %d does not adapt: %v\n%s", file, i+1, err, b)
			}
		}
		// A complete Caddyfile fenced under another name would escape this
		// test; the syntax summaries, which do not adapt, have <placeholders>.
		for _, lang := range []string{"", "text", "caddy", "Caddyfile"} {
			for _, b := range fencedBlocks(doc, lang) {
				if strings.HasPrefix(b, "{\n") && strings.Contains(b, "\tjwt {\n") && !strings.Contains(b, "<") {
					t.Errorf("a Caddyfile in %s is fenced as %q, not caddyfile, so it is not tested:\n%s", file, lang, b)
				}
			}
		}
	}
	if total < len(docCaddyfileSections) {
		t.Errorf("found only %d caddyfile blocks in the docs", total)
	}

	// The static site recipe on a domain leaves out the site's braces,
	// which Caddy allows for a lone site; it must still be the site it
	// describes.
	static := fencedBlocks(docSection(t, "docs/recipes.md", "## A static site on a domain"), "caddyfile")
	if len(static) == 1 {
		cfg, err := adapt(static[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"handler":"jwt_login"`, `"handler":"jwt_auth"`, `"redirect":"/login"`, `"handler":"file_server"`, `"cookie":{}`, `"example.com"`} {
			if !strings.Contains(string(cfg), want) {
				t.Errorf("the static site recipe adapts to a config without %s:\n%s", want, cfg)
			}
		}
	}

	sec := docSection(t, "docs/json.md", "## Example")
	cfs, js := fencedBlocks(sec, "caddyfile"), fencedBlocks(sec, "json")
	if len(cfs) != 1 || len(js) != 1 {
		t.Fatalf("the JSON config section should have one Caddyfile and one JSON block, has %d and %d", len(cfs), len(js))
	}
	adapted, err := adapt(cfs[0])
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(adapted, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js[0]), &want); err != nil {
		t.Fatalf("docs/json.md's example is not JSON: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		pretty, _ := json.MarshalIndent(got, "", "\t")
		t.Errorf("docs/json.md's JSON is not what its Caddyfile adapts to; caddy adapt gives:\n%s", pretty)
	}
}

// TestREADMEUsersFileExamples parses the users file examples of docs/jwt.md.
func TestREADMEUsersFileExamples(t *testing.T) {
	sec := docSection(t, "docs/jwt.md", "## `users <file>`")
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"text", []string{"alice", "bob"}},
		{"json", []string{"carol@example.com", "alice", "bob"}},
	} {
		blocks := fencedBlocks(sec, tc.lang)
		if len(blocks) == 0 {
			t.Fatalf("no %s users file example", tc.lang)
		}
		users, err := parseUsers("README", []byte(blocks[0]))
		if err != nil {
			t.Fatalf("%s example: %v", tc.lang, err)
		}
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
		}
		if !reflect.DeepEqual(names, tc.want) {
			t.Errorf("%s example has users %v, want %v", tc.lang, names, tc.want)
		}
	}
}

// TestREADMERecipes runs recipes of docs/recipes.md as printed (only the
// site address, upstream and file paths are swapped for test ones) and
// checks that each does what its text says.
func TestREADMERecipes(t *testing.T) {
	t.Setenv("JWT_SECRET", testSecret)
	t.Setenv("FASTAPI_USERS_SECRET", testSecret)

	// app is the proxied app: it echoes the X-User header it receives.
	var seen sync.Map
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path, r.Header.Values("X-User"))
		fmt.Fprint(w, "X-User=", r.Header.Get("X-User"))
	}))
	t.Cleanup(app.Close)
	upstream := strings.TrimPrefix(app.URL, "http://")

	t.Run("a proxied app gets X-User only from a valid token", func(t *testing.T) {
		users := tempFile(t, "users", "alice:"+bcryptHashForTest(t, "pw")+"\n")
		base := runREADMECaddyfile(t, docRecipe(t, "docs/recipes.md", "## A proxied app on a domain"), upstream, users)

		token := loginSite{t, base + "/auth/login"}.token("alice", "pw")

		resp, body := do(t, "GET", base+"/api/spoofed", map[string]string{"Authorization": "Bearer " + token, "X-User": "mallory"}, "")
		if resp.StatusCode != http.StatusOK || body != "X-User=alice" {
			t.Errorf("with a token and a spoofed X-User: %d %q, want the app to see only alice", resp.StatusCode, body)
		}
		if v, _ := seen.Load("/api/spoofed"); !reflect.DeepEqual(v, []string{"alice"}) {
			t.Errorf("the app saw X-User %v", v)
		}
		resp, _ = do(t, "GET", base+"/api/anonymous", map[string]string{"X-User": "mallory"}, "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("without a token: %d, want 401", resp.StatusCode)
		}
		if _, reached := seen.Load("/api/anonymous"); reached {
			t.Error("a request without a token reached the app")
		}
	})

	t.Run("handle_errors renders the failure as JSON and keeps the challenge", func(t *testing.T) {
		base := runREADMECaddyfile(t, docRecipe(t, "docs/recipes.md", "## JSON error bodies"), upstream, "")
		exp := time.Now().Add(time.Hour).Unix()
		for _, tc := range []struct {
			name, auth string
			status     int
			body       string
			challenge  string
		}{
			{"no token", "", 401, `{"error":"no token","status":401}`, `Bearer realm="api"`},
			{"expired token", "Bearer " + signHS256(t, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()}), 401,
				`{"error":"token expired","status":401}`, `Bearer realm="api", error="invalid_token", error_description="token expired"`},
			{"malformed header", "Bearer a b", 400, `{"error":"malformed Authorization header","status":400}`,
				`Bearer realm="api", error="invalid_request", error_description="malformed Authorization header"`},
			{"valid token without the required role", "Bearer " + signHS256(t, jwt.MapClaims{"sub": "alice", "roles": []string{"guest"}, "exp": exp}), 403,
				`{"error":"insufficient_scope","status":403}`, `Bearer realm="api", error="insufficient_scope"`},
		} {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			resp, body := do(t, "GET", base+"/api/items", h, "")
			if resp.StatusCode != tc.status || body != tc.body || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: %d %s %q, want %d %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("%s: WWW-Authenticate = %q, want %q", tc.name, got, tc.challenge)
			}
		}
		member := signHS256(t, jwt.MapClaims{"sub": "alice", "roles": []string{"member"}, "exp": exp})
		if resp, body := sendAuth(t, "GET", base+"/api/items", bearer(member)); resp.StatusCode != 200 {
			t.Errorf("a member's token: %d %q", resp.StatusCode, body)
		}
	})

	t.Run("a fastapi-users user logs in by email and gets the UUID as sub", func(t *testing.T) {
		sec := docSection(t, "docs/recipes.md", "## Log fastapi-users users in by email")
		blocks := fencedBlocks(sec, "json")
		if len(blocks) != 1 {
			t.Fatalf("%d json blocks, want 1", len(blocks))
		}
		users, err := parseUsers("recipe", []byte(blocks[0]))
		if err != nil || len(users) != 1 || users[0].ID == "" {
			t.Fatalf("recipe users %+v: %v", users, err)
		}
		users[0].Password = bcryptHashForTest(t, "pw")
		file := tempFile(t, "users", string(mustJSON(t, users)))
		base := runREADMECaddyfile(t, docRecipe(t, "docs/recipes.md", "## Log fastapi-users users in by email"), upstream, file)
		token := loginSite{t, base + "/auth/jwt/login"}.token(users[0].Username, "pw")
		claims := decodeIssuedToken(t, token, testSecret).claims
		if claims["sub"] != users[0].ID || claims["aud"] != "fastapi-users:auth" {
			t.Errorf("claims %v, want sub %s and aud fastapi-users:auth", claims, users[0].ID)
		}
		if resp, body := sendAuth(t, "GET", base+"/reports/x", bearer(token)); resp.StatusCode != 200 {
			t.Errorf("reports: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("tokens of a fastapi-users app, new and old style, are accepted", func(t *testing.T) {
		base := runREADMECaddyfile(t, docRecipe(t, "docs/recipes.md", "## Accept tokens from a fastapi-users app"), upstream, "")
		const id = "2f1a7c3e-5b9d-4e8f-a1b2-c3d4e5f60718"
		exp := time.Now().Add(time.Hour).Unix()
		for _, tc := range []struct {
			name   string
			claims jwt.MapClaims
			status int
			body   string
		}{
			{"current fastapi-users token", jwt.MapClaims{"sub": id, "aud": []string{"fastapi-users:auth"}, "exp": exp}, 200, "X-User=" + id},
			{"old token with user_id", jwt.MapClaims{"user_id": id, "aud": []string{"fastapi-users:auth"}, "exp": exp}, 200, "X-User=" + id},
			{"token for another audience", jwt.MapClaims{"sub": id, "aud": []string{"fastapi-users:reset"}, "exp": exp}, 401, ""},
		} {
			resp, body := sendAuth(t, "GET", base+"/reports/q1", bearer(signHS256(t, tc.claims)))
			if resp.StatusCode != tc.status || (tc.status == 200 && body != tc.body) {
				t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
			}
		}
	})
}

// readmeRecipeSetup runs the ```sh block of a README recipe with bash in a
// fresh directory, as a reader pastes it, and returns the directory it
// ends in and the JWT_SECRET it exported: the test then runs the recipe's
// Caddyfile on the files the block made, with the secret it made.
func readmeRecipeSetup(t *testing.T, heading string) (dir, secret string) {
	t.Helper()
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the recipe's setup needs %s: %v", tool, err)
		}
	}
	blocks := fencedBlocks(docSection(t, "README.md", heading), "sh")
	if len(blocks) != 1 {
		t.Fatalf("README section %q should have one sh block, has %d", heading, len(blocks))
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", blocks[0]+"\nprintf '%s\\0%s' \"$PWD\" \"$JWT_SECRET\"\n")
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the recipe's setup fails: %v\n%s", err, blocks[0])
	}
	dir, secret, _ = strings.Cut(string(out), "\x00")
	if len(secret) < 32 {
		t.Fatalf("the recipe's setup exports a JWT_SECRET of %d bytes", len(secret))
	}
	return dir, secret
}

// runREADMELocalRecipe runs a README recipe's Caddyfile, written for
// 127.0.0.1:8080 (and an app on 127.0.0.1:9000) with paths relative to the
// folder Caddy runs in, as a reader would run it in dir: the ports become
// free ones and the relative paths dir's. It returns the site's base URL.
func runREADMELocalRecipe(t *testing.T, heading, dir string) string {
	t.Helper()
	caddyfile := readmeRecipe(t, heading)
	if !strings.HasPrefix(caddyfile, "{\n") || !strings.Contains(caddyfile, "http://127.0.0.1:8080 {") || !strings.Contains(caddyfile, "\t\t\tusers users\n") {
		t.Fatalf("the recipe is no longer a site on http://127.0.0.1:8080 with the users file users:\n%s", caddyfile)
	}
	ports := runOnFreePorts(t, 2, func(ports []string) string {
		return "{\n" + testGlobals + strings.NewReplacer(
			"127.0.0.1:8080", "127.0.0.1:"+ports[0],
			"127.0.0.1:9000", "127.0.0.1:"+ports[1],
			"\t\t\tusers users\n", "\t\t\tusers "+filepath.Join(dir, "users")+"\n",
			"\troot * www\n", "\troot * "+filepath.Join(dir, "www")+"\n",
		).Replace(strings.TrimPrefix(caddyfile, "{\n"))
	})
	if strings.Contains(caddyfile, "127.0.0.1:9000") {
		waitForPort(t, "127.0.0.1:"+ports[1], nil)
	}
	return "http://127.0.0.1:" + ports[0]
}

// runConsole runs the `$ ` commands of a ```console block in one bash
// session, with r applied to them, and checks that together they print the
// block's other lines.
func runConsole(t *testing.T, block string, r *strings.Replacer) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the session needs %s: %v", tool, err)
		}
	}
	var script, want []string
	for _, l := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(l, "$ "); ok {
			script = append(script, r.Replace(cmd))
		} else {
			want = append(want, l)
		}
	}
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(script, "\n")).CombinedOutput()
	if err != nil || string(out) != strings.Join(want, "\n")+"\n" {
		t.Errorf("the session prints:\n%s(%v)\nthe README shows:\n%s", out, err, strings.Join(want, "\n"))
	}
}

// TestREADMEStaticSiteRecipe runs the README's static site recipe as
// written: its shell setup makes the folder, the page, the secret and the
// users file; its Caddyfile serves them; a browser is sent to the login
// page, signs in as the user the setup made and gets the page.
func TestREADMEStaticSiteRecipe(t *testing.T) {
	const heading = "## Protect a static site"
	dir, secret := readmeRecipeSetup(t, heading)
	t.Setenv("JWT_SECRET", secret)
	sec := docSection(t, "README.md", heading)
	const user, password = "alice", "correct horse battery staple"
	if !strings.Contains(sec, "`"+password+"`") {
		t.Fatalf("the recipe no longer names the password %q", password)
	}
	base := runREADMELocalRecipe(t, heading, dir)

	resp, _ := sendAuth(t, "GET", base+"/", browserHeaders())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login?redirect=%2F" {
		t.Fatalf("a browser without a token: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := sendAuth(t, "GET", base+"/login?redirect=%2F", browserHeaders()); resp.StatusCode != 200 || !strings.Contains(body, "<form") {
		t.Fatalf("the login page: %d", resp.StatusCode)
	}
	resp, body := formPost(t, base+"/login", url.Values{"username": {user}, "password": {password}, "redirect": {"/"}}, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("signing in: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	token, attrs := cookieAttrs(setCookie(t, resp, "jwt_site"))
	if _, ok := attrs["httponly"]; !ok {
		t.Errorf("the cookie is not HttpOnly: %v", attrs)
	}
	if _, ok := attrs["secure"]; ok {
		t.Errorf("the cookie is Secure, so a browser drops it on http://127.0.0.1: %v", attrs)
	}
	resp, body = sendAuth(t, "GET", base+"/", withHeader(browserHeaders(), "Cookie", "jwt_site="+token))
	if resp.StatusCode != 200 || !strings.Contains(body, "Members only") {
		t.Errorf("the page with the cookie: %d %q", resp.StatusCode, body)
	}
	for _, private := range []string{"/users", "/Caddyfile"} {
		if resp, _ := sendAuth(t, "GET", base+private, bearer(token)); resp.StatusCode != 404 {
			t.Errorf("%s is served to a signed-in user: %d", private, resp.StatusCode)
		}
	}
	resp, _ = formPost(t, base+"/logout", nil, true)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "jwt_site=;") {
		t.Errorf("signing out: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
}

// TestREADMEProxiedAppRecipe runs the README's proxied app recipe as
// written, with its shell setup, and replays its curl session with curl.
func TestREADMEProxiedAppRecipe(t *testing.T) {
	const heading = "## Pass the user to a proxied app"
	dir, secret := readmeRecipeSetup(t, heading)
	t.Setenv("JWT_SECRET", secret)
	base := runREADMELocalRecipe(t, heading, dir)

	session := fencedBlocks(docSection(t, "README.md", heading), "console")
	if len(session) != 1 {
		t.Fatalf("the recipe should have one console session, has %d", len(session))
	}
	runConsole(t, session[0], strings.NewReplacer("http://127.0.0.1:8080", base))

	// The same, without curl: a spoofed X-User is replaced, and no token
	// means no answer from the app.
	token := loginSite{t, base + "/auth/login"}.token("alice", "correct horse battery staple")
	resp, body := do(t, "GET", base+"/api/hello", map[string]string{"Authorization": "Bearer " + token, "X-User": "mallory"}, "")
	if resp.StatusCode != 200 || body != "hello alice" {
		t.Errorf("with a token and a spoofed X-User: %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", base+"/api/hello", map[string]string{"X-User": "mallory"}, ""); resp.StatusCode != 401 || strings.Contains(body, "hello") {
		t.Errorf("without a token: %d %q", resp.StatusCode, body)
	}
}

// TestREADMELoginInsideProtectedPath proves the README's claim that no
// `order` line is needed and a login path may sit inside a protected one.
func TestREADMELoginInsideProtectedPath(t *testing.T) {
	base := startCaddy(t, `
	jwt {
		backend api {
			secret `+testSecret+`
			user alice `+bcryptHashForTest(t, "pw")+`
		}
	}`, `
	jwt_auth
	jwt_login /auth/login
	respond "hello {http.auth.user.id}"`)

	login := loginSite{t, base + "/auth/login"}
	token := login.tokenOf(login.form("alice", "pw", nil))
	resp, body := sendAuth(t, "GET", base+"/", bearer(token))
	if resp.StatusCode != http.StatusOK || body != "hello alice" {
		t.Errorf("protected page with the token: %d %q", resp.StatusCode, body)
	}
	if resp, _ = do(t, "GET", base+"/", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("protected page without a token: %d, want 401", resp.StatusCode)
	}
}

// signHS256 signs claims with testSecret, as PyJWT does for fastapi-users.
func signHS256(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runREADMECaddyfile runs a Caddyfile of the docs in this process: its site
// address example.com becomes a loopback port, localhost:9000 the given
// upstream, and /etc/caddy/users the given users file. It returns the
// site's base URL; Caddy stops when the test ends.
func runREADMECaddyfile(t *testing.T, caddyfile, upstream, usersFile string) string {
	t.Helper()
	port := runOnFreePort(t, func(port string) string { return readmeCaddyfile(t, caddyfile, port, upstream, usersFile) })
	return "http://127.0.0.1:" + port
}

// readmeCaddyfile is a Caddyfile of the docs made runnable here: its site
// address example.com becomes 127.0.0.1:port, localhost:9000 upstream,
// and /etc/caddy/users usersFile.
func readmeCaddyfile(t *testing.T, caddyfile, port, upstream, usersFile string) string {
	t.Helper()
	if !strings.HasPrefix(caddyfile, "{\n") {
		t.Fatalf("the recipe does not start with a global options block:\n%s", caddyfile)
	}
	if !strings.Contains(caddyfile, "\nexample.com {") {
		t.Fatalf("the recipe has no `example.com {` site:\n%s", caddyfile)
	}
	cf := "{\n" + testGlobals + strings.TrimPrefix(caddyfile, "{\n")
	cf = strings.ReplaceAll(cf, "\nexample.com {", "\nhttp://127.0.0.1:"+port+" {")
	cf = strings.ReplaceAll(cf, "localhost:9000", upstream)
	if usersFile != "" {
		cf = strings.ReplaceAll(cf, "/etc/caddy/users", usersFile)
	}
	return cf
}

// buildCaddy builds ./cmd/caddy into the test's temp dir and returns the
// binary's path. Only TestQuickStart calls it, so it runs once per test run.
func buildCaddy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "caddy")
	out, err := exec.Command(goTool(), "build", "-o", bin, "./cmd/caddy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin
}

// goTool finds the go command: on PATH, else in the GOROOT of this test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// caddyEnv is the environment of the Caddy processes: Caddy's config and
// data directories point into the test's temp dir, so nothing is written
// to the user's home.
func caddyEnv(t *testing.T) []string {
	dir := t.TempDir()
	return append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
	)
}

// runDemo runs `caddy run` on Caddyfile.example from the repository root,
// on a free port instead of 8080 (so a demo the developer is running does
// not get in the way), and returns its base URL and a stop function that
// ends the process and returns everything it logged. The process is also
// stopped when the test ends.
func runDemo(t *testing.T, bin string, env []string) (string, func() string) {
	t.Helper()
	example := readFile(t, "Caddyfile.example")
	if n := strings.Count(example, ":"+demoPort); n < 2 {
		t.Fatalf("Caddyfile.example should serve localhost:%s and 127.0.0.1:%s; found %d addresses", demoPort, demoPort, n)
	}
	for attempt := 1; ; attempt++ {
		base, stop, listening := startDemo(t, bin, env, example, freePort(t))
		if listening {
			return base, stop
		}
		log := stop()
		if attempt < portAttempts && strings.Contains(log, "address already in use") {
			t.Logf("the demo's port was taken before Caddy bound it; trying another")
			continue
		}
		t.Fatalf("caddy run did not listen on %s:\n%s", strings.TrimPrefix(base, "http://"), log)
	}
}

// startDemo starts `caddy run` on example with demoPort replaced by port,
// and tells whether it listens there. The process is stopped when the
// test ends, or by stop, which returns everything it logged.
func startDemo(t *testing.T, bin string, env []string, example, port string) (base string, stop func() string, listening bool) {
	t.Helper()
	config := filepath.Join(t.TempDir(), "Caddyfile.example")
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(example, ":"+demoPort, ":"+port)), 0o600); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", config)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &log, &log // cmd.Dir: the repo root, for `root * site`
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	var once sync.Once
	stop = func() string {
		once.Do(func() { stopProcess(cmd, exited) })
		return log.String()
	}
	t.Cleanup(func() { stop() })

	addr := "127.0.0.1:" + port
	return "http://" + addr, stop, waitForPort(t, addr, exited)
}

// runExample runs Caddyfile.example in this process, on a free port
// instead of demoPort, and returns its base URL.
func runExample(t *testing.T) string {
	t.Helper()
	example := readFile(t, "Caddyfile.example")
	port := runOnFreePort(t, func(port string) string { return strings.ReplaceAll(example, ":"+demoPort, ":"+port) })
	return "http://127.0.0.1:" + port
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the part of a Markdown document from the line that is
// exactly heading to the next heading of the same or a higher level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	level := strings.IndexByte(heading, ' ')
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		if l != heading {
			continue
		}
		var out []string
		fenced := false
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "```") {
				fenced = !fenced
			}
			if !fenced && strings.HasPrefix(l, "#") {
				if n := strings.IndexByte(l, ' '); n > 0 && n <= level && strings.Trim(l[:n], "#") == "" {
					break
				}
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	t.Fatalf("no heading %q", heading)
	return ""
}

// docSection is the section under heading of the Markdown file file.
func docSection(t *testing.T, file, heading string) string {
	t.Helper()
	doc := readFile(t, file)
	if !strings.Contains(doc, "\n"+heading+"\n") {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	return section(t, doc, heading)
}

// docRecipe is the one Caddyfile of a section of the Markdown file file.
func docRecipe(t *testing.T, file, heading string) string {
	t.Helper()
	return sectionCaddyfile(t, readFile(t, file), heading)
}

// readmeRecipe is the one Caddyfile of a README section.
func readmeRecipe(t *testing.T, heading string) string {
	t.Helper()
	return docRecipe(t, "README.md", heading)
}

// sectionCaddyfile is the one Caddyfile of a section of doc.
func sectionCaddyfile(t *testing.T, doc, heading string) string {
	t.Helper()
	blocks := fencedBlocks(section(t, doc, heading), "caddyfile")
	if len(blocks) != 1 {
		t.Fatalf("section %q should have one Caddyfile, has %d", heading, len(blocks))
	}
	return blocks[0]
}

// fencedBlocks returns the contents of the fenced code blocks whose info
// string is exactly lang.
func fencedBlocks(doc, lang string) []string {
	var blocks []string
	var cur []string
	in, keep := false, false
	for _, l := range strings.Split(doc, "\n") {
		switch {
		case !in && strings.HasPrefix(l, "```"):
			in, keep, cur = true, strings.TrimPrefix(l, "```") == lang, nil
		case in && l == "```":
			if keep {
				blocks = append(blocks, strings.Join(cur, "\n")+"\n")
			}
			in = false
		case in:
			cur = append(cur, l)
		}
	}
	return blocks
}

// logHasLine tells whether one line of log contains every part.
func logHasLine(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// TestREADMEConfigurationErrors checks the table of configuration errors in
// docs/troubleshooting.md against Caddy: each message in it is what
// adapting or loading a config with that mistake reports, and each message
// has a config here. File paths in the messages are the doc's; the test
// writes its own files and reads their paths back as the doc's.
func TestREADMEConfigurationErrors(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	secret := "secret " + testSecret
	backend := func(name string, lines ...string) string { return jwtOption(backendBlock(name, lines...)) }
	api := backend("api", secret)

	// A file the doc names, as the test provides it: with content, or
	// missing.
	type file struct {
		readme, content string
		missing         bool
	}
	rsaKey := file{readme: "/etc/caddy/jwt.pem", content: pemPrivate(t, k.rsa, "pkcs8")}
	tests := []struct {
		globals, site string
		files         []file
		env           map[string]string
		message       string // as the doc prints it, without a trailing " ..."
	}{
		{backend("api", secret, "foo 1"), "respond ok", nil, nil,
			`jwt backend "api": foo: unrecognized subdirective`},
		{api, "jwt_auth {\n\t\tfoo\n\t}", nil, nil,
			`jwt_auth: unrecognized subdirective "foo"`},
		{backend("api", "secret {$JWT_SECRET}"), "respond ok", nil, map[string]string{"JWT_SECRET": ""},
			`jwt backend "api": secret: wrong number of arguments (0): no value given; if it is written as {$NAME}, that environment variable is empty or unset`},
		{backend("api", secret, "lifetime 1h 2h"), "respond ok", nil, nil,
			`jwt backend "api": lifetime: wrong number of arguments (2)`},
		{api + api, "respond ok", nil, nil,
			`jwt backend "api" is defined twice`},
		{backend("a/b", secret), "respond ok", nil, nil,
			`jwt: backend: backend name "a/b" may only contain letters, digits, '-', '_' and '.'`},
		{backend("api", "lifetime 1h"), "respond ok", nil, nil,
			`jwt backend "api": secret: no key material: set a secret of at least 32 random bytes, a sign_key, a jwks URL or verify_key`},
		{backend("api", secret, "sign_key /etc/caddy/jwt.pem"), "respond ok", nil, nil,
			`jwt backend "api": key material: use one of secret, sign_key or jwks, not secret at Caddyfile:N and sign_key at Caddyfile:N`},
		{backend("api", "secret 12345"), "respond ok", nil, nil,
			`jwt backend "api": secret: secret is 5 bytes; HS256 needs at least 32 (RFC 7518 §3.2); make one with: openssl rand -base64 48`},
		{backend("api", "secret {env.JWT_SECRET}"), "jwt_auth", nil, map[string]string{"JWT_SECRET": ""},
			`jwt backend "api": secret: evaluated placeholder {env.JWT_SECRET} is empty`},
		{backend("api", secret+" 2026", "secret other-"+testSecret+" 2026"), "respond ok", nil, nil,
			`jwt backend "api": secret: key ID "2026" is used twice`},
		{backend("api", secret, "verify_key /etc/caddy/old.pem"), "respond ok", nil, nil,
			`jwt backend "api": verify_key: public keys cannot verify HMAC tokens; rotate secrets by repeating secret`},
		{backend("api", secret, "algorithm HS999"), "respond ok", nil, nil,
			`jwt backend "api": algorithm: unknown algorithm "HS999"; use one of HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA`},
		{backend("api", secret, "algorithm RS256"), "respond ok", nil, nil,
			`jwt backend "api": algorithm: RS256 does not fit an HMAC secret; use HS256, HS384 or HS512`},
		{backend("api", "sign_key /etc/caddy/jwt.pem", "algorithm HS256"), "jwt_auth", nil, nil,
			`jwt backend "api": algorithm: HS256 is HMAC and needs a secret, not the key file of sign_key /etc/caddy/jwt.pem`},
		{backend("api", "sign_key /etc/caddy/jwt.pem", "algorithm ES256"), "jwt_auth", []file{rsaKey}, nil,
			`jwt backend "api": algorithm: ES256 does not fit an RSA 2048-bit key (it takes RS256, RS384, RS512, PS256, PS384, PS512) (sign_key /etc/caddy/jwt.pem)`},
		{backend("api", "sign_key /etc/caddy/jwt.pem", "algorithm RS256 PS256"), "jwt_auth", nil, nil,
			`jwt backend "api": algorithm: several algorithms are allowed only with jwks`},
		{backend("api", "sign_key /etc/caddy/jwt.pem"), "jwt_auth",
			[]file{{readme: "/etc/caddy/jwt.pem", content: pemPrivate(t, k.rsa1024, "pkcs1")}}, nil,
			`jwt backend "api": sign_key: /etc/caddy/jwt.pem: RSA key has 1024 bits; at least 2048 are required`},
		{backend("api", "sign_key /etc/caddy/jwt.pem"), "jwt_auth",
			[]file{{readme: "/etc/caddy/jwt.pem", content: pemPublic(t, k.p256.Public())}}, nil,
			`jwt backend "api": sign_key: /etc/caddy/jwt.pem: this is a public key, but a private key is needed to sign (public keys go in verify_key)`},
		{backend("api", "sign_key /etc/caddy/jwt.pem", "verify_key /etc/caddy/old.pem"), "jwt_auth",
			[]file{rsaKey, {readme: "/etc/caddy/old.pem", content: pemPublic(t, k.p256.Public())}}, nil,
			`jwt backend "api": verify_key: RS256 does not fit an ECDSA P-256 key (it takes ES256) (/etc/caddy/old.pem)`},
		{backend("api", "sign_key /etc/caddy/jwt.pem"), "jwt_auth", []file{{readme: "/etc/caddy/jwt.pem", missing: true}}, nil,
			`jwt backend "api": sign_key: stat /etc/caddy/jwt.pem: no such file or directory`},
		{backend("idp", "jwks http://sso.example.com/certs"), "jwt_auth", nil, nil,
			`jwt backend "idp": jwks: "http://sso.example.com/certs": plain http is allowed only to a loopback address; use https`},
		{backend("api", secret, "lifetime 3600"), "respond ok", nil, nil,
			`jwt backend "api": lifetime: "3600" has no unit; write a duration such as 1h`},
		{backend("api", secret, "lifetime 0s"), "respond ok", nil, nil,
			`jwt backend "api": lifetime: must be positive, got 0s`},
		{backend("api", secret, "users /etc/caddy/users"), "jwt_auth", []file{{readme: "/etc/caddy/users", missing: true}}, nil,
			`jwt backend "api": users: stat /etc/caddy/users: no such file or directory`},
		{backend("api", secret, "users /etc/caddy/users"), "jwt_auth",
			[]file{{readme: "/etc/caddy/users", content: "alice:" + hash + "\n\nbob has no colon\n"}}, nil,
			`jwt backend "api": users: /etc/caddy/users:3: expected <username>:<hash>`},
		{backend("api", secret, "user bob $apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"), "respond ok", nil, nil,
			`jwt backend "api": user: user "bob": unsupported password hash (only bcrypt and argon2id are accepted); make a bcrypt hash with`},
		{backend("api", secret, "user bob "+hash, "user bob "+hash), "respond ok", nil, nil,
			`jwt backend "api": user: user "bob" is defined twice`},
		{backend("api", secret, "user bob "+hash+" id=u-1", "user carol "+hash+" id=u-1"), "respond ok", nil, nil,
			`jwt backend "api": user: user "carol": id "u-1" is already the id of user "bob"`},
		{backend("api", secret, "user_claim user_id", "user bob "+hash+" user_id=u-1"), "respond ok", nil, nil,
			`jwt backend "api": user: user "bob": claim "user_id" is the user_claim, which carries the user's id; set the id instead (id=<value>, or "id" in a JSON users file)`},
		{backend("api", secret, "user bob "+hash+" sub=root"), "respond ok", nil, nil,
			`jwt backend "api": user: user "bob": claim "sub" is reserved and cannot be set per user`},
		{backend("api", secret, "cookie {\n\t\t\t\tsame_site none\n\t\t\t\tinsecure\n\t\t\t}"), "respond ok", nil, nil,
			`jwt backend "api": cookie: same_site none needs the Secure attribute, which insecure removes; browsers drop such cookies`},
		{"", "jwt_auth", nil, nil,
			`jwt_auth: no jwt backends are defined; declare them in the global jwt option`},
		{api, "jwt_auth b", nil, nil,
			`jwt_auth: unknown jwt backend "b" (defined: api)`},
		{backend("api", secret, "user bob "+hash), "jwt_login auth/login", nil, nil,
			`jwt_login: "auth/login" is not a backend name, and a path must start with /`},
		{backend("a", secret) + backend("b", secret), "jwt_auth", nil, nil,
			`jwt_auth: name a backend; 2 are defined (a, b)`},
		{api, "jwt_login", nil, nil,
			`jwt_login: jwt backend "api" has no users (set users or user), so it cannot log anyone in`},
		{backend("idp", "jwks https://127.0.0.1:1/certs", "user bob "+hash), "jwt_login", nil, nil,
			`jwt_login: jwt backend "idp" verifies with a remote JWK Set (jwks) and cannot sign tokens`},
		{backend("api", "verify_key /etc/caddy/old.pem", "user bob "+hash), "jwt_login", nil, nil,
			`jwt_login: jwt backend "api" has only verify_key keys and cannot sign tokens; add a sign_key`},
		{backend("api", secret, "user bob "+hash), "jwt_login {\n\t\trate_limit 0 1m\n\t}", nil, nil,
			`jwt_login: rate_limit: count must be a positive whole number, got "0"`},
		{"\n\tjwt {\n\t\thash_cpu 0\n\t}\n", "respond ok", nil, nil,
			`jwt: hash_cpu: want a percentage of the CPUs from 0.1% to 100% (e.g. 5%), or off; got "0"`},
		{"\tjwt {\n\t\tstore disk\n" + backendBlock("api", secret) + "\t}\n", "respond ok", nil, nil,
			`jwt: store: want memory, or redis <url>`},
		{"\tjwt {\n\t\tstore redis {$REDIS_URL}\n" + backendBlock("api", secret) + "\t}\n", "respond ok", nil, map[string]string{"REDIS_URL": ""},
			`jwt: store: redis needs a URL; if it is written as {$NAME}, that environment variable is empty or unset`},
		{"\tjwt {\n\t\tstore redis http://x\n" + backendBlock("api", secret) + "\t}\n", "respond ok", nil, nil,
			`jwt: store: the Redis URL must start with redis:// or rediss://`},
		{"\tjwt {\n\t\tstore redis redis://u:p@host:notaport\n" + backendBlock("api", secret) + "\t}\n", "respond ok", nil, nil,
			`jwt: store: invalid Redis URL: it does not parse`},
		{"\tjwt {\n\t\tstore redis {env.REDIS_URL}\n" + backendBlock("api", secret) + "\t}\n", "jwt_auth", nil, map[string]string{"REDIS_URL": ""},
			`jwt: store: evaluated placeholder {env.REDIS_URL} is empty`},
		{"\tjwt {\n\t\tstore memory\n\t\tstore memory\n" + backendBlock("api", secret) + "\t}\n", "respond ok", nil, nil,
			`jwt: store: set only once`},
		{backend("api", secret, "user bob "+hash), "jwt_login {\n\t\tpage /etc/caddy/login.html\n\t}",
			[]file{{readme: "/etc/caddy/login.html", missing: true}}, nil,
			`jwt_login: page: stat /etc/caddy/login.html: no such file or directory`},
		{backend("api", secret, "user bob "+hash, "refresh 1h idle 2h"), "respond ok", nil, nil,
			`jwt backend "api": refresh: idle (2h0m0s) must be shorter than the lifetime (1h0m0s)`},
		{backend("api", secret, "refresh 30d"), "respond ok", nil, nil,
			`jwt backend "api": refresh: refresh tokens need users, and the backend has no users (set users or user)`},
		{backend("api", secret, "user bob "+hash, "refresh 30d", "cookie"), "handle /auth/login {\n\t\tjwt_login\n\t}", nil, nil,
			`jwt backend "api": cookie: refresh_path is needed for the refresh cookie, since jwt_login is not on one literal path (such as jwt_login /auth/login); set refresh_path to a path that covers jwt_login and jwt_logout, such as /auth`},
		{api, "jwt_auth {\n\t\trequire role\n\t}", nil, nil,
			`jwt_auth: require: expected <claim> <value...>`},
		{api, "jwt_auth {\n\t\tfrom_header Authorization\n\t}", nil, nil,
			`jwt_auth: from_header: Authorization is always read; name another header`},
		{api, "jwt_auth {\n\t\tredirect login\n\t}", nil, nil,
			`jwt_auth: redirect: "login" must be a local path (/login) or an absolute http(s) URL`},
		{api, "jwt_logout {\n\t\tredirect https://evil.example/\n\t}", nil, nil,
			`jwt_logout: redirect: "https://evil.example/" must be a local path such as /login`},
	}

	lines := regexp.MustCompile(`Caddyfile:\d+`)
	normalize := func(s string) string { return lines.ReplaceAllString(s, "Caddyfile:N") }

	// The messages of the doc's table, in the table's order.
	var documented []string
	for _, l := range strings.Split(docSection(t, "docs/troubleshooting.md", "## Configuration errors"), "\n") {
		cells := strings.Split(strings.TrimSuffix(l, " |"), " | ")
		last := cells[len(cells)-1]
		if !strings.HasPrefix(l, "| ") || !strings.HasPrefix(last, "`") {
			continue
		}
		documented = append(documented, normalize(strings.TrimSuffix(strings.Trim(last, "`"), " ...")))
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		tested[tt.message] = true
	}
	for _, m := range documented {
		if !tested[m] {
			t.Errorf("docs/troubleshooting.md documents a configuration error this test has no config for:\n%s", m)
		}
	}

	for _, tt := range tests {
		t.Run(tt.message, func(t *testing.T) {
			if !slices.Contains(documented, tt.message) {
				t.Errorf("docs/troubleshooting.md's table lacks this message")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			globals, site := tt.globals, tt.site
			var back []string // test path, doc path
			dir := t.TempDir()
			for i, f := range tt.files {
				p := filepath.Join(dir, fmt.Sprintf("%d-%s", i, filepath.Base(f.readme)))
				if !f.missing {
					if err := os.WriteFile(p, []byte(f.content), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				globals = strings.ReplaceAll(globals, f.readme, p)
				site = strings.ReplaceAll(site, f.readme, p)
				back = append(back, p, f.readme)
			}
			err := loadError(t, globals, site)
			if err == nil {
				t.Fatal("the config loaded")
			}
			got := normalize(strings.NewReplacer(back...).Replace(err.Error()))
			if !strings.Contains(got, tt.message) {
				t.Errorf("Caddy says:\n%s", got)
			}
		})
	}
}

// TestREADMELinks follows every link of the README, SECURITY.md and
// docs/*.md to a file of the repository and, with a #fragment, to a
// heading of that file (or of its own), so renaming a heading or moving a
// file cannot leave a table of contents or a cross-reference dangling.
func TestREADMELinks(t *testing.T) {
	anchors := map[string]map[string]bool{} // cleaned path -> anchors
	prose := map[string]string{}            // file -> its lines outside fenced code
	headingsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		a := map[string]bool{}
		anchors[file] = a
		doc, err := os.ReadFile(file)
		if err != nil || !strings.HasSuffix(file, ".md") {
			return a
		}
		seen := map[string]int{}
		var lines []string
		fenced := false
		for _, l := range strings.Split(string(doc), "\n") {
			if strings.HasPrefix(l, "```") {
				fenced = !fenced
				continue
			}
			if fenced {
				continue
			}
			lines = append(lines, l)
			if level := len(l) - len(strings.TrimLeft(l, "#")); level > 0 && strings.HasPrefix(l[level:], " ") {
				slug := githubSlug(l[level+1:])
				if n := seen[slug]; n > 0 {
					a[fmt.Sprintf("%s-%d", slug, n)] = true
				} else {
					a[slug] = true
				}
				seen[slug]++
			}
		}
		prose[file] = strings.Join(lines, "\n")
		return a
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	total := 0
	for _, file := range docFiles(t) {
		headingsOf(file)
		links := link.FindAllStringSubmatch(prose[file], -1)
		total += len(links)
		for _, m := range links {
			target := m[1]
			if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
				continue
			}
			path, fragment, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Clean(filepath.Join(filepath.Dir(file), path))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s links to %s: %v", file, target, err)
					continue
				}
			}
			if fragment != "" && !headingsOf(dest)[fragment] {
				t.Errorf("%s links to %s, but no heading of %s makes #%s", file, target, dest, fragment)
			}
		}
	}
	if total < 100 {
		t.Fatalf("found only %d links in the docs", total)
	}
}

// githubSlug is the anchor GitHub makes for a heading: lower case, code
// spans as their text, punctuation other than '-' and '_' dropped, spaces
// turned into '-'.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', r == '_', unicode.IsLetter(r), unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestREADMELoginPageTemplate loads docs/jwt_login.md's example login page as a
// `page` file, and checks that its table of template fields names exactly
// the fields a page gets.
func TestREADMELoginPageTemplate(t *testing.T) {
	sec := docSection(t, "docs/jwt_login.md", "## `page <file>`")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `\\{\\{\\.(\\w+)\\}\\}` \\|").FindAllStringSubmatch(sec, -1) {
		documented = append(documented, m[1])
	}
	var fields []string
	for f := range reflect.TypeFor[loginPageData]().Fields() {
		fields = append(fields, f.Name)
	}
	if !reflect.DeepEqual(documented, fields) {
		t.Errorf("docs/jwt_login.md documents the fields %v; a page gets %v", documented, fields)
	}

	examples := fencedBlocks(sec, "html")
	if len(examples) != 1 {
		t.Fatalf("the page section should have one html example, has %d", len(examples))
	}
	page, err := loadLoginPage(tempFile(t, "login.html", examples[0]))
	if err != nil {
		t.Fatalf("docs/jwt_login.md's example page does not load: %v", err)
	}
	var out bytes.Buffer
	data := loginPageData{Action: "/login", Redirect: "/private/?a=1&b=2", Error: "Wrong username or password.", Username: `<script>"x"`, Backend: "site"}
	if err := page.Execute(&out, data); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`action="/login"`, `name="redirect" value="/private/?a=1&amp;b=2"`, `Wrong username or password.`,
		`name="username" value="&lt;script&gt;&#34;x&#34;"`, `name="password" type="password"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the example page does not render %s:\n%s", want, out.String())
		}
	}
}
