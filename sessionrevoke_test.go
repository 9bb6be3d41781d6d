package caddyjwt

import (
	"strings"
	"testing"
)

// TestAdminAPIRevokesOneSession: {"sid": ...} ends one login's refresh
// family and its access tokens, and leaves the user's other logins alone.
func TestAdminAPIRevokesOneSession(t *testing.T) {
	dir := t.TempDir()
	hash := bcryptHashForTest(t, "pw")
	ports := runOnFreePorts(t, 2, func(ports []string) string {
		return "{\n\tadmin 127.0.0.1:" + ports[1] + "\n\tauto_https off\n\tpersist_config off\n\tstorage file_system " + dir + "\n" +
			jwtOption(backendBlock("api", "secret "+testSecret, "refresh 1h", "user alice "+hash)) +
			"}\n\nhttp://127.0.0.1:" + ports[0] + " {\n" + storeSite + "\n}\n"
	})
	base := "http://127.0.0.1:" + ports[0]
	login := func() (token, refresh string) {
		resp, body := loginSite{t, base + "/login"}.json("alice", "pw", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		return jsonField(t, body, "token"), jsonField(t, body, "refresh_token")
	}
	refresh := func(rt string) (int, string) {
		resp, body := loginSite{t, base + "/login"}.post(formType, "grant_type=refresh_token&refresh_token="+rt, nil)
		return resp.StatusCode, body
	}
	t1, r1 := login()
	t2, r2 := login()
	t3, r3 := login()
	sid := decodeIssuedToken(t, t1, testSecret).claims["sid"].(string)

	resp, body := do(t, "POST", "http://127.0.0.1:"+ports[1]+"/jwt/revoke", map[string]string{"Content-Type": "application/json"},
		`{"backend":"api","sid":"`+sid+`"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"sid":"`+sid+`"`) {
		t.Fatalf("revoke sid: %d %s", resp.StatusCode, body)
	}
	// The command does the same.
	sid3 := decodeIssuedToken(t, t3, testSecret).claims["sid"].(string)
	if out, _, err := runJWT(t, "", "revoke", "--backend", "api", "--sid", sid3, "--address", "127.0.0.1:"+ports[1]); err != nil || !strings.Contains(out, sid3) {
		t.Fatalf("caddy jwt revoke --sid: %v: %s", err, out)
	}
	for _, revoked := range []struct{ token, refresh string }{{t1, r1}, {t3, r3}} {
		wantAuth(t, base, revoked.token, 401, "token revoked")
		if status, body := refresh(revoked.refresh); status != 400 || !strings.Contains(body, "REFRESH_INVALID") {
			t.Errorf("refresh of the revoked session: %d %s", status, body)
		}
	}
	wantAuth(t, base, t2, 200, "")
	if status, body := refresh(r2); status != 200 {
		t.Errorf("refresh of the other session: %d %s", status, body)
	}
	for _, bad := range []string{`{"backend":"api","sid":"x","jti":"y"}`, `{"backend":"api","sid":"x","user":"y"}`} {
		if resp, body := do(t, "POST", "http://127.0.0.1:"+ports[1]+"/jwt/revoke", map[string]string{"Content-Type": "application/json"}, bad); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}
