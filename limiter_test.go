package caddyjwt

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// The limiter takes the time from its caller, so these tests run on a clock
// of their own: limiterEpoch plus whatever offset a step names.
var limiterEpoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func limiterTime(offset time.Duration) time.Time { return limiterEpoch.Add(offset) }

func TestLimiterSlidingWindow(t *testing.T) {
	// One script per behaviour: each step is an attempt at an offset from
	// limiterEpoch, whether it turns out to be a failed login, and the wait
	// the limiter must answer (0: let through).
	type step struct {
		at     time.Duration
		failed bool
		wait   time.Duration
	}
	const s = time.Second
	tests := []struct {
		name   string
		max    int
		window time.Duration
		steps  []step
	}{
		{"max failures are let through, the next attempt waits for the oldest to leave", 3, time.Minute, []step{
			{0, true, 0},
			{10 * s, true, 0},
			{20 * s, true, 0},
			{30 * s, false, 30 * s},
			{59 * s, false, 1 * s},
		}},
		{"once the oldest failure leaves the window one more attempt is allowed", 3, time.Minute, []step{
			{0, true, 0},
			{10 * s, true, 0},
			{20 * s, true, 0},
			{60 * s, true, 0}, // the failure at 0 has just left
			// Now 10s, 20s and 60s count: the oldest leaves at 70s.
			{61 * s, false, 9 * s},
			{69*s + 999*time.Millisecond, false, time.Millisecond},
			{70 * s, true, 0},
		}},
		{"refused attempts are not counted and do not extend the wait", 2, time.Minute, []step{
			{0, true, 0},
			{1 * s, true, 0},
			{2 * s, false, 58 * s},
			{30 * s, false, 30 * s},
			{59 * s, false, 1 * s},
			{60 * s, true, 0},
			{61 * s, true, 0},
			{62 * s, false, 58 * s},
		}},
		{"successful logins are not counted", 2, time.Minute, []step{
			{0, true, 0},
			{1 * s, false, 0},
			{2 * s, false, 0},
			{3 * s, false, 0},
			{4 * s, true, 0},
			{5 * s, false, 55 * s},
		}},
		{"failures spread wider than the window never limit", 2, 10 * s, []step{
			{0, true, 0},
			{10 * s, true, 0},
			{20 * s, true, 0},
			{30 * s, true, 0},
			{35 * s, true, 0},
			{36 * s, false, 4 * s},
		}},
		{"a limit of one refuses right after a failure", 1, 5 * time.Minute, []step{
			{0, true, 0},
			{1 * s, false, 299 * s},
			{300 * s, false, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.max, tt.window)
			for i, st := range tt.steps {
				wait := l.attempt("192.0.2.1", limiterTime(st.at))
				if wait != st.wait {
					t.Fatalf("step %d (at +%s): wait %s, want %s", i, st.at, wait, st.wait)
				}
				if wait == 0 && !st.failed {
					l.undo("192.0.2.1", limiterTime(st.at))
				}
			}
		})
	}
}

func TestLimiterCountsEachClientApart(t *testing.T) {
	l := newLimiter(2, time.Minute)
	for _, ip := range []string{"192.0.2.1", "192.0.2.1"} {
		if w := l.attempt(ip, limiterEpoch); w != 0 {
			t.Fatalf("failure of %s refused: %s", ip, w)
		}
	}
	if w := l.attempt("192.0.2.1", limiterEpoch); w != time.Minute {
		t.Fatalf("192.0.2.1 after 2 failures: wait %s, want 1m", w)
	}
	for _, client := range []string{"192.0.2.2", "2001:db8::/64", "2001:db8:0:1::/64"} {
		if w := l.attempt(client, limiterEpoch); w != 0 {
			t.Errorf("%s is limited by another client's failures: wait %s", client, w)
		}
	}
}

