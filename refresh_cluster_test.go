package caddyjwt

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Refresh tokens in a cluster: instance A is a Caddy of this process, so
// that the test can move its refresh clock (moveRefreshClock) past the
// grace instead of waiting; instance B is a `caddy run` process built from
// ./cmd/caddy (cluster_test.go). Both use `store redis` on one real
// redis-server (redis_test.go), the same secret and users.

// refreshNodeCaddyfile is B's config: its own admin endpoint and storage,
// the shared store, the backend api of redisStoreGlobals with refresh 1h,
// and refreshSite.
func refreshNodeCaddyfile(t *testing.T, admin, storage, port, storeURL string) string {
	hash := bcryptHashForTest(t, clusterPassword)
	return "{\n\tadmin 127.0.0.1:" + admin + "\n\tauto_https off\n\tpersist_config off\n" +
		"\tstorage file_system " + storage + "\n" +
		"\tjwt {\n\t\tstore redis " + storeURL + "\n" +
		backendBlock("api", "secret "+testSecret, "user alice "+hash, "refresh 1h") + "\t}\n}\n\n" +
		"http://127.0.0.1:" + port + " {\n\t" + refreshSite + "\n}\n"
}

// startRefreshNode runs `caddy run` on refreshNodeCaddyfile, and waits
// until its site and admin endpoint listen. It is stopped when the test
// ends.
func startRefreshNode(t *testing.T, name, storeURL string) *caddyNode {
	t.Helper()
	return startNodeWith(t, name, storeURL, nil, func(admin, storage, port string) string {
		return refreshNodeCaddyfile(t, admin, storage, port, storeURL)
	})
}

// wantNoRawRefreshTokens scans every key and value of r for the raw
// refresh tokens.
func wantNoRawRefreshTokens(t *testing.T, r *redisServer, raws []string) {
	t.Helper()
	c := r.client()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		values := []string{key}
		switch typ := c.Type(ctx, key).Val(); typ {
		case "string":
			values = append(values, c.Get(ctx, key).Val())
		case "zset":
			values = append(values, c.ZRange(ctx, key, 0, -1).Val()...)
		case "hash":
			for k, v := range c.HGetAll(ctx, key).Val() {
				values = append(values, k, v)
			}
		case "set":
			values = append(values, c.SMembers(ctx, key).Val()...)
		case "list":
			values = append(values, c.LRange(ctx, key, 0, -1).Val()...)
		default:
			t.Errorf("key %q has the unexpected type %q", key, typ)
		}
		for _, v := range values {
			for _, raw := range raws {
				if strings.Contains(v, raw) {
					t.Errorf("key %q holds a raw refresh token: %q", key, v)
				}
			}
		}
	}
}

