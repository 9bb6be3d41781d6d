package caddyjwt

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// storeGlobals is a jwt option with one backend "api" (user alice, a
// cookie) and the given extra option lines, with Caddy's storage in dir.
func storeGlobals(t *testing.T, dir string, extra ...string) string {
	hash := bcryptHashForTest(t, "alice-pw")
	return "\tstorage file_system " + dir + "\n" + jwtOption(append(extra,
		backendBlock("api", "secret "+testSecret, "user alice "+hash, "cookie {\n\t\t\t\tinsecure\n\t\t\t}"))...)
}

const storeSite = "jwt_login /login\n\tjwt_logout /logout\n\tjwt_auth /api/*\n\trespond /api/* \"hi {http.auth.user.id}\""

// wantAuth sends token to the protected path and checks the status and,
// for a 401, the reason.
func wantAuth(t *testing.T, base, token string, status int, reason string) {
	t.Helper()
	resp, body := sendAuth(t, "GET", base+"/api/x", bearer(token))
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s (%s)", resp.StatusCode, status, body, resp.Header.Get("WWW-Authenticate"))
	}
	if reason != "" && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error_description="`+reason+`"`) {
		t.Fatalf("challenge %q, want the reason %q", resp.Header.Get("WWW-Authenticate"), reason)
	}
}

func logout(t *testing.T, base string, headers map[string]string) {
	t.Helper()
	resp, body := do(t, "POST", base+"/logout", headers, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: status %d: %s", resp.StatusCode, body)
	}
}

func TestLogoutRevokesTheBearerTokenAndTheCookie(t *testing.T) {
	base := startCaddy(t, storeGlobals(t, t.TempDir()), storeSite)
	site := loginSite{t, base + "/login"}
	bearerToken, cookieToken, other := site.token("alice", "alice-pw"), site.token("alice", "alice-pw"), site.token("alice", "alice-pw")
	for _, tok := range []string{bearerToken, cookieToken, other} {
		wantAuth(t, base, tok, 200, "") // and now in the verified-token cache
	}

	logout(t, base, map[string]string{"Authorization": "Bearer " + bearerToken, "Cookie": "jwt_api=" + cookieToken})
	wantAuth(t, base, bearerToken, 401, "token revoked")
	wantAuth(t, base, cookieToken, 401, "token revoked")
	// Other tokens of the same user are not the ones logged out.
	wantAuth(t, base, other, 200, "")
}

func TestLogoutRevokesOnlyWhatVerifies(t *testing.T) {
	base := startCaddy(t, storeGlobals(t, t.TempDir()), storeSite)
	tok := loginSite{t, base + "/login"}.token("alice", "alice-pw")
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	// The same jti under another key: it verifies nowhere, so it revokes
	// nothing.
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("another-secret-0123456789-abcdefghijklmn"))
	if err != nil {
		t.Fatal(err)
	}
	logout(t, base, map[string]string{"Authorization": "Bearer " + forged})
	wantAuth(t, base, tok, 200, "")
}

func TestRevocationSurvivesARestartWithTheSameStorage(t *testing.T) {
	dir := t.TempDir()
	base := startCaddy(t, storeGlobals(t, dir), storeSite)
	tok := loginSite{t, base + "/login"}.token("alice", "alice-pw")
	logout(t, base, map[string]string{"Authorization": "Bearer " + tok})
	wantAuth(t, base, tok, 401, "token revoked")

	// A new process would start with an empty pool: drop the store the
	// first config made, then start again on the same storage.
	stopCaddy(t)
	if n := storesInUse(); n != 0 {
		t.Fatalf("%d stores still in the pool after the config was unloaded", n)
	}
	base = startCaddy(t, storeGlobals(t, dir), storeSite)
	wantAuth(t, base, tok, 401, "token revoked")
	if _, err := os.Stat(filepath.Join(dir, "jwt", "revocations.json")); err != nil {
		t.Errorf("the revocations are not in Caddy's storage: %v", err)
	}
}

func TestRevocationsKeepTheLaterOfTwoEntries(t *testing.T) {
	rs := newRevocations()
	now := time.Unix(1_800_000_000, 0)
	iat := jwt.NewNumericDate(now)
	id := func(user, jti string, issued *jwt.NumericDate) *identity {
		return &identity{backend: "api", userID: user, jti: jti, times: tokenTimes{iat: issued}}
	}
	if rs.revoked(id("alice", "a", iat)) {
		t.Fatal("revoked with nothing revoked")
	}
	rs.add(revocation{Backend: "api", User: "alice", At: now.Unix(), Until: now.Unix() + 60})
	if rs.add(revocation{Backend: "api", User: "alice", At: now.Unix() - 10, Until: now.Unix() + 10}) {
		t.Error("an older user revocation replaced a newer one")
	}
	for _, tt := range []struct {
		name string
		id   *identity
		want bool
	}{
		{"a token issued in the second of the revocation", id("alice", "a", iat), true},
		{"a token issued before", id("alice", "b", jwt.NewNumericDate(now.Add(-time.Hour))), true},
		{"a token issued after", id("alice", "c", jwt.NewNumericDate(now.Add(time.Second))), false},
		{"a token without iat", id("alice", "d", nil), true},
		{"another user's token", id("bob", "e", iat), false},
		{"the same user of another backend", &identity{backend: "web", userID: "alice", times: tokenTimes{iat: iat}}, false},
	} {
		if got := rs.revoked(tt.id); got != tt.want {
			t.Errorf("%s: revoked = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A token found not revoked is looked up again once anything is added.
	bob := id("bob", "f", iat)
	if rs.revoked(bob) {
		t.Fatal("bob revoked")
	}
	rs.add(revocation{Backend: "api", JTI: "f", Until: now.Unix() + 60})
	if !rs.revoked(bob) {
		t.Error("a token revoked after it was checked is still let through")
	}
	if got := rs.list(now.Add(2 * time.Minute)); len(got) != 0 {
		t.Errorf("expired entries listed: %v", got)
	}
}

func TestStoreSettings(t *testing.T) {
	for _, tt := range []struct {
		store string // the option line; "" for none
		ok    bool
		want  string // in the error
	}{
		{"", true, ""},
		{"store memory", true, ""},
		{"store redis redis://127.0.0.1:1", true, ""},
		{"store redis rediss://user:pw@redis.example:6380/2", true, ""},
		{"store redis {env.REDIS_URL}", true, ""},
		{"store redis", false, "redis needs a URL"},
		{"store redis http://127.0.0.1:6379", false, "must start with redis:// or rediss://"},
		{"store redis redis://u:secret-pw@[::1", false, "invalid Redis URL"},
		{"store redis redis://127.0.0.1:6379/notadb", false, "invalid Redis URL"},
		{"store disk", false, "want memory, or redis <url>"},
		{"store memory extra", false, "want memory, or redis <url>"},
	} {
		globals := jwtOption(backendBlock("api", "secret "+testSecret))
		if tt.store != "" {
			globals = "\tjwt {\n\t\t" + tt.store + "\n\t}\n" + globals
		}
		_, err := adapt(caddyfileFor("0", globals, "respond ok"))
		switch {
		case tt.ok && err != nil:
			t.Errorf("%q: %v", tt.store, err)
		case !tt.ok && err == nil:
			t.Errorf("%q adapted; want an error", tt.store)
		case !tt.ok && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%q: error %q does not say %q", tt.store, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "secret-pw"):
			t.Errorf("%q: the error shows the Redis password: %v", tt.store, err)
		}
	}
}

func TestRevokeRequestBodies(t *testing.T) {
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"backend":"api","jti":"abc"}`, true},
		{`{"backend":"api","user":"alice"}`, true},
		{`{"jti":"abc"}`, true}, // the only backend
		{`{"backend":"api"}`, false},
		{`{"backend":"api","jti":"a","user":"b"}`, false},
		{`{"backend":"api","jti":"a","extra":1}`, false},
		{`{"backend":"api","jti":"a","jti":"b"}`, false},
		{`{"backend":"api","jti":"a"} {}`, false},
		{`[]`, false},
		{``, false},
		{`{"backend":"api","jti":1}`, false},
	} {
		_, err := parseRevokeRequest([]byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok = %v", tt.body, err, tt.ok)
		}
	}
}

