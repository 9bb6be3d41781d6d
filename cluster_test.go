package caddyjwt

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// This file runs a cluster as users run one: two Caddy processes, built
// from ./cmd/caddy, each with its own admin endpoint, storage and site
// port, sharing one real Redis (redis_test.go) through `store redis`, a
// secret and users. Caddy runs one config per process, so the instances
// are processes, not configs of this one.

// clusterBinary is ./cmd/caddy, built once per test process for every
// cluster test, and removed by TestMain.
var clusterBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if clusterBinary.dir != "" {
		_ = os.RemoveAll(clusterBinary.dir)
	}
	_ = os.RemoveAll(testStorageDir)
	os.Exit(code)
}

// caddyBinary builds ./cmd/caddy the first time it is called and returns
// the binary's path.
func caddyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds ./cmd/caddy and runs a cluster; skipped with -short")
	}
	b := &clusterBinary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "caddy-jwt-cluster-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "caddy")
		if out, err := exec.Command(goTool(), "build", "-o", b.path, "./cmd/caddy").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// The cluster's users: alice and bob, both with clusterPassword.
const clusterPassword = "cluster-pw"

// storeUpSeries is the gauge of a Redis store.
const storeUpSeries = `caddy_jwt_store_up{store="redis"}`

// caddyNode is one Caddy process of a cluster.
type caddyNode struct {
	t        *testing.T
	name     string
	base     string // the site, http://127.0.0.1:port
	admin    string // the admin endpoint, 127.0.0.1:port
	log      *lockedBuffer
	cmd      *exec.Cmd
	exited   chan struct{}
	storeURL string
	// tokens collects every token this node issued, for the key checks.
	tokens *[]string
}

// nodeCaddyfile is the config of one instance: its own admin endpoint,
// storage and site, the shared store, secret and users. login is the
// jwt_login directive with its block, if any.
func nodeCaddyfile(t *testing.T, admin, storage, port, storeURL, login string) string {
	hash := bcryptHashForTest(t, clusterPassword)
	return "{\n\tadmin 127.0.0.1:" + admin + "\n\tauto_https off\n\tpersist_config off\n" +
		"\tstorage file_system " + storage + "\n" +
		"\tjwt {\n\t\tstore redis " + storeURL + "\n" +
		backendBlock("api", "secret "+testSecret, "user alice "+hash, "user bob "+hash) + "\t}\n}\n\n" +
		"http://127.0.0.1:" + port + " {\n\tmetrics /metrics\n\t" + login +
		"\n\tjwt_logout /logout\n\tjwt_auth /api/*\n\trespond /api/* \"hi {http.auth.user.id}\"\n}\n"
}

// startNode runs `caddy run` for one instance sharing the Redis at
// storeURL, and waits until its site and admin endpoint listen. It is
// stopped when the test ends.
func startNode(t *testing.T, name, storeURL, login string, tokens *[]string) *caddyNode {
	t.Helper()
	return startNodeWith(t, name, storeURL, tokens, func(admin, storage, port string) string {
		return nodeCaddyfile(t, admin, storage, port, storeURL, login)
	})
}

// startNodeWith runs `caddy run` on the config caddyfile makes for the
// node's admin port, storage directory and site port.
func startNodeWith(t *testing.T, name, storeURL string, tokens *[]string, caddyfile func(admin, storage, port string) string) *caddyNode {
	t.Helper()
	bin := caddyBinary(t)
	env := caddyEnv(t)
	storage := t.TempDir()
	config := filepath.Join(t.TempDir(), "Caddyfile")
	for attempt := 1; ; attempt++ {
		port, admin := freePort(t), freePort(t)
		if err := os.WriteFile(config, []byte(caddyfile(admin, storage, port)), 0o600); err != nil {
			t.Fatal(err)
		}
		n := &caddyNode{t: t, name: name, base: "http://127.0.0.1:" + port, admin: "127.0.0.1:" + admin,
			log: &lockedBuffer{}, exited: make(chan struct{}), storeURL: storeURL, tokens: tokens}
		n.cmd = exec.Command(bin, "run", "--config", config, "--adapter", "caddyfile")
		n.cmd.Env = env
		n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = n.cmd.Wait(); close(n.exited) }()
		t.Cleanup(n.stop)
		if waitForPort(t, "127.0.0.1:"+port, n.exited) && waitForPort(t, n.admin, n.exited) {
			return n
		}
		n.stop()
		if attempt < portAttempts && strings.Contains(n.log.String(), "address already in use") {
			t.Logf("%s: a port was taken before Caddy bound it; trying others", name)
			continue
		}
		t.Fatalf("%s: caddy run does not listen on %s and %s:\n%s", name, n.base, n.admin, n.log.String())
	}
}

