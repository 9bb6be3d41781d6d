package caddyjwt

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// This file is the test harness: it runs a real Caddy, in this process, on
// a Caddyfile, and sends it real HTTP requests over loopback. Caddy has one
// running config per process, so tests that use it do not run in parallel.

// testSecret is a valid HS256 secret for tests (40 bytes).
const testSecret = "test-secret-0123456789-abcdefghijklmnopq"

// freePort finds a loopback TCP port nobody listens on.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// adapt turns a Caddyfile into JSON config, as `caddy adapt` does.
func adapt(caddyfile string) ([]byte, error) {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	return cfg, err
}

// testGlobals are the global options every test Caddyfile starts with:
// no admin endpoint, no automatic HTTPS, nothing written outside the test.
const testGlobals = `
	admin off
	auto_https off
	persist_config off
`

// caddyfileFor builds a complete Caddyfile: global options (plus extra
// ones), and one site on 127.0.0.1:port whose body is site.
func caddyfileFor(port, globals, site string) string {
	return "{\n" + testGlobals + globals + "\n}\n\nhttp://127.0.0.1:" + port + " {\n" + site + "\n}\n"
}

// startCaddy runs Caddy with the given global options and site body and
// returns the site's base URL. Caddy is stopped when the test ends.
func startCaddy(t testing.TB, globals, site string) string {
	t.Helper()
	port := freePort(t)
	runCaddyfile(t, caddyfileFor(port, globals, site), "127.0.0.1:"+port)
	return "http://127.0.0.1:" + port
}

// runCaddyfile runs Caddy on a complete Caddyfile, whose site listens on
// addr, and waits until addr accepts connections. Caddy is stopped when
// the test ends.
func runCaddyfile(t testing.TB, caddyfile, addr string) {
	t.Helper()
	cfg, err := adapt(caddyfile)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	if !waitForPort(t, addr, nil) {
		t.Fatalf("Caddy does not listen on %s", addr)
	}
	// Most tests see many 429s; the delay has its own test.
	if app, err := caddy.ActiveContext().AppIfConfigured("jwt"); err == nil {
		app.(*App).rateLimitedDelay = 0
	}
}

// waitForPort waits up to 15 s until addr accepts connections; it gives up
// early when exited is closed.
func waitForPort(t testing.TB, addr string, exited <-chan struct{}) bool {
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

// loadError adapts and loads a config that must fail, and returns the
// error: from the adapter (`caddy adapt`) or from provisioning (`caddy
// validate` / `caddy run`).
func loadError(t testing.TB, globals, site string) error {
	t.Helper()
	cfg, err := adapt(caddyfileFor(freePort(t), globals, site))
	if err != nil {
		return err
	}
	var c caddy.Config
	if err := caddy.StrictUnmarshalJSON(cfg, &c); err != nil {
		return err
	}
	return caddy.Validate(&c)
}

// tempFile writes content to a file in the test's temp dir and returns its path.
func tempFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// client is the HTTP client of the tests: no redirects followed, no cookies.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request and returns the response with its body read.
func do(t testing.TB, method, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return send(t, client, req)
}

// sendAuth sends a request with the given header fields; a field may repeat.
func sendAuth(t testing.TB, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return send(t, client, req)
}

// bearer is an http.Header with one Authorization: Bearer field.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// send sends req with c and returns the response with its body read; do
// and sendAuth build their requests and send them here.
func send(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// loginSite is a running Caddy with a jwt_login endpoint.
type loginSite struct {
	t   testing.TB
	url string // of the login endpoint
}

// post sends a login request with a content type and extra headers.
func (s loginSite) post(contentType, body string, headers map[string]string) (*http.Response, string) {
	s.t.Helper()
	h := map[string]string{}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	for k, v := range headers {
		h[k] = v
	}
	return do(s.t, "POST", s.url, h, body)
}

// form logs in with an OAuth2 password form.
func (s loginSite) form(user, password string, headers map[string]string) (*http.Response, string) {
	s.t.Helper()
	return s.post(formType, "username="+user+"&password="+password, headers)
}

// json logs in with a JSON body.
func (s loginSite) json(user, password string, headers map[string]string) (*http.Response, string) {
	s.t.Helper()
	u, _ := json.Marshal(user)
	p, _ := json.Marshal(password)
	return s.post(jsonType, `{"username":`+string(u)+`,"password":`+string(p)+`}`, headers)
}

// token logs user in with a JSON body and returns the token issued.
func (s loginSite) token(user, password string) string {
	s.t.Helper()
	return s.tokenOf(s.json(user, password, nil))
}

// tokenOf is the token of a login's answer, which must be a 200 with one.
func (s loginSite) tokenOf(resp *http.Response, body string) string {
	s.t.Helper()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("login at %s: status %d: %s", s.url, resp.StatusCode, body)
	}
	token := jsonField(s.t, body, "token")
	if token == "" {
		s.t.Fatalf("login at %s: no token in %s", s.url, body)
	}
	return token
}

// TestHarnessSmoke proves the harness itself: a login and an authenticated
// call through a real Caddy.
func TestHarnessSmoke(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	base := startCaddy(t, `
	jwt {
		backend api {
			secret `+testSecret+`
			user alice `+hash+`
		}
	}`, `
	jwt_login /login
	jwt_auth /api/*
	respond /api/* "hello {http.auth.user.id}"`)

	site := loginSite{t, base + "/login"}
	token := site.tokenOf(site.form("alice", "pw", nil))
	resp, body := sendAuth(t, "GET", base+"/api/x", bearer(token))
	if resp.StatusCode != 200 || body != "hello alice" {
		t.Fatalf("api: %d %q", resp.StatusCode, body)
	}
}
