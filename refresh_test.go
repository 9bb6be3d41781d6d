package caddyjwt

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// These tests drive refresh tokens (SPEC §10) through a real Caddy of this
// process, with the memory store: the grant, rotation and reuse, the ends
// of a family, the user read again, the refresh cookie and silent renewal,
// logout, the admin API, a restart, and configuration errors. The rule's
// clock is moved with the backend's test knob instead of waiting; access
// tokens keep the real clock. refresh_cluster_test.go runs two instances on
// one Redis.

var (
	// A refresh token is 256 random bits, base64url without padding.
	refreshTokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// A family id (sid) is 128 random bits, base64url without padding.
	sidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
)

// refreshGlobals is Caddy's storage in dir (a test's own: families and
// revocations are saved there) and the jwt option with backends.
func refreshGlobals(dir string, backends ...string) string {
	return "\tstorage file_system " + dir + "\n" + jwtOption(backends...)
}

// refreshBackend is a backend with testSecret, alice (password alice-pw),
// bob (bob-pw) and more lines.
func refreshBackend(t testing.TB, name string, lines ...string) string {
	return backendBlock(name, append([]string{"secret " + testSecret,
		"user alice " + bcryptHashForTest(t, "alice-pw"), "user bob " + bcryptHashForTest(t, "bob-pw")}, lines...)...)
}

// refreshSite logs in to backend api at /login (no rate limit), logs out
// at /logout, protects /api/* and has metrics.
const refreshSite = "metrics /metrics" +
	"\n\tjwt_login /login api {\n\t\trate_limit off\n\t}" +
	"\n\tjwt_logout /logout api" +
	"\n\tjwt_auth /api/* api" +
	"\n\trespond /api/* \"hi {http.auth.user.id}\""

// moveRefreshClock moves the clock of backend's refresh rule forward by d,
// in the Caddy of this process.
func moveRefreshClock(t testing.TB, backend string, d time.Duration) {
	t.Helper()
	b := runningJWTApp(t).Backends[backend]
	if b == nil {
		t.Fatalf("no backend %q running", backend)
	}
	b.refreshOffset.Add(int64(d))
}

// grantedTokens is what a login or a refresh grant answered.
type grantedTokens struct {
	access, refresh      string
	expiresIn, refreshIn float64
}

// wantTokens checks a login's or a refresh's answer: 200, not cached, the
// login shape with a refresh token.
func wantTokens(t testing.TB, what string, resp *http.Response, body string) grantedTokens {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d, want 200: %s", what, resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	m := loginBody(t, body)
	var g grantedTokens
	g.access, _ = m["token"].(string)
	if at, _ := m["access_token"].(string); g.access == "" || at != g.access {
		t.Fatalf("%s: token %q and access_token %q, want the same token: %s", what, g.access, at, body)
	}
	if m["token_type"] != "bearer" {
		t.Errorf("%s: token_type %v, want bearer", what, m["token_type"])
	}
	g.expiresIn, _ = m["expires_in"].(float64)
	g.refresh, _ = m["refresh_token"].(string)
	g.refreshIn, _ = m["refresh_expires_in"].(float64)
	if g.expiresIn <= 0 || g.refreshIn <= 0 {
		t.Errorf("%s: expires_in %v, refresh_expires_in %v; want both positive: %s", what, m["expires_in"], m["refresh_expires_in"], body)
	}
	if !refreshTokenPattern.MatchString(g.refresh) {
		t.Fatalf("%s: refresh_token %q, want 43 base64url characters: %s", what, g.refresh, body)
	}
	return g
}

// wantRefreshInvalid checks that a refresh grant was refused as
// invalid_grant REFRESH_INVALID.
func wantRefreshInvalid(t testing.TB, what string, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%s: status %d, want 400 REFRESH_INVALID: %s", what, resp.StatusCode, body)
	}
	m := loginBody(t, body)
	if m["error"] != "invalid_grant" || m["detail"] != "REFRESH_INVALID" {
		t.Fatalf("%s: %s, want error invalid_grant, detail REFRESH_INVALID", what, body)
	}
}

// wantGrantError checks a refused grant's status and OAuth2 error code.
func wantGrantError(t testing.TB, what string, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d %s: %s", what, resp.StatusCode, status, code, body)
	}
	if m := loginBody(t, body); m["error"] != code {
		t.Fatalf("%s: error %v, want %s: %s", what, m["error"], code, body)
	}
}

// grantForm posts the refresh grant as a form to loginURL; raw "" sends
// grant_type alone.
func grantForm(t testing.TB, loginURL, raw string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}}
	if raw != "" {
		form.Set("refresh_token", raw)
	}
	return loginSite{t, loginURL}.post(formType, form.Encode(), headers)
}

// grantJSON posts the refresh grant as JSON to loginURL.
func grantJSON(t testing.TB, loginURL, raw string) (*http.Response, string) {
	t.Helper()
	return loginSite{t, loginURL}.post(jsonType, string(mustJSON(t, map[string]string{"grant_type": "refresh_token", "refresh_token": raw})), nil)
}

// mustRefresh exchanges raw at loginURL with a form and checks the answer.
func mustRefresh(t testing.TB, loginURL, raw string) grantedTokens {
	t.Helper()
	resp, body := grantForm(t, loginURL, raw, nil)
	return wantTokens(t, "refresh", resp, body)
}

// refreshLogin logs user in with JSON at loginURL and checks the answer.
func refreshLogin(t testing.TB, loginURL, user, password string) grantedTokens {
	t.Helper()
	resp, body := loginSite{t, loginURL}.json(user, password, nil)
	return wantTokens(t, "login of "+user, resp, body)
}

