package caddyjwt

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// This file proves that the verified-token cache (cache.go) never changes
// an accept/reject decision: each test compares what Verify decides with
// what the uncached check (verify) decides for the same token at the same
// instant, and checks whether the answer came from the cache.

// cacheEpoch is where the backends' fake clocks start: now, so that the
// tokens' times are believable, rounded to a second as exp is.
var cacheEpoch = time.Now().Truncate(time.Second)

// clockedBackend provisions the backend "api" from its JSON and gives it a
// fake clock that starts at cacheEpoch.
func clockedBackend(t testing.TB, backendJSON string) (*Backend, *fakeClock) {
	t.Helper()
	b := provisionedBackend(t, backendJSON)
	clock := new(fakeClock)
	clock.nanos.Store(cacheEpoch.UnixNano())
	b.now = clock.now
	return b, clock
}

const hmacBackendJSON = `{"secrets":[{"value":"` + testSecret + `"}]}`

// verdict is a decision as text: "ok <user>" or the reason of the refusal.
func verdict(id *identity, err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok " + id.userID
}

// cachedIdentity is the identity the cache holds for raw, or nil.
func cachedIdentity(b *Backend, raw string) *identity {
	var keys *jwkSnapshot
	if b.keys.remote != nil {
		keys = b.keys.remote.current.Load()
	}
	return b.cache.get(b.cache.slot(raw), raw, keys)
}

// verifyCached verifies raw on its first sight and its second, so that a
// good token is cached (tokenCache.offer), and gives the second answer.
func verifyCached(b *Backend, raw string) (*identity, error) {
	_, _ = b.Verify(raw)
	return b.Verify(raw)
}

// at is a NumericDate claim d after cacheEpoch.
func at(d time.Duration) int64 { return cacheEpoch.Add(d).Unix() }

