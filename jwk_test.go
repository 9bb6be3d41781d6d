package caddyjwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// The example public keys of RFC 7517 Appendix A.1, with the line breaks
// the RFC adds for display removed from n.
const rfc7517PublicKeys = `{"keys":
       [
         {"kty":"EC",
          "crv":"P-256",
          "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
          "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
          "use":"enc",
          "kid":"1"},

         {"kty":"RSA",
          "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
          "e":"AQAB",
          "alg":"RS256",
          "kid":"2011-04-29"}
       ]
     }`

// The members of those keys, and the private d of the EC key from
// Appendix A.2, which checks the other two: d·G must be (x, y).
const (
	rfc7517X = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
	rfc7517Y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
	rfc7517D = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
	rfc7517N = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)

// rfc7517Keys are the keys of Appendix A.1, built from their numbers with
// the standard library alone.
func rfc7517Keys(t *testing.T) (*ecdsa.PublicKey, *rsa.PublicKey) {
	t.Helper()
	ec := &ecdsa.PublicKey{Curve: elliptic.P256(), X: b64Int(t, rfc7517X), Y: b64Int(t, rfc7517Y)}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b64Bytes(t, rfc7517D))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(ec) {
		t.Fatal("the example EC key's d does not give its x and y: a typo in the vectors")
	}
	return ec, &rsa.PublicKey{N: b64Int(t, rfc7517N), E: 65537}
}

func b64Bytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64Int(t *testing.T, s string) *big.Int { return new(big.Int).SetBytes(b64Bytes(t, s)) }

// decodeJWK reads one JWK as parseJWKS does, up to its public key.
func decodeJWK(raw []byte) (crypto.PublicKey, error) {
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, err
	}
	return k.publicKey()
}

func TestJWKDecodesTheRFC7517Examples(t *testing.T) {
	wantEC, wantRSA := rfc7517Keys(t)
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal([]byte(rfc7517PublicKeys), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("the example set: %v, %d keys", err, len(set.Keys))
	}
	for i, want := range []interface{ Equal(crypto.PublicKey) bool }{wantEC, wantRSA} {
		got, err := decodeJWK(set.Keys[i])
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if !want.Equal(got) {
			t.Errorf("key %d: decoded %#v, want %#v", i, got, want)
		}
	}

	// As a set: the RSA key verifies RS256 under its kid; the EC key is
	// for encryption and is left out.
	snap, skipped, err := parseJWKS([]byte(rfc7517PublicKeys), nil)
	if err != nil {
		t.Fatal(err)
	}
	if key, _ := snap.find("2011-04-29", "RS256").(*rsa.PublicKey); key == nil || !key.Equal(wantRSA) {
		t.Errorf("kid 2011-04-29 for RS256: %v", snap.find("2011-04-29", "RS256"))
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], `use is "enc"`) {
		t.Errorf("skipped %q, want only the EC key, for its use", skipped)
	}
}

