package caddyjwt

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tests of the Redis store inside this process, against a real Redis
// (redis_test.go): what a reload keeps, and a Redis that hangs rather than
// goes away.

// redisStoreGlobals is a jwt option with the store at url and one backend
// api (user alice, clusterPassword) with extra lines, and Caddy's storage in
// a temp dir.
func redisStoreGlobals(t *testing.T, url string, extra ...string) string {
	hash := bcryptHashForTest(t, clusterPassword)
	return "\tstorage file_system " + t.TempDir() + "\n\tjwt {\n\t\tstore redis " + url + "\n" +
		backendBlock("api", append([]string{"secret " + testSecret, "user alice " + hash}, extra...)...) + "\t}\n"
}

// redisStoreSite logs in, out and checks tokens; /api/* answers greeting
// and the user.
func redisStoreSite(greeting string) string {
	return "metrics /metrics\n\tjwt_login /login\n\tjwt_logout /logout\n\tjwt_auth /api/*\n\trespond /api/* \"" + greeting + " {http.auth.user.id}\""
}

// TestRedisStoreReloadKeepsThePoolAndTheLocalCopy reloads a Caddy of this
// process with a changed config naming the same Redis: the store, with its
// connections and its local copy, is the one the first config made. Redis
// is killed before the reload, so only the local copy knows of the
// revocation.
func TestRedisStoreReloadKeepsThePoolAndTheLocalCopy(t *testing.T) {
	r := startRedis(t)
	port := runOnFreePort(t, func(port string) string {
		return caddyfileFor(port, redisStoreGlobals(t, r.url()), redisStoreSite("hi"))
	})
	base := "http://127.0.0.1:" + port

	poolEntry := func() (store, int) {
		var found store
		n := 0
		stores.Range(func(key, value any) bool {
			if k, _ := key.(string); strings.HasPrefix(k, "redis ") {
				found, n = value.(store), n+1
			}
			return true
		})
		return found, n
	}
	before, n := poolEntry()
	if n != 1 {
		t.Fatalf("%d Redis stores in the pool, want 1", n)
	}
	eventually(t, 5*time.Second, "the store reaches Redis", before.up)

	tok := loginSite{t, base + "/login"}.token("alice", clusterPassword)
	other := loginSite{t, base + "/login"}.token("alice", clusterPassword)
	wantAuth(t, base, tok, 200, "")
	logout(t, base, map[string]string{"Authorization": "Bearer " + tok})
	wantAuth(t, base, tok, 401, "token revoked")

	r.kill()
	// The reload changes the backend and the site, not the store.
	if err := loadCaddyfile(t, caddyfileFor(port, redisStoreGlobals(t, r.url(), "lifetime 30m"), redisStoreSite("hello"))); err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitForCaddy(t, "127.0.0.1:"+port)
	after, n := poolEntry()
	if n != 1 || after != before {
		t.Fatalf("after the reload the pool holds %d Redis stores, the same as before: %v", n, after == before)
	}
	if runningJWTApp(t).store != before {
		t.Fatal("the reloaded app does not use the pooled store")
	}
	wantAuth(t, base, tok, 401, "token revoked")
	resp, body := sendAuth(t, "GET", base+"/api/x", bearer(other))
	if resp.StatusCode != 200 || body != "hello alice" {
		t.Fatalf("the reloaded config answers %d %q", resp.StatusCode, body)
	}
}

