package caddyjwt

import (
	"context"
	"crypto"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The Auth benchmarks measure the whole jwt_auth ServeHTTP; the Parse
// ones golang-jwt's own ParseWithClaims of the same token with the same key,
// the floor of a request that verifies its token (see BENCHMARKS.md). Each
// algorithm has the three: HS256, RS256, PS256, ES256 and EdDSA.
//
//   - BenchmarkAuth<alg>: a cache hit. The token was verified once before
//     the timer starts, so each request finds it in the backend's cache and
//     only its exp, nbf and iat are checked. Bar: at most 5 allocations
//     (TestCachedTokenCostsAtMostFiveAllocations holds it).
//   - BenchmarkAuth<alg>Miss: a cache miss. Every request carries a token
//     the backend has not seen, so it is verified in full and then stored.
//     Bar: at most the library's parse plus 25%.
//   - BenchmarkAuthHS256Users50k: 50,000 users' tokens in turn, with the
//     default cache, after a first pass that verified each: every request
//     is a hit, and costs what one token's hit costs.

// benchJTI is the jti of the benchmark tokens: 16 bytes as jwt_login
// writes it, numbered so that each Miss token is a different one.
func benchJTI(i int) string {
	var jti [16]byte
	binary.BigEndian.PutUint64(jti[8:], uint64(i))
	return b64url(jti[:])
}

// benchToken is an HS256 token shaped like the ones jwt_login issues.
func benchToken(b *testing.B) string { return benchTokenN(b, 0) }

func benchTokenN(b testing.TB, i int) string {
	return hs256(b, testSecret, validClaims("alice", map[string]any{"jti": benchJTI(i)}))
}

const hs256BenchBackend = `{"secrets":[{"value":"` + testSecret + `"}]}`

func BenchmarkAuthHS256(b *testing.B)     { benchAuthHit(b, "HS256") }
func BenchmarkAuthRS256(b *testing.B)     { benchAuthHit(b, "RS256") }
func BenchmarkAuthPS256(b *testing.B)     { benchAuthHit(b, "PS256") }
func BenchmarkAuthES256(b *testing.B)     { benchAuthHit(b, "ES256") }
func BenchmarkAuthEdDSA(b *testing.B)     { benchAuthHit(b, "EdDSA") }
func BenchmarkAuthHS256Miss(b *testing.B) { benchAuthMiss(b, "HS256") }
func BenchmarkAuthRS256Miss(b *testing.B) { benchAuthMiss(b, "RS256") }
func BenchmarkAuthPS256Miss(b *testing.B) { benchAuthMiss(b, "PS256") }
func BenchmarkAuthES256Miss(b *testing.B) { benchAuthMiss(b, "ES256") }
func BenchmarkAuthEdDSAMiss(b *testing.B) { benchAuthMiss(b, "EdDSA") }
func BenchmarkParseHS256(b *testing.B)    { benchParse(b, "HS256") }
func BenchmarkParseRS256(b *testing.B)    { benchParse(b, "RS256") }
func BenchmarkParsePS256(b *testing.B)    { benchParse(b, "PS256") }
func BenchmarkParseES256(b *testing.B)    { benchParse(b, "ES256") }
func BenchmarkParseEdDSA(b *testing.B)    { benchParse(b, "EdDSA") }

// benchSetup is one algorithm's backend, the key golang-jwt verifies its
// tokens with, and its i-th token.
type benchSetup struct {
	backend string
	key     any
	mint    func(i int) string
}

// benchAlgorithm sets up alg: HS256 with the test secret; the others with a
// sign_key whose tokens name it by kid, as jwt_login issues them.
func benchAlgorithm(b testing.TB, alg string) benchSetup {
	if alg == "HS256" {
		return benchSetup{hs256BenchBackend, []byte(testSecret), func(i int) string { return benchTokenN(b, i) }}
	}
	var key crypto.Signer
	switch alg {
	case "RS256", "PS256":
		key = testKeys(b).rsa
	case "ES256":
		key = testKeys(b).p256
	case "EdDSA":
		key = testKeys(b).ed
	default:
		b.Fatalf("no benchmark key for %s", alg)
	}
	file := keyFile(b, "key.pem", pemPrivate(b, key, "pkcs8"))
	kid, err := jwkThumbprint(key.Public())
	if err != nil {
		b.Fatal(err)
	}
	return benchSetup{
		backend: `{"sign_key":{"file":"` + file + `"},"algorithm":"` + alg + `"}`,
		key:     key.Public(),
		mint: func(i int) string {
			return signToken(b, alg, key, map[string]any{"kid": kid}, validClaims("alice", map[string]any{"jti": benchJTI(i)}))
		},
	}
}

// benchBatch is how many requests are prepared at once, with the timer
// stopped; it is also the number of distinct tokens of a Miss benchmark.
const benchBatch = 256

// benchTokenSets keeps the tokens of each benchmark across its runs:
// signing 1024 RS256 tokens takes seconds, 50,000 HS256 ones one.
var benchTokenSets = map[string][]string{}

// benchTokens gives n distinct tokens made by mint, numbered from 1; key
// names them for later runs.
func benchTokens(key string, n int, mint func(int) string) []string {
	if tokens, ok := benchTokenSets[key]; ok {
		return tokens
	}
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = mint(i + 1)
	}
	benchTokenSets[key] = tokens
	return tokens
}