func FuzzRevokeRequest(f *testing.F) {
	f.Add(`{"backend":"api","jti":"abc"}`)
	f.Add(`{"backend":"api","user":"alice"}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := parseRevokeRequest([]byte(body))
		if err != nil {
			return
		}
		if (req.JTI == "") == (req.User == "") {
			t.Fatalf("accepted %q with jti %q and user %q", body, req.JTI, req.User)
		}
		// What was accepted reads back the same.
		var again revokeRequest
		out, _ := json.Marshal(req)
		if err := json.Unmarshal(out, &again); err != nil || again != req {
			t.Fatalf("%q: %+v does not round-trip", body, req)
		}
	})
}

// stopCaddy unloads the running config, as a process that exits does.
func stopCaddy(t *testing.T) {
	t.Helper()
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
}

// storesInUse counts the stores a loaded config holds.
func storesInUse() int {
	n := 0
	stores.Range(func(any, any) bool { n++; return true })
	return n
}

func TestAdminAPIRevokesByJTIAndByUser(t *testing.T) {
	dir := t.TempDir()
	hash := bcryptHashForTest(t, "alice-pw")
	ports := runOnFreePorts(t, 2, func(ports []string) string {
		return "{\n\tadmin 127.0.0.1:" + ports[1] + "\n\tauto_https off\n\tpersist_config off\n\tstorage file_system " + dir + "\n" +
			jwtOption(backendBlock("api", "secret "+testSecret, "user alice "+hash, "user bob "+hash)) +
			"}\n\nhttp://127.0.0.1:" + ports[0] + " {\n" + storeSite + "\n}\n"
	})
	port, admin := ports[0], ports[1]
	base := "http://127.0.0.1:" + port
	site := loginSite{t, base + "/login"}
	revoke := func(body string) (*http.Response, string) {
		return do(t, "POST", "http://127.0.0.1:"+admin+"/jwt/revoke", map[string]string{"Content-Type": "application/json"}, body)
	}

	a1, a2, b1 := site.token("alice", "alice-pw"), site.token("alice", "alice-pw"), site.token("bob", "alice-pw")
	for _, tok := range []string{a1, a2, b1} {
		wantAuth(t, base, tok, 200, "")
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(a1, claims); err != nil {
		t.Fatal(err)
	}
	if resp, body := revoke(`{"backend":"api","jti":"` + claims["jti"].(string) + `"}`); resp.StatusCode != 200 || !strings.Contains(body, `"revoked"`) {
		t.Fatalf("revoke by jti: status %d: %s", resp.StatusCode, body)
	}
	wantAuth(t, base, a1, 401, "token revoked")
	wantAuth(t, base, a2, 200, "")

	if resp, body := revoke(`{"backend":"api","user":"alice"}`); resp.StatusCode != 200 {
		t.Fatalf("revoke by user: status %d: %s", resp.StatusCode, body)
	}
	wantAuth(t, base, a2, 401, "token revoked")
	wantAuth(t, base, b1, 200, "")
	// A login after the revocation, even within the same second, works.
	wantAuth(t, base, site.token("alice", "alice-pw"), 200, "")

	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"backend":"nope","jti":"x"}`, 404},
		{`{"backend":"api"}`, 400},
		{`{"backend":"api","jti":"x","user":"y"}`, 400},
		{`not json`, 400},
	} {
		if resp, body := revoke(tt.body); resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.body, resp.StatusCode, tt.status, body)
		}
	}
	if resp, _ := do(t, "GET", "http://127.0.0.1:"+admin+"/jwt/revoke", nil, ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
}