func TestCachedTokenIsCheckedAgainstTheClockOnEveryRequest(t *testing.T) {
	type step struct {
		advance time.Duration // moves the clock before the request
		want    string
	}
	// The default leeway is 30 s, on exp, nbf and iat alike.
	tests := []struct {
		name   string
		claims map[string]any
		steps  []step
	}{
		{"an expired cached token is rejected once exp plus the leeway has passed",
			map[string]any{"sub": "alice", "iat": at(0), "exp": at(time.Minute)},
			[]step{{0, "ok alice"}, {89 * time.Second, "ok alice"}, {999 * time.Millisecond, "ok alice"}, {time.Millisecond, "token expired"}, {time.Hour, "token expired"}}},
		{"a token that expires within the leeway is accepted until then",
			map[string]any{"sub": "alice", "exp": at(-29 * time.Second)},
			[]step{{0, "ok alice"}, {time.Second, "token expired"}}},
		{"nbf in the future is still checked for a cached token when the clock steps back",
			map[string]any{"sub": "alice", "nbf": at(20 * time.Second), "exp": at(time.Hour)},
			[]step{{0, "ok alice"}, {-10 * time.Second, "ok alice"}, {-time.Second, "token not valid yet"}, {11 * time.Second, "ok alice"}}},
		{"iat in the future is still checked for a cached token when the clock steps back",
			map[string]any{"sub": "alice", "iat": at(30 * time.Second), "exp": at(time.Hour)},
			[]step{{0, "ok alice"}, {-time.Nanosecond, "token issued in the future"}, {time.Nanosecond, "ok alice"}}},
		{"a fractional exp is read as golang-jwt reads it, to the second",
			map[string]any{"sub": "alice", "exp": float64(at(0)) + 0.9},
			[]step{{0, "ok alice"}, {30*time.Second - time.Nanosecond, "ok alice"}, {time.Nanosecond, "token expired"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clock := clockedBackend(t, hmacBackendJSON)
			raw := hs256(t, testSecret, tt.claims)
			// The token's first sight, which does not cache it; the
			// steps are from its second on.
			if _, err := b.Verify(raw); err != nil {
				t.Fatal(err)
			}
			var first *identity
			for i, s := range tt.steps {
				clock.advance(s.advance)
				before := cachedIdentity(b, raw)
				hits, misses := promtest.ToFloat64(b.cache.hits), promtest.ToFloat64(b.cache.misses)
				id, err := b.Verify(raw)
				// A lookup is a hit when the cache answered it, a miss
				// when the token was verified again.
				hits, misses = promtest.ToFloat64(b.cache.hits)-hits, promtest.ToFloat64(b.cache.misses)-misses
				wantHits, wantMisses := 0.0, 1.0
				if err == nil && id == before {
					wantHits, wantMisses = 1, 0
				}
				if hits != wantHits || misses != wantMisses {
					t.Fatalf("step %d: %v hits and %v misses, want %v and %v", i, hits, misses, wantHits, wantMisses)
				}
				got := verdict(id, err)
				if want := verdict(b.verify(raw)); got != want {
					t.Fatalf("step %d: cached %q, uncached %q", i, got, want)
				}
				if got != s.want {
					t.Fatalf("step %d (clock %+v): %q, want %q", i, time.Unix(0, clock.nanos.Load()).Sub(cacheEpoch), got, s.want)
				}
				switch {
				case err != nil && cachedIdentity(b, raw) != nil:
					t.Fatalf("step %d: a refused token stayed in the cache", i)
				case err == nil && cachedIdentity(b, raw) != id:
					t.Fatalf("step %d: an accepted token is not cached", i)
				case err == nil && before != nil && id != before:
					t.Fatalf("step %d: a cached token was verified again", i)
				}
				if first == nil {
					first = id
				}
			}
			if first == nil {
				t.Fatal("the token was never accepted")
			}
		})
	}
}

func TestChangedTokenIsNeverServedFromTheCache(t *testing.T) {
	b, _ := clockedBackend(t, hmacBackendJSON)
	uncached, _ := clockedBackend(t, hmacBackendJSON)
	raw := hs256(t, testSecret, validClaims("alice", map[string]any{"role": "user"}))
	good, err := verifyCached(b, raw)
	if err != nil {
		t.Fatal(err)
	}

	variants := map[string]string{
		"one character more":  raw + "A",
		"one character less":  raw[:len(raw)-1],
		"a trailing dot":      raw + ".",
		"a leading space":     " " + raw,
		"the payload doubled": raw[:strings.LastIndexByte(raw, '.')] + strings.Repeat("A", 4) + raw[strings.LastIndexByte(raw, '.'):],
	}
	for i := range raw {
		variants[fmt.Sprintf("character %d changed", i)] = flipChar(raw, i)
	}
	accepted := 0
	for name, changed := range variants {
		if changed == raw {
			t.Fatalf("%s: not a change", name)
		}
		if cachedIdentity(b, changed) != nil {
			t.Fatalf("%s: found in the cache", name)
		}
		id, err := b.Verify(changed)
		if got, want := verdict(id, err), verdict(uncached.Verify(changed)); got != want {
			t.Errorf("%s: %q with the cache, %q without", name, got, want)
		}
		if id == good {
			t.Errorf("%s: answered with the original token's cached identity", name)
		}
		if err == nil {
			// Only the unused low bits of the signature's last
			// character can change without changing the signature;
			// golang-jwt accepts that, with or without the cache.
			accepted++
		}
	}
	if accepted > 1 {
		t.Errorf("%d changed tokens accepted", accepted)
	}
	if id, err := b.Verify(raw); err != nil || id != good {
		t.Fatalf("the original token is no longer served from the cache: %v", err)
	}
}

func TestRefusedTokensAreNotCachedAndCannotEvictGoodOnes(t *testing.T) {
	b, _ := clockedBackend(t, hmacBackendJSON)
	b.cache = newTokenCache(4, defaultCacheBytes)
	raw := hs256(t, testSecret, validClaims("alice", nil))
	good, err := verifyCached(b, raw)
	if err != nil {
		t.Fatal(err)
	}
	refused := []string{
		hs256(t, "another-secret-of-forty-bytes-0123456789", validClaims("mallory", nil)),
		hs256(t, testSecret, validClaims("mallory", map[string]any{"exp": at(-time.Hour)})),
		hs256(t, testSecret, validClaims("", nil)),
		"not.a.token",
	}
	for i := 0; i < 1000; i++ {
		bad := refused[i%len(refused)]
		if i >= len(refused) {
			bad += strings.Repeat("A", i%7) // a new cache key each time
		}
		if _, err := b.Verify(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
	if n := b.cache.len(); n != 1 {
		t.Fatalf("%d cached tokens, want only the good one", n)
	}
	if id, err := b.Verify(raw); err != nil || id != good {
		t.Fatalf("the good token is no longer cached: %v", err)
	}
}

func TestCacheStaysWithinItsBounds(t *testing.T) {
	big := strings.Repeat("x", maxTokenBytes)
	tests := []struct {
		name       string
		maxEntries int
		maxBytes   int
		inserts    int
		tokenBytes int
		// The bound the cache must hold, and how many it should keep at
		// least: evicting far too eagerly would make it useless.
		wantAtMost, wantAtLeast int
	}{
		{"a small cache holds at most its entry bound", 8, defaultCacheBytes, 100, 200, 8, 8},
		{"a cache of several sets holds at most its entry bound", 1_000, defaultCacheBytes, 5_000, 200, 1_000, 990},
		{"the default cache holds at most 100,000 tokens", defaultCacheEntries, defaultCacheBytes, 300_000, 200, 100_000, 99_000},
		{"the default cache holds at most 128 MiB worth of 8 KiB tokens", defaultCacheEntries, defaultCacheBytes, 6_000, maxTokenBytes,
			defaultCacheBytes / entryCost(big), defaultCacheBytes / entryCost(big) * 99 / 100},
		{"a byte bound smaller than one entry holds nothing", 100, 100, 10, 200, 0, 0},
		{"a cache of 0 entries holds nothing", 0, defaultCacheBytes, 10, 200, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTokenCache(tt.maxEntries, tt.maxBytes)
			id := &identity{times: tokenTimes{exp: jwt.NewNumericDate(cacheEpoch.Add(time.Hour))}}
			for i := 0; i < tt.inserts; i++ {
				// Tokens end in their signatures, which differ.
				raw := big[8:tt.tokenBytes] + fmt.Sprintf("%08d", i)
				c.put(c.slot(raw), raw, id, nil)
			}
			n, bytes := 0, 0
			for i := range c.numSets {
				set := c.set(i)
				used := 0
				for way, tag := range set.tags {
					e := set.entries[way]
					switch {
					case tag == 0 && e != (cacheEntry{}):
						t.Fatalf("set %d way %d: an empty way holds %q", i, way, e.raw)
					case tag == 0:
						continue
					case way >= c.ways:
						t.Fatalf("set %d: way %d used; the cache has %d", i, way, c.ways)
					case tag != c.slot(e.raw).tag || set != c.slot(e.raw).set:
						t.Fatalf("set %d way %d: the tag is not the token's", i, way)
					}
					n++
					used++
					bytes += entryCost(e.raw)
				}
				if used != set.used {
					t.Fatalf("set %d: %d ways used, %d counted", i, used, set.used)
				}
			}
			if n != c.len() || int64(n) != c.entries.Load() || int64(bytes) != c.bytes.Load() {
				t.Fatalf("len() = %d, counted %d entries of %d bytes; the totals say %d of %d", c.len(), n, bytes, c.entries.Load(), c.bytes.Load())
			}
			if n > tt.wantAtMost || bytes > tt.maxBytes {
				t.Fatalf("%d entries of %d bytes, want at most %d entries and %d bytes", n, bytes, tt.wantAtMost, tt.maxBytes)
			}
			if n < tt.wantAtLeast {
				t.Errorf("only %d entries kept, want at least %d: the cache evicts far too eagerly", n, tt.wantAtLeast)
			}
		})
	}
}

func TestEvictionPrefersTokensThatExpireFirst(t *testing.T) {
	// One set: every token competes with every other.
	c := newTokenCache(cacheWays, defaultCacheBytes)
	identityUntil := func(d time.Duration) *identity {
		return &identity{times: tokenTimes{exp: jwt.NewNumericDate(cacheEpoch.Add(d))}}
	}
	for i := 0; i < cacheWays-1; i++ {
		raw := fmt.Sprint("fresh", i)
		c.put(c.slot(raw), raw, identityUntil(time.Hour+time.Duration(i)*time.Second), nil)
	}
	c.put(c.slot("expired"), "expired", identityUntil(-time.Hour), nil)
	for i, want := range []string{"expired", "fresh0", "fresh1"} {
		raw := fmt.Sprint("new", i)
		c.put(c.slot(raw), raw, identityUntil(2*time.Hour), nil)
		if c.get(c.slot(want), want, nil) != nil {
			t.Fatalf("insert %d: %s was not the one evicted", i, want)
		}
		if n := c.len(); n != cacheWays {
			t.Fatalf("%d entries, want %d", n, cacheWays)
		}
	}
	if c.get(c.slot("fresh2"), "fresh2", nil) == nil || c.get(c.slot("new0"), "new0", nil) == nil {
		t.Fatal("a token that expires later was evicted")
	}
}

func TestSmallCacheKeepsEveryDecision(t *testing.T) {
	b, _ := clockedBackend(t, hmacBackendJSON)
	b.cache = newTokenCache(8, defaultCacheBytes)
	tokens := make([]string, 40)
	for i := range tokens {
		tokens[i] = hs256(t, testSecret, validClaims(fmt.Sprint("user", i), nil))
	}
	for round := 0; round < 3; round++ {
		for i, raw := range tokens {
			id, err := b.Verify(raw)
			if got, want := verdict(id, err), fmt.Sprint("ok user", i); got != want {
				t.Fatalf("round %d, token %d: %q, want %q", round, i, got, want)
			}
		}
		if n := b.cache.len(); n > 8 {
			t.Fatalf("%d cached tokens, bound 8", n)
		}
	}
}

// TestCacheUnderConcurrentRequests verifies valid, refused and expiring
// tokens from several goroutines at once on a cache small enough to evict
// all the time, while the clock moves and placeholders are read; run with
// -race.
func TestCacheUnderConcurrentRequests(t *testing.T) {
	b, clock := clockedBackend(t, hmacBackendJSON)
	b.cache = newTokenCache(16, defaultCacheBytes)
	type token struct {
		raw, want string
		expires   bool // valid until the clock passes 1 min + leeway
	}
	var tokens []token
	for i := 0; i < 48; i++ {
		user := fmt.Sprint("user", i)
		switch i % 4 {
		case 0, 1:
			tokens = append(tokens, token{raw: hs256(t, testSecret, validClaims(user, map[string]any{"groups": []string{"a", user}})), want: "ok " + user})
		case 2:
			tokens = append(tokens, token{raw: hs256(t, testSecret, map[string]any{"sub": user, "exp": at(time.Minute)}), want: "ok " + user, expires: true})
		case 3:
			tokens = append(tokens, token{raw: hs256(t, "another-secret-of-forty-bytes-0123456789", validClaims(user, nil)), want: "signature invalid"})
		}
	}
	// Each token seen twice, so that the cache starts full (offer).
	for _, tok := range tokens {
		_, _ = verifyCached(b, tok.raw)
	}
	const workers, rounds = 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				// The first worker moves the clock 20 times while the
				// others verify, past every expiring token's lifetime.
				if w == 0 && r%(rounds/20) == 0 {
					clock.advance(5 * time.Second)
				}
				tok := tokens[(w*7+r*5)%len(tokens)]
				late := time.Unix(0, clock.nanos.Load()).After(cacheEpoch.Add(90 * time.Second))
				id, err := b.Verify(tok.raw)
				got := verdict(id, err)
				switch {
				case tok.expires && (got == "token expired" || got == tok.want && !late):
				case got != tok.want:
					errs <- fmt.Errorf("worker %d round %d: %q, want %q", w, r, got, tok.want)
					return
				}
				if err == nil {
					if v, ok := id.replace("http.auth.user.sub"); !ok || v != strings.TrimPrefix(tok.want, "ok ") {
						errs <- fmt.Errorf("placeholder sub = %v", v)
						return
					}
					id.replace("http.auth.user.groups")
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := b.cache.len(); n > 16 {
		t.Fatalf("%d cached tokens, bound 16", n)
	}
	if promtest.ToFloat64(b.cache.hits) == 0 {
		t.Error("no request was served from the cache")
	}
}

// TestCachedTokenCostsAtMostFiveAllocations keeps the allocation diet of
// the hot path: a request whose token is cached costs jwt_auth at most 5
// allocations (BENCHMARKS.md shows the count and times).
func TestCachedTokenCostsAtMostFiveAllocations(t *testing.T) {
	h := benchHandler(t, hmacBackendJSON)
	raw := hs256(t, testSecret, validClaims("alice", nil))
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	// Every request has its own replacer, as Caddy gives it, made here so
	// that its allocations are not counted.
	const runs = 200
	reqs := make([]*http.Request, runs+2)
	for i := range reqs {
		repl := caddy.NewReplacer()
		repl.Map(func(string) (any, bool) { return nil, false })
		r := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		reqs[i] = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	}
	served := 0
	serve := func() {
		if err := h.ServeHTTP(w, reqs[served], next); err != nil {
			t.Fatal(err)
		}
		served++
	}
	serve() // verifies the token and caches it
	if allocs := testing.AllocsPerRun(runs, serve); allocs > 5 {
		t.Fatalf("a cache hit costs %.1f allocations, want at most 5", allocs)
	}
	if id, _ := reqs[served-1].Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).GetString("http.auth.user.id"); id != "alice" {
		t.Fatalf("http.auth.user.id = %q", id)
	}
}

// reloadCaddy loads a new config into the running Caddy on the same
// address, as `caddy reload` does.
func reloadCaddy(t *testing.T, base, globals, site string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := adapt(caddyfileFor(u.Port(), globals, site))
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("reloading: %v", err)
	}
	// The old config's server closes its idle connections, and a new
	// connection can still land on the old listener for a moment (each
	// config has its own on Linux) and be reset: wait until fresh
	// connections are answered several times in a row.
	client.CloseIdleConnections()
	for ok, deadline := 0, time.Now().Add(10*time.Second); ok < 8; {
		resp, err := probeClient.Get(base + "/")
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("after the reload, fresh connections still fail: %v", err)
			}
			ok = 0
			time.Sleep(time.Millisecond)
			continue
		}
		resp.Body.Close()
		ok++
	}
}