// stop ends the process, gracefully if it can.
func (n *caddyNode) stop() { stopProcess(n.cmd, n.exited) }

// stopProcess ends cmd, whose Wait closes exited: an interrupt, and a kill
// if it has not exited 5 s later.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// login logs user in and returns the token.
func (n *caddyNode) login(user string) string {
	n.t.Helper()
	tok := loginSite{n.t, n.base + "/login"}.token(user, clusterPassword)
	if n.tokens != nil {
		*n.tokens = append(*n.tokens, tok)
	}
	return tok
}

// auth sends token to the protected route and returns the status and the
// challenge. A 5xx fails the test at once.
func (n *caddyNode) auth(token string) (int, string) {
	n.t.Helper()
	resp, body := sendAuth(n.t, "GET", n.base+"/api/x", bearer(token))
	if resp.StatusCode >= 500 {
		n.t.Fatalf("%s: the protected route answered %d: %s\n%s", n.name, resp.StatusCode, body, n.log.String())
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// wantOK checks that token is accepted.
func (n *caddyNode) wantOK(token string) {
	n.t.Helper()
	if status, challenge := n.auth(token); status != http.StatusOK {
		n.t.Fatalf("%s: a valid token got %d (%s)", n.name, status, challenge)
	}
}

// revoked tells whether token is refused as revoked.
func (n *caddyNode) revoked(token string) bool {
	n.t.Helper()
	status, challenge := n.auth(token)
	return status == http.StatusUnauthorized && strings.Contains(challenge, `error_description="token revoked"`)
}

// wantRevoked checks that token is refused as revoked, now.
func (n *caddyNode) wantRevoked(token string) {
	n.t.Helper()
	if status, challenge := n.auth(token); status != http.StatusUnauthorized || !strings.Contains(challenge, `error_description="token revoked"`) {
		n.t.Fatalf("%s: a revoked token got %d (%s)", n.name, status, challenge)
	}
}

// refusesWithin waits until the node refuses every one of tokens as
// revoked, at most d, and returns how long that took.
func (n *caddyNode) refusesWithin(d time.Duration, tokens ...string) time.Duration {
	n.t.Helper()
	return eventually(n.t, d, n.name+" refuses the revoked tokens", func() bool {
		for _, tok := range tokens {
			if !n.revoked(tok) {
				return false
			}
		}
		return true
	})
}

// logout logs out with token as a Bearer token.
func (n *caddyNode) logout(token string) {
	n.t.Helper()
	resp, body := do(n.t, "POST", n.base+"/logout", map[string]string{"Authorization": "Bearer " + token}, "")
	if resp.StatusCode != http.StatusNoContent {
		n.t.Fatalf("%s: logout: %d %s", n.name, resp.StatusCode, body)
	}
}

// revokeByAdmin posts a revocation to the node's admin API.
func (n *caddyNode) revokeByAdmin(body string) {
	n.t.Helper()
	resp, out := do(n.t, "POST", "http://"+n.admin+"/jwt/revoke", map[string]string{"Content-Type": "application/json"}, body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"revoked"`) {
		n.t.Fatalf("%s: POST /jwt/revoke %s: %d %s", n.name, body, resp.StatusCode, out)
	}
}

// storeUp is the node's caddy_jwt_store_up gauge.
func (n *caddyNode) storeUp() float64 {
	n.t.Helper()
	v, ok := scrapeJWTMetrics(n.t, n.base+"/metrics")[storeUpSeries]
	if !ok {
		n.t.Fatalf("%s: no %s in the metrics", n.name, storeUpSeries)
	}
	return v
}

// waitStoreUp waits until the gauge of every node reads want.
func waitStoreUp(t *testing.T, d time.Duration, want float64, nodes ...*caddyNode) time.Duration {
	t.Helper()
	return eventually(t, d, fmt.Sprintf("%s = %v on every instance", storeUpSeries, want), func() bool {
		for _, n := range nodes {
			if n.storeUp() != want {
				return false
			}
		}
		return true
	})
}

// logLines counts the lines the node logged that contain every part.
func (n *caddyNode) logLines(parts ...string) int {
	count := 0
	for _, line := range strings.Split(n.log.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			count++
		}
	}
	return count
}

// The store's log lines of a change of state.
var (
	storeLostLine = []string{`"level":"warn"`, `"msg":"store unreachable`}
	storeBackLine = []string{`"level":"info"`, `"msg":"store reachable"`}
)

// wantStateLines checks how many times the node logged losing the store
// and reaching it.
func (n *caddyNode) wantStateLines(lost, back int) {
	n.t.Helper()
	// Nothing else mentions Redis: no line per retry, from this code or
	// from the Redis client.
	if got := n.logLines(strings.TrimPrefix(n.storeURL, "redis://")); got != lost+back {
		n.t.Errorf("%s logged %d lines about its Redis, want %d:\n%s", n.name, got, lost+back, n.log.String())
	}
	if got := n.logLines(storeLostLine...); got != lost {
		n.t.Errorf("%s logged %d store-lost warnings, want %d:\n%s", n.name, got, lost, n.log.String())
	}
	if got := n.logLines(storeBackLine...); got != back {
		n.t.Errorf("%s logged %d store-reachable lines, want %d:\n%s", n.name, got, back, n.log.String())
	}
}

// jtiOf is a token's jti, read without verifying.
func jtiOf(t *testing.T, token string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		t.Fatalf("token without jti: %v", claims)
	}
	return jti
}

// startCluster runs Redis and two instances, A and B, that share it, and
// waits until both reach it.
func startCluster(t *testing.T, login string) (r *redisServer, a, b *caddyNode, tokens *[]string) {
	t.Helper()
	r = startRedis(t)
	tokens = new([]string)
	a = startNode(t, "A", r.url(), login, tokens)
	b = startNode(t, "B", r.url(), login, tokens)
	waitStoreUp(t, 5*time.Second, 1, a, b)
	return r, a, b, tokens
}

// propagation is how soon a revocation on one instance must hold on the
// others (SPEC §9).
const propagation = time.Second

func TestClusterSharesTokensAndRevocations(t *testing.T) {
	r, a, b, tokens := startCluster(t, "jwt_login /login")

	t.Run("a token from A works on B", func(t *testing.T) {
		a.t, b.t = t, t
		b.wantOK(a.login("alice"))
		a.wantOK(b.login("bob"))
	})

	t.Run("logout on B refuses the token on A within 1 s", func(t *testing.T) {
		a.t, b.t = t, t
		tok, other := a.login("alice"), a.login("alice")
		a.wantOK(tok) // now in A's verified-token cache
		b.logout(tok)
		took := a.refusesWithin(propagation, tok)
		t.Logf("A refused the token %v after the logout on B", took)
		b.wantRevoked(tok)
		a.wantOK(other) // only the token logged out
	})

	t.Run("admin revoke of a user on A refuses the user's tokens on B; a new login works", func(t *testing.T) {
		a.t, b.t = t, t
		fromA, fromB, bob := a.login("alice"), b.login("alice"), b.login("bob")
		for _, tok := range []string{fromA, fromB, bob} {
			b.wantOK(tok)
		}
		a.revokeByAdmin(`{"backend":"api","user":"alice"}`)
		took := b.refusesWithin(propagation, fromA, fromB)
		t.Logf("B refused alice's tokens %v after the revocation on A", took)
		a.wantRevoked(fromB)
		b.wantOK(bob)
		// A login after the revocation, on either instance, works on both.
		for _, n := range []*caddyNode{a, b} {
			fresh := n.login("alice")
			a.wantOK(fresh)
			b.wantOK(fresh)
		}
	})

	t.Run("caddy jwt revoke on A refuses on B", func(t *testing.T) {
		a.t, b.t = t, t
		bob, alice := b.login("bob"), b.login("alice")
		b.wantOK(bob)
		b.wantOK(alice)
		for _, args := range [][]string{{"--user", "bob"}, {"--jti", jtiOf(t, alice)}} {
			cmd := exec.Command(caddyBinary(t), append([]string{"jwt", "revoke", "--backend", "api", "--address", a.admin}, args...)...)
			cmd.Env = caddyEnv(t)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"revoked"`) {
				t.Fatalf("caddy jwt revoke %v: %v\n%s", args, err, out)
			}
		}
		b.refusesWithin(propagation, bob, alice)
		fresh := b.login("bob")
		a.wantOK(fresh)
		b.wantOK(fresh)
	})

	t.Run("every key in Redis is prefixed, expires, and holds no token", func(t *testing.T) {
		a.t, b.t = t, t
		// Failed logins leave the shared counts of the login limits.
		for _, n := range []*caddyNode{a, b} {
			loginSite{t, n.base + "/login"}.failLogins("alice", 1, nil)
		}
		checkRedisKeys(t, r, *tokens, "revoked:jti:", "revoked:user:", ":limit:")
	})
}

// checkRedisKeys scans every key of r: each must start with caddy-jwt:,
// have an expiry, and hold no part of a token that could authenticate (a
// token's signature). Each of kinds must be in some key.
func checkRedisKeys(t *testing.T, r *redisServer, tokens []string, kinds ...string) {
	t.Helper()
	if len(tokens) == 0 {
		t.Fatal("no tokens to look for")
	}
	var secrets []string
	for _, tok := range tokens {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 || parts[2] == "" {
			t.Fatalf("not a signed JWT: %q", tok)
		}
		secrets = append(secrets, parts[2], tok)
	}
	c := r.client()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, key := range keys {
		for _, k := range kinds {
			seen[k] = seen[k] || strings.Contains(key, k)
		}
		if !strings.HasPrefix(key, redisPrefix) {
			t.Errorf("key %q lacks the prefix %s", key, redisPrefix)
		}
		ttl, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < 0 {
			t.Errorf("key %q does not expire (PTTL %v)", key, ttl)
		}
		var values []string
		switch typ := c.Type(ctx, key).Val(); typ {
		case "string":
			values = []string{c.Get(ctx, key).Val()}
		case "zset":
			values = c.ZRange(ctx, key, 0, -1).Val()
		case "hash":
			for k, v := range c.HGetAll(ctx, key).Val() {
				values = append(values, k, v)
			}
		case "set":
			values = c.SMembers(ctx, key).Val()
		case "list":
			values = c.LRange(ctx, key, 0, -1).Val()
		default:
			t.Errorf("key %q has the unexpected type %q", key, typ)
		}
		values = append(values, key)
		for _, v := range values {
			for _, s := range secrets {
				if strings.Contains(v, s) {
					t.Errorf("key %q holds a token or its signature: %q", key, v)
				}
			}
		}
	}
	for _, k := range kinds {
		if !seen[k] {
			t.Errorf("no key with %q among %v", k, keys)
		}
	}
	t.Logf("%d keys checked", len(keys))
}

func TestClusterSharesLoginLimits(t *testing.T) {
	r, a, b, _ := startCluster(t, "jwt_login /login {\n\t\trate_limit 4 1m\n\t}")
	for _, n := range []*caddyNode{a, b} {
		loginSite{t, n.base + "/login"}.failLogins("alice", 2, nil)
	}
	// Each instance saw two failures only; together they saw four.
	for _, n := range []*caddyNode{a, b} {
		resp, body := loginSite{t, n.base + "/login"}.form("alice", clusterPassword, nil)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: the fifth attempt got %d (Retry-After %q): %s; want 429",
				n.name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// The count is one sorted set in Redis, updated atomically.
	rc := r.client()
	keys, err := rc.Keys(context.Background(), redisPrefix+"api:limit:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("limit keys %v (%v), want one", keys, err)
	}
	if n := rc.ZCard(context.Background(), keys[0]).Val(); n != 4 {
		t.Errorf("%s counts %d failures, want 4", keys[0], n)
	}
}

func TestClusterSurvivesLosingRedis(t *testing.T) {
	r, a, b, _ := startCluster(t, "jwt_login /login {\n\t\trate_limit 4 1m\n\t}")
	valid, revokedBefore, revokedDuring := a.login("alice"), a.login("alice"), a.login("bob")
	b.logout(revokedBefore)
	a.refusesWithin(propagation, revokedBefore)
	for _, n := range []*caddyNode{a, b} {
		n.wantOK(valid)
		n.wantOK(revokedDuring)
	}

	// Redis crashes. Until the instances notice, and after, tokens are
	// checked from their local copy: never a 5xx.
	r.kill()
	lost := time.Now()
	eventually(t, 5*time.Second, "both instances find Redis lost", func() bool {
		for _, n := range []*caddyNode{a, b} {
			n.wantOK(valid)
			n.wantRevoked(revokedBefore)
		}
		return a.storeUp() == 0 && b.storeUp() == 0
	})
	t.Logf("%s = 0 on both instances %v after Redis was killed", storeUpSeries, time.Since(lost))

	// Logins go on, with the limits of each instance.
	for _, n := range []*caddyNode{a, b} {
		fresh := n.login("alice")
		a.wantOK(fresh)
		b.wantOK(fresh)
	}
	// A revocation while Redis is away holds here at once.
	a.logout(revokedDuring)
	a.wantRevoked(revokedDuring)

	// Four failures on A: A refuses the next login, B (which saw none,
	// and cannot share counts now) does not.
	loginSite{t, a.base + "/login"}.failLogins("bob", 4, nil)
	if resp, body := (loginSite{t, a.base + "/login"}).form("bob", clusterPassword, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("A after four failures with Redis down: %d %s, want 429", resp.StatusCode, body)
	}
	b.wantOK(b.login("bob"))

	// However long Redis stays away (several retries), each instance
	// logged the loss once.
	time.Sleep(4 * redisRetry)
	for _, n := range []*caddyNode{a, b} {
		n.wantStateLines(1, 1)
	}

	// Redis comes back, empty. No reload: both reconnect, write back what
	// they revoked, and B learns what A revoked while Redis was away.
	r.start()
	back := time.Now()
	waitStoreUp(t, 5*time.Second, 1, a, b)
	t.Logf("%s = 1 on both instances %v after Redis was restarted", storeUpSeries, time.Since(back))
	b.refusesWithin(3*time.Second, revokedDuring)
	t.Logf("B refused the token revoked on A during the outage %v after Redis was restarted", time.Since(back))
	b.wantRevoked(revokedBefore)
	rc := r.client()
	for _, tok := range []string{revokedBefore, revokedDuring} {
		key := redisPrefix + "api:revoked:jti:" + jtiOf(t, tok)
		eventually(t, 3*time.Second, "the revocation written back to Redis", func() bool {
			return rc.Exists(context.Background(), key).Val() == 1
		})
	}
	for _, n := range []*caddyNode{a, b} {
		n.wantStateLines(1, 2)
		n.wantOK(valid)
	}

	// A new revocation reaches both again.
	b.logout(valid)
	a.refusesWithin(propagation, valid)
}

func TestClusterStartsWithRedisDown(t *testing.T) {
	r := newRedis(t) // not started
	a := startNode(t, "A", r.url(), "jwt_login /login", nil)
	b := startNode(t, "B", r.url(), "jwt_login /login", nil)

	// Both run: logins and token checks work, the gauge says 0, and each
	// logged the missing Redis once, however often it retried.
	tok := a.login("alice")
	b.wantOK(tok)
	waitStoreUp(t, time.Second, 0, a, b)
	time.Sleep(4 * redisRetry)
	for _, n := range []*caddyNode{a, b} {
		n.wantStateLines(1, 0)
	}

	// Redis comes up: both join without a reload, and share revocations.
	r.start()
	waitStoreUp(t, 5*time.Second, 1, a, b)
	for _, n := range []*caddyNode{a, b} {
		n.wantStateLines(1, 1)
	}
	a.logout(tok)
	b.refusesWithin(propagation, tok)
	other := b.login("bob")
	a.revokeByAdmin(`{"backend":"api","user":"bob"}`)
	b.refusesWithin(propagation, other)
}
