package caddyjwt

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestAuthRejectsAttacks sends forged, altered and out-of-policy tokens to a
// real Caddy. Every one must be refused with the right status and challenge,
// and none may reach the handler behind jwt_auth.
func TestAuthRejectsAttacks(t *testing.T) {
	const marker = "PROTECTED-CONTENT"
	base := startCaddy(t, singleBackend, `
	jwt_auth
	respond "`+marker+` {http.auth.user.id}"`)

	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	payload := claimsJSON(t, validClaims("alice", nil))
	good := hs256(t, testSecret, validClaims("alice", nil))
	parts := strings.Split(good, ".")
	// unsigned is header.payload. with an empty signature.
	unsigned := func(header string) string { return enc([]byte(header)) + "." + enc([]byte(payload)) + "." }
	withPayload := func(p string) string { return parts[0] + "." + enc([]byte(p)) + "." + parts[2] }
	const attackerSecret = "attacker-secret-0123456789-abcdefghijklm"

	// A control: the same Caddy lets the untouched token through.
	if resp, body := sendAuth(t, "GET", base+"/", bearer(good)); resp.StatusCode != 200 || !strings.Contains(body, marker) {
		t.Fatalf("control token refused: %d %q", resp.StatusCode, body)
	}

	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
		reason     string // the error_description, which names the defence that held
	}{
		{"alg none with an empty signature", bearer(unsigned(`{"alg":"none","typ":"JWT"}`)), 401, "algorithm not allowed"},
		{"alg None with an empty signature", bearer(unsigned(`{"alg":"None","typ":"JWT"}`)), 401, "algorithm not allowed"},
		{"alg NONE with an empty signature", bearer(unsigned(`{"alg":"NONE","typ":"JWT"}`)), 401, "algorithm not allowed"},
		{"alg nOnE with an empty signature", bearer(unsigned(`{"alg":"nOnE","typ":"JWT"}`)), 401, "algorithm not allowed"},
		{"alg none keeping a valid HS256 signature", bearer(enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]), 401, "algorithm not allowed"},
		{"alg hs256 in lower case, correctly signed", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"hs256","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"alg with a trailing space, correctly signed", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256 ","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"no alg, correctly signed", bearer(mintHMAC(t, "HS256", testSecret, `{"typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"HS384 token on an HS256 backend, same secret", bearer(mintHMAC(t, "HS384", testSecret, `{"alg":"HS384","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"HS512 token on an HS256 backend, same secret", bearer(mintHMAC(t, "HS512", testSecret, `{"alg":"HS512","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"payload with one changed byte", bearer(withPayload(strings.Replace(payload, `"alice"`, `"alicf"`, 1))), 401, "signature invalid"},
		{"payload made admin, signature kept", bearer(withPayload(strings.Replace(payload, `"alice"`, `"admin"`, 1))), 401, "signature invalid"},
		{"signature with one changed character", bearer(parts[0] + "." + parts[1] + "." + flipChar(parts[2], 5)), 401, "signature invalid"},
		{"signature stripped", bearer(parts[0] + "." + parts[1] + "."), 401, "signature invalid"},
		{"signed with another secret", bearer(hs256(t, attackerSecret, validClaims("alice", nil))), 401, "signature invalid"},
		{"signed with a prefix of the secret", bearer(hs256(t, testSecret[:32], validClaims("alice", nil))), 401, "signature invalid"},
		{"expired beyond the leeway", bearer(hs256(t, testSecret, validClaims("alice", map[string]any{"exp": now - 120}))), 401, "token expired"},
		{"nbf in the future", bearer(hs256(t, testSecret, validClaims("alice", map[string]any{"nbf": now + 600}))), 401, "token not valid yet"},
		{"iat in the future", bearer(hs256(t, testSecret, validClaims("alice", map[string]any{"iat": now + 600}))), 401, "token issued in the future"},
		{"no exp", bearer(hs256(t, testSecret, validClaims("alice", map[string]any{"exp": nil}))), 401, "token has no exp"},
		{"exp as a string far in the future", bearer(hs256(t, testSecret, validClaims("alice", map[string]any{"exp": "9999999999"}))), 401, "invalid token"},
		{"9 KiB token, correctly signed", bearer(paddedToken(t, testSecret, 9<<10)), 401, "token too large"},
		{"two Authorization headers, both valid", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, 400, "more than one Authorization header"},
		{"two tokens in one header", http.Header{"Authorization": {"Bearer " + good + ", Bearer " + good}}, 400, "malformed Authorization header"},
		{"Bearer garbage", bearer("garbage"), 401, "malformed token"},
		{"an extra segment", bearer(good + ".x"), 401, "malformed token"},
		{"crit header, correctly signed", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT","crit":["exp"]}`, payload)), 401, "critical header not supported"},
		{"crit header naming b64, correctly signed",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","b64":false,"crit":["b64"]}`, payload)), 401, "critical header not supported"},
		{"kid that matches no configured key, correctly signed",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT","kid":"other"}`, payload)), 401, "unknown key ID"},
		{"kid that is not a string, correctly signed",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT","kid":1}`, payload)), 401, "unknown key ID"},
		{"embedded jwk with the attacker's key",
			bearer(mintHMAC(t, "HS256", attackerSecret,
				`{"alg":"HS256","typ":"JWT","jwk":{"kty":"oct","k":"`+enc([]byte(attackerSecret))+`"}}`, payload)), 401, "signature invalid"},
		{"jku pointing at the attacker's key set",
			bearer(mintHMAC(t, "HS256", attackerSecret, `{"alg":"HS256","typ":"JWT","jku":"http://127.0.0.1:1/jwks.json"}`, payload)), 401, "signature invalid"},
		{"JSON-serialized JWS instead of compact", bearer(jsonSerialized(t, testSecret, payload)), 400, "malformed Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+"/", tt.header)
			if strings.Contains(body, marker) {
				t.Fatalf("reached the protected handler: %d %q", resp.StatusCode, body)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			code := `error="invalid_token"`
			if tt.wantStatus == 400 {
				code = `error="invalid_request"`
			}
			want := `Bearer realm="api", ` + code + `, error_description="` + tt.reason + `"`
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
			}
		})
	}
}

// flipChar changes the character at i of a base64url string to another one.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// jsonSerialized is a correctly signed JWS in the flattened JSON
// serialization (RFC 7515 §7.2), made by go-jose.
func jsonSerialized(t testing.TB, secret, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return jws.FullSerialize()
}