// TestConfigReloadEmptiesTheCache: the cache belongs to the provisioned
// backend, so a reload that drops a key drops its tokens' cached
// verifications with it.
func TestConfigReloadEmptiesTheCache(t *testing.T) {
	k := testKeys(t)
	current := keyFile(t, "current.pem", pemPrivate(t, k.p256, "pkcs8"))
	previous := keyFile(t, "previous.pub.pem", pemPublic(t, k.p256Other.Public()))
	const newer = "newer-secret-0123456789-0123456789-abcdef"
	const site = `
	jwt_auth
	respond "{http.auth.user.id}"`
	claims := func(sub string) map[string]any { return validClaims(sub, nil) }
	tests := []struct {
		name          string
		before, after string // the backend's key lines
		rotated, kept string // tokens of the removed key and of a kept one
		reason        string // why the rotated-out token is refused
	}{
		{"a verify_key removed by a reload no longer verifies its cached tokens",
			"sign_key " + current + "\n verify_key " + previous, "sign_key " + current,
			signToken(t, "ES256", k.p256Other, map[string]any{"kid": joseThumbprint(t, k.p256Other.Public())}, claims("old")),
			signToken(t, "ES256", k.p256, map[string]any{"kid": joseThumbprint(t, k.p256.Public())}, claims("new")),
			"unknown key ID"},
		{"a secret removed by a reload no longer verifies its cached tokens",
			"secret " + newer + "\n secret " + testSecret, "secret " + newer,
			hs256(t, testSecret, claims("old")), signToken(t, "HS256", []byte(newer), nil, claims("new")),
			"signature invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			globals := func(keys string) string { return "jwt {\n backend api {\n " + keys + "\n }\n }" }
			base := startCaddy(t, globals(tt.before), site)
			for i := 0; i < 2; i++ {
				for _, tok := range []string{tt.rotated, tt.kept} {
					if resp, body := sendAuth(t, "GET", base+"/", bearer(tok)); resp.StatusCode != 200 {
						t.Fatalf("before the reload: %d %q %s", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
					}
				}
			}
			old := runningJWTApp(t).Backends["api"]
			if cachedIdentity(old, tt.rotated) == nil || cachedIdentity(old, tt.kept) == nil {
				t.Fatal("the tokens were not cached before the reload")
			}

			reloadCaddy(t, base, globals(tt.after), site)
			b := runningJWTApp(t).Backends["api"]
			if b == old || b.cache == old.cache || b.cache.len() != 0 {
				t.Fatalf("after the reload the backend's cache holds %d tokens; want a new, empty one", b.cache.len())
			}
			for i := 0; i < 2; i++ {
				resp, _ := sendAuth(t, "GET", base+"/", bearer(tt.rotated))
				if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != challengeFor("api", "invalid_token", tt.reason) {
					t.Fatalf("token of the removed key after the reload: %d %s", resp.StatusCode, got)
				}
				if resp, body := sendAuth(t, "GET", base+"/", bearer(tt.kept)); resp.StatusCode != 200 || body != "new" {
					t.Fatalf("token of the kept key after the reload: %d %q", resp.StatusCode, body)
				}
			}
		})
	}
}

