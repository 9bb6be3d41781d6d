package caddyjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Keys are generated once per test binary: RSA generation is slow, and
// every test may share them. Nothing private is committed.
type testKeySet struct {
	rsa, rsaOther               *rsa.PrivateKey
	rsa1024                     *rsa.PrivateKey
	p256, p256Other, p384, p521 *ecdsa.PrivateKey
	p224                        *ecdsa.PrivateKey
	ed, edOther                 ed25519.PrivateKey
	attackerRSA                 *rsa.PrivateKey
	attackerP256                *ecdsa.PrivateKey
	attackerEd25519             ed25519.PrivateKey
	generationFailure           error
}

var (
	testKeysOnce sync.Once
	testKeysVal  testKeySet
)

// testKeys gives the shared generated keys.
func testKeys(t testing.TB) *testKeySet {
	t.Helper()
	testKeysOnce.Do(func() {
		k := &testKeysVal
		var errs []error
		rsaKey := func(bits int) *rsa.PrivateKey {
			key, err := rsa.GenerateKey(rand.Reader, bits)
			errs = append(errs, err)
			return key
		}
		ecKey := func(c elliptic.Curve) *ecdsa.PrivateKey {
			key, err := ecdsa.GenerateKey(c, rand.Reader)
			errs = append(errs, err)
			return key
		}
		edKey := func() ed25519.PrivateKey {
			_, key, err := ed25519.GenerateKey(rand.Reader)
			errs = append(errs, err)
			return key
		}
		k.rsa, k.rsaOther, k.attackerRSA = rsaKey(2048), rsaKey(2048), rsaKey(2048)
		k.rsa1024 = rsaKey(1024)
		k.p256, k.p256Other, k.attackerP256 = ecKey(elliptic.P256()), ecKey(elliptic.P256()), ecKey(elliptic.P256())
		k.p384, k.p521, k.p224 = ecKey(elliptic.P384()), ecKey(elliptic.P521()), ecKey(elliptic.P224())
		k.ed, k.edOther, k.attackerEd25519 = edKey(), edKey(), edKey()
		k.generationFailure = errors.Join(errs...)
	})
	if testKeysVal.generationFailure != nil {
		t.Fatal(testKeysVal.generationFailure)
	}
	return &testKeysVal
}

// pemPrivate encodes a private key: format is "pkcs8", "pkcs1" (RSA) or
// "sec1" (EC).
func pemPrivate(t testing.TB, key crypto.Signer, format string) string {
	t.Helper()
	var block *pem.Block
	switch format {
	case "pkcs8":
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case "pkcs1":
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	case "sec1":
		der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		t.Fatalf("unknown format %q", format)
	}
	return string(pem.EncodeToMemory(block))
}