// benchAuthHit serves requests that all carry one token, verified once
// before the timer starts, so every request is a cache hit.
func benchAuthHit(b *testing.B, alg string) {
	setup := benchAlgorithm(b, alg)
	h := benchHandler(b, setup.backend)
	benchServe(b, h, []string{setup.mint(0)}, nil)
	if n := h.backends[0].cache.len(); n != 1 {
		b.Fatalf("%d cached tokens, want 1", n)
	}
}

// benchAuthMiss serves requests that each carry a token the backend has
// not verified yet, with the default cache as a busy server has it: full.
// Each is the token's first sight, which verifies it and leaves it out of
// the cache (tokenCache.offer). The cache is filled with made-up entries
// first; before each batch of requests, with the timer stopped, the
// previous batch's tokens are forgotten: taken out of the cache if there,
// their places filled again, and their marks of a first sight cleared.
func benchAuthMiss(b *testing.B, alg string) {
	setup := benchAlgorithm(b, alg)
	tokens := benchTokens(alg, benchBatch, setup.mint)
	h := benchHandler(b, setup.backend)
	c := h.backends[0].cache
	filler := &identity{times: tokenTimes{exp: jwt.NewNumericDate(time.Now().Add(time.Hour))}}
	fillers := 0
	newFiller := func() string { fillers++; return "filler-" + strconv.Itoa(fillers) }
	for c.entries.Load() < c.maxEntries {
		raw := newFiller()
		c.put(c.slot(raw), raw, filler, nil)
	}
	// Each token is taken out and a made-up entry put in its place, in its
	// own set, so that the sets the tokens fall in stay as full as any.
	refill := func() {
		for _, raw := range tokens {
			s := c.slot(raw)
			c.remove(s, raw, c.get(s, raw, nil))
			for i, tag := range s.set.seen {
				if tag == s.tag {
					s.set.seen[i] = 0
				}
			}
			for way, tag := range s.set.tags[:c.ways] {
				if tag == 0 && c.entries.Load() < c.maxEntries {
					raw := newFiller()
					s.set.tags[way] = c.slot(raw).tag
					s.set.exps[way] = filler.times.expires().UnixNano()
					s.set.entries[way] = cacheEntry{raw: raw, id: filler}
					s.set.used++
					c.entries.Add(1)
					c.bytes.Add(int64(entryCost(raw)))
				}
			}
		}
	}
	if n := c.len(); n != defaultCacheEntries {
		b.Fatalf("%d cached tokens, want a full cache", n)
	}
	benchServe(b, h, tokens, refill)
	cached := 0
	for _, raw := range tokens[:(b.N-1)%benchBatch+1] {
		if c.get(c.slot(raw), raw, nil) != nil {
			cached++
		}
	}
	if n := c.len(); n != defaultCacheEntries || cached != 0 {
		b.Fatalf("%d cached tokens, %d of them from the last batch; want a full cache of others", n, cached)
	}
}

// benchUsers is how many users BenchmarkAuthHS256Users50k sends tokens
// for: the active users the default cache is sized to serve.
const benchUsers = 50_000

// BenchmarkAuthHS256Users50k sends the tokens of 50,000 users in turn,
// each user's token once a pass, to a backend with the default cache. The
// first two passes verify each token before the timer starts, the second
// caching it; after them, every
// request must be a hit (hits/op reports the share). Run with
// -benchtime=50000x or more to cover every user.
func BenchmarkAuthHS256Users50k(b *testing.B) {
	tokens := benchTokens("HS256 users", benchUsers, func(i int) string {
		return hs256(b, testSecret, validClaims(fmt.Sprintf("alice-%05d", i), map[string]any{"jti": benchJTI(i)}))
	})
	h := benchHandler(b, hs256BenchBackend)
	c := h.backends[0].cache
	benchServe(b, h, tokens, nil)
	if n := c.len(); n != len(tokens) {
		b.Fatalf("%d of %d users' tokens cached", n, len(tokens))
	}
	// The first two passes missed once each for each token, and they alone.
	hits, misses := testutil.ToFloat64(c.hits), testutil.ToFloat64(c.misses)-2*float64(len(tokens))
	b.ReportMetric(hits/(hits+misses), "hits/op")
	if misses != 0 {
		b.Errorf("%v misses in %v lookups after the first pass, want none", misses, hits+misses)
	}
}