// TestJWKSCachedTokenFollowsTheKeySet: a cached verification is tied to
// the JWK Set it was made with; once the set is fetched again, the token is
// verified against the new one, so a withdrawn key stops at once.
func TestJWKSCachedTokenFollowsTheKeySet(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, jwkSet(t, sigJWK(k.p256.Public(), "a", "ES256"), sigJWK(k.ed.Public(), "c", "EdDSA")))
	base := startCaddy(t, jwksGlobals(srv.URL+"/jwks", ""), jwksSite)
	clock := jwksClock(t, "idp", nil)
	b := runningJWTApp(t).Backends["idp"]
	tokA := signToken(t, "ES256", k.p256, map[string]any{"kid": "a"}, idpClaims("alice"))
	tokB := signToken(t, "RS256", k.rsa, map[string]any{"kid": "b"}, idpClaims("bob"))
	tokC := signToken(t, "EdDSA", k.ed, map[string]any{"kid": "c"}, idpClaims("carol"))
	want := func(step, tok string, status int, reason string) {
		t.Helper()
		got, challenge := apiStatus(t, base, tok)
		if got != status || (reason != "" && challenge != challengeFor("idp", "invalid_token", reason)) {
			t.Fatalf("%s: %d %s, want %d %s", step, got, challenge, status, reason)
		}
	}
	for i := 0; i < 2; i++ {
		want("key a published", tokA, 200, "")
		want("key c published", tokC, 200, "")
	}
	if cachedIdentity(b, tokA) == nil || cachedIdentity(b, tokC) == nil {
		t.Fatal("the tokens were not cached")
	}

	// The provider withdraws a and adds b; b's first token fetches the set.
	srv.serve(200, jwkSet(t, sigJWK(k.rsa.Public(), "b", "RS256"), sigJWK(k.ed.Public(), "c", "EdDSA")))
	clock.advance(time.Minute)
	want("new key b", tokB, 200, "")
	if cachedIdentity(b, tokA) != nil || cachedIdentity(b, tokC) != nil {
		t.Fatal("cached verifications survived a new key set")
	}
	want("withdrawn key a", tokA, 401, "unknown key ID")
	want("withdrawn key a, again", tokA, 401, "unknown key ID")
	// c is still published: its token is verified against the new set and
	// cached again.
	want("kept key c", tokC, 200, "")
	if cachedIdentity(b, tokC) == nil {
		t.Fatal("the token of the kept key was not cached again")
	}
}

