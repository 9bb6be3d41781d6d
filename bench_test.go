package caddyjwt

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkAuthHS256 and BenchmarkParseHS256 measure what jwt_auth costs on
// top of golang-jwt's own parse of the same token (see BENCHMARKS.md): the
// handler may add at most 25%.

// benchToken is an HS256 token shaped like the ones jwt_login issues.
func benchToken(b *testing.B) string {
	return hs256(b, testSecret, validClaims("alice", map[string]any{"jti": "3q2-7wAAAAAAAAAAAAAAAA"}))
}

func BenchmarkAuthHS256(b *testing.B) {
	benchAuth(b, `{"secrets":[{"value":"`+testSecret+`"}]}`, benchToken(b))
}

// The asymmetric backends, each with a token that names its key by kid as
// jwt_login issues them. The cost is nearly all signature verification.
func BenchmarkAuthES256(b *testing.B) { benchAsymmetric(b, "ES256", testKeys(b).p256) }
func BenchmarkAuthRS256(b *testing.B) { benchAsymmetric(b, "RS256", testKeys(b).rsa) }
func BenchmarkAuthEdDSA(b *testing.B) { benchAsymmetric(b, "EdDSA", testKeys(b).ed) }

func benchAsymmetric(b *testing.B, alg string, key crypto.Signer) {
	file := keyFile(b, "key.pem", pemPrivate(b, key, "pkcs8"))
	benchAuth(b, `{"sign_key":{"file":"`+file+`"},"algorithm":"`+alg+`"}`, asymmetricBenchToken(b, alg, key))
}

// asymmetricBenchToken is benchToken's claims signed with key, naming it by
// its thumbprint as jwt_login does.
func asymmetricBenchToken(b *testing.B, alg string, key crypto.Signer) string {
	kid, err := thumbprint(key.Public())
	if err != nil {
		b.Fatal(err)
	}
	return signToken(b, alg, key, map[string]any{"kid": kid}, validClaims("alice", map[string]any{"jti": "3q2-7wAAAAAAAAAAAAAAAA"}))
}

// benchAuth runs jwt_auth's whole ServeHTTP, provisioned through a real
// caddy.Context on the backend "api" given as JSON, on requests carrying
// token and their own replacer as Caddy gives them.
func benchAuth(b *testing.B, backendJSON, token string) {
	ctx := provisionBackends(b, `{"backends":{"api":`+backendJSON+`}}`)
	h := new(Auth)
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	proto := httptest.NewRequest("GET", "http://127.0.0.1/api/items", nil)
	proto.Header.Set("Authorization", "Bearer "+token)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()

	// Caddy gives every request its own replacer, and jwt_auth adds to it,
	// so requests are made in batches with the timer stopped: their cost
	// is Caddy's, not the handler's.
	const batch = 1024
	reqs := make([]*http.Request, batch)
	prepare := func() {
		for i := range reqs {
			repl := caddy.NewReplacer()
			// Caddy's server maps the http.* placeholders before any handler.
			repl.Map(func(string) (any, bool) { return nil, false })
			reqs[i] = proto.WithContext(context.WithValue(proto.Context(), caddy.ReplacerCtxKey, repl))
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%batch == 0 {
			b.StopTimer()
			prepare()
			b.StartTimer()
		}
		if err := h.ServeHTTP(w, reqs[i%batch], next); err != nil {
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
	benchParse(b, alg, asymmetricBenchToken(b, alg, key), key.Public())
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