// benchHandler provisions jwt_auth through a real caddy.Context on the
// backend "api" given as JSON.
func benchHandler(tb testing.TB, backendJSON string) *Auth {
	ctx := provisionBackends(tb, `{"backends":{"api":`+backendJSON+`}}`)
	h := new(Auth)
	if err := h.Provision(ctx); err != nil {
		tb.Fatal(err)
	}
	return h
}

// benchServe runs jwt_auth's whole ServeHTTP b.N times, the requests
// carrying tokens in turn, each with its own replacer as Caddy gives them.
// Without newBatch, every token is served twice before the timer starts
// (the cache is warm); with it, newBatch runs before each batch.
func benchServe(b *testing.B, h *Auth, tokens []string, newBatch func()) {
	proto := httptest.NewRequest("GET", "http://127.0.0.1/api/items", nil)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()

	// Caddy gives every request its own replacer, and jwt_auth adds to it,
	// so requests are made in batches with the timer stopped: their cost
	// is Caddy's, not the handler's.
	headers := make([]http.Header, len(tokens))
	for i, raw := range tokens {
		headers[i] = http.Header{"Authorization": {"Bearer " + raw}}
	}
	reqs := make([]*http.Request, benchBatch)
	prepared := 0
	prepare := func() {
		for i := range reqs {
			repl := caddy.NewReplacer()
			// Caddy's server maps the http.* placeholders before any handler.
			repl.Map(func(string) (any, bool) { return nil, false })
			reqs[i] = proto.WithContext(context.WithValue(proto.Context(), caddy.ReplacerCtxKey, repl))
			reqs[i].Header = headers[prepared%len(headers)]
			prepared++
		}
	}
	if newBatch == nil {
		// Each token's first sight, and its second, which caches it.
		for prepared < 2*len(tokens) {
			prepare()
			for _, r := range reqs {
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		}
		prepared = 0
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%benchBatch == 0 {
			b.StopTimer()
			prepare()
			if newBatch != nil {
				newBatch()
			}
			b.StartTimer()
		}
		if err := h.ServeHTTP(w, reqs[i%benchBatch], next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	repl := reqs[0].Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if id, _ := repl.GetString("http.auth.user.id"); !strings.HasPrefix(id, "alice") {
		b.Fatalf("http.auth.user.id = %q", id)
	}
}

// benchParse runs golang-jwt's ParseWithClaims on the Auth benchmarks'
// token, with the options of a default backend (backend.go) and a keyfunc
// that returns the key.
func benchParse(b *testing.B, alg string) {
	setup := benchAlgorithm(b, alg)
	token, key := setup.mint(0), setup.key
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithJSONNumber(),
	)
	keyfunc := func(*jwt.Token) (any, error) { return key, nil }

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := parser.ParseWithClaims(token, jwt.MapClaims{}, keyfunc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectFullCache is one garbage collection of a heap that holds
// a full default cache: 100,000 HS256 tokens, each verified twice so that
// it is cached. What a collection costs grows with the objects a cached
// token holds, and under load Caddy collects every few thousand requests;
// compare with BenchmarkCollectEmptyCache, the same without the tokens.
func BenchmarkCollectFullCache(b *testing.B) { benchCollect(b, defaultCacheEntries) }

func BenchmarkCollectEmptyCache(b *testing.B) { benchCollect(b, 0) }

func benchCollect(b *testing.B, n int) {
	// Made here, not kept with the other benchmarks' tokens, so that the
	// heap holds only what the cache does.
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = hs256(b, testSecret, validClaims(fmt.Sprintf("alice-%06d", i), map[string]any{"jti": benchJTI(i)}))
	}
	be := provisionedBackend(b, hs256BenchBackend)
	for _, raw := range tokens {
		// Each in its own string, as a request header brings it.
		if _, err := verifyCached(be, strings.Clone(raw)); err != nil {
			b.Fatal(err)
		}
	}
	if got := be.cache.len(); got < n*99/100 {
		b.Fatalf("%d tokens cached, want about %d", got, n)
	}
	tokens = nil
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
	}
	b.StopTimer()
	runtime.KeepAlive(be)
}
