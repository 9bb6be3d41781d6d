package caddyjwt

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// benchAuth measures one jwt_auth request (token read, verification,
// placeholders, next handler) on a backend given as JSON, with a token of
// that backend.
func benchAuth(b *testing.B, backendJSON, token string) {
	ctx := provisionBackends(b, `{"backends":{"api":`+backendJSON+`}}`)
	h := &Auth{}
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	req := httptest.NewRequest("GET", "/api/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, req, next); err != nil {
		b.Fatalf("the benchmark token is refused: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := h.ServeHTTP(w, req, next); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAsymmetric benchmarks a sign_key backend of the given algorithm,
// with a token that names its key by kid, as jwt_login issues them.
func benchAsymmetric(b *testing.B, alg string, key crypto.Signer) {
	file := keyFile(b, "key.pem", pemPrivate(b, key, "pkcs8"))
	kid, err := thumbprint(key.Public())
	if err != nil {
		b.Fatal(err)
	}
	token := signToken(b, alg, key, map[string]any{"kid": kid}, validClaims("alice", map[string]any{"role": "admin"}))
	benchAuth(b, `{"sign_key":{"file":"`+file+`"},"algorithm":"`+alg+`"}`, token)
}

func BenchmarkAuthHS256(b *testing.B) {
	token := hs256(b, testSecret, validClaims("alice", map[string]any{"role": "admin"}))
	benchAuth(b, `{"secrets":[{"value":"`+testSecret+`"}]}`, token)
}

func BenchmarkAuthES256(b *testing.B) { benchAsymmetric(b, "ES256", testKeys(b).p256) }
func BenchmarkAuthRS256(b *testing.B) { benchAsymmetric(b, "RS256", testKeys(b).rsa) }
func BenchmarkAuthEdDSA(b *testing.B) { benchAsymmetric(b, "EdDSA", testKeys(b).ed) }