// refreshGrantRefused checks that the family of g has ended: its refresh
// token is refused and its access token revoked. It returns g.
func refreshGrantRefused(t *testing.T, loginURL string, g grantedTokens) grantedTokens {
	t.Helper()
	resp, body := grantForm(t, loginURL, g.refresh, nil)
	wantRefreshInvalid(t, "the refresh token of an ended family", resp, body)
	wantAuth(t, strings.TrimSuffix(loginURL, "/login"), g.access, 401, "token revoked")
	return g
}

// tokenClaims decodes a token issued with testSecret, checking its
// signature.
func tokenClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	return decodeIssuedToken(t, token, testSecret).claims
}

// sidOf is the family id an access token carries; it must be there.
func sidOf(t testing.TB, token string) string {
	t.Helper()
	sid, _ := tokenClaims(t, token)["sid"].(string)
	if !sidPattern.MatchString(sid) {
		t.Fatalf("access token sid %q, want 22 base64url characters", sid)
	}
	return sid
}

// jwtMetric reads one caddy_jwt_* sample; a missing one reads 0.
func jwtMetric(t testing.TB, base, series string) float64 {
	t.Helper()
	return scrapeJWTMetrics(t, base+"/metrics")[series]
}

// cookieLine finds the Set-Cookie line of the cookie name, "" if none.
func cookieLine(resp *http.Response, name string) string {
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

// wantCleared checks that resp clears the cookie name at path.
func wantCleared(t testing.TB, what string, resp *http.Response, name, path string) {
	t.Helper()
	line := cookieLine(resp, name)
	if line == "" {
		t.Fatalf("%s: %s is not cleared; Set-Cookie %q", what, name, resp.Header.Values("Set-Cookie"))
	}
	value, attrs := cookieAttrs(line)
	if value != "" || attrs["max-age"] != "0" || attrs["path"] != path {
		t.Errorf("%s: %q, want %s cleared (empty, Max-Age=0) at Path=%s", what, line, name, path)
	}
}

// parallelGrants presents raw at each of loginURLs at once and returns the
// answers, checked like mustRefresh's.
func parallelGrants(t *testing.T, raw string, loginURLs ...string) []grantedTokens {
	t.Helper()
	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	answers := make([]answer, len(loginURLs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, u := range loginURLs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.PostForm(u, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {raw}})
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers[i] = answer{resp, string(b), err}
		}()
	}
	close(start)
	wg.Wait()
	out := make([]grantedTokens, len(answers))
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("grant %d of %d at once: %v", i+1, len(answers), a.err)
		}
		out[i] = wantTokens(t, fmt.Sprintf("grant %d of %d at once", i+1, len(answers)), a.resp, a.body)
	}
	return out
}

// wantOneSuccessor checks that grants of one token at once all got the
// same refresh token and each its own access token, and returns them.
func wantOneSuccessor(t *testing.T, got []grantedTokens) (refresh string, access []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, g := range got {
		if g.refresh != got[0].refresh {
			t.Fatalf("grants of one token at once got different refresh tokens: %q and %q", got[0].refresh, g.refresh)
		}
		if seen[g.access] {
			t.Fatal("grants of one token at once got the same access token")
		}
		seen[g.access] = true
		access = append(access, g.access)
	}
	return got[0].refresh, access
}

func TestRefreshGrantRotatesTokens(t *testing.T) {
	base := startCaddy(t, refreshGlobals(t.TempDir(), refreshBackend(t, "api", "lifetime 10m", "refresh 1h idle 30m")), refreshSite)
	loginURL := base + "/login"

	first := refreshLogin(t, loginURL, "alice", "alice-pw")
	if first.expiresIn != 600 {
		t.Errorf("expires_in %v, want 600", first.expiresIn)
	}
	if first.refreshIn < 3590 || first.refreshIn > 3600 {
		t.Errorf("refresh_expires_in %v, want the refresh lifetime, 3600", first.refreshIn)
	}
	sid := sidOf(t, first.access)
	wantAuth(t, base, first.access, 200, "")

	// A form login gets a refresh token too, in a family of its own.
	resp, body := loginSite{t, loginURL}.form("bob", "bob-pw", nil)
	other := wantTokens(t, "form login", resp, body)
	if sidOf(t, other.access) == sid || other.refresh == first.refresh {
		t.Error("two logins share a family or a refresh token")
	}

	// The form grant: new tokens of the same family, for the same user.
	second := mustRefresh(t, loginURL, first.refresh)
	if second.refresh == first.refresh || second.access == first.access {
		t.Fatal("the refresh grant did not rotate the tokens")
	}
	claims := tokenClaims(t, second.access)
	if claims["sub"] != "alice" || claims["sid"] != sid {
		t.Errorf("refreshed access token: sub %v sid %v, want alice and %s", claims["sub"], claims["sid"], sid)
	}
	if second.expiresIn != 600 {
		t.Errorf("refreshed expires_in %v, want 600", second.expiresIn)
	}
	// The family ends an hour after the login, not after the refresh.
	if second.refreshIn > first.refreshIn || second.refreshIn < 3500 {
		t.Errorf("refresh_expires_in %v after the refresh, want at most the login's %v", second.refreshIn, first.refreshIn)
	}
	wantAuth(t, base, second.access, 200, "")

	// The JSON grant.
	resp, body = grantJSON(t, loginURL, second.refresh)
	third := wantTokens(t, "JSON refresh", resp, body)
	if third.refresh == second.refresh || third.refresh == first.refresh || sidOf(t, third.access) != sid {
		t.Error("the JSON grant did not rotate within the family")
	}
	wantAuth(t, base, third.access, 200, "")
	// The earlier access tokens stay valid: rotation revokes nothing.
	wantAuth(t, base, first.access, 200, "")

	if n := jwtMetric(t, base, loginSeries("api", "refresh")); n != 2 {
		t.Errorf("%s = %v, want 2", loginSeries("api", "refresh"), n)
	}
}