// TestRedisStoreFindsAHungRedisLost stops Redis (SIGSTOP) with its
// connections open: the gauge goes to 0 within 5 s, token checks never
// wait on it, logins go on, and what is revoked meanwhile (a token, and a
// user revoked again) is written once Redis answers again, over the older
// entry it still has.
func TestRedisStoreFindsAHungRedisLost(t *testing.T) {
	r := startRedis(t)
	hash := bcryptHashForTest(t, clusterPassword)
	ports := runOnFreePorts(t, 2, func(p []string) string {
		return "{\n\tadmin 127.0.0.1:" + p[1] + "\n\tauto_https off\n\tpersist_config off\n" +
			redisStoreGlobals(t, r.url(), "user bob "+hash) + "}\n\nhttp://127.0.0.1:" + p[0] + " {\n\t" + redisStoreSite("hi") + "\n}\n"
	})
	base, admin := "http://127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	if !waitForPort(t, admin, nil) {
		t.Fatal("no admin endpoint")
	}
	site := loginSite{t, base + "/login"}
	gauge := func() float64 { return scrapeJWTMetrics(t, base+"/metrics")[storeUpSeries] }
	revokeUser := func(user string) {
		t.Helper()
		resp, body := do(t, "POST", "http://"+admin+"/jwt/revoke", map[string]string{"Content-Type": "application/json"}, `{"backend":"api","user":"`+user+`"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke %s: %d %s", user, resp.StatusCode, body)
		}
	}
	rc := r.client()
	userKey := redisPrefix + "api:revoked:user:alice"
	revokedAt := func() int64 {
		var v struct {
			At int64 `json:"at"`
		}
		_ = json.Unmarshal([]byte(rc.Get(context.Background(), userKey).Val()), &v)
		return v.At
	}
	eventually(t, 5*time.Second, "the store reaches Redis", func() bool { return gauge() == 1 })
	tok, revoked, aliceOld := site.token("bob", clusterPassword), site.token("bob", clusterPassword), site.token("alice", clusterPassword)
	revokeUser("alice")
	wantAuth(t, base, aliceOld, 401, "token revoked")
	before := revokedAt()
	if before == 0 {
		t.Fatalf("no revocation of alice in Redis at %s", userKey)
	}

	r.pause()
	hung := time.Now()
	slowest := time.Duration(0)
	eventually(t, 5*time.Second, "the gauge reads 0", func() bool {
		start := time.Now()
		wantAuth(t, base, tok, 200, "")
		slowest = max(slowest, time.Since(start))
		return gauge() == 0
	})
	t.Logf("gauge 0 %v after Redis hung; the slowest token check took %v", time.Since(hung), slowest)
	if slowest > 500*time.Millisecond {
		t.Errorf("a token check took %v while Redis hung: it waited on the network", slowest)
	}

	aliceNew := site.token("alice", clusterPassword)
	wantAuth(t, base, aliceNew, 200, "")
	logout(t, base, map[string]string{"Authorization": "Bearer " + revoked})
	wantAuth(t, base, revoked, 401, "token revoked")
	revokeUser("alice") // again, seconds after the first time
	wantAuth(t, base, aliceNew, 401, "token revoked")
	local := runningJWTApp(t).store.revocations().userRevokedAt("api", "alice")
	if local <= before {
		t.Fatalf("alice revoked again at %d, not after %d", local, before)
	}

	r.resume()
	eventually(t, 5*time.Second, "the gauge reads 1 again", func() bool { return gauge() == 1 })
	key := redisPrefix + "api:revoked:jti:" + jtiOf(t, revoked)
	eventually(t, 3*time.Second, "the token revoked meanwhile is written to Redis", func() bool {
		return rc.Exists(context.Background(), key).Val() == 1
	})
	eventually(t, 3*time.Second, "the later revocation of alice replaces the older one in Redis", func() bool {
		return revokedAt() == local
	})
}

// TestRedisStoreURLWithPasswordDatabaseAndPlaceholder: the URL comes from
// {env.REDIS_URL}, with a password and a database number; the store logs
// in, and writes its keys in that database. The wrong password is not a
// configuration error: the store reports itself down.
func TestRedisStoreURLWithPasswordDatabaseAndPlaceholder(t *testing.T) {
	r := startRedis(t, "--requirepass", "redis-pw-0123")
	for _, tt := range []struct {
		name, url string
		up        float64
	}{
		{"the right password", "redis://:redis-pw-0123@" + r.addr() + "/2", 1},
		{"a wrong password", "redis://:wrong@" + r.addr() + "/2", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", tt.url)
			base := startCaddy(t, redisStoreGlobals(t, "{env.REDIS_URL}"), redisStoreSite("hi"))
			gauge := func() float64 { return scrapeJWTMetrics(t, base+"/metrics")[storeUpSeries] }
			if tt.up == 0 {
				time.Sleep(2 * redisRetry) // it stays down, retrying
			}
			eventually(t, 5*time.Second, fmt.Sprintf("the gauge reads %v", tt.up), func() bool { return gauge() == tt.up })
			tok := loginSite{t, base + "/login"}.token("alice", clusterPassword)
			logout(t, base, map[string]string{"Authorization": "Bearer " + tok})
			wantAuth(t, base, tok, 401, "token revoked")
			if tt.up == 0 {
				return
			}
			db2 := redis.NewClient(&redis.Options{Addr: r.addr(), Password: "redis-pw-0123", DB: 2})
			defer db2.Close()
			if n := db2.Exists(context.Background(), redisPrefix+"api:revoked:jti:"+jtiOf(t, tok)).Val(); n != 1 {
				t.Errorf("the revocation is not in database 2")
			}
		})
	}
}