// pemPublic encodes a public key as PKIX.
func pemPublic(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keyFile writes a PEM key into the test's temp dir.
func keyFile(t testing.TB, name, pemText string) string {
	t.Helper()
	return tempFile(t, name, pemText)
}

// joseThumbprint is go-jose's RFC 7638 thumbprint of a public key.
func joseThumbprint(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return b64url(sum)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signToken signs claims with golang-jwt, with extra header fields (a nil
// value deletes one). It is the attacker's and the test's pen.
func signToken(t testing.TB, alg string, key any, header map[string]any, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims(claims))
	withChanges(tok.Header, header)
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", alg, err)
	}
	return s
}

// mintJoseKey signs claims with go-jose and an asymmetric key; kid may be "".
func mintJoseKey(t testing.TB, alg jose.SignatureAlgorithm, key crypto.Signer, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(mustJSON(t, claims))
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hitCounter is a loopback HTTP server that counts the requests it gets;
// the jku and x5u attacks point at it.
func hitCounter(t testing.TB) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, hits
}

func TestParseKeyFormats(t *testing.T) {
	k := testKeys(t)
	ecParams := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
	tests := []struct {
		name    string
		pem     string
		want    crypto.PublicKey
		wantAlg string
	}{
		{"RSA in PKCS#8", pemPrivate(t, k.rsa, "pkcs8"), k.rsa.Public(), "RS256"},
		{"RSA in PKCS#1", pemPrivate(t, k.rsa, "pkcs1"), k.rsa.Public(), "RS256"},
		{"P-256 in PKCS#8", pemPrivate(t, k.p256, "pkcs8"), k.p256.Public(), "ES256"},
		{"P-256 in SEC 1", pemPrivate(t, k.p256, "sec1"), k.p256.Public(), "ES256"},
		{"P-256 in SEC 1 after EC PARAMETERS, as openssl ecparam writes it", ecParams + pemPrivate(t, k.p256, "sec1"), k.p256.Public(), "ES256"},
		{"P-384 in SEC 1", pemPrivate(t, k.p384, "sec1"), k.p384.Public(), "ES384"},
		{"P-521 in PKCS#8", pemPrivate(t, k.p521, "pkcs8"), k.p521.Public(), "ES512"},
		{"Ed25519 in PKCS#8", pemPrivate(t, k.ed, "pkcs8"), k.ed.Public(), "EdDSA"},
		{"text before the PEM block is ignored", "# demo key\n" + pemPrivate(t, k.ed, "pkcs8"), k.ed.Public(), "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, err := parsePrivateKey([]byte(tt.pem))
			if err != nil {
				t.Fatal(err)
			}
			if !signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.want) {
				t.Fatal("parsed a different key")
			}
			if got := keyAlgorithms(signer.Public())[0]; got != tt.wantAlg {
				t.Errorf("default algorithm %s, want %s", got, tt.wantAlg)
			}
			// The same file serves as a verify_key.
			pub, err := parsePublicKey([]byte(tt.pem))
			if err != nil || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.want) {
				t.Fatalf("as a public key: %v", err)
			}
		})
	}

	publics := []struct {
		name string
		pem  string
		want crypto.PublicKey
	}{
		{"RSA PKIX", pemPublic(t, k.rsa.Public()), k.rsa.Public()},
		{"RSA PKCS#1", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})), k.rsa.Public()},
		{"P-521 PKIX", pemPublic(t, k.p521.Public()), k.p521.Public()},
		{"Ed25519 PKIX", pemPublic(t, k.ed.Public()), k.ed.Public()},
	}
	for _, tt := range publics {
		t.Run("public "+tt.name, func(t *testing.T) {
			pub, err := parsePublicKey([]byte(tt.pem))
			if err != nil {
				t.Fatal(err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.want) {
				t.Fatal("parsed a different key")
			}
		})
	}
}