func TestRefreshGrantErrors(t *testing.T) {
	globals := refreshGlobals(t.TempDir(),
		refreshBackend(t, "api", "refresh 1h"),
		refreshBackend(t, "plain"))
	base := startCaddy(t, globals, refreshSite+"\n\tjwt_login /plain/login plain {\n\t\trate_limit off\n\t}")
	valid := refreshLogin(t, base+"/login", "alice", "alice-pw").refresh
	unknown := strings.Repeat("A", 43)

	for _, tt := range []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"form grant without refresh_token", "/login", formType, "grant_type=refresh_token", 400, "invalid_request"},
		{"form grant with an empty refresh_token", "/login", formType, "grant_type=refresh_token&refresh_token=", 400, "invalid_request"},
		{"JSON grant without refresh_token", "/login", jsonType, `{"grant_type":"refresh_token"}`, 400, "invalid_request"},
		{"empty grant_type", "/login", formType, "grant_type=&refresh_token=" + valid, 400, "invalid_request"},
		{"malformed grant_type", "/login", formType, "grant_type=refresh%20token&refresh_token=" + valid, 400, "invalid_request"},
		{"client_credentials", "/login", formType, "grant_type=client_credentials&client_id=x&client_secret=y", 400, "unsupported_grant_type"},
		{"client_credentials as JSON", "/login", jsonType, `{"grant_type":"client_credentials"}`, 400, "unsupported_grant_type"},
		{"refresh grant on a backend without refresh", "/plain/login", formType, "grant_type=refresh_token&refresh_token=" + valid, 400, "unsupported_grant_type"},
		{"unknown refresh token", "/login", formType, "grant_type=refresh_token&refresh_token=" + unknown, 400, "invalid_grant"},
		{"unknown refresh token as JSON", "/login", jsonType, `{"grant_type":"refresh_token","refresh_token":"` + unknown + `"}`, 400, "invalid_grant"},
		{"a refresh token of the wrong shape", "/login", formType, "grant_type=refresh_token&refresh_token=x", 400, "invalid_grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := loginSite{t, base + tt.path}.post(tt.contentType, tt.body, nil)
			wantGrantError(t, tt.name, resp, body, tt.status, tt.code)
			if tt.code == "invalid_grant" {
				wantRefreshInvalid(t, tt.name, resp, body)
			}
			if m := loginBody(t, body); m["access_token"] != nil || m["refresh_token"] != nil {
				t.Errorf("a refused grant answered tokens: %s", body)
			}
		})
	}
	// None of that spent the valid token.
	mustRefresh(t, base+"/login", valid)
	if n := jwtMetric(t, base, loginSeries("api", "refresh_invalid")); n != 3 {
		t.Errorf("%s = %v, want 3", loginSeries("api", "refresh_invalid"), n)
	}
}

func TestRefreshReuseRevokesTheFamily(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	logGlobals := "\tlog {\n\t\toutput file " + logFile + "\n\t\tformat json\n\t\tlevel INFO\n\t}\n"
	base := startCaddy(t, logGlobals+refreshGlobals(t.TempDir(), refreshBackend(t, "api", "refresh 1h")), refreshSite)
	loginURL := base + "/login"

	login := refreshLogin(t, loginURL, "alice", "alice-pw")
	sid := sidOf(t, login.access)
	next := mustRefresh(t, loginURL, login.refresh)

	// Two tabs refreshing at once: the same successor, a new access token.
	again := mustRefresh(t, loginURL, login.refresh)
	if again.refresh != next.refresh {
		t.Fatal("a repeat within the grace got another refresh token than the first use")
	}
	if again.access == next.access || sidOf(t, again.access) != sid {
		t.Fatal("a repeat within the grace did not get a new access token of the family")
	}
	moveRefreshClock(t, "api", 5*time.Second)
	if later := mustRefresh(t, loginURL, login.refresh); later.refresh != next.refresh {
		t.Fatal("a repeat 5 s after the first use got another refresh token")
	}
	if n := jwtMetric(t, base, loginSeries("api", "refresh_reuse")); n != 0 {
		t.Fatalf("repeats within the grace counted as %v reuses", n)
	}
	family := []string{login.access, next.access, again.access}
	for _, tok := range family {
		wantAuth(t, base, tok, 200, "") // and now in the verified-token cache
	}

	// Six tabs refreshing the same token at once: one successor.
	tabs := refreshLogin(t, loginURL, "bob", "bob-pw")
	succ, _ := wantOneSuccessor(t, parallelGrants(t, tabs.refresh, slices.Repeat([]string{loginURL}, 6)...))
	mustRefresh(t, loginURL, succ)
	bystander := refreshLogin(t, loginURL, "alice", "alice-pw") // another login of the same user

	// 11 s after its first use, the token is a stolen one.
	moveRefreshClock(t, "api", 6*time.Second)
	resp, body := grantForm(t, loginURL, login.refresh, nil)
	wantRefreshInvalid(t, "reuse after the grace", resp, body)
	for _, tok := range family {
		wantAuth(t, base, tok, 401, "token revoked")
	}
	resp, body = grantForm(t, loginURL, next.refresh, nil)
	wantRefreshInvalid(t, "the current refresh token of a revoked family", resp, body)
	if n := jwtMetric(t, base, loginSeries("api", "refresh_reuse")); n != 1 {
		t.Errorf("%s = %v, want 1", loginSeries("api", "refresh_reuse"), n)
	}

	// The user's other login, and a new one, are not that family.
	wantAuth(t, base, bystander.access, 200, "")
	mustRefresh(t, loginURL, bystander.refresh)
	fresh := refreshLogin(t, loginURL, "alice", "alice-pw")
	wantAuth(t, base, mustRefresh(t, loginURL, fresh.refresh).access, 200, "")

	raw, lines := readLogLines(t, logFile, "refresh token reused; session revoked", 1)
	found := false
	for _, l := range lines {
		if l["msg"] == "refresh token reused; session revoked" {
			found = true
			if l["level"] != "warn" {
				t.Errorf("reuse logged at %v, want warn: %v", l["level"], l)
			}
		}
	}
	if !found {
		t.Errorf("no warning \"refresh token reused; session revoked\" in the log:\n%s", raw)
	}
	for _, secret := range []string{login.refresh, next.refresh, bystander.refresh, fresh.refresh, login.access, next.access} {
		if strings.Contains(raw, secret) {
			t.Errorf("the log holds a token: %s", secret)
		}
	}
}

