package caddyjwt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// This file keeps the README honest: the quick start runs on the built
// binary exactly as a user would run it, every Caddyfile in the README
// adapts, the JSON config section is what `caddy adapt` prints, and the
// recipes do what the README says they do.

// The demo's fixed facts, as the README and Caddyfile.example state them.
const (
	demoUser     = "demo"
	demoPassword = "demo-password"
	demoPort     = "8080"
)

// TestQuickStart builds ./cmd/caddy, checks Caddyfile.example with `caddy
// validate` and `caddy adapt`, runs it with `caddy run` and replays the
// README's curl session with net/http.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ./cmd/caddy and runs the demo; skipped with -short")
	}
	readme := readFile(t, "README.md")
	for _, cmd := range []string{
		"go run ./cmd/caddy run --config Caddyfile.example",
		"go test ./...",
	} {
		if !strings.Contains(section(t, readme, "## Quick start"), "\n"+cmd+"\n") {
			t.Errorf("README's quick start no longer has the command %q", cmd)
		}
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
	resp, body = do(t, "GET", base+"/api/me", map[string]string{"Authorization": "Bearer " + login.Token}, "")
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

// TestREADMECaddyfilesAdapt adapts every ```caddyfile block of the README,
// and checks that the JSON config section shows what `caddy adapt` prints
// for its Caddyfile.
func TestREADMECaddyfilesAdapt(t *testing.T) {
	readme := readFile(t, "README.md")
	blocks := fencedBlocks(readme, "caddyfile")
	if len(blocks) < 8 {
		t.Fatalf("found only %d caddyfile blocks in the README", len(blocks))
	}
	for i, b := range blocks {
		if _, err := adapt(b); err != nil {
			t.Errorf("README caddyfile block %d does not adapt: %v\n%s", i+1, err, b)
		}
	}

	sec := section(t, readme, "## JSON config")
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
		t.Fatalf("the README's JSON config is not JSON: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		pretty, _ := json.MarshalIndent(got, "", "\t")
		t.Errorf("the README's JSON config is not what the Caddyfile adapts to; caddy adapt gives:\n%s", pretty)
	}
}

// TestREADMEUsersFileExamples parses the users file examples of the README.
func TestREADMEUsersFileExamples(t *testing.T) {
	sec := section(t, readFile(t, "README.md"), "#### `users <file>`")
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"text", []string{"alice", "bob"}},
		{"json", []string{"alice", "bob"}},
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

// TestREADMERecipes runs each recipe's Caddyfile as the README prints it
// (only the site address, upstream and file paths are swapped for test
// ones) and checks that it does what the README says.
func TestREADMERecipes(t *testing.T) {
	readme := readFile(t, "README.md")
	recipe := func(t *testing.T, heading string) string {
		blocks := fencedBlocks(section(t, readme, heading), "caddyfile")
		if len(blocks) != 1 {
			t.Fatalf("recipe %q should have one Caddyfile, has %d", heading, len(blocks))
		}
		return blocks[0]
	}
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
		base := runREADMECaddyfile(t, recipe(t, "### Pass the user to a proxied app"), upstream, users)

		resp, body := do(t, "POST", base+"/auth/login", map[string]string{"Content-Type": "application/json"}, `{"username":"alice","password":"pw"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		token := jsonField(t, body, "token")

		resp, body = do(t, "GET", base+"/api/spoofed", map[string]string{"Authorization": "Bearer " + token, "X-User": "mallory"}, "")
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
		base := runREADMECaddyfile(t, recipe(t, "### JSON error bodies"), upstream, "")
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
	})

	t.Run("tokens of a fastapi-users app, new and old style, are accepted", func(t *testing.T) {
		base := runREADMECaddyfile(t, recipe(t, "### Accept tokens from a fastapi-users app"), upstream, "")
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
			resp, body := do(t, "GET", base+"/reports/q1", map[string]string{"Authorization": "Bearer " + signHS256(t, tc.claims)}, "")
			if resp.StatusCode != tc.status || (tc.status == 200 && body != tc.body) {
				t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
			}
		}
	})
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

	resp, body := do(t, "POST", base+"/auth/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "username=alice&password=pw")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login under jwt_auth: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", base+"/", map[string]string{"Authorization": "Bearer " + jsonField(t, body, "token")}, "")
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

// runREADMECaddyfile runs a README Caddyfile in this process: its site
// address example.com becomes a loopback port, localhost:9000 the given
// upstream, and /etc/caddy/users the given users file. It returns the
// site's base URL; Caddy stops when the test ends.
func runREADMECaddyfile(t *testing.T, caddyfile, upstream, usersFile string) string {
	t.Helper()
	if !strings.HasPrefix(caddyfile, "{\n") {
		t.Fatalf("the recipe does not start with a global options block:\n%s", caddyfile)
	}
	port := freePort(t)
	cf := "{\n" + testGlobals + strings.TrimPrefix(caddyfile, "{\n")
	cf = strings.ReplaceAll(cf, "\nexample.com {", "\nhttp://127.0.0.1:"+port+" {")
	cf = strings.ReplaceAll(cf, "localhost:9000", upstream)
	if usersFile != "" {
		cf = strings.ReplaceAll(cf, "/etc/caddy/users", usersFile)
	}
	if !strings.Contains(cf, "127.0.0.1:"+port) {
		t.Fatalf("the recipe has no `example.com {` site:\n%s", caddyfile)
	}
	cfg, err := adapt(cf)
	if err != nil {
		t.Fatalf("adapting the recipe: %v\n%s", err, cf)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading the recipe: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	waitForPort(t, "127.0.0.1:"+port, nil)
	return "http://127.0.0.1:" + port
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
	port := freePort(t)
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
	stop := func() string {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
		return log.String()
	}
	t.Cleanup(func() { stop() })

	addr := "127.0.0.1:" + port
	if !waitForPort(t, addr, exited) {
		t.Fatalf("caddy run did not listen on %s:\n%s", addr, stop())
	}
	return "http://" + addr, stop
}

// waitForPort waits up to 15 s until addr accepts connections; it gives up
// early when exited is closed.
func waitForPort(t *testing.T, addr string, exited <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
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
	t.Fatalf("README has no heading %q", heading)
	return ""
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
