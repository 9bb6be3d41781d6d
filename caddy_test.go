package caddyjwt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// freePort finds a loopback TCP port nobody listens on right now. It
// closes the port again, so another process can take it before Caddy
// binds it: start Caddy with runOnFreePort, which then tries another port.
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
// no admin endpoint, no automatic HTTPS, nothing written outside the test
// run: Caddy's storage (where the memory store saves revocations) is a
// directory of this test process. A test that revokes a user names a
// storage of its own after these, so that no other test sees it.
var testGlobals = `
	admin off
	auto_https off
	persist_config off
	storage file_system ` + testStorageDir + `
`

// testStorageDir is Caddy's storage for the tests; TestMain removes it.
var testStorageDir = func() string {
	dir, err := os.MkdirTemp("", "caddy-jwt-test-storage-")
	if err != nil {
		panic(err)
	}
	return dir
}()

// caddyfileFor builds a complete Caddyfile: global options (plus extra
// ones), and one site on 127.0.0.1:port whose body is site.
func caddyfileFor(port, globals, site string) string {
	return "{\n" + testGlobals + globals + "\n}\n\nhttp://127.0.0.1:" + port + " {\n" + site + "\n}\n"
}

// startCaddy runs Caddy with the given global options and site body and
// returns the site's base URL. Caddy is stopped when the test ends.
func startCaddy(t testing.TB, globals, site string) string {
	t.Helper()
	port := runOnFreePort(t, func(port string) string { return caddyfileFor(port, globals, site) })
	return "http://127.0.0.1:" + port
}

// portAttempts is how many free ports runOnFreePorts tries before it gives
// up: each retry needs another process to take the port in the moment
// between freePort and Caddy's bind, so a few are plenty.
const portAttempts = 5

// runOnFreePort runs Caddy on the Caddyfile that caddyfile builds for a
// free loopback port, whose site listens on 127.0.0.1:port, and returns
// the port. Caddy is stopped when the test ends.
func runOnFreePort(t testing.TB, caddyfile func(port string) string) string {
	t.Helper()
	return runOnFreePorts(t, 1, func(ports []string) string { return caddyfile(ports[0]) })[0]
}

// runOnFreePorts runs Caddy on the Caddyfile that caddyfile builds for n
// free loopback ports, waits until the first one, a site's, accepts
// connections, and returns them; the caller waits for the others it makes
// Caddy listen on. When another process took one of them before Caddy
// could bind it, it starts over with fresh ports. Caddy is stopped when
// the test ends.
func runOnFreePorts(t testing.TB, n int, caddyfile func(ports []string) string) []string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ports := make([]string, n)
		for i := range ports {
			ports[i] = freePort(t)
		}
		err := loadCaddyfile(t, caddyfile(ports))
		if err != nil && addrInUse(err) && attempt < portAttempts {
			t.Logf("a port was taken before Caddy bound it (%v); trying others", err)
			continue
		}
		if err != nil {
			t.Fatalf("loading config: %v", err)
		}
		waitForCaddy(t, "127.0.0.1:"+ports[0])
		return ports
	}
}

// addrInUse tells whether err is a listener's bind failing because the
// address is taken. Caddy does not always wrap the error it got, so the
// message counts too.
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// loadCaddyfile adapts a complete Caddyfile and loads it into Caddy, which
// is stopped when the test ends; it returns the error of the load.
func loadCaddyfile(t testing.TB, caddyfile string) error {
	t.Helper()
	cfg, err := adapt(caddyfile)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	if err := caddy.Load(cfg, true); err != nil {
		return err
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return nil
}

// waitForCaddy waits until the Caddy just loaded accepts connections on
// addr, and turns off the delay of rate-limited logins: most tests see
// many 429s, and the delay has its own test.
func waitForCaddy(t testing.TB, addr string) {
	t.Helper()
	if !waitForPort(t, addr, nil) {
		t.Fatalf("Caddy does not listen on %s", addr)
	}
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

// TestHarnessRetriesATakenPort: when another process took the port between
// freePort and Caddy's bind, runOnFreePort starts over on another one.
func TestHarnessRetriesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := fmt.Sprint(taken.Addr().(*net.TCPAddr).Port)
	var tried []string
	port := runOnFreePort(t, func(port string) string {
		if len(tried) == 0 {
			port = takenPort // as if another process got there first
		}
		tried = append(tried, port)
		return caddyfileFor(port, "", `respond "up"`)
	})
	if len(tried) != 2 || tried[1] != port {
		t.Fatalf("tried ports %v and ran on %s; want the taken one, then another", tried, port)
	}
	if resp, body := do(t, "GET", "http://127.0.0.1:"+port+"/", nil, ""); resp.StatusCode != 200 || body != "up" {
		t.Fatalf("Caddy on the second port: %d %q", resp.StatusCode, body)
	}
}