// TestJWKDecodingKeepsItsRules: what go-jose would read differently on its
// own is read as this plugin always did.
func TestJWKDecodingKeepsItsRules(t *testing.T) {
	wantEC, wantRSA := rfc7517Keys(t)
	ec := func(extra string) string {
		return `{"kty":"EC","crv":"P-256","x":"` + rfc7517X + `","y":"` + rfc7517Y + `"` + extra + `}`
	}
	rsaE := func(e string) string { return `{"kty":"RSA","n":"` + rfc7517N + `","e":"` + e + `"}` }
	padded := base64.RawURLEncoding.EncodeToString(append([]byte{0}, b64Bytes(t, rfc7517X)...))
	huge := base64.RawURLEncoding.EncodeToString(append([]byte{1}, bytes.Repeat([]byte{0xff}, 512)...))
	smallOrder := base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 31)...))
	tests := []struct {
		name string
		raw  string
		want crypto.PublicKey // nil: refused, with an error containing err
		err  string
	}{
		{"a private key is used by its public members", ec(`,"d":"` + rfc7517D + `"`), wantEC, ""},
		{"a private member that is not even a key is ignored", ec(`,"d":"AA"`), wantEC, ""},
		{"x5c is never read", ec(`,"x5c":["not a certificate"]`), wantEC, ""},
		{"member names match in any case", `{"KTY":"EC","Crv":"P-256","X":"` + rfc7517X + `","y":"` + rfc7517Y + `"}`, wantEC, ""},
		{"of two equal names the last counts", `{"kty":"EC","crv":"P-384","x":"` + rfc7517X + `","y":"` + rfc7517Y + `","crv":"P-256"}`, wantEC, ""},
		{"a coordinate with a leading zero byte too many", `{"kty":"EC","crv":"P-256","x":"` + padded + `","y":"` + rfc7517Y + `"}`, nil, "length"},
		{"a point off the curve", `{"kty":"EC","crv":"P-256","x":"` + rfc7517Y + `","y":"` + rfc7517X + `"}`, nil, "curve"},
		{"an unknown curve", `{"kty":"EC","crv":"secp256k1","x":"` + rfc7517X + `","y":"` + rfc7517Y + `"}`, nil, `unsupported curve "secp256k1"`},
		{"X25519 is not for signatures", `{"kty":"OKP","crv":"X25519","x":"` + rfc7517X + `"}`, nil, `unsupported curve "X25519"`},
		{"a symmetric key", `{"kty":"oct","k":"` + rfc7517X + `"}`, nil, `unsupported kty "oct"`},
		{"no kty", `{"n":"` + rfc7517N + `","e":"AQAB"}`, nil, `unsupported kty ""`},
		{"e 65537", rsaE("AQAB"), wantRSA, ""},
		{"e 65537 in 4 bytes", rsaE("AAEAAQ"), wantRSA, ""},
		{"e 65537 in 5 bytes", rsaE("AAABAAE"), nil, "bad e"},
		{"e 3", rsaE("Aw"), &rsa.PublicKey{N: wantRSA.N, E: 3}, ""},
		{"e 1", rsaE("AQ"), nil, "bad e"},
		{"an even e", rsaE("AQAA"), nil, "bad e"},
		{"no e", `{"kty":"RSA","n":"` + rfc7517N + `"}`, nil, "e"},
		{"no n", `{"kty":"RSA","e":"AQAB"}`, nil, "n"},
		{"padded base64url", rsaE("AQAB="), nil, "illegal base64"},
		// Two things go-jose refuses that this plugin used to take: a
		// modulus over 4096 bits, and an Ed25519 key of small order, for
		// which anyone can make signatures that verify.
		{"an RSA modulus over 4096 bits", `{"kty":"RSA","n":"` + huge + `","e":"AQAB"}`, nil, "RSA modulus size"},
		{"a small-order Ed25519 key", `{"kty":"OKP","crv":"Ed25519","x":"` + smallOrder + `"}`, nil, "low-order"},
		{"a kid that is not a string", `{"kty":"RSA","n":"` + rfc7517N + `","e":"AQAB","kid":7}`, nil, "kid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeJWK([]byte(tt.raw))
			switch {
			case tt.want == nil && err == nil:
				t.Fatalf("accepted %T", got)
			case tt.want == nil && !strings.Contains(err.Error(), tt.err):
				t.Fatalf("error %q, want one containing %q", err, tt.err)
			case tt.want != nil && err != nil:
				t.Fatal(err)
			case tt.want != nil && !tt.want.(interface{ Equal(crypto.PublicKey) bool }).Equal(got):
				t.Fatalf("decoded %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestJWKThumbprint(t *testing.T) {
	// RFC 7638 §3.1, whose example key is the RSA key of RFC 7517 A.1,
	// both as decoded from its JWK and as built from its numbers.
	const rfc7638JWK = `{
      "kty": "RSA",
      "n": "` + rfc7517N + `",
      "e": "AQAB",
      "alg": "RS256",
      "kid": "2011-04-29"
     }`
	const want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	decoded, err := decodeJWK([]byte(rfc7638JWK))
	if err != nil {
		t.Fatal(err)
	}
	_, built := rfc7517Keys(t)
	for name, pub := range map[string]crypto.PublicKey{"decoded": decoded, "built": built} {
		if got, err := jwkThumbprint(pub); got != want {
			t.Errorf("RFC 7638 example, %s: %q (%v), want %q", name, got, err, want)
		}
	}

	// The canonical members of every key type this plugin reads, each
	// coordinate padded to its curve's size, as the thumbprints of key
	// files have always been computed.
	k := testKeys(t)
	b64 := base64.RawURLEncoding.EncodeToString
	canonical := map[string]string{}
	for name, pub := range map[string]*ecdsa.PublicKey{
		"P-256": &k.p256.PublicKey, "P-384": &k.p384.PublicKey, "P-521": &k.p521.PublicKey,
	} {
		point, err := pub.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		size := (len(point) - 1) / 2
		canonical[name] = `{"crv":"` + name + `","kty":"EC","x":"` + b64(point[1:1+size]) + `","y":"` + b64(point[1+size:]) + `"}`
	}
	canonical["RSA"] = `{"e":"AQAB","kty":"RSA","n":"` + b64(k.rsa.N.Bytes()) + `"}`
	canonical["Ed25519"] = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k.ed.Public().(ed25519.PublicKey)) + `"}`
	canonical["RFC 8037 Ed25519"] = `{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	keys := map[string]crypto.PublicKey{
		"P-256": k.p256.Public(), "P-384": k.p384.Public(), "P-521": k.p521.Public(),
		"RSA": k.rsa.Public(), "Ed25519": k.ed.Public(),
		"RFC 8037 Ed25519": ed25519.PublicKey(b64Bytes(t, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")),
	}
	for name, pub := range keys {
		sum := sha256.Sum256([]byte(canonical[name]))
		want := b64(sum[:])
		if name == "RFC 8037 Ed25519" && want != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
			t.Fatalf("RFC 8037 A.3 vector: %s", want)
		}
		if got, err := jwkThumbprint(pub); got != want {
			t.Errorf("%s: %q (%v), want %q", name, got, err, want)
		}
	}
}