func TestRefreshClusterSharesFamilies(t *testing.T) {
	r := startRedis(t)
	b := startRefreshNode(t, "B", r.url())
	port := runOnFreePort(t, func(port string) string {
		return caddyfileFor(port, redisStoreGlobals(t, r.url(), "refresh 1h", "cookie {\n\t\t\t\tinsecure\n\t\t\t}"), refreshSite)
	})
	a := &caddyNode{t: t, name: "A", base: "http://127.0.0.1:" + port, storeURL: r.url()}
	waitStoreUp(t, 5*time.Second, 1, a, b)
	aLogin, bLogin := a.base+"/login", b.base+"/login"

	// Logged in on A, refreshed on B.
	login := refreshLogin(t, aLogin, "alice", clusterPassword)
	sid := sidOf(t, login.access)
	next := mustRefresh(t, bLogin, login.refresh)
	if sidOf(t, next.access) != sid {
		t.Fatal("the refresh on B left the family of the login on A")
	}
	// Within the grace, A answers the successor B gave.
	again := mustRefresh(t, aLogin, login.refresh)
	if again.refresh != next.refresh {
		t.Fatal("A gave another successor than B within the grace")
	}
	family := []string{login.access, next.access, again.access}
	for _, n := range []*caddyNode{a, b} {
		for _, tok := range family {
			n.wantOK(tok)
		}
	}
	raws := []string{login.refresh, next.refresh}

	// Another login of alice, refreshed at once on both instances (tabs):
	// one successor.
	other := refreshLogin(t, bLogin, "alice", clusterPassword)
	succ, otherAccess := wantOneSuccessor(t, parallelGrants(t, other.refresh, aLogin, bLogin, aLogin, bLogin, aLogin, bLogin))
	raws = append(raws, other.refresh, succ)
	other = mustRefresh(t, aLogin, succ)
	raws = append(raws, other.refresh)
	otherAccess = append(otherAccess, other.access)

	checkRedisKeys(t, r, append(family, otherAccess...), ":family:", ":refresh:")
	wantNoRawRefreshTokens(t, r, raws)

	// Past the grace on A: the token B rotated is reused. The family's
	// access tokens, B's among them, are refused on both instances.
	moveRefreshClock(t, "api", 11*time.Second)
	resp, body := grantForm(t, aLogin, login.refresh, nil)
	wantRefreshInvalid(t, "reuse on A of a token rotated on B", resp, body)
	a.refusesWithin(propagation, family...)
	took := b.refusesWithin(propagation, family...)
	t.Logf("B refused the family's access tokens %v after the reuse on A", took)
	resp, body = grantForm(t, bLogin, next.refresh, nil)
	wantRefreshInvalid(t, "the family's current refresh token on B", resp, body)
	if n := jwtMetric(t, a.base, loginSeries("api", "refresh_reuse")); n != 1 {
		t.Errorf("A: %s = %v, want 1", loginSeries("api", "refresh_reuse"), n)
	}
	// The other login of alice is not that family (B: A's clock is
	// ahead now, which B's rotation times would not agree with).
	a.wantOK(other.access)
	b.wantOK(other.access)
	other = mustRefresh(t, bLogin, other.refresh)
	raws = append(raws, other.refresh)
	a.wantOK(other.access)
	checkRedisKeys(t, r, append(family, otherAccess...))
	wantNoRawRefreshTokens(t, r, raws)

	// Redis gone: the grant answers 503, logins go on without refresh
	// tokens.
	r.kill()
	for _, n := range []*caddyNode{a, b} {
		resp, body := grantForm(t, n.base+"/login", other.refresh, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: refresh with Redis down: %d (Retry-After %q) %s, want 503 with Retry-After: 1",
				n.name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		} else if m := loginBody(t, body); m["error"] != "temporarily_unavailable" || m["detail"] != "STORE_UNAVAILABLE" {
			t.Errorf("%s: refresh with Redis down: %s, want temporarily_unavailable STORE_UNAVAILABLE", n.name, body)
		}
		resp, body = loginSite{t, n.base + "/login"}.json("alice", clusterPassword, nil)
		tok := loginSite{t, n.base + "/login"}.tokenOf(resp, body)
		m := loginBody(t, body)
		for _, field := range []string{"refresh_token", "refresh_expires_in"} {
			if _, ok := m[field]; ok {
				t.Errorf("%s: a login with Redis down answered %s: %s", n.name, field, body)
			}
		}
		a.wantOK(tok)
		b.wantOK(tok)
		if n == a && cookieLine(resp, "jwt_api_refresh") != "" {
			t.Errorf("A: a login with Redis down set a refresh cookie: %q", resp.Header.Values("Set-Cookie"))
		}
	}
	// A browser with a refresh cookie sees the login page, and keeps the
	// cookie for when Redis is back.
	resp, body = do(t, "GET", aLogin+"?redirect=/api/x", map[string]string{"Accept": "text/html", "Cookie": "jwt_api_refresh=" + other.refresh}, "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("A: the login page with a refresh cookie and Redis down: %d %s", resp.StatusCode, body)
	}
	if line := cookieLine(resp, "jwt_api_refresh"); line != "" {
		t.Errorf("A: the refresh cookie was changed while Redis is down: %q", line)
	}
}