func TestParseKeyRefusals(t *testing.T) {
	k := testKeys(t)
	encrypted := string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	tests := []struct {
		name    string
		pem     string
		private bool // parse as a sign_key, else as a verify_key
		want    string
	}{
		{"RSA key under 2048 bits", pemPrivate(t, k.rsa1024, "pkcs1"), true, "1024 bits; at least 2048"},
		{"RSA public key under 2048 bits", pemPublic(t, k.rsa1024.Public()), false, "1024 bits; at least 2048"},
		{"P-224 key", pemPrivate(t, k.p224, "pkcs8"), true, "unsupported EC curve P-224"},
		{"public key as sign_key", pemPublic(t, k.p256.Public()), true, "public key, but a private key is needed"},
		{"encrypted private key", encrypted, true, "encrypted private keys are not supported"},
		{"no PEM at all", "not a key", true, "no PEM data"},
		{"a certificate request", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}})), false, `"CERTIFICATE REQUEST" is not a private key`},
		{"PKCS#8 block with garbage inside", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")})), true, "not an RSA, ECDSA or Ed25519 private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.private {
				_, err = parsePrivateKey([]byte(tt.pem))
			} else {
				_, err = parsePublicKey([]byte(tt.pem))
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestAsymmetricInterop: for every algorithm, jwt_login's tokens verify
// with go-jose and the public key and carry the thumbprint as kid, and
// go-jose's tokens are accepted by jwt_auth.
func TestAsymmetricInterop(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	tests := []struct {
		backend   string
		algorithm string // the algorithm line; "" for the key's default
		key       crypto.Signer
		format    string
		want      jose.SignatureAlgorithm
	}{
		{"rs256", "", k.rsa, "pkcs1", jose.RS256},
		{"rs384", "RS384", k.rsa, "pkcs8", jose.RS384},
		{"rs512", "RS512", k.rsa, "pkcs1", jose.RS512},
		{"ps256", "PS256", k.rsa, "pkcs8", jose.PS256},
		{"ps384", "PS384", k.rsa, "pkcs1", jose.PS384},
		{"ps512", "PS512", k.rsa, "pkcs8", jose.PS512},
		{"es256", "", k.p256, "sec1", jose.ES256},
		{"es384", "", k.p384, "pkcs8", jose.ES384},
		{"es512", "ES512", k.p521, "sec1", jose.ES512},
		{"eddsa", "", k.ed, "pkcs8", jose.EdDSA},
	}
	var globals, site strings.Builder
	globals.WriteString("jwt {\n")
	for _, tt := range tests {
		file := keyFile(t, tt.backend+".pem", pemPrivate(t, tt.key, tt.format))
		globals.WriteString("backend " + tt.backend + " {\n sign_key " + file + "\n")
		if tt.algorithm != "" {
			globals.WriteString(" algorithm " + tt.algorithm + "\n")
		}
		globals.WriteString(" issuer https://issuer.example\n user alice " + hash + " role=admin\n}\n")
		site.WriteString("jwt_login /" + tt.backend + "/login " + tt.backend + "\n")
		site.WriteString("jwt_auth /" + tt.backend + "/api " + tt.backend + "\n")
	}
	globals.WriteString("}\n")
	site.WriteString(`respond "{http.auth.jwt.backend} {http.auth.user.id} {http.auth.user.role}"`)
	base := startCaddy(t, globals.String(), site.String())

	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			raw := loginSite{t, base + "/" + tt.backend + "/login"}.token("alice", "pw")
			obj, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{tt.want})
			if err != nil {
				t.Fatalf("go-jose cannot parse the token as %s: %v", tt.want, err)
			}
			h := obj.Signatures[0].Protected
			if want := joseThumbprint(t, tt.key.Public()); h.KeyID != want {
				t.Errorf("kid %q, want the RFC 7638 thumbprint %q", h.KeyID, want)
			}
			if h.ExtraHeaders["typ"] != "JWT" {
				t.Errorf("typ %v", h.ExtraHeaders["typ"])
			}
			payload, err := obj.Verify(tt.key.Public())
			if err != nil {
				t.Fatalf("go-jose rejects the signature: %v", err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil || claims["sub"] != "alice" || claims["role"] != "admin" || claims["iss"] != "https://issuer.example" {
				t.Errorf("claims %v (%v)", claims, err)
			}
			// Another key of the same kind must not verify it.
			if _, err := obj.Verify(otherKeyLike(t, tt.key)); err == nil {
				t.Error("go-jose verified the token with an unrelated key")
			}

			// The login token is accepted by jwt_auth...
			resp, body := sendAuth(t, "GET", base+"/"+tt.backend+"/api", bearer(raw))
			if resp.StatusCode != 200 || body != tt.backend+" alice admin" {
				t.Fatalf("login token: %d %q", resp.StatusCode, body)
			}
			// ...and so are go-jose's, with or without kid.
			claims = validClaims("bob", map[string]any{"iss": "https://issuer.example", "role": "viewer"})
			for _, kid := range []string{joseThumbprint(t, tt.key.Public()), ""} {
				tok := mintJoseKey(t, tt.want, tt.key, kid, claims)
				resp, body = sendAuth(t, "GET", base+"/"+tt.backend+"/api", bearer(tok))
				if resp.StatusCode != 200 || body != tt.backend+" bob viewer" {
					t.Errorf("go-jose token (kid %q): %d %q %s", kid, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// otherKeyLike gives a different public key of the same type as key.
func otherKeyLike(t testing.TB, key crypto.Signer) crypto.PublicKey {
	k := testKeys(t)
	switch key.(type) {
	case *rsa.PrivateKey:
		return k.rsaOther.Public()
	case ed25519.PrivateKey:
		return k.edOther.Public()
	}
	other, err := ecdsa.GenerateKey(key.(*ecdsa.PrivateKey).Curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return other.Public()
}

// TestKeyRotation: a sign_key signs, verify_keys still verify, and a kid
// picks exactly one key.
func TestKeyRotation(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	current := keyFile(t, "current.pem", pemPrivate(t, k.p256, "pkcs8"))
	previous := keyFile(t, "previous.pub.pem", pemPublic(t, k.p256Other.Public()))
	oldest := keyFile(t, "oldest.pem", pemPrivate(t, k.attackerP256, "sec1")) // a private key file works as verify_key too
	base := startCaddy(t, `
	jwt {
		backend api {
			sign_key `+current+`
			verify_key `+previous+`
			verify_key `+oldest+` legacy-1
			user alice `+hash+`
		}
		backend readonly {
			verify_key `+previous+`
		}
	}`, `
	jwt_login /login api
	jwt_auth /api api
	jwt_auth /ro readonly
	respond "{http.auth.user.id}"`)

	login := loginSite{t, base + "/login"}.token("alice", "pw")
	claims := validClaims("bob", nil)
	kidOf := func(key crypto.Signer) string { return joseThumbprint(t, key.Public()) }
	tests := []struct {
		name   string
		path   string
		token  string
		status int
		reason string
	}{
		{"jwt_login's token, signed by the current key", "/api", login, 200, ""},
		{"previous key, kid = its thumbprint", "/api", signToken(t, "ES256", k.p256Other, map[string]any{"kid": kidOf(k.p256Other)}, claims), 200, ""},
		{"previous key without kid is tried against every key", "/api", signToken(t, "ES256", k.p256Other, nil, claims), 200, ""},
		{"oldest key under its configured kid", "/api", signToken(t, "ES256", k.attackerP256, map[string]any{"kid": "legacy-1"}, claims), 200, ""},
		{"oldest key under its thumbprint, which is not its kid here", "/api",
			signToken(t, "ES256", k.attackerP256, map[string]any{"kid": kidOf(k.attackerP256)}, claims), 401, "unknown key ID"},
		{"current key naming the previous key's kid", "/api",
			signToken(t, "ES256", k.p256, map[string]any{"kid": kidOf(k.p256Other)}, claims), 401, "signature invalid"},
		{"unrelated key without kid", "/api", signToken(t, "ES256", mustECKey(t), nil, claims), 401, "signature invalid"},
		{"unknown kid", "/api", signToken(t, "ES256", k.p256, map[string]any{"kid": "next-year"}, claims), 401, "unknown key ID"},
		{"verify-only backend accepts the previous key", "/ro", signToken(t, "ES256", k.p256Other, nil, claims), 200, ""},
		{"verify-only backend refuses the current key", "/ro", login, 401, "unknown key ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := sendAuth(t, "GET", base+tt.path, bearer(tt.token))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			}
			if tt.reason != "" && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error_description="`+tt.reason+`"`) {
				t.Errorf("WWW-Authenticate %q, want reason %q", resp.Header.Get("WWW-Authenticate"), tt.reason)
			}
		})
	}
}

func mustECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestHMACRotationKid: repeated secrets, the first signing; login tokens
// carry its kid.
func TestHMACRotationKid(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	const newer, older = "newer-secret-0123456789-0123456789-abc", testSecret
	base := startCaddy(t, `
	jwt {
		backend api {
			secret `+newer+` k2
			secret `+older+` k1
			user alice `+hash+`
		}
	}`, `
	jwt_login /login
	jwt_auth /api
	respond "{http.auth.user.id}"`)
	login := loginSite{t, base + "/login"}.token("alice", "pw")
	if tok, _, err := jwt.NewParser().ParseUnverified(login, jwt.MapClaims{}); err != nil || tok.Header["kid"] != "k2" {
		t.Fatalf("login token kid: %v %v", tok.Header["kid"], err)
	}
	claims := validClaims("bob", nil)
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"login token", login, 200},
		{"old secret under its kid", signToken(t, "HS256", []byte(older), map[string]any{"kid": "k1"}, claims), 200},
		{"old secret without kid", signToken(t, "HS256", []byte(older), nil, claims), 200},
		{"old secret under the new secret's kid", signToken(t, "HS256", []byte(older), map[string]any{"kid": "k2"}, claims), 401},
		{"unknown kid", signToken(t, "HS256", []byte(older), map[string]any{"kid": "k3"}, claims), 401},
		{"kid that is not a string", signToken(t, "HS256", []byte(older), map[string]any{"kid": 1}, claims), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, _ := sendAuth(t, "GET", base+"/api", bearer(tt.token)); resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// TestKeyConfigErrors: each broken key setup fails to load with an error
// that names the backend, the setting and what is wrong.
func TestKeyConfigErrors(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	rsaFile := keyFile(t, "rsa.pem", pemPrivate(t, k.rsa, "pkcs8"))
	smallRSA := keyFile(t, "small.pem", pemPrivate(t, k.rsa1024, "pkcs1"))
	p256File := keyFile(t, "p256.pem", pemPrivate(t, k.p256, "sec1"))
	p256Pub := keyFile(t, "p256.pub.pem", pemPublic(t, k.p256.Public()))
	missing := t.TempDir() + "/missing.pem"
	backend := func(body string) string { return "jwt {\n backend api {\n" + body + "\n }\n}" }

	tests := []struct {
		name    string
		globals string
		site    string
		want    []string
	}{
		{"RSA key under 2048 bits", backend("sign_key " + smallRSA), "jwt_auth",
			[]string{`"api"`, "sign_key", "1024 bits", "2048"}},
		{"ES256 with an RSA key", backend("sign_key " + rsaFile + "\nalgorithm ES256"), "jwt_auth",
			[]string{`"api"`, "algorithm", "ES256", "RSA 2048-bit key"}},
		{"ES384 with a P-256 key", backend("sign_key " + p256File + "\nalgorithm ES384"), "jwt_auth",
			[]string{"ES384", "ECDSA P-256 key", "ES256"}},
		{"EdDSA with an RSA verify_key", backend("verify_key " + rsaFile + "\nalgorithm EdDSA"), "jwt_auth",
			[]string{"verify_key", "EdDSA", "RSA 2048-bit key"}},
		{"HS256 with a key file", backend("sign_key " + rsaFile + "\nalgorithm HS256"), "jwt_auth",
			[]string{`"api"`, "algorithm", "HS256", "secret", "sign_key " + rsaFile}},
		{"RS256 with a secret", backend("secret " + testSecret + "\nalgorithm RS256"), "jwt_auth",
			[]string{`"api"`, "algorithm", "RS256", "HMAC secret"}},
		{"verify_key of another type than sign_key", backend("sign_key " + rsaFile + "\nverify_key " + p256Pub), "jwt_auth",
			[]string{"verify_key", "RS256", "ECDSA P-256 key", p256Pub}},
		{"secret and sign_key together", backend("secret " + testSecret + "\nsign_key " + rsaFile), "jwt_auth",
			[]string{`"api"`, "secret", "sign_key"}},
		{"sign_key and jwks together", backend("sign_key " + rsaFile + "\njwks https://idp.example/jwks"), "jwt_auth",
			[]string{`"api"`, "sign_key", "jwks"}},
		{"verify_key with a secret", backend("secret " + testSecret + "\nverify_key " + p256Pub), "jwt_auth",
			[]string{"verify_key", "HMAC"}},
		{"two algorithms without jwks", backend("sign_key " + rsaFile + "\nalgorithm RS256 PS256"), "jwt_auth",
			[]string{"algorithm", "only with jwks"}},
		{"unknown algorithm", backend("sign_key " + rsaFile + "\nalgorithm RS999"), "jwt_auth",
			[]string{"algorithm", "RS999"}},
		{"none as algorithm", backend("sign_key " + rsaFile + "\nalgorithm none"), "jwt_auth",
			[]string{"algorithm", `"none"`}},
		{"missing key file", backend("sign_key " + missing), "jwt_auth",
			[]string{`"api"`, "sign_key", missing}},
		{"a key file that is a device, which would be read for ever", backend("sign_key /dev/zero"), "jwt_auth",
			[]string{`"api"`, "sign_key", "/dev/zero is not a regular file"}},
		{"a users file that is a device", backend("secret " + testSecret + "\nusers /dev/zero"), "jwt_auth",
			[]string{`"api"`, "users", "/dev/zero is not a regular file"}},
		{"public key as sign_key", backend("sign_key " + p256Pub), "jwt_auth",
			[]string{"sign_key", p256Pub, "private key is needed"}},
		{"two sign_keys", backend("sign_key " + rsaFile + "\nsign_key " + p256File), "jwt_auth",
			[]string{"sign_key", "only one"}},
		{"the same key twice under one kid", backend("sign_key " + p256File + "\nverify_key " + p256Pub), "jwt_auth",
			[]string{"verify_key", "used twice"}},
		{"plain http to a remote host", backend("jwks http://idp.example/jwks"), "jwt_auth",
			[]string{"jwks", "loopback", "https"}},
		{"jwks with another scheme", backend("jwks file:///etc/jwks.json"), "jwt_auth",
			[]string{"jwks", "https"}},
		{"jwt_login on a jwks backend", backend("jwks https://127.0.0.1:1/jwks\nuser alice " + hash), "jwt_login /login",
			[]string{"jwt_login", `"api"`, "jwks", "cannot sign"}},
		{"jwt_login on a verify-only backend", backend("verify_key " + p256Pub + "\nuser alice " + hash), "jwt_login /login",
			[]string{"jwt_login", `"api"`, "verify_key", "cannot sign"}},
		{"HS256 with a jwks", backend("jwks https://127.0.0.1:1/jwks\nalgorithm HS256"), "jwt_auth",
			[]string{"algorithm", "HS256", "secret"}},
		{"require without a value", backend("sign_key " + rsaFile), "jwt_auth {\n require role\n}",
			[]string{"require", "<claim> <value...>"}},
		{"from_header Authorization", backend("sign_key " + rsaFile), "jwt_auth {\n from_header authorization\n}",
			[]string{"from_header", "Authorization"}},
		{"from_query without a name", backend("sign_key " + rsaFile), "jwt_auth {\n from_query\n}",
			[]string{"from_query"}},
		{"from_query with an empty name", backend("sign_key " + rsaFile), "jwt_auth {\n from_query \"\"\n}",
			[]string{"from_query", "expected one query name"}},
		{"from_header with an empty name", backend("sign_key " + rsaFile), "jwt_auth {\n from_header \"\"\n}",
			[]string{"from_header", "expected one header name"}},
		{"from_header with a name no request can carry", backend("sign_key " + rsaFile), "jwt_auth {\n from_header \"X Token\"\n}",
			[]string{"from_header", `"X Token" is not a valid header name`}},
		{"require with an empty claim", backend("sign_key " + rsaFile), "jwt_auth {\n require \"\" admin\n}",
			[]string{"require", "<claim> <value...>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLoadError(t, tt.globals, tt.site, tt.want...)
		})
	}
}

// TestKeyConfigErrorsInJSON: the same checks hold for JSON configs, which
// skip the Caddyfile parser.
func TestKeyConfigErrorsInJSON(t *testing.T) {
	k := testKeys(t)
	rsaFile := keyFile(t, "rsa.pem", pemPrivate(t, k.rsa, "pkcs8"))
	tests := []struct {
		name    string
		backend string
		want    []string
	}{
		{"ES256 with an RSA key", `{"sign_key":{"file":"` + rsaFile + `"},"algorithm":"ES256"}`, []string{"algorithm", "ES256", "RSA"}},
		{"HS256 with a key file", `{"sign_key":{"file":"` + rsaFile + `"},"algorithm":"HS256"}`, []string{"algorithm", "HS256", "sign_key " + rsaFile}},
		{"HS256 with a JWK Set", `{"jwks":{"url":"https://127.0.0.1:1/"},"algorithm":"HS256"}`, []string{"algorithm", "HS256", "jwks"}},
		{"RSA key under 2048 bits", `{"verify_keys":[{"file":"` + keyFile(t, "small.pem", pemPublic(t, k.rsa1024.Public())) + `"}]}`, []string{"verify_key", "1024 bits"}},
		{"secret and jwks", `{"secrets":[{"value":"` + testSecret + `"}],"jwks":{"url":"https://127.0.0.1:1/"}}`, []string{"jwks", "secret"}},
		{"algorithms without jwks", `{"sign_key":{"file":"` + rsaFile + `"},"algorithms":["RS256","PS256"]}`, []string{"algorithm", "jwks"}},
		{"jwks without URL", `{"jwks":{}}`, []string{"jwks", "URL"}},
		{"jwks over plain http to a remote host", `{"jwks":{"url":"http://10.0.0.1/jwks"}}`, []string{"jwks", "loopback"}},
		{"no key material", `{}`, []string{"no key material"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &caddy.Config{AppsRaw: caddy.ModuleMap{"jwt": json.RawMessage(`{"backends":{"api":` + tt.backend + `}}`)}}
			err := caddy.Validate(cfg)
			if err == nil {
				t.Fatal("config loaded")
			}
			wantMentions(t, err, append(tt.want, `"api"`)...)
		})
	}
}

// TestExampleEdDSABackend runs Caddyfile.example and logs in on its EdDSA
// backend: the token is EdDSA, names the demo key by thumbprint, verifies
// with go-jose and the public key, and opens /api/.
func TestExampleEdDSABackend(t *testing.T) {
	base := runExample(t)

	demoKey, err := loadPublicKey("testdata/demo-ed25519.pem")
	if err != nil {
		t.Fatal(err)
	}
	login := loginSite{t, base + "/auth/eddsa/login"}
	raw := login.tokenOf(login.form(demoUser, demoPassword, nil))
	obj, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if kid := obj.Signatures[0].Protected.KeyID; kid != joseThumbprint(t, demoKey) {
		t.Errorf("kid %q is not the demo key's thumbprint", kid)
	}
	if _, err := obj.Verify(demoKey); err != nil {
		t.Fatalf("go-jose rejects the demo token: %v", err)
	}
	resp, body := sendAuth(t, "GET", base+"/api/", bearer(raw))
	if resp.StatusCode != 200 || !strings.Contains(body, `"backend":"demo-ed"`) {
		t.Fatalf("api: %d %s", resp.StatusCode, body)
	}
}
