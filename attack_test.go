package caddyjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// TestAttacks is the attack table: RFC 8725's threats and jwt_tool's attack
// modes (-X a: alg none, n: null signature, b: blank password, k: key
// confusion, i: inline jwk, s: spoofed jku/x5u; kid tampering with -I -hc
// kid), the psychic signature of CVE-2022-21449, and abuses of the request
// itself (oversized tokens, repeated or malformed Authorization headers).
// One real Caddy serves a backend of each kind on its own path; every row
// must be refused with its status and error_description, and the protected
// handler's marker must never appear.
func TestAttacks(t *testing.T) {
	const marker = "PROTECTED-CONTENT"
	k := testKeys(t)
	rsaFile := keyFile(t, "rsa.pem", pemPrivate(t, k.rsa, "pkcs1"))
	ecFile := keyFile(t, "ec.pem", pemPrivate(t, k.p256, "sec1"))
	edFile := keyFile(t, "ed.pem", pemPrivate(t, k.ed, "pkcs8"))
	// The realm of a challenge is the backend's name, and each backend is
	// behind the path of the same name.
	base := startCaddy(t, `
	jwt {
		backend hs {
			secret `+testSecret+` current
		}
		backend strict {
			secret `+testSecret+`
			issuer https://issuer.example
			audience api-a api-b
		}
		backend rsa {
			sign_key `+rsaFile+`
		}
		backend pss {
			sign_key `+rsaFile+`
			algorithm PS256
		}
		backend ec {
			sign_key `+ecFile+`
		}
		backend ed {
			sign_key `+edFile+`
		}
	}`, `
	jwt_auth /hs hs
	jwt_auth /strict strict
	jwt_auth /rsa rsa
	jwt_auth /pss pss
	jwt_auth /ec ec
	jwt_auth /ed ed
	respond "`+marker+` {http.auth.user.id}"`)

	now := time.Now().Unix()
	claims := validClaims("mallory", nil)
	payload := claimsJSON(t, claims)
	with := func(extra map[string]any) map[string]any { return validClaims("mallory", extra) }
	// withStrict gives the claims the strict backend wants, changed by extra
	// (a nil value deletes a claim).
	withStrict := func(extra map[string]any) map[string]any {
		return withChanges(validClaims("mallory", map[string]any{"iss": "https://issuer.example", "aud": "api-a"}), extra)
	}
	const attackerSecret = "attacker-secret-0123456789-abcdefghijklm"

	// The genuine tokens of each backend, whose segments the forgeries reuse.
	rsaKID := joseThumbprint(t, k.rsa.Public())
	good := map[string]string{
		"hs":     hs256(t, testSecret, claims),
		"strict": hs256(t, testSecret, withStrict(nil)),
		"rsa":    signToken(t, "RS256", k.rsa, map[string]any{"kid": rsaKID}, claims),
		"pss":    signToken(t, "PS256", k.rsa, nil, claims),
		"ec":     signToken(t, "ES256", k.p256, nil, claims),
		"ed":     signToken(t, "EdDSA", k.ed, nil, claims),
	}
	seg := func(backend string, i int) string { return strings.Split(good[backend], ".")[i] }
	// pssToken is payload signed for the pss backend by crypto/rsa, with a
	// salt of saltLength bytes (rsa.PSSSaltLengthAuto: as many as fit).
	pssToken := func(saltLength int) string {
		input := b64url([]byte(`{"alg":"PS256","typ":"JWT"}`)) + "." + b64url([]byte(payload))
		digest := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPSS(rand.Reader, k.rsa, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: saltLength})
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64url(sig)
	}

	// Controls: the genuine tokens pass, so every refusal below is about
	// the attack and not a broken setup.
	type control struct{ name, path, token string }
	var controls []control
	for backend, tok := range good {
		controls = append(controls, control{"genuine token of " + backend, "/" + backend, tok})
	}
	// `typ` is not checked, by decision: RFC 7519 §5.1 makes it optional,
	// and issuers write "JWT", "at+jwt" (RFC 9068) or nothing. Explicit typing (RFC 8725 §3.11) only prevents
	// cross-JWT confusion when every issuer of a key uses it; iss and aud
	// are this plugin's defence there (the strict rows below).
	for _, typ := range []string{"", "at+jwt", "JOSE", "something-else"} {
		header := `{"alg":"HS256","typ":"` + typ + `"}`
		if typ == "" {
			header = `{"alg":"HS256"}`
		}
		controls = append(controls, control{"typ " + typ, "/hs", mintHMAC(t, "HS256", testSecret, header, payload)})
	}
	// JSON whitespace is not trailing data, and a salt as long as the hash
	// is what RFC 7518 §3.5 asks of any PS256 signer, not only golang-jwt.
	controls = append(controls,
		control{"claims followed by whitespace", "/hs", mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, payload+" \n")},
		control{"whitespace around the header's members", "/hs", mintHMAC(t, "HS256", testSecret, `{ "alg" : "HS256" }`, payload)},
		control{"PS256 by crypto/rsa with a salt as long as the hash", "/pss", pssToken(sha256.Size)})
	for _, c := range controls {
		if resp, body := sendAuth(t, "GET", base+c.path, bearer(c.token)); resp.StatusCode != 200 || body != marker+" mallory" {
			t.Fatalf("control %q refused: %d %q %s", c.name, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}

	// Material for the forgeries.
	rsaPEM := pemPublic(t, k.rsa.Public())
	rsaPKIX, _ := x509.MarshalPKIXPublicKey(k.rsa.Public())
	ecPEM := pemPublic(t, k.p256.Public())
	edPEM := pemPublic(t, k.ed.Public())
	jkuURL, jkuHits := hitCounter(t)
	x5uURL, x5uHits := hitCounter(t)
	attackerRSAJWK := publicJWK(t, k.attackerRSA.Public())
	attackerECJWK := publicJWK(t, k.attackerP256.Public())
	attackerEdJWK := publicJWK(t, k.attackerEd25519.Public())
	attackerKID := joseThumbprint(t, k.attackerRSA.Public())
	attackerCert := selfSignedCert(t, k.attackerRSA)
	p256Order := k.p256.Curve.Params().N.FillBytes(make([]byte, 32))
	digest := sha256.Sum256([]byte(seg("ec", 0) + "." + seg("ec", 1)))
	ecDER, err := ecdsa.SignASN1(rand.Reader, k.p256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	// withTimes fills iat and exp into a hand-written claims text.
	withTimes := func(claimsText string) string { return fmt.Sprintf(claimsText, now, now+3600) }
	// withUnusedBits sets a bit of a base64url segment that the last
	// character carries but no byte uses: lenient decoders read the same
	// bytes from it.
	withUnusedBits := func(segment string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		if len(segment)%4 == 0 {
			t.Fatalf("segment %q has no unused bits", segment)
		}
		last := strings.IndexByte(alphabet, segment[len(segment)-1])
		return segment[:len(segment)-1] + string(alphabet[last|1])
	}
	// hs256Input signs a signing input with testSecret as it is, in
	// whatever base64 its segments are.
	hs256Input := func(input string) string {
		sig, err := jwt.SigningMethodHS256.Sign(input, []byte(testSecret))
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + b64url(sig)
	}
	padded := func(n int) string { return strings.Repeat("p", n) }

	type attack struct {
		name   string
		path   string      // the backend's path, with a query if the row needs one
		header http.Header // the request's header fields
		status int
		reason string // the error_description; "" for a 401 without one (no token found)
	}
	tests := []attack{
		// RFC 8725 §2.1 / §3.1, jwt_tool -X a: alg none, added below in
		// every spelling for each kind of backend.

		// The algorithm is the backend's, case for case (RFC 8725 §3.1).
		{"alg hs256 in lower case, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"hs256","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"alg with a trailing space, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256 ","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"no alg, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"alg given twice, the last one none", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","alg":"none"}`, payload)), 401, "algorithm not allowed"},
		{"HS384 token on an HS256 backend, same secret", "/hs", bearer(mintHMAC(t, "HS384", testSecret, `{"alg":"HS384","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"HS512 token on an HS256 backend, same secret", "/hs", bearer(mintHMAC(t, "HS512", testSecret, `{"alg":"HS512","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},
		{"PS256 token, signed by the right key, on an RS256 backend", "/rsa", bearer(signToken(t, "PS256", k.rsa, nil, claims)), 401, "algorithm not allowed"},
		{"RS256 token, signed by the right key, on a PS256 backend", "/pss", bearer(signToken(t, "RS256", k.rsa, nil, claims)), 401, "algorithm not allowed"},
		{"ES384 token on an ES256 backend", "/ec", bearer(signToken(t, "ES384", k.p384, nil, claims)), 401, "algorithm not allowed"},
		{"RS256 token of the rsa backend on the ec backend", "/ec", bearer(good["rsa"]), 401, "algorithm not allowed"},

		// jwt_tool -X n: the signature segment is empty (RFC 8725 §3.2).
		{"null signature on an HS256 backend", "/hs", bearer(seg("hs", 0) + "." + seg("hs", 1) + "."), 401, "signature invalid"},
		{"null signature on an RS256 backend", "/rsa", bearer(seg("rsa", 0) + "." + seg("rsa", 1) + "."), 401, "signature invalid"},
		{"null signature on a PS256 backend", "/pss", bearer(seg("pss", 0) + "." + seg("pss", 1) + "."), 401, "signature invalid"},
		{"null signature on an ES256 backend", "/ec", bearer(seg("ec", 0) + "." + seg("ec", 1) + "."), 401, "signature invalid"},
		{"null signature on an EdDSA backend", "/ed", bearer(seg("ed", 0) + "." + seg("ed", 1) + "."), 401, "signature invalid"},

		// Altered tokens and wrong keys (RFC 8725 §3.2).
		{"payload with one changed byte, signature kept", "/hs",
			bearer(seg("hs", 0) + "." + b64url([]byte(strings.Replace(payload, `"mallory"`, `"mallorz"`, 1))) + "." + seg("hs", 2)), 401, "signature invalid"},
		{"payload made admin, signature kept", "/rsa",
			bearer(seg("rsa", 0) + "." + b64url([]byte(strings.Replace(payload, `"mallory"`, `"admin"`, 1))) + "." + seg("rsa", 2)), 401, "signature invalid"},
		{"signature with one changed character", "/hs", bearer(seg("hs", 0) + "." + seg("hs", 1) + "." + flipChar(seg("hs", 2), 5)), 401, "signature invalid"},
		{"signed with another secret", "/hs", bearer(hs256(t, attackerSecret, claims)), 401, "signature invalid"},
		{"signed with a prefix of the secret", "/hs", bearer(hs256(t, testSecret[:32], claims)), 401, "signature invalid"},
		{"signed with another RSA key", "/rsa", bearer(signToken(t, "RS256", k.attackerRSA, nil, claims)), 401, "signature invalid"},

		// jwt_tool -X b: HMAC with an empty key ("blank password").
		{"HS256 with a blank key on an HS256 backend", "/hs", bearer(mintHMAC(t, "HS256", "", `{"alg":"HS256","typ":"JWT"}`, payload)), 401, "signature invalid"},
		{"HS256 with a blank key naming the backend's kid", "/hs", bearer(mintHMAC(t, "HS256", "", `{"alg":"HS256","kid":"current"}`, payload)), 401, "signature invalid"},
		{"HS256 with a blank key on an RS256 backend", "/rsa", bearer(mintHMAC(t, "HS256", "", `{"alg":"HS256","typ":"JWT"}`, payload)), 401, "algorithm not allowed"},

		// jwt_tool -X k, RFC 8725 §2.1: HMAC keyed with the backend's
		// public key, in every encoding an attacker would try.
		{"HS256 keyed with the RSA public key PEM", "/rsa", bearer(signToken(t, "HS256", []byte(rsaPEM), nil, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the RSA public key PEM without its last newline", "/rsa",
			bearer(signToken(t, "HS256", []byte(strings.TrimSuffix(rsaPEM, "\n")), nil, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the RSA public key PEM, naming the real kid", "/rsa",
			bearer(signToken(t, "HS256", []byte(rsaPEM), map[string]any{"kid": rsaKID}, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the RSA public key DER (PKIX)", "/rsa", bearer(signToken(t, "HS256", rsaPKIX, nil, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the RSA public key DER (PKCS#1)", "/rsa",
			bearer(signToken(t, "HS256", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey), nil, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the RSA public key PEM on a PS256 backend", "/pss", bearer(signToken(t, "HS256", []byte(rsaPEM), nil, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the ES256 public key PEM", "/ec", bearer(signToken(t, "HS256", []byte(ecPEM), nil, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the Ed25519 public key bytes", "/ed", bearer(signToken(t, "HS256", []byte(k.ed.Public().(ed25519.PublicKey)), nil, claims)), 401, "algorithm not allowed"},
		{"HS256 keyed with the Ed25519 public key PEM", "/ed", bearer(signToken(t, "HS256", []byte(edPEM), nil, claims)), 401, "algorithm not allowed"},

		// jwt_tool -X i, RFC 8725 §3.10: a jwk header is never a key.
		{"inline jwk with the attacker's RSA key", "/rsa",
			bearer(signToken(t, "RS256", k.attackerRSA, map[string]any{"jwk": attackerRSAJWK}, claims)), 401, "signature invalid"},
		{"inline jwk with the attacker's RSA key and its kid", "/rsa",
			bearer(signToken(t, "RS256", k.attackerRSA, map[string]any{"jwk": attackerRSAJWK, "kid": attackerKID}, claims)), 401, "unknown key ID"},
		{"inline jwk with the attacker's EC key", "/ec",
			bearer(signToken(t, "ES256", k.attackerP256, map[string]any{"jwk": attackerECJWK}, claims)), 401, "signature invalid"},
		{"inline jwk with the attacker's Ed25519 key", "/ed",
			bearer(signToken(t, "EdDSA", k.attackerEd25519, map[string]any{"jwk": attackerEdJWK}, claims)), 401, "signature invalid"},
		{"inline jwk with the attacker's HMAC key", "/hs",
			bearer(mintHMAC(t, "HS256", attackerSecret, `{"alg":"HS256","jwk":{"kty":"oct","k":"`+b64url([]byte(attackerSecret))+`"}}`, payload)), 401, "signature invalid"},

		// jwt_tool -X s, RFC 8725 §3.10: jku and x5u point at a loopback
		// server, which must never be asked (checked after the table).
		{"jku with the attacker's kid", "/rsa",
			bearer(signToken(t, "RS256", k.attackerRSA, map[string]any{"jku": jkuURL + "/jwks.json", "kid": attackerKID}, claims)), 401, "unknown key ID"},
		{"jku without kid", "/ec", bearer(signToken(t, "ES256", k.attackerP256, map[string]any{"jku": jkuURL + "/jwks.json"}, claims)), 401, "signature invalid"},
		{"jku on an HMAC backend", "/hs",
			bearer(mintHMAC(t, "HS256", attackerSecret, `{"alg":"HS256","jku":"`+jkuURL+`/jwks.json"}`, payload)), 401, "signature invalid"},
		{"x5u with the attacker's certificate URL", "/rsa", bearer(signToken(t, "RS256", k.attackerRSA, map[string]any{"x5u": x5uURL + "/cert.pem"}, claims)), 401, "signature invalid"},
		{"x5u with the attacker's kid", "/rsa",
			bearer(signToken(t, "RS256", k.attackerRSA, map[string]any{"x5u": x5uURL + "/cert.pem", "kid": attackerKID}, claims)), 401, "unknown key ID"},

		// x5c, RFC 8725 §3.10: an embedded certificate is never trusted.
		{"x5c with the attacker's self-signed certificate", "/rsa",
			bearer(signToken(t, "RS256", k.attackerRSA, map[string]any{"x5c": []string{attackerCert}}, claims)), 401, "signature invalid"},
		{"x5c with the attacker's certificate and its kid", "/rsa",
			bearer(signToken(t, "RS256", k.attackerRSA, map[string]any{"x5c": []string{attackerCert}, "kid": attackerKID}, claims)), 401, "unknown key ID"},

		// jwt_tool -I kid: kid is only ever a map key, never a path, a
		// query or a command; an empty HMAC key (what /dev/null reads as)
		// is never used.
		{"kid ../../../../dev/null with a blank-key signature", "/hs",
			bearer(mintHMAC(t, "HS256", "", `{"alg":"HS256","kid":"../../../../dev/null"}`, payload)), 401, "unknown key ID"},
		{"kid /dev/null with a blank-key signature", "/hs", bearer(mintHMAC(t, "HS256", "", `{"alg":"HS256","kid":"/dev/null"}`, payload)), 401, "unknown key ID"},
		{"kid path traversal, signed by the right secret", "/hs", bearer(signToken(t, "HS256", []byte(testSecret), map[string]any{"kid": "../../../../dev/null"}, claims)), 401, "unknown key ID"},
		{"kid path traversal on an RSA backend, signed by the right key", "/rsa",
			bearer(signToken(t, "RS256", k.rsa, map[string]any{"kid": "../../../../dev/null"}, claims)), 401, "unknown key ID"},
		{"kid SQL injection with a blank-key signature", "/hs", bearer(mintHMAC(t, "HS256", "", `{"alg":"HS256","kid":"' OR 1=1 --"}`, payload)), 401, "unknown key ID"},
		{"kid SQL injection, signed by the right secret", "/hs", bearer(signToken(t, "HS256", []byte(testSecret), map[string]any{"kid": "' OR 1=1 --"}, claims)), 401, "unknown key ID"},
		{"kid SQL injection on an EC backend", "/ec", bearer(signToken(t, "ES256", k.p256, map[string]any{"kid": "' OR 1=1 --"}, claims)), 401, "unknown key ID"},
		{"kid pipe command injection", "/hs", bearer(signToken(t, "HS256", []byte(testSecret), map[string]any{"kid": "|ls"}, claims)), 401, "unknown key ID"},
		{"kid shell substitution", "/hs", bearer(signToken(t, "HS256", []byte(testSecret), map[string]any{"kid": "$(id)"}, claims)), 401, "unknown key ID"},
		{"empty kid", "/hs", bearer(signToken(t, "HS256", []byte(testSecret), map[string]any{"kid": ""}, claims)), 401, "unknown key ID"},
		{"kid that is not a string", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","kid":1}`, payload)), 401, "unknown key ID"},
		{"kid of no configured key, signed by the right key", "/rsa", bearer(signToken(t, "RS256", k.rsa, map[string]any{"kid": "not-a-configured-kid"}, claims)), 401, "unknown key ID"},

		// crit (RFC 7515 §4.1.11): no extension is understood, so any
		// crit header fails.
		{"crit naming exp, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT","crit":["exp"]}`, payload)), 401, "critical header not supported"},
		{"crit naming b64, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","b64":false,"crit":["b64"]}`, payload)), 401, "critical header not supported"},
		{"empty crit list, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","crit":[]}`, payload)), 401, "critical header not supported"},
		{"crit on an RS256 backend", "/rsa", bearer(signToken(t, "RS256", k.rsa, map[string]any{"crit": []string{"exp"}, "kid": rsaKID}, claims)), 401, "critical header not supported"},
		{"crit on an EdDSA backend", "/ed", bearer(signToken(t, "EdDSA", k.ed, map[string]any{"crit": []string{"b64"}, "b64": false}, claims)), 401, "critical header not supported"},

		// Time claims (RFC 7519 §4.1.4, §4.1.5), leeway 30s.
		{"expired beyond the leeway", "/hs", bearer(hs256(t, testSecret, with(map[string]any{"exp": now - 120}))), 401, "token expired"},
		{"expired, on an RS256 backend", "/rsa", bearer(signToken(t, "RS256", k.rsa, nil, with(map[string]any{"exp": now - 120}))), 401, "token expired"},
		{"nbf in the future", "/hs", bearer(hs256(t, testSecret, with(map[string]any{"nbf": now + 600}))), 401, "token not valid yet"},
		{"iat in the future", "/hs", bearer(hs256(t, testSecret, with(map[string]any{"iat": now + 600}))), 401, "token issued in the future"},
		{"no exp", "/hs", bearer(hs256(t, testSecret, with(map[string]any{"exp": nil}))), 401, "token has no exp"},
		{"exp as a string far in the future", "/hs", bearer(hs256(t, testSecret, with(map[string]any{"exp": "9999999999"}))), 401, "invalid token"},

		// iss and aud (RFC 8725 §3.8, §3.9): substitution between issuers
		// and between audiences.
		{"wrong iss", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"iss": "https://evil.example"}))), 401, "issuer mismatch"},
		{"iss differing in case", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"iss": "HTTPS://ISSUER.EXAMPLE"}))), 401, "issuer mismatch"},
		{"no iss", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"iss": nil}))), 401, "token has no iss"},
		{"wrong aud", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"aud": "api-c"}))), 401, "audience mismatch"},
		{"aud as a list without a match", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"aud": []string{"api-c", "api-d"}}))), 401, "audience mismatch"},
		{"aud as a list holding a prefix of an audience", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"aud": []string{"api-"}}))), 401, "audience mismatch"},
		{"aud as an empty list", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"aud": []string{}}))), 401, "token has no aud"},
		{"no aud", "/strict", bearer(hs256(t, testSecret, withStrict(map[string]any{"aud": nil}))), 401, "token has no aud"},
		{"token of a backend sharing the secret but not the issuer", "/strict", bearer(good["hs"]), 401, "token has no iss"},

		// Size: at most 8 KiB, which bounds what a request can make the
		// server decode before any signature is checked.
		{"9 KiB token, correctly signed", "/hs", bearer(paddedToken(t, testSecret, 9<<10)), 401, "token too large"},
		{"9 KiB JOSE header, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","x":"`+padded(7<<10)+`"}`, payload)), 401, "token too large"},
		{"9 KiB RS256 token, correctly signed", "/rsa", bearer(signToken(t, "RS256", k.rsa, nil, with(map[string]any{"pad": padded(7 << 10)}))), 401, "token too large"},
		{"12 KiB Authorization header value", "/hs", bearer(strings.Repeat("A", 12<<10)), 401, "token too large"},
		// Over Caddy's header limit (max_header_size, 16 KiB by default)
		// the request never reaches a handler: the server answers 431.
		{"64 KiB Authorization header value", "/hs", bearer(strings.Repeat("A", 64<<10)), 431, ""},

		// RFC 8725 §3.7: JSON in a JWS is UTF-8. encoding/json would turn
		// invalid bytes into U+FFFD, so two different signed byte strings
		// could name the same user; such a token is malformed.
		{"invalid UTF-8 in the user claim, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes("{\"sub\":\"mal\xfflory\",\"iat\":%d,\"exp\":%d}"))), 401, "malformed token"},
		{"invalid UTF-8 in another claim, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes("{\"sub\":\"mallory\",\"role\":\"adm\xc3\x28in\",\"iat\":%d,\"exp\":%d}"))), 401, "malformed token"},
		{"UTF-16 surrogate as raw bytes, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes("{\"sub\":\"mallory\xed\xa0\x80\",\"iat\":%d,\"exp\":%d}"))), 401, "malformed token"},
		{"invalid UTF-8 in the JOSE header, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, "{\"alg\":\"HS256\",\"typ\":\"JWT\xff\"}", payload)), 401, "malformed token"},
		{"invalid UTF-8 on an RS256 backend, correctly signed", "/rsa",
			bearer(mintRaw(t, "RS256", k.rsa, `{"alg":"RS256"}`, withTimes("{\"sub\":\"mal\xfflory\",\"iat\":%d,\"exp\":%d}"))), 401, "malformed token"},
		// An escaped lone UTF-16 surrogate decodes to U+FFFD as well.
		{"escaped lone high surrogate in the user claim, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes(`{"sub":"mallory\ud800","iat":%d,"exp":%d}`))), 401, "malformed token"},
		{"escaped lone low surrogate in another claim, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes(`{"sub":"mallory","role":"\udfffadmin","iat":%d,"exp":%d}`))), 401, "malformed token"},
		{"escaped surrogates in the wrong order, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes(`{"sub":"mallory\udc00\ud800","iat":%d,"exp":%d}`))), 401, "malformed token"},
		{"escaped lone surrogate in the JOSE header, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT\ud83d"}`, payload)), 401, "malformed token"},

		// One token, one spelling, one meaning: base64url without padding
		// and with its unused bits clear (RFC 7515 §2), JSON without a
		// name twice or bytes after the object (§5.2), RSA-PSS with a salt
		// as long as the hash (RFC 7518 §3.5). golang-jwt's defaults
		// accept each of these but the padding, which is not even a
		// b64token (RFC 6750 §2.1) before the last segment.
		{"= padding after the signature", "/hs", bearer(good["hs"] + "="), 401, "malformed token"},
		{"= padding in the JOSE header, correctly signed", "/hs",
			bearer(hs256Input(base64.URLEncoding.EncodeToString([]byte(`{"alg":"HS256"} `)) + "." + seg("hs", 1))), 400, "malformed Authorization header"},
		{"unused bits set in an HS256 signature", "/hs", bearer(seg("hs", 0) + "." + seg("hs", 1) + "." + withUnusedBits(seg("hs", 2))), 401, "malformed token"},
		{"unused bits set in an RS256 signature", "/rsa", bearer(seg("rsa", 0) + "." + seg("rsa", 1) + "." + withUnusedBits(seg("rsa", 2))), 401, "malformed token"},
		{"unused bits set in the JOSE header, correctly signed", "/hs",
			bearer(hs256Input(withUnusedBits(b64url([]byte(`{"alg":"HS256"} `))) + "." + seg("hs", 1))), 401, "malformed token"},
		{"alg given twice, the last one the backend's, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"none","alg":"HS256"}`, payload)), 401, "malformed token"},
		{"alg given twice, once escaped, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"none","\u0061lg":"HS256"}`, payload)), 401, "malformed token"},
		{"sub given twice, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes(`{"sub":"alice","sub":"mallory","iat":%d,"exp":%d}`))), 401, "malformed token"},
		{"sub given twice, once escaped, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes(`{"sub":"alice","s\u0075b":"mallory","iat":%d,"exp":%d}`))), 401, "malformed token"},
		{"a name twice in a nested claim, correctly signed", "/hs",
			bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, withTimes(`{"sub":"mallory","iat":%d,"exp":%d,"roles":{"admin":false,"admin":true}}`))), 401, "malformed token"},
		{"sub given twice on an RS256 backend, correctly signed", "/rsa",
			bearer(mintRaw(t, "RS256", k.rsa, `{"alg":"RS256"}`, withTimes(`{"sub":"alice","sub":"mallory","iat":%d,"exp":%d}`))), 401, "malformed token"},
		{"a second object after the claims, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, payload+`{"sub":"admin"}`)), 401, "malformed token"},
		{"bytes after the claims, correctly signed", "/hs", bearer(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256"}`, payload+"garbage")), 401, "malformed token"},
		{"bytes after the claims on an EdDSA backend, correctly signed", "/ed", bearer(mintRaw(t, "EdDSA", k.ed, `{"alg":"EdDSA"}`, payload+"]")), 401, "malformed token"},
		{"PS256 with a 20-byte salt, signed by the right key", "/pss", bearer(pssToken(20)), 401, "signature invalid"},
		{"PS256 with the longest salt, signed by the right key", "/pss", bearer(pssToken(rsa.PSSSaltLengthAuto)), 401, "signature invalid"},

		// The compact serialization only (RFC 7519 §7.2); JWE and the JSON
		// serializations are refused.
		{"flattened JSON-serialized JWS", "/hs", bearer(jsonSerialized(t, testSecret, payload, false)), 400, "malformed Authorization header"},
		{"general JSON-serialized JWS", "/hs", bearer(jsonSerialized(t, testSecret, payload, true)), 400, "malformed Authorization header"},
		{"five segments, shaped like a JWE", "/hs", bearer(seg("hs", 0) + ".." + seg("hs", 1) + "." + seg("hs", 2) + ".x"), 401, "malformed token"},
		{"an extra segment", "/hs", bearer(good["hs"] + ".x"), 401, "malformed token"},
		{"Bearer garbage", "/hs", bearer("garbage"), 401, "malformed token"},

		// The Authorization header itself: one that cannot be read is a
		// bad request, 400 (RFC 6750 §3.1 invalid_request), not a 401.
		{"two Authorization headers, both valid", "/hs", http.Header{"Authorization": {"Bearer " + good["hs"], "Bearer " + good["hs"]}}, 400, "more than one Authorization header"},
		{"two Authorization headers, the first garbage", "/hs", http.Header{"Authorization": {"Bearer garbage", "Bearer " + good["hs"]}}, 400, "more than one Authorization header"},
		{"Basic and Bearer Authorization headers", "/hs", http.Header{"Authorization": {"Basic YTpi", "Bearer " + good["hs"]}}, 400, "more than one Authorization header"},
		{"two tokens in one Authorization header", "/hs", http.Header{"Authorization": {"Bearer " + good["hs"] + ", Bearer " + good["hs"]}}, 400, "malformed Authorization header"},

		// from_query is off unless configured: a token in the URL is no
		// token at all.
		{"token in access_token while from_query is off", "/hs?access_token=" + good["hs"], nil, 401, ""},
		{"token in token while from_query is off", "/hs?token=" + good["hs"], nil, 401, ""},
		{"token in jwt while from_query is off", "/rsa?jwt=" + good["rsa"], nil, 401, ""},

		// CVE-2022-21449 ("psychic signatures"): ECDSA signatures that are
		// zero or the curve order, and ASN.1 signatures instead of r||s.
		{"ECDSA signature r=s=0", "/ec", bearer(seg("ec", 0) + "." + seg("ec", 1) + "." + b64url(make([]byte, 64))), 401, "signature invalid"},
		{"ECDSA signature r=s=n", "/ec", bearer(seg("ec", 0) + "." + seg("ec", 1) + "." + b64url(append(append([]byte{}, p256Order...), p256Order...))), 401, "signature invalid"},
		{"ECDSA signature r=s=0 in ASN.1 DER", "/ec", bearer(seg("ec", 0) + "." + seg("ec", 1) + ".MAYCAQACAQA"), 401, "signature invalid"},
		{"ECDSA signature in ASN.1 DER", "/ec", bearer(seg("ec", 0) + "." + seg("ec", 1) + "." + b64url(ecDER)), 401, "signature invalid"},
	}

	// alg none in every spelling (RFC 8725 §3.1, jwt_tool -X a), with an
	// empty signature and with the genuine token's signature left in
	// place, on an HMAC and on each kind of public-key backend.
	for _, backend := range []string{"hs", "rsa", "ec", "ed"} {
		for _, none := range []string{"none", "None", "NONE", "nOnE"} {
			header := b64url([]byte(`{"alg":"` + none + `","typ":"JWT"}`))
			tests = append(tests,
				attack{"alg " + none + " with an empty signature on " + backend, "/" + backend, bearer(header + "." + seg(backend, 1) + "."), 401, "algorithm not allowed"},
				attack{"alg " + none + " keeping the genuine signature on " + backend, "/" + backend, bearer(header + "." + seg(backend, 1) + "." + seg(backend, 2)), 401, "algorithm not allowed"})
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+tt.path, tt.header)
			if strings.Contains(body, marker) {
				t.Fatalf("reached the protected handler: %d %q", resp.StatusCode, body)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			}
			realm, _, _ := strings.Cut(strings.TrimPrefix(tt.path, "/"), "?")
			var want string
			switch {
			case tt.status == 400:
				want = challengeFor(realm, "invalid_request", tt.reason)
			case tt.status == 401 && tt.reason == "":
				want = `Bearer realm="` + realm + `"` // RFC 6750 §3.1: no token, no error code
			case tt.status == 401:
				want = challengeFor(realm, "invalid_token", tt.reason)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
			}
		})
	}
	if n := jkuHits.Load() + x5uHits.Load(); n != 0 {
		t.Errorf("the jku/x5u servers got %d requests; they must get none", n)
	}
	t.Logf("%d attacks refused", len(tests))
}

// flipChar changes the character at i of a base64url string to another one.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// mintRaw signs header and payload, used byte for byte, with any algorithm
// golang-jwt knows, and returns the compact JWS.
func mintRaw(t testing.TB, alg string, key any, header, payload string) string {
	t.Helper()
	input := b64url([]byte(header)) + "." + b64url([]byte(payload))
	sig, err := jwt.GetSigningMethod(alg).Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(sig)
}

// jsonSerialized is a correctly signed HS256 JWS in the flattened JSON
// serialization (RFC 7515 §7.2.2) or, with general, the general one
// (§7.2.1), made by go-jose.
func jsonSerialized(t testing.TB, secret, payload string, general bool) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	flat := jws.FullSerialize()
	if !general {
		return flat
	}
	var f struct {
		Payload   string `json:"payload"`
		Protected string `json:"protected"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal([]byte(flat), &f); err != nil {
		t.Fatal(err)
	}
	return string(mustJSON(t, map[string]any{
		"payload":    f.Payload,
		"signatures": []map[string]string{{"protected": f.Protected, "signature": f.Signature}},
	}))
}

// publicJWK is a public key as a JWK object, for a jwk header.
func publicJWK(t testing.TB, pub any) map[string]any {
	t.Helper()
	b, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// selfSignedCert is a certificate for key, signed by itself, as standard
// base64 DER for an x5c header.
func selfSignedCert(t testing.TB, key crypto.Signer) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}
