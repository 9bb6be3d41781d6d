package caddyjwt

import (
	"context"
	"crypto"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The Auth benchmarks measure the whole jwt_auth ServeHTTP; the Parse
// ones golang-jwt's own parse of the same token, the floor of a request
// that verifies its token (see BENCHMARKS.md).
//
//   - BenchmarkAuth<alg>: a cache hit. The token was verified once before
//     the timer starts, so each request finds it in the backend's cache and
//     only its exp, nbf and iat are checked. Bar: at most 5 allocations
//     (TestCachedTokenCostsAtMostFiveAllocations holds it).
//   - BenchmarkAuth<alg>Miss: a cache miss. Every request carries a token
//     the backend has not seen, so it is verified in full and then stored.
//     Bar: at most the library's parse plus 25%.

// benchJTI is the jti of the benchmark tokens: 16 bytes as jwt_login
// writes it, numbered so that each Miss token is a different one.
func benchJTI(i int) string {
	var jti [16]byte
	binary.BigEndian.PutUint64(jti[8:], uint64(i))
	return b64url(jti[:])
}

// benchToken is an HS256 token shaped like the ones jwt_login issues.
func benchToken(b *testing.B) string { return benchTokenN(b, 0) }

func benchTokenN(b *testing.B, i int) string {
	return hs256(b, testSecret, validClaims("alice", map[string]any{"jti": benchJTI(i)}))
}

const hs256BenchBackend = `{"secrets":[{"value":"` + testSecret + `"}]}`

func BenchmarkAuthHS256(b *testing.B) { benchAuthHit(b, hs256BenchBackend, benchToken(b)) }

func BenchmarkAuthHS256Miss(b *testing.B) {
	benchAuthMiss(b, hs256BenchBackend, benchTokens(b, "HS256", func(i int) string { return benchTokenN(b, i) }))
}

// The asymmetric backends, each with a token that names its key by kid as
// jwt_login issues them. A miss is nearly all signature verification.
func BenchmarkAuthES256(b *testing.B)     { benchAsymmetric(b, "ES256", testKeys(b).p256, false) }
func BenchmarkAuthRS256(b *testing.B)     { benchAsymmetric(b, "RS256", testKeys(b).rsa, false) }
func BenchmarkAuthEdDSA(b *testing.B)     { benchAsymmetric(b, "EdDSA", testKeys(b).ed, false) }
func BenchmarkAuthES256Miss(b *testing.B) { benchAsymmetric(b, "ES256", testKeys(b).p256, true) }
func BenchmarkAuthRS256Miss(b *testing.B) { benchAsymmetric(b, "RS256", testKeys(b).rsa, true) }
func BenchmarkAuthEdDSAMiss(b *testing.B) { benchAsymmetric(b, "EdDSA", testKeys(b).ed, true) }

func benchAsymmetric(b *testing.B, alg string, key crypto.Signer, miss bool) {
	file := keyFile(b, "key.pem", pemPrivate(b, key, "pkcs8"))
	backend := `{"sign_key":{"file":"` + file + `"},"algorithm":"` + alg + `"}`
	if !miss {
		benchAuthHit(b, backend, asymmetricBenchToken(b, alg, key, 0))
		return
	}
	benchAuthMiss(b, backend, benchTokens(b, alg, func(i int) string { return asymmetricBenchToken(b, alg, key, i) }))
}

// asymmetricBenchToken is benchTokenN's claims signed with key, naming it
// by its thumbprint as jwt_login does.
func asymmetricBenchToken(b *testing.B, alg string, key crypto.Signer, i int) string {
	kid, err := jwkThumbprint(key.Public())
	if err != nil {
		b.Fatal(err)
	}
	return signToken(b, alg, key, map[string]any{"kid": kid}, validClaims("alice", map[string]any{"jti": benchJTI(i)}))
}

// benchBatch is how many requests are prepared at once, with the timer
// stopped; it is also the number of distinct tokens of a Miss benchmark.
const benchBatch = 256

// missTokens keeps each algorithm's Miss tokens across the runs of a
// benchmark: signing 1024 RS256 tokens takes seconds.
var missTokens = map[string][]string{}

// benchTokens gives benchBatch distinct tokens made by mint.
func benchTokens(b *testing.B, alg string, mint func(int) string) []string {
	if tokens, ok := missTokens[alg]; ok {
		return tokens
	}
	tokens := make([]string, benchBatch)
	for i := range tokens {
		tokens[i] = mint(i + 1)
	}
	missTokens[alg] = tokens
	return tokens
}

// benchAuthHit serves requests that all carry token, verified once before
// the timer starts, so every request is a cache hit.
func benchAuthHit(b *testing.B, backendJSON, token string) {
	h := benchHandler(b, backendJSON)
	benchServe(b, h, []string{token}, nil)
	if n := h.backends[0].cache.len(); n != 1 {
		b.Fatalf("%d cached tokens, want 1", n)
	}
}

// benchAuthMiss serves requests that each carry a token the backend has
// not verified yet, with the cache as a busy server has it: full, so that
// every verified token evicts another. The cache is filled with made-up
// entries first; before each batch of requests, with the timer stopped,
// the previous batch's tokens are taken out and their places filled again.
func benchAuthMiss(b *testing.B, backendJSON string, tokens []string) {
	h := benchHandler(b, backendJSON)
	c := h.backends[0].cache
	filler := &identity{times: tokenTimes{exp: jwt.NewNumericDate(time.Now().Add(time.Hour))}}
	fillers := 0
	fill := func(set *cacheSet) {
		for way, tag := range set.tags[:c.ways] {
			if tag == 0 {
				raw := "filler-" + strconv.Itoa(fillers)
				fillers++
				set.tags[way] = c.slot(raw).tag
				set.exps[way] = filler.times.expires().UnixNano()
				set.entries[way] = cacheEntry{raw: raw, id: filler}
				set.bytes += entryCost(raw)
			}
		}
	}
	c.slot("") // allocates the sets
	for i := range c.sets {
		fill(&c.sets[i])
	}
	refill := func() {
		for _, raw := range tokens {
			s := c.slot(raw)
			c.remove(s, raw, c.get(s, raw, nil))
			fill(s.set)
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
	if n := c.len(); n != defaultCacheEntries || cached == 0 {
		b.Fatalf("%d cached tokens, %d of them from the last batch; want a full cache", n, cached)
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

// benchServe runs jwt_auth's whole ServeHTTP b.N times, request i carrying
// tokens[i%len(tokens)] and its own replacer as Caddy gives them. Without
// newBatch, the tokens are served once before the timer starts (the
// cache is warm); with it, newBatch runs before each batch.
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
	prepare := func() {
		for i := range reqs {
			repl := caddy.NewReplacer()
			// Caddy's server maps the http.* placeholders before any handler.
			repl.Map(func(string) (any, bool) { return nil, false })
			reqs[i] = proto.WithContext(context.WithValue(proto.Context(), caddy.ReplacerCtxKey, repl))
			reqs[i].Header = headers[i%len(tokens)]
		}
	}
	if newBatch == nil {
		prepare()
		for _, r := range reqs[:len(tokens)] {
			if err := h.ServeHTTP(w, r, next); err != nil {
				b.Fatal(err)
			}
		}
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
	if id, _ := repl.GetString("http.auth.user.id"); id != "alice" {
		b.Fatalf("http.auth.user.id = %q", id)
	}
}

func BenchmarkParseHS256(b *testing.B) { benchParse(b, "HS256", benchToken(b), []byte(testSecret)) }

// golang-jwt alone on the tokens of the asymmetric Auth benchmarks.
func BenchmarkParseES256(b *testing.B) { benchParseAsymmetric(b, "ES256", testKeys(b).p256) }
func BenchmarkParseRS256(b *testing.B) { benchParseAsymmetric(b, "RS256", testKeys(b).rsa) }
func BenchmarkParseEdDSA(b *testing.B) { benchParseAsymmetric(b, "EdDSA", testKeys(b).ed) }

func benchParseAsymmetric(b *testing.B, alg string, key crypto.Signer) {
	benchParse(b, alg, asymmetricBenchToken(b, alg, key, 0), key.Public())
}

// benchParse runs golang-jwt's ParseWithClaims with the options of a
// default backend (backend.go) and a keyfunc that returns key.
func benchParse(b *testing.B, alg, token string, key any) {
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