// TestRefreshRepeatWithinTheGraceAfterItsSuccessorWasUsed: a token
// presented again within 10 s of its use is a repeat (SPEC §10: "within
// 10 s of its use the same successor refresh token is returned"), even
// when its successor has been used meanwhile, e.g. by the tab that
// refreshed first.
func TestRefreshRepeatWithinTheGraceAfterItsSuccessorWasUsed(t *testing.T) {
	base := startCaddy(t, refreshGlobals(t.TempDir(), refreshBackend(t, "api", "refresh 1h")), refreshSite)
	loginURL := base + "/login"
	login := refreshLogin(t, loginURL, "alice", "alice-pw")
	next := mustRefresh(t, loginURL, login.refresh)
	third := mustRefresh(t, loginURL, next.refresh)
	resp, body := grantForm(t, loginURL, login.refresh, nil)
	again := wantTokens(t, "the first token again, within 10 s of its use", resp, body)
	if again.refresh != next.refresh {
		t.Errorf("the repeat got %q, want the successor %q of the first use", again.refresh, next.refresh)
	}
	wantAuth(t, base, third.access, 200, "")
	if n := jwtMetric(t, base, loginSeries("api", "refresh_reuse")); n != 0 {
		t.Errorf("a repeat within the grace counted as %v reuses", n)
	}
}

func TestRefreshFamilyEndsWhenIdleOrTooOld(t *testing.T) {
	globals := refreshGlobals(t.TempDir(),
		refreshBackend(t, "idle", "refresh 1h idle 10m"),
		refreshBackend(t, "short", "refresh 20m idle 10m"),
		refreshBackend(t, "plain", "refresh 10m"))
	site := "jwt_login /idle/login idle {\n\t\trate_limit off\n\t}" +
		"\n\tjwt_login /short/login short {\n\t\trate_limit off\n\t}" +
		"\n\tjwt_login /plain/login plain {\n\t\trate_limit off\n\t}"
	base := startCaddy(t, globals, site)

	t.Run("idle: a family not refreshed for idle ends; a refresh restarts the idle time", func(t *testing.T) {
		loginURL := base + "/idle/login"
		kept, left := refreshLogin(t, loginURL, "alice", "alice-pw"), refreshLogin(t, loginURL, "bob", "bob-pw")
		moveRefreshClock(t, "idle", 9*time.Minute)
		kept = mustRefresh(t, loginURL, kept.refresh)
		moveRefreshClock(t, "idle", 2*time.Minute) // 11 min after the login, 2 after the refresh
		kept = mustRefresh(t, loginURL, kept.refresh)
		resp, body := grantForm(t, loginURL, left.refresh, nil)
		wantRefreshInvalid(t, "11 min without a refresh, idle 10m", resp, body)
	})

	t.Run("absolute: a family ends its lifetime after the login, however often refreshed", func(t *testing.T) {
		loginURL := base + "/short/login"
		tok := refreshLogin(t, loginURL, "alice", "alice-pw")
		for range 2 {
			moveRefreshClock(t, "short", 9*time.Minute)
			tok = mustRefresh(t, loginURL, tok.refresh)
		}
		// 18 min after the login of a 20 min family.
		if tok.refreshIn > 120 || tok.refreshIn < 100 {
			t.Errorf("refresh_expires_in %v 18 min into a 20 min family, want about 120", tok.refreshIn)
		}
		moveRefreshClock(t, "short", 3*time.Minute)
		resp, body := grantForm(t, loginURL, tok.refresh, nil)
		wantRefreshInvalid(t, "21 min after the login, refresh 20m", resp, body)
	})

	t.Run("absolute without idle", func(t *testing.T) {
		loginURL := base + "/plain/login"
		tok := refreshLogin(t, loginURL, "alice", "alice-pw")
		moveRefreshClock(t, "plain", 9*time.Minute)
		tok = mustRefresh(t, loginURL, tok.refresh)
		moveRefreshClock(t, "plain", 2*time.Minute)
		resp, body := grantForm(t, loginURL, tok.refresh, nil)
		wantRefreshInvalid(t, "11 min after the login, refresh 10m", resp, body)
	})
}