// TestCachedTokenStillMeetsEachHandlersRequire: require is the handler's,
// checked on every request, and the placeholders of a cached token are the
// same as those of its first request.
func TestCachedTokenStillMeetsEachHandlersRequire(t *testing.T) {
	base := startCaddy(t, singleBackend, `
	route /admin/* {
		jwt_auth {
			require role admin
		}
	}
	route /any/* {
		jwt_auth
	}
	respond "{http.auth.user.id} {http.auth.user.role} {http.auth.user.groups} {http.auth.user.level} {http.auth.jwt.backend}"`)
	user := hs256(t, testSecret, validClaims("ursula", map[string]any{"role": "user", "groups": []string{"a", "b"}, "level": 1e21}))
	admin := hs256(t, testSecret, validClaims("ada", map[string]any{"role": "admin", "groups": []string{}, "level": 3}))
	tests := []struct {
		path, token string
		status      int
		body        string
	}{
		{"/any/", user, 200, "ursula user a,b 1000000000000000000000 api"},
		{"/admin/", user, 403, ""},
		{"/admin/", admin, 200, "ada admin  3 api"},
		{"/any/", admin, 200, "ada admin  3 api"},
	}
	for round := 0; round < 3; round++ {
		for _, tt := range tests {
			resp, body := sendAuth(t, "GET", base+tt.path, bearer(tt.token))
			if resp.StatusCode != tt.status || (tt.status == 200 && body != tt.body) {
				t.Fatalf("round %d, %s: %d %q, want %d %q", round, tt.path, resp.StatusCode, body, tt.status, tt.body)
			}
		}
	}
	b := runningJWTApp(t).Backends["api"]
	if cachedIdentity(b, user) == nil || cachedIdentity(b, admin) == nil {
		t.Fatal("the tokens were not cached")
	}
}