func TestLimiterUndoForgetsIPsWithoutFailures(t *testing.T) {
	l := newLimiter(3, time.Minute)
	l.attempt("192.0.2.1", limiterEpoch)
	l.undo("192.0.2.1", limiterEpoch)
	if n := l.tracked(); n != 0 {
		t.Fatalf("a successful login left %d IPs tracked, want 0", n)
	}
	// Undoing what was never counted, or was evicted, is harmless.
	l.undo("192.0.2.9", limiterEpoch)
	l.attempt("192.0.2.1", limiterTime(time.Second))
	l.undo("192.0.2.1", limiterEpoch)
	if n := l.tracked(); n != 1 {
		t.Fatalf("undo of another time took back a failure: %d IPs tracked, want 1", n)
	}
}

func TestLimiterTracksAtMost100000IPsOldestFirst(t *testing.T) {
	if maxTrackedIPs != 100_000 {
		t.Fatalf("maxTrackedIPs = %d, want 100000", maxTrackedIPs)
	}
	l := newLimiter(1, time.Hour)
	ip := func(i int) string {
		return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	for i := 0; i <= maxTrackedIPs; i++ { // 100,001 IPs
		if w := l.attempt(ip(i), limiterTime(time.Duration(i)*time.Millisecond)); w != 0 {
			t.Fatalf("first failure of IP %d refused", i)
		}
	}
	if n := l.tracked(); n != maxTrackedIPs {
		t.Fatalf("tracking %d IPs, want %d", n, maxTrackedIPs)
	}
	now := limiterTime(maxTrackedIPs * time.Millisecond)
	if w := l.attempt(ip(0), now); w != 0 {
		t.Errorf("the first IP is still remembered (wait %s); it should have been evicted", w)
	}
	// Remembering the first IP again evicted the next oldest, the second.
	if w := l.attempt(ip(1), now); w != 0 {
		t.Errorf("the second IP is still remembered (wait %s)", w)
	}
	// The newest are still limited.
	if w := l.attempt(ip(maxTrackedIPs), now); w <= 0 {
		t.Errorf("the newest IP was forgotten")
	}
	if n := l.tracked(); n != maxTrackedIPs {
		t.Errorf("tracking %d IPs, want %d", n, maxTrackedIPs)
	}
}

func TestLimiterEvictsTheLeastRecentlyAttemptedIP(t *testing.T) {
	l := newLimiter(5, time.Hour)
	l.capacity = 3
	l.attempt("a", limiterTime(0))
	l.attempt("b", limiterTime(1))
	l.attempt("c", limiterTime(2))
	l.attempt("a", limiterTime(3)) // a is now the most recent
	l.attempt("d", limiterTime(4)) // evicts b
	for ip, want := range map[string]int{"a": 2, "b": 0, "c": 1, "d": 1} {
		got := 0
		if el, ok := l.entries[ip]; ok {
			got = len(el.Value.(*limitEntry).fails)
		}
		if got != want {
			t.Errorf("%s: %d failures remembered, want %d", ip, got, want)
		}
	}
}

func TestLimiterConcurrentAttemptsNeverExceedTheLimit(t *testing.T) {
	const limit, goroutines = 5, 64
	l := newLimiter(limit, time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Out-of-order times, as concurrent requests take them.
			if l.attempt("192.0.2.1", limiterTime(time.Duration(goroutines-i)*time.Millisecond)) == 0 {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if allowed != limit {
		t.Fatalf("%d of %d concurrent attempts let through, want %d", allowed, goroutines, limit)
	}
	fails := l.entries["192.0.2.1"].Value.(*limitEntry).fails
	for i := 1; i < len(fails); i++ {
		if fails[i].Before(fails[i-1]) {
			t.Fatalf("failure times out of order: %v", fails)
		}
	}
}

func BenchmarkLimiterAttempt(b *testing.B) {
	l := newLimiter(10, time.Minute)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now := limiterTime(time.Duration(i))
		l.attempt("192.0.2.1", now)
		l.undo("192.0.2.1", now)
	}
}

func TestClientKeyCountsIPv6ByItsSlash64(t *testing.T) {
	tests := []struct {
		name, ip, want string
	}{
		{"an IPv4 address counts on its own", "192.0.2.1", "192.0.2.1"},
		{"the next IPv4 address is another client", "192.0.2.2", "192.0.2.2"},
		{"an IPv6 address counts by its /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"the first address of a /64 is the same client", "2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"the last address of a /64 is the same client", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"the next /64 is another client", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"an IPv6 address in another notation is the same client", "2001:0DB8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::/64"},
		{"IPv6 loopback counts by its /64", "::1", "::/64"},
		{"an IPv4-mapped IPv6 address counts as its IPv4 address", "::ffff:192.0.2.1", "192.0.2.1"},
		{"an IPv4-mapped IPv6 address in hex counts as its IPv4 address", "::ffff:c000:202", "192.0.2.2"},
		{"a zone is ignored", "fe80::1%eth0", "fe80::/64"},
		{"a link-local address of another zone is the same client", "fe80::2%eth1", "fe80::/64"},
		{"an IPv4-mapped address with a zone counts as its IPv4 address", "::ffff:192.0.2.1%eth0", "192.0.2.1"},
		{"what is not an IP address is its own key", "unix-socket", "unix-socket"},
		{"an IPv4 address with a zone is not an IP address", "192.0.2.1%eth0", "192.0.2.1%eth0"},
		{"an empty client IP stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientKey(tt.ip); got != tt.want {
				t.Errorf("clientKey(%q) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}

// tryReloadCaddy loads a new config into the Caddy that startCaddy runs at
// base, as `caddy reload --force` does: the new config is provisioned while
// the old one still serves, and then replaces it. A config that fails
// leaves the old one running, and its error is returned.
func tryReloadCaddy(t testing.TB, base, globals, site string) error {
	t.Helper()
	cfg, err := adapt(caddyfileFor(strings.TrimPrefix(base, "http://127.0.0.1:"), globals, site))
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v", err)
	}
	err = caddy.Load(cfg, true)
	// The old config's server closes its connections.
	client.CloseIdleConnections()
	return err
}

// probeClient opens a connection of its own for every request.
var probeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// mustReload reloads Caddy and waits until only the new config serves: its
// site must answer GET /version with version. On Linux each config listens
// on a socket of its own (SO_REUSEPORT), and the old one is closed in the
// background after the reload, dropping the connections the kernel gave it
// meanwhile; once several new connections in a row reach the new config,
// the old socket is gone.
func mustReload(t testing.TB, base, globals, site, version string) {
	t.Helper()
	if err := tryReloadCaddy(t, base, globals, site); err != nil {
		t.Fatalf("reload: %v", err)
	}
	var last string
	for ok, deadline := 0, time.Now().Add(10*time.Second); ok < 8; {
		if time.Now().After(deadline) {
			t.Fatalf("after the reload, /version does not keep answering %q; last: %s", version, last)
		}
		resp, err := probeClient.Get(base + "/version")
		if err != nil {
			last, ok = err.Error(), 0
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != version {
			last, ok = fmt.Sprintf("%d %q %v", resp.StatusCode, body, err), 0
			time.Sleep(time.Millisecond)
			continue
		}
		ok++
	}
}

// limiterGlobals declares two backends that can log alice in: api and other.
func limiterGlobals(t testing.TB) string {
	hash := bcryptHashForTest(t, "alice-pw")
	return `
	jwt {
		backend api {
			secret ` + testSecret + `
			user alice ` + hash + `
		}
		backend other {
			secret ` + testSecret + `
			user alice ` + hash + `
		}
	}`
}

// failLogins sends n failed logins to url, each of which must be let
// through to the password check (400).
func failLogins(t testing.TB, url string, n int) {
	t.Helper()
	site := loginSite{t, url}
	for i := 1; i <= n; i++ {
		if resp, body := site.form("alice", "wrong", nil); resp.StatusCode != 400 {
			t.Fatalf("failure %d at %s: status %d, want 400: %s", i, url, resp.StatusCode, body)
		}
	}
}

// loginRoute is a jwt_login line for a site body: at path, for backend,
// with rate_limit limit ("" for the default).
func loginRoute(path, backend, limit string) string {
	if limit == "" {
		return "\n\tjwt_login " + path + " " + backend
	}
	return "\n\tjwt_login " + path + " " + backend + " {\n\t\trate_limit " + limit + "\n\t}"
}

func TestLimiterAcrossReloads(t *testing.T) {
	globals := limiterGlobals(t)
	tests := []struct {
		name   string
		before string // the login routes before the reload
		path   string // where failures reach the limit, after fails of them
		fails  int
		after  string // the login routes after it; a login is tried at /login
		kept   bool   // whether the client is still refused after it
	}{
		{"an unchanged config keeps the counts",
			loginRoute("/login", "api", "3 1m"), "/login", 3,
			loginRoute("/login", "api", "3 1m"), true},
		{"the default limit keeps the counts",
			loginRoute("/login", "api", ""), "/login", 10,
			loginRoute("/login", "api", ""), true},
		{"the default limit written out keeps the counts",
			loginRoute("/login", "api", ""), "/login", 10,
			loginRoute("/login", "api", "10 5m"), true},
		{"a login moved to another path keeps the counts",
			loginRoute("/signin", "api", "3 1m"), "/signin", 3,
			loginRoute("/login", "api", "3 1m"), true},
		{"a changed count starts fresh",
			loginRoute("/login", "api", "3 1m"), "/login", 3,
			loginRoute("/login", "api", "4 1m"), false},
		{"a changed window starts fresh",
			loginRoute("/login", "api", "3 1m"), "/login", 3,
			loginRoute("/login", "api", "3 2m"), false},
		{"another backend has counts of its own",
			loginRoute("/login", "api", "3 1m"), "/login", 3,
			loginRoute("/login", "other", "3 1m"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startCaddy(t, globals, tt.before+"\n\trespond /version 1")
			failLogins(t, base+tt.path, tt.fails)
			resp, body := loginSite{t, base + tt.path}.form("alice", "alice-pw", nil)
			wantRateLimited(t, resp, body, 300)

			mustReload(t, base, globals, tt.after+"\n\trespond /version 2", "2")
			resp, body = loginSite{t, base + "/login"}.form("alice", "alice-pw", nil)
			if tt.kept {
				wantRateLimited(t, resp, body, 300)
			} else if resp.StatusCode != 200 {
				t.Fatalf("after the reload: status %d, want 200 (fresh counts): %s", resp.StatusCode, body)
			}
		})
	}
}

func TestLimiterSharedByTheLoginsOfOneBackend(t *testing.T) {
	globals := limiterGlobals(t)
	base := startCaddy(t, globals,
		loginRoute("/a", "api", "2 1m")+loginRoute("/b", "api", "2 1m")+
			loginRoute("/c", "api", "3 1m")+loginRoute("/d", "other", "2 1m"))
	if refs, _ := limiters.References(limiterKey{"api", "fails", 2, time.Minute}); refs != 2 {
		t.Errorf("the two logins of api with rate_limit 2 1m hold %d references to a limiter, want 2 to one", refs)
	}
	// One failure at each of the two routes with the same limit.
	failLogins(t, base+"/a", 1)
	failLogins(t, base+"/b", 1)
	for _, path := range []string{"/a", "/b"} {
		resp, body := loginSite{t, base + path}.form("alice", "alice-pw", nil)
		wantRateLimited(t, resp, body, 60)
	}
	// Another limit, or another backend, counts apart.
	for _, path := range []string{"/c", "/d"} {
		if resp, body := (loginSite{t, base + path}).form("alice", "alice-pw", nil); resp.StatusCode != 200 {
			t.Errorf("%s: status %d, want 200: %s", path, resp.StatusCode, body)
		}
	}
}

// pooledLimiters counts the limiters of backend in the pool.
func pooledLimiters(backend string) int {
	n := 0
	limiters.Range(func(key, _ any) bool {
		if key.(limiterKey).backend == backend {
			n++
		}
		return true
	})
	return n
}

func TestLimiterIsReleasedWhenNoConfigUsesIt(t *testing.T) {
	// A backend name of its own, so that nothing else in the process
	// holds its limiters.
	hash := bcryptHashForTest(t, "alice-pw")
	globals := `
	jwt {
		backend pooled {
			secret ` + testSecret + `
			user alice ` + hash + `
		}
	}`
	three := limiterKey{"pooled", "fails", 3, time.Minute}
	four := limiterKey{"pooled", "fails", 4, time.Minute}
	wantPool := func(when string, refs map[limiterKey]int) {
		t.Helper()
		for key, want := range refs {
			got, ok := limiters.References(key)
			if want == 0 && ok {
				t.Fatalf("%s: the limiter %+v is still pooled with %d references", when, key, got)
			}
			if want > 0 && got != want {
				t.Fatalf("%s: the limiter %+v has %d references, want %d", when, key, got, want)
			}
		}
		n := 0
		for _, want := range refs {
			if want > 0 {
				n++
			}
		}
		// Each limit pools its four limiters (loginLimits).
		if got := pooledLimiters("pooled"); got != 4*n {
			t.Fatalf("%s: %d limiters of the backend pooled, want %d", when, got, 4*n)
		}
	}

	base := startCaddy(t, globals, loginRoute("/login", "pooled", "3 1m")+"\n\trespond /version 0")
	wantPool("after the start", map[limiterKey]int{three: 1, four: 0})
	failLogins(t, base+"/login", 3)

	for i := 1; i <= 30; i++ {
		mustReload(t, base, globals, loginRoute("/login", "pooled", "3 1m")+"\n\trespond /version "+strconv.Itoa(i), strconv.Itoa(i))
	}
	wantPool("after 30 reloads", map[limiterKey]int{three: 1, four: 0})
	resp, body := loginSite{t, base + "/login"}.form("alice", "alice-pw", nil)
	wantRateLimited(t, resp, body, 60)

	// A config that fails to provision, after a jwt_login of it did,
	// gives that login's reference back and leaves the counts alone.
	// (Routes are provisioned in order: /login, /four, then /x fails.)
	t.Setenv("CADDYJWT_TEST_MISSING_PAGE", filepath.Join(t.TempDir(), "missing.html"))
	broken := loginRoute("/login", "pooled", "3 1m") + loginRoute("/four", "pooled", "4 1m") +
		"\n\tjwt_login /x pooled {\n\t\tpage {env.CADDYJWT_TEST_MISSING_PAGE}\n\t}"
	if err := tryReloadCaddy(t, base, globals, broken); err == nil {
		t.Fatal("a config with a missing login page loaded")
	}
	wantPool("after a failed reload", map[limiterKey]int{three: 1, four: 0})
	resp, body = loginSite{t, base + "/login"}.form("alice", "alice-pw", nil)
	wantRateLimited(t, resp, body, 60)

	// Switching limits back and forth keeps one limiter per limit in use.
	for i := 1; i <= 10; i++ {
		limit := "4 1m"
		if i%2 == 0 {
			limit = "3 1m"
		}
		mustReload(t, base, globals, loginRoute("/login", "pooled", limit)+"\n\trespond /version v"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	wantPool("after switching limits", map[limiterKey]int{three: 1, four: 0})
	// The limit of 3 was not in use while the limit of 4 was: fresh counts.
	if resp, body := (loginSite{t, base + "/login"}).form("alice", "alice-pw", nil); resp.StatusCode != 200 {
		t.Fatalf("after the limit of 3 was dropped and loaded again: status %d, want 200: %s", resp.StatusCode, body)
	}

	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	wantPool("after the config is unloaded", map[limiterKey]int{three: 0, four: 0})
}

func TestLimiterCountsIPv6ClientsPerSlash64(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	base := startCaddy(t, `
	log {
		output file `+logFile+`
		format json
	}
	servers {
		trusted_proxies static 127.0.0.1/32
	}`+limiterGlobals(t), loginRoute("/login", "api", "2 1m"))
	site := loginSite{t, base + "/login"}
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

	steps := []struct {
		name   string
		ip     string
		pw     string
		status int
	}{
		{"an IPv6 client fails", "2001:db8:1:2::1", "wrong", 400},
		{"another address of its /64 fails", "2001:db8:1:2::2", "wrong", 400},
		{"a third address of the /64 is refused", "2001:db8:1:2:ffff:ffff:ffff:ffff", "alice-pw", 429},
		{"the next /64 logs in", "2001:db8:1:3::1", "alice-pw", 200},
		{"an IPv4 client fails", "192.0.2.1", "wrong", 400},
		{"it fails again", "192.0.2.1", "wrong", 400},
		{"it is refused", "192.0.2.1", "alice-pw", 429},
		{"its IPv4-mapped IPv6 address is refused too", "::ffff:192.0.2.1", "alice-pw", 429},
		{"the next IPv4 address logs in", "192.0.2.2", "alice-pw", 200},
	}
	for _, st := range steps {
		resp, body := site.form("alice", st.pw, from(st.ip))
		if resp.StatusCode != st.status {
			t.Fatalf("%s (%s): status %d, want %d: %s", st.name, st.ip, resp.StatusCode, st.status, body)
		}
		if st.status == http.StatusTooManyRequests {
			wantRateLimited(t, resp, body, 60)
		}
	}

	// The log names each client by its own IP, not by what it is
	// counted under.
	raw, lines := readLogLines(t, logFile, "login failed", 7)
	var logged []string
	for _, l := range lines {
		if l["msg"] == "login failed" {
			ip, _ := l["client_ip"].(string)
			logged = append(logged, ip)
		}
	}
	want := []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff",
		"192.0.2.1", "192.0.2.1", "192.0.2.1", "::ffff:192.0.2.1"}
	if strings.Join(logged, " ") != strings.Join(want, " ") {
		t.Errorf("client_ip of the 'login failed' lines: %q, want %q; log:\n%s", logged, want, raw)
	}
}

// TestLimiterTellsARefusedClientThatAsksAgainAtOnce: the first refusal is
// answered at once; one that follows within the delay (counted from when
// the previous delayed answer went out) is not, as a flood's would not be.
func TestLimiterTellsARefusedClientThatAsksAgainAtOnce(t *testing.T) {
	const delay = time.Second
	l := newLimiter(1, time.Hour)
	if l.refused("192.0.2.1", limiterEpoch, delay) {
		t.Fatal("a client the limiter does not know counts as refused before")
	}
	l.attempt("192.0.2.1", limiterEpoch)
	for _, step := range []struct {
		at    time.Duration
		again bool
	}{
		{time.Minute, false},                                 // the first 429
		{time.Minute + 10*time.Millisecond, true},            // straight back: answered at +1.01 s
		{time.Minute + delay + 20*time.Millisecond, true},    // straight back after that answer
		{time.Minute + 3*delay + 20*time.Millisecond, false}, // waited a second after it
		{time.Minute + 3*delay + 500*time.Millisecond, true}, // and again at once
		{time.Minute + 10*delay, false},                      // waited
	} {
		if got := l.refused("192.0.2.1", limiterTime(step.at), delay); got != step.again {
			t.Errorf("refused at +%s: again = %v, want %v", step.at, got, step.again)
		}
	}
	if l.refused("192.0.2.9", limiterTime(time.Minute), delay) {
		t.Error("another client's refusals count for this one")
	}
}