func TestRefreshRereadsTheUser(t *testing.T) {
	hash := bcryptHashForTest(t, "bob-pw")
	users := func(bob map[string]any, withDave bool) string {
		list := []map[string]any{bob}
		if withDave {
			list = append(list, map[string]any{"username": "dave", "password": hash})
		}
		return string(mustJSON(t, list))
	}
	file := tempFile(t, "users.json", users(map[string]any{"username": "bob", "password": hash, "claims": map[string]any{"role": "editor"}}, true))
	mtime := time.Now().Add(-time.Hour)
	if err := os.Chtimes(file, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	backend := backendBlock("api", "secret "+testSecret, "users "+file, "refresh 1h")
	base := startCaddy(t, refreshGlobals(t.TempDir(), backend), refreshSite)
	loginURL := base + "/login"

	bob := refreshLogin(t, loginURL, "bob", "bob-pw")
	dave := refreshLogin(t, loginURL, "dave", "bob-pw")
	if role := tokenClaims(t, bob.access)["role"]; role != "editor" {
		t.Fatalf("role %v at login, want editor", role)
	}

	// A changed claim appears in the next access token once the file is
	// read again (its mtime is checked at most once a second).
	rewriteUsersFile(t, file, users(map[string]any{"username": "bob", "password": hash, "claims": map[string]any{"role": "admin"}}, true), mtime.Add(time.Minute))
	eventually(t, 5*time.Second, "the changed claim in a refreshed token", func() bool {
		bob = mustRefresh(t, loginURL, bob.refresh)
		return tokenClaims(t, bob.access)["role"] == "admin"
	})
	wantAuth(t, base, bob.access, 200, "")

	// bob disabled, dave removed: their refresh tokens are refused.
	rewriteUsersFile(t, file, users(map[string]any{"username": "bob", "password": hash, "claims": map[string]any{"role": "admin"}, "disabled": true}, false), mtime.Add(2*time.Minute))
	eventually(t, 5*time.Second, "a disabled user's refresh refused", func() bool {
		resp, body := grantForm(t, loginURL, bob.refresh, nil)
		if resp.StatusCode == http.StatusOK {
			bob = wantTokens(t, "refresh before the reload", resp, body)
			return false
		}
		wantRefreshInvalid(t, "refresh of a disabled user", resp, body)
		return true
	})
	resp, body := grantForm(t, loginURL, dave.refresh, nil)
	wantRefreshInvalid(t, "refresh of a removed user", resp, body)
}

func TestRefreshFailuresAreRateLimited(t *testing.T) {
	site := "jwt_login /login api {\n\t\trate_limit 3 1m\n\t}"
	base := startCaddy(t, refreshGlobals(t.TempDir(), refreshBackend(t, "api", "refresh 1h")), site)
	loginURL := base + "/login"
	valid := refreshLogin(t, loginURL, "alice", "alice-pw").refresh
	// Refreshes that succeed are not limited: more than the successful
	// logins a client is allowed (twice the count).
	for range 8 {
		valid = mustRefresh(t, loginURL, valid).refresh
	}
	for i := range 3 {
		resp, body := grantForm(t, loginURL, strings.Repeat(string(rune('a'+i)), 43), nil)
		wantRefreshInvalid(t, "a bad refresh token", resp, body)
	}
	resp, body := grantForm(t, loginURL, valid, nil)
	wantRateLimited(t, resp, body, 60)
	resp, body = loginSite{t, loginURL}.form("alice", "alice-pw", nil)
	wantRateLimited(t, resp, body, 60)
}

func TestRefreshCookies(t *testing.T) {
	globals := refreshGlobals(t.TempDir(),
		refreshBackend(t, "api", "lifetime 10m", "refresh 1h idle 30m", "cookie {\n\t\t\t\tinsecure\n\t\t\t}"),
		refreshBackend(t, "host", "refresh 1h", "cookie __Host-sess"))
	site := "jwt_login /auth/login api {\n\t\trate_limit off\n\t}" +
		"\n\tjwt_auth /private/* api {\n\t\tredirect /auth/login\n\t}" +
		"\n\trespond /private/* \"private {http.auth.user.id}\"" +
		"\n\tjwt_login /host/login host {\n\t\trate_limit off\n\t}"
	base := startCaddy(t, globals, site)
	loginURL := base + "/auth/login"
	const name = "jwt_api_refresh"
	withRefresh := func(raw string, headers map[string]string) map[string]string {
		h := map[string]string{"Cookie": name + "=" + raw}
		for k, v := range headers {
			h[k] = v
		}
		return h
	}
	page := map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
	// newCookies checks the access and refresh cookies of a renewal and
	// returns them; the access cookie must open the private area.
	newCookies := func(t *testing.T, what string, resp *http.Response, old string) (access, raw string) {
		t.Helper()
		access, _ = cookieAttrs(setCookie(t, resp, "jwt_api"))
		raw, _ = cookieAttrs(setCookie(t, resp, name))
		if !refreshTokenPattern.MatchString(raw) || raw == old {
			t.Fatalf("%s: refresh cookie %q, want a new refresh token", what, raw)
		}
		r, b := do(t, "GET", base+"/private/x", map[string]string{"Cookie": "jwt_api=" + access}, "")
		if r.StatusCode != 200 || b != "private alice" {
			t.Fatalf("%s: the new access cookie opens /private/x with %d %q", what, r.StatusCode, b)
		}
		return access, raw
	}

	// A login sets the refresh cookie, at the login path by default.
	resp, body := loginSite{t, loginURL}.json("alice", "alice-pw", nil)
	login := wantTokens(t, "login", resp, body)
	value, attrs := cookieAttrs(setCookie(t, resp, name))
	if value != login.refresh {
		t.Errorf("refresh cookie %q, want the refresh_token of the body", value)
	}
	for k, want := range map[string]string{"httponly": "", "samesite": "Strict", "path": "/auth/login"} {
		if got, ok := attrs[k]; !ok || got != want {
			t.Errorf("refresh cookie %s=%q (set: %v), want %q: %v", k, got, ok, want, attrs)
		}
	}
	if ma, err := strconv.Atoi(attrs["max-age"]); err != nil || ma < 3590 || ma > 3600 {
		t.Errorf("refresh cookie Max-Age %q, want the refresh lifetime, 3600", attrs["max-age"])
	}
	for _, k := range []string{"domain", "secure"} {
		if _, ok := attrs[k]; ok {
			t.Errorf("refresh cookie has %s (insecure, no domain): %v", k, attrs)
		}
	}
	if a, _ := cookieAttrs(setCookie(t, resp, "jwt_api")); a != login.access {
		t.Errorf("access cookie %q, want the body's token", a)
	}
	raw := login.refresh

	t.Run("opening the login page with a valid refresh cookie renews silently", func(t *testing.T) {
		resp, body := do(t, "GET", loginURL+"?redirect=/private/x", withRefresh(raw, page), "")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/private/x" {
			t.Fatalf("status %d, Location %q, want 303 to /private/x: %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		var access string
		access, raw = newCookies(t, "silent renewal", resp, raw)
		if sidOf(t, access) != sidOf(t, login.access) {
			t.Error("the renewal started another family")
		}
		// A redirect target that is not a local path goes to /.
		resp, _ = do(t, "GET", loginURL+"?redirect=//evil.example/x", withRefresh(raw, page), "")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("redirect to another site: status %d, Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, raw = newCookies(t, "silent renewal to /", resp, raw)
	})

	t.Run("an invalid refresh cookie shows the login page and is cleared", func(t *testing.T) {
		resp, body := do(t, "GET", loginURL+"?redirect=/private/x", withRefresh(strings.Repeat("Z", 43), page), "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("status %d (%s), want the login page: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		wantCleared(t, "an invalid refresh cookie", resp, name, "/auth/login")
		if cookieLine(resp, "jwt_api") != "" {
			t.Errorf("an invalid refresh cookie set an access cookie: %q", resp.Header.Values("Set-Cookie"))
		}
	})

	t.Run("a grant without refresh_token takes the cookie", func(t *testing.T) {
		resp, body := grantForm(t, loginURL, "", withRefresh(raw, nil))
		got := wantTokens(t, "grant with the cookie", resp, body)
		if got.refresh == raw {
			t.Fatal("not rotated")
		}
		_, raw = newCookies(t, "grant with the cookie", resp, raw)
		if raw != got.refresh {
			t.Errorf("refresh cookie and refresh_token differ")
		}
		// A browser's form posting the grant goes on to its redirect.
		form := url.Values{"grant_type": {"refresh_token"}, "redirect": {"/private/y"}}
		resp, body = do(t, "POST", loginURL, withRefresh(raw, map[string]string{"Content-Type": formType, "Accept": page["Accept"]}), form.Encode())
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/private/y" {
			t.Fatalf("browser form grant: status %d, Location %q, want 303 to /private/y: %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		_, raw = newCookies(t, "browser form grant", resp, raw)
		// A refused cookie is cleared.
		resp, body = grantForm(t, loginURL, "", withRefresh(strings.Repeat("Y", 43), nil))
		wantRefreshInvalid(t, "grant with an invalid cookie", resp, body)
		wantCleared(t, "grant with an invalid cookie", resp, name, "/auth/login")
	})

	t.Run("a __Host- cookie gets a __Secure- refresh cookie", func(t *testing.T) {
		resp, body := loginSite{t, base + "/host/login"}.json("alice", "alice-pw", nil)
		wantTokens(t, "login", resp, body)
		_, attrs := cookieAttrs(setCookie(t, resp, "__Secure-sess_refresh"))
		if _, ok := attrs["secure"]; !ok || attrs["path"] != "/host/login" || attrs["samesite"] != "Strict" {
			t.Errorf("__Secure-sess_refresh attributes %v, want Secure, Path=/host/login, SameSite=Strict", attrs)
		}
	})
}

func TestRefreshLogoutEndsTheFamily(t *testing.T) {
	globals := refreshGlobals(t.TempDir(),
		refreshBackend(t, "api", "refresh 1h", "cookie {\n\t\t\t\tinsecure\n\t\t\t\trefresh_path /auth\n\t\t\t}"),
		refreshBackend(t, "short", "lifetime 1s", "leeway 0s", "refresh 1h"))
	site := "metrics /metrics" +
		"\n\tjwt_login /auth/login api {\n\t\trate_limit off\n\t}" +
		"\n\tjwt_logout /auth/logout api" +
		"\n\tjwt_auth /api/* api" +
		"\n\trespond /api/* \"hi {http.auth.user.id}\"" +
		"\n\tjwt_login /short/login short {\n\t\trate_limit off\n\t}" +
		"\n\tjwt_logout /short/logout short" +
		"\n\tjwt_auth /short/api/* short" +
		"\n\trespond /short/api/* \"short {http.auth.user.id}\""
	base := startCaddy(t, globals, site)
	loginURL := base + "/auth/login"
	logoutAt := func(t *testing.T, path string, headers map[string]string) *http.Response {
		t.Helper()
		resp, body := do(t, "POST", base+path, headers, "")
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout at %s: status %d: %s", path, resp.StatusCode, body)
		}
		return resp
	}

	t.Run("with the refresh cookie (refresh_path /auth)", func(t *testing.T) {
		resp, body := loginSite{t, loginURL}.json("alice", "alice-pw", nil)
		login := wantTokens(t, "login", resp, body)
		if _, attrs := cookieAttrs(setCookie(t, resp, "jwt_api_refresh")); attrs["path"] != "/auth" {
			t.Errorf("refresh cookie Path %q, want refresh_path /auth", attrs["path"])
		}
		next := mustRefresh(t, loginURL, login.refresh)
		for _, tok := range []string{login.access, next.access} {
			wantAuth(t, base, tok, 200, "")
		}
		// Only the refresh cookie: the family is found from it.
		resp = logoutAt(t, "/auth/logout", map[string]string{"Cookie": "jwt_api_refresh=" + next.refresh})
		wantCleared(t, "logout", resp, "jwt_api_refresh", "/auth")
		wantCleared(t, "logout", resp, "jwt_api", "/")
		for _, raw := range []string{next.refresh, login.refresh} {
			resp, body := grantForm(t, loginURL, raw, nil)
			wantRefreshInvalid(t, "a refresh token after logout", resp, body)
		}
		for _, tok := range []string{login.access, next.access} {
			wantAuth(t, base, tok, 401, "token revoked")
		}
		if n := jwtMetric(t, base, loginSeries("api", "refresh_reuse")); n != 0 {
			t.Errorf("refresh tokens presented after logout counted as %v reuses, want 0", n)
		}
	})

	t.Run("with a Bearer access token carrying sid", func(t *testing.T) {
		login := refreshLogin(t, loginURL, "alice", "alice-pw")
		// A token that does not verify revokes nothing, whatever its sid.
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(login.access, claims); err != nil {
			t.Fatal(err)
		}
		forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(otherSecret))
		if err != nil {
			t.Fatal(err)
		}
		logoutAt(t, "/auth/logout", map[string]string{"Authorization": "Bearer " + forged})
		next := mustRefresh(t, loginURL, login.refresh)
		wantAuth(t, base, next.access, 200, "")

		// The first access token of the family ends all of it.
		logoutAt(t, "/auth/logout", map[string]string{"Authorization": "Bearer " + login.access})
		resp, body := grantForm(t, loginURL, next.refresh, nil)
		wantRefreshInvalid(t, "the refresh token after a Bearer logout", resp, body)
		wantAuth(t, base, next.access, 401, "token revoked")
		wantAuth(t, base, login.access, 401, "token revoked")
	})

	t.Run("with an expired access token", func(t *testing.T) {
		shortURL := base + "/short/login"
		login := refreshLogin(t, shortURL, "alice", "alice-pw")
		next := mustRefresh(t, shortURL, login.refresh)
		eventually(t, 5*time.Second, "the 1 s access token expires", func() bool {
			resp, _ := sendAuth(t, "GET", base+"/short/api/x", bearer(login.access))
			return resp.StatusCode == http.StatusUnauthorized
		})
		logoutAt(t, "/short/logout", map[string]string{"Authorization": "Bearer " + login.access})
		resp, body := grantForm(t, shortURL, next.refresh, nil)
		wantRefreshInvalid(t, "the refresh token after a logout with an expired token", resp, body)
	})
}

func TestRefreshAdminRevokeUserEndsFamilies(t *testing.T) {
	dir := t.TempDir()
	ports := runOnFreePorts(t, 2, func(ports []string) string {
		return "{\n\tadmin 127.0.0.1:" + ports[1] + "\n\tauto_https off\n\tpersist_config off\n" +
			refreshGlobals(dir, refreshBackend(t, "api", "refresh 1h")) +
			"}\n\nhttp://127.0.0.1:" + ports[0] + " {\n" + refreshSite + "\n}\n"
	})
	base, admin := "http://127.0.0.1:"+ports[0], "http://127.0.0.1:"+ports[1]
	loginURL := base + "/login"

	alice := refreshLogin(t, loginURL, "alice", "alice-pw")
	alice = mustRefresh(t, loginURL, alice.refresh)
	otherAlice := refreshLogin(t, loginURL, "alice", "alice-pw")
	bob := refreshLogin(t, loginURL, "bob", "bob-pw")

	resp, body := do(t, "POST", admin+"/jwt/revoke", map[string]string{"Content-Type": jsonType}, `{"backend":"api","user":"alice"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke alice: %d %s", resp.StatusCode, body)
	}
	for _, raw := range []string{alice.refresh, otherAlice.refresh} {
		resp, body := grantForm(t, loginURL, raw, nil)
		wantRefreshInvalid(t, "alice's refresh token after her revocation", resp, body)
	}
	wantAuth(t, base, alice.access, 401, "token revoked")
	bob = mustRefresh(t, loginURL, bob.refresh)
	wantAuth(t, base, bob.access, 200, "")
	// A login after the revocation, even within its second, refreshes.
	fresh := refreshLogin(t, loginURL, "alice", "alice-pw")
	wantAuth(t, base, mustRefresh(t, loginURL, fresh.refresh).access, 200, "")
}

func TestRefreshSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	globals := refreshGlobals(dir, refreshBackend(t, "api", "refresh 1h"))
	base := startCaddy(t, globals, refreshSite)
	loginURL := base + "/login"
	login := refreshLogin(t, loginURL, "alice", "alice-pw")
	sid := sidOf(t, login.access)
	next := mustRefresh(t, loginURL, login.refresh)
	// A family ended before the restart stays ended.
	ended := refreshLogin(t, loginURL, "bob", "bob-pw")
	logout(t, base, map[string]string{"Authorization": "Bearer " + ended.access})
	ended = refreshGrantRefused(t, loginURL, ended)
	raws := []string{login.refresh, next.refresh, ended.refresh}
	eventually(t, 3*time.Second, "the family in Caddy's storage at jwt/refresh/api/<sid>", func() bool {
		_, err := os.Stat(filepath.Join(dir, "jwt", "refresh", "api", sid))
		return err == nil
	})

	// A new process starts with an empty pool, on the same storage.
	stopCaddy(t)
	if n := storesInUse(); n != 0 {
		t.Fatalf("%d stores still in the pool after the config was unloaded", n)
	}
	base = startCaddy(t, globals, refreshSite)
	loginURL = base + "/login"
	after := mustRefresh(t, loginURL, next.refresh)
	raws = append(raws, after.refresh)
	if sidOf(t, after.access) != sid {
		t.Error("the refresh after the restart left the family")
	}
	wantAuth(t, base, after.access, 200, "")
	refreshGrantRefused(t, loginURL, ended)

	// What was used before the restart is still known as used.
	moveRefreshClock(t, "api", 11*time.Second)
	resp, body := grantForm(t, loginURL, login.refresh, nil)
	wantRefreshInvalid(t, "a token used before the restart, again", resp, body)
	wantAuth(t, base, after.access, 401, "token revoked")
	resp, body = grantForm(t, loginURL, after.refresh, nil)
	wantRefreshInvalid(t, "the current token of the family revoked after the restart", resp, body)
	if n := jwtMetric(t, base, loginSeries("api", "refresh_reuse")); n != 1 {
		t.Errorf("%s = %v, want 1", loginSeries("api", "refresh_reuse"), n)
	}

	// Storage holds hashes only.
	files := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, raw := range raws {
			if strings.Contains(string(data), raw) || strings.Contains(path, raw) {
				t.Errorf("%s holds a raw refresh token", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Error("nothing in Caddy's storage")
	}
}

func TestRefreshConfigurationErrors(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	api := func(lines ...string) string {
		return jwtOption(backendBlock("api", append([]string{"secret " + testSecret, "user alice " + hash}, lines...)...))
	}
	cookie := func(lines ...string) string {
		return "cookie {\n\t\t\t\tinsecure\n\t\t\t\t" + strings.Join(lines, "\n\t\t\t\t") + "\n\t\t\t}"
	}
	const scope = `jwt backend "api"`
	for _, tt := range []struct {
		name, globals, site string
		want                []string
		line                string // where the error must point, "" for anywhere
	}{
		{"zero lifetime", api("refresh 0s"), "jwt_login /login", []string{scope, "refresh"}, "refresh 0s"},
		{"negative lifetime", api("refresh -1h"), "jwt_login /login", []string{scope, "refresh"}, "refresh -1h"},
		{"idle longer than the lifetime", api("refresh 1h idle 2h"), "jwt_login /login", []string{scope, "refresh", "idle"}, "refresh 1h idle 2h"},
		{"idle as long as the lifetime", api("refresh 1h idle 1h"), "jwt_login /login", []string{scope, "refresh", "idle"}, "refresh 1h idle 1h"},
		{"negative idle", api("refresh 1h idle -1m"), "jwt_login /login", []string{scope, "idle"}, "refresh 1h idle -1m"},
		{"refresh without a lifetime", api("refresh"), "jwt_login /login", []string{"refresh"}, ""},
		{"idle without a value", api("refresh 1h idle"), "jwt_login /login", []string{"refresh", "idle"}, ""},
		{"an unknown refresh argument", api("refresh 1h lazy 2m"), "jwt_login /login", []string{"refresh", "lazy"}, ""},
		{"refresh without users", jwtOption(backendBlock("api", "secret "+testSecret, "refresh 1h")), "jwt_auth", []string{scope, "refresh", "no users"}, ""},
		{"refresh_path without refresh", api(cookie("refresh_path /auth")), "jwt_login /auth/login", []string{scope, "refresh_path"}, "refresh_path /auth"},
		{"refresh_path not a path", api("refresh 1h", cookie("refresh_path auth")), "jwt_login /auth/login", []string{scope, "refresh_path"}, ""},
		{"a cookie's refresh path unknown: jwt_login in handle", api("refresh 1h", cookie()), "handle /auth/login {\n\t\tjwt_login\n\t}",
			[]string{scope, "cookie", "refresh_path"}, ""},
		{"a cookie's refresh path unknown: two login paths", api("refresh 1h", cookie()), "jwt_login /a/login\n\tjwt_login /b/login",
			[]string{scope, "refresh_path"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := wantLoadError(t, tt.globals, tt.site, tt.want...)
			if tt.line != "" {
				wantErrorAt(t, err, tt.globals, tt.site, tt.line)
			}
		})
	}

	// What does load.
	for _, tt := range []struct{ name, globals, site string }{
		{"jwt_login in handle with refresh_path", api("refresh 1h", cookie("refresh_path /auth")), "handle /auth/login {\n\t\tjwt_login\n\t}"},
		{"jwt_login in handle without a cookie", api("refresh 30d idle 7d"), "handle /auth/login {\n\t\tjwt_login\n\t}"},
		{"the default refresh path", api("refresh 1h", cookie()), "jwt_login /auth/login\n\tjwt_logout /auth/logout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := loadError(t, tt.globals, tt.site); err != nil {
				t.Fatalf("does not load: %v", err)
			}
		})
	}

	// JSON: a cookie backend with refresh needs a refresh path, from the
	// cookie or from the login's path.
	jsonApp := func(cookie string) string {
		return `{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}],"users":[{"username":"alice","password":"` + hash + `"}],` +
			`"refresh":{"lifetime":3600000000000},"cookie":` + cookie + `}}}`
	}
	wantProvisionError(t, jsonApp(`{"insecure":true}`), `{"handler":"jwt_login","backend":"api"}`, scope, "cookie", "refresh_path")
	for _, tt := range []struct{ cookie, login string }{
		{`{"insecure":true}`, `{"handler":"jwt_login","backend":"api","path":"/auth/login"}`},
		{`{"insecure":true,"refresh_path":"/auth"}`, `{"handler":"jwt_login","backend":"api"}`},
	} {
		if err := provisionJSON(t, jsonApp(tt.cookie), tt.login); err != nil {
			t.Errorf("cookie %s, login %s: %v", tt.cookie, tt.login, err)
		}
	}

	// The adapted JSON: the backend's refresh and cookie fields, and the
	// login's path from its matcher.
	cfg := adaptedConfig(t, api("refresh 30d idle 7d", cookie("refresh_path /auth")), "jwt_login /auth/login")
	backend := cfg["apps"].(map[string]any)["jwt"].(map[string]any)["backends"].(map[string]any)["api"].(map[string]any)
	sameJSON(t, "refresh", backend["refresh"], `{"lifetime":2592000000000000,"idle":604800000000000}`)
	if rp := backend["cookie"].(map[string]any)["refresh_path"]; rp != "/auth" {
		t.Errorf("cookie refresh_path %v, want /auth", rp)
	}
	handlers := jwtHandlers(cfg)
	if len(handlers) != 1 || handlers[0].(map[string]any)["path"] != "/auth/login" {
		got, _ := json.Marshal(handlers)
		t.Errorf("jwt_login handler %s, want \"path\":\"/auth/login\"", got)
	}
}