func TestCacheSettingAdaptsToJSON(t *testing.T) {
	tests := []struct {
		name    string
		setting string
		want    string
	}{
		{"cache off turns it off", "cache off", `{"disabled":true}`},
		{"a block sets entries and size", "cache {\n\t\t\t\tentries 200000\n\t\t\t\tsize 256MiB\n\t\t\t}", `{"entries":200000,"size":268435456}`},
		{"size takes SI units too", "cache {\n\t\t\t\tsize 100MB\n\t\t\t}", `{"size":100000000}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := adaptedConfig(t, jwtOption(backendBlock("api", "secret "+testSecret, tt.setting)), "respond ok")
			backend := cfg["apps"].(map[string]any)["jwt"].(map[string]any)["backends"].(map[string]any)["api"].(map[string]any)
			sameJSON(t, "cache", backend["cache"], tt.want)
		})
	}
}

func TestCacheSettingErrorsNameBackendSettingAndLine(t *testing.T) {
	withCache := func(lines ...string) string {
		return jwtOption(backendBlock("api", append([]string{"secret " + testSecret}, lines...)...))
	}
	block := func(lines ...string) string {
		return "cache {\n\t\t\t\t" + strings.Join(lines, "\n\t\t\t\t") + "\n\t\t\t}"
	}
	tests := []struct {
		name    string
		globals string
		line    string // the marker whose line the message must name
		want    []string
	}{
		{"a count on the cache line", withCache("cache 1000"), "cache 1000",
			[]string{`jwt backend "api"`, "cache", "want cache off, or a block"}},
		{"entries that are no number", withCache(block("entries lots")), "entries lots",
			[]string{`jwt backend "api"`, "cache", "entries", `"lots"`}},
		{"0 entries, which would mean the default", withCache(block("entries 0")), "entries 0",
			[]string{`jwt backend "api"`, "cache", "entries", "cache off"}},
		{"negative entries", withCache(block("entries -5")), "entries -5",
			[]string{`jwt backend "api"`, "cache: entries", "between 1 and"}},
		{"too many entries", withCache(block("entries 20000000")), "entries 20000000",
			[]string{`jwt backend "api"`, "cache: entries", "between 1 and 10000000"}},
		{"a size that is no size", withCache(block("size huge")), "size huge",
			[]string{`jwt backend "api"`, "cache", "size", `"huge"`}},
		{"a size too small for a token", withCache(block("size 1KiB")), "size 1KiB",
			[]string{`jwt backend "api"`, "cache: size", "at least 64KiB"}},
		{"a size without its value", withCache(block("size")), "size",
			[]string{`jwt backend "api"`, "cache", "size", "wrong number of arguments (0)"}},
		{"an unknown setting in the block", withCache(block("colour blue")), "colour blue",
			[]string{`jwt backend "api"`, "cache", `unrecognized subdirective "colour"`}},
		{"off with sizes", withCache("cache off {\n\t\t\t\tentries 10\n\t\t\t}"), "cache off",
			[]string{`jwt backend "api"`, "cache", "off has no entries or size"}},
		{"cache twice", withCache("cache off", "cache off"), "cache off",
			[]string{`jwt backend "api"`, "cache", "set only once"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := adapt(caddyfileFor("0", tt.globals, "respond ok")); err == nil {
				t.Fatal("the Caddyfile adapted; want an adapt error")
			}
			err := wantLoadError(t, tt.globals, "respond ok", tt.want...)
			wantErrorAt(t, err, tt.globals, "respond ok", tt.line)
		})
	}
	t.Run("JSON errors name the backend and the setting", func(t *testing.T) {
		for cache, want := range map[string]string{
			`{"entries":-1}`:                 "cache: entries: must be between 1 and",
			`{"size":1000}`:                  "cache: size: must be at least 64KiB, got 1000 bytes",
			`{"disabled":true,"entries":10}`: "cache: a cache that is off has no entries or size",
		} {
			app := `{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}],"cache":` + cache + `}}}`
			wantProvisionError(t, app, `{"handler":"jwt_auth"}`, `jwt backend "api"`, want)
		}
	})
}

func TestCacheSettingSizesTheCache(t *testing.T) {
	secret := `"secrets":[{"value":"` + testSecret + `"}]`
	tests := []struct {
		name                string
		cache               string
		wantEntries         int64
		wantBytes           int64
		wantCachesAnyTokens bool
	}{
		{"without the setting, the defaults", "", defaultCacheEntries, defaultCacheBytes, true},
		{"entries alone keeps the default size", `,"cache":{"entries":500}`, 500, defaultCacheBytes, true},
		{"size alone keeps the default entries", `,"cache":{"size":1048576}`, defaultCacheEntries, 1 << 20, true},
		{"off caches nothing", `,"cache":{"disabled":true}`, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := provisionedBackend(t, `{`+secret+tt.cache+`}`)
			if b.cache.maxEntries != tt.wantEntries || b.cache.maxBytes != tt.wantBytes {
				t.Fatalf("cache of %d entries and %d bytes, want %d and %d", b.cache.maxEntries, b.cache.maxBytes, tt.wantEntries, tt.wantBytes)
			}
			raw := hs256(t, testSecret, validClaims("alice", nil))
			for i := 0; i < 3; i++ {
				if id, err := b.Verify(raw); verdict(id, err) != "ok alice" {
					t.Fatalf("request %d: %s", i, verdict(id, err))
				}
			}
			// The first sight and the second miss; the second caches.
			hits, misses := promtest.ToFloat64(b.cache.hits), promtest.ToFloat64(b.cache.misses)
			switch {
			case tt.wantCachesAnyTokens && (b.cache.len() != 1 || hits != 1 || misses != 2):
				t.Errorf("%d cached, %v hits and %v misses; want 1, 1 and 2", b.cache.len(), hits, misses)
			case !tt.wantCachesAnyTokens && (b.cache.len() != 0 || hits != 0 || misses != 0):
				t.Errorf("%d cached, %v hits and %v misses; a cache that is off holds and counts nothing", b.cache.len(), hits, misses)
			}
		})
	}
}

// TestDefaultCacheKeepsFiftyThousandUsers sends the tokens of 50,000 users
// three times to a backend with the default cache: the first pass verifies
// each, the second verifies and caches each (tokenCache.offer), the third
// finds each in the cache.
func TestDefaultCacheKeepsFiftyThousandUsers(t *testing.T) {
	if raceDetector || testing.Short() {
		t.Skip("verifies 100,000 tokens")
	}
	b := provisionedBackend(t, hmacBackendJSON)
	tokens := make([]string, benchUsers)
	for i := range tokens {
		tokens[i] = hs256(t, testSecret, validClaims(fmt.Sprintf("alice-%05d", i), map[string]any{"jti": benchJTI(i)}))
	}
	for pass := 1; pass <= 3; pass++ {
		hits, misses := promtest.ToFloat64(b.cache.hits), promtest.ToFloat64(b.cache.misses)
		for _, raw := range tokens {
			if id, err := b.Verify(raw); err != nil {
				t.Fatalf("pass %d: %s", pass, verdict(id, err))
			}
		}
		hits, misses = promtest.ToFloat64(b.cache.hits)-hits, promtest.ToFloat64(b.cache.misses)-misses
		want := map[int]float64{1: 0, 2: 0, 3: benchUsers}[pass]
		// A set holds 16 tokens and gets 4 on average; that one of its
		// 12,500 gets more than 16 happens about once in 70 runs, and
		// costs a miss or two a pass.
		if hits < want-2 {
			t.Errorf("pass %d: %v hits and %v misses, want %v hits", pass, hits, misses, want)
		}
	}
	if n := b.cache.len(); n < benchUsers-2 {
		t.Errorf("%d tokens cached, want %d", n, benchUsers)
	}
}

// TestCacheEntryCostCoversWhatAnEntryHolds measures the heap a cached
// token takes (the token, its identity and claims, and its share of the
// sets) and checks that entryCost, by which the byte bound is kept, is
// not less.
func TestCacheEntryCostCoversWhatAnEntryHolds(t *testing.T) {
	if raceDetector || testing.Short() {
		t.Skip("measures the heap")
	}
	b := provisionedBackend(t, hmacBackendJSON)
	b.cache = newTokenCache(20_000, defaultCacheBytes)
	tokens := make([]string, 10_000)
	for i := range tokens {
		tokens[i] = hs256(t, testSecret, validClaims(fmt.Sprintf("alice-%05d", i), map[string]any{"jti": benchJTI(i)}))
	}
	// The sets are allocated first, a cost counted apart.
	b.cache.slot("")
	for i := range b.cache.numSets {
		b.cache.set(i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, raw := range tokens {
		// A token arrives in its own string, as a request header does.
		if _, err := verifyCached(b, strings.Clone(raw)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(b.cache.len())
	setsPerEntry := int64(unsafe.Sizeof(cacheSet{})) * int64(b.cache.numSets) / b.cache.maxEntries
	t.Logf("a %d-byte token: %d bytes cached, %d of sets a token of the bound; entryCost %d", len(tokens[0]), perEntry, setsPerEntry, entryCost(tokens[0]))
	if perEntry > int64(entryCost(tokens[0])) {
		t.Errorf("a cached token takes %d bytes; entryCost says %d", perEntry, entryCost(tokens[0]))
	}
	runtime.KeepAlive(b)
}

// TestTokensSeenOnceAreNotCached checks the cache's admission: a token is
// cached on its second sight, so a flood of valid tokens each sent once
// neither fills the cache nor evicts a user's token.
func TestTokensSeenOnceAreNotCached(t *testing.T) {
	b, _ := clockedBackend(t, hmacBackendJSON)
	b.cache = newTokenCache(100, defaultCacheBytes)
	user := hs256(t, testSecret, validClaims("alice", nil))
	if _, err := b.Verify(user); err != nil {
		t.Fatal(err)
	}
	if cachedIdentity(b, user) != nil {
		t.Fatal("a token is cached on its first sight")
	}
	cached, err := b.Verify(user)
	if err != nil || cachedIdentity(b, user) != cached {
		t.Fatalf("the token is not cached on its second sight: %v", err)
	}
	for i := 0; i < 2_000; i++ {
		raw := hs256(t, testSecret, validClaims(fmt.Sprint("mallory", i), nil))
		if id, err := b.Verify(raw); verdict(id, err) != fmt.Sprint("ok mallory", i) {
			t.Fatalf("token %d: %s", i, verdict(id, err))
		}
	}
	if n := b.cache.len(); n != 1 {
		t.Errorf("%d tokens cached after a flood of tokens seen once, want the user's alone", n)
	}
	if id, err := b.Verify(user); err != nil || id != cached {
		t.Errorf("the user's token is no longer served from the cache: %v", err)
	}
}
