package caddyjwt

import (
	"crypto"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// knownHeaderCase is a backend whose tokens share one header, and a way to
// sign any payload under that header with the backend's key.
type knownHeaderCase struct {
	name    string
	backend string
	header  string
	sign    func(t testing.TB, header, payload string) string
}

func knownHeaderCases(t testing.TB) []knownHeaderCase {
	hmac := func(t testing.TB, header, payload string) string {
		return mintRaw(t, "HS256", []byte(testSecret), header, payload)
	}
	p256 := testKeys(t).p256
	kid, err := jwkThumbprint(p256.Public())
	if err != nil {
		t.Fatal(err)
	}
	ecFile := keyFile(t, "key.pem", pemPrivate(t, p256, "pkcs8"))
	return []knownHeaderCase{
		{"HS256", hmacBackendJSON, `{"alg":"HS256","typ":"JWT"}`, hmac},
		{"HS256 with issuer and audience",
			`{"secrets":[{"value":"` + testSecret + `"}],"issuer":"https://auth.example","audience":["api"]}`,
			`{"alg":"HS256","typ":"JWT"}`, hmac},
		// Two secrets and no kid: every key of the set is tried.
		{"HS256, two secrets",
			`{"secrets":[{"value":"` + strings.Repeat("k", 40) + `"},{"value":"` + testSecret + `"}]}`,
			`{"alg":"HS256"}`, hmac},
		{"HS256 with user_claim email",
			`{"secrets":[{"value":"` + testSecret + `"}],"user_claim":"email"}`,
			`{"alg":"HS256","typ":"JWT"}`, hmac},
		{"ES256 by kid", `{"sign_key":{"file":"` + ecFile + `"},"algorithm":"ES256"}`,
			`{"alg":"ES256","kid":"` + kid + `","typ":"JWT"}`,
			func(t testing.TB, header, payload string) string {
				return mintRaw(t, "ES256", crypto.Signer(p256), header, payload)
			}},
	}
}

// knownHeaderPayloads are claims sets, good and bad, each signed under the
// known header: every check after the header's must read them as the
// parser does.
func knownHeaderPayloads() []string {
	now := time.Now()
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	exp := at(time.Hour)
	return []string{
		`{"sub":"alice","exp":` + exp + `}`,
		`{"sub":"alice","exp":` + exp + `,"iss":"https://auth.example","aud":"api","jti":"j1","sid":"s1","role":["a","b"],"email":"alice@example.com"}`,
		`{"sub":"alice","exp":` + exp + `,"iss":"https://auth.example","aud":["x","api"]}`,
		`{"sub":"alice","exp":` + exp + `,"iss":"https://other.example","aud":"api"}`,
		`{"sub":"alice","exp":` + exp + `,"iss":"https://auth.example","aud":"web"}`,
		`{"sub":"alice"}`,
		`{"sub":"alice","exp":` + at(-time.Hour) + `}`,
		`{"sub":"alice","exp":` + exp + `,"nbf":` + at(time.Hour/2) + `}`,
		`{"sub":"alice","exp":` + exp + `,"iat":` + at(time.Hour/2) + `}`,
		`{"sub":"alice","exp":"` + exp + `"}`,
		`{"sub":"alice","exp":` + exp + `e0}`,
		`{"sub":"alice","exp":` + exp + `.5}`,
		`{"sub":"alice","exp":true}`,
		`{"sub":"alice","exp":` + exp + `,"nbf":null}`,
		`{"sub":12345,"exp":` + exp + `}`,
		`{"sub":"","exp":` + exp + `}`,
		`{"sub":["alice"],"exp":` + exp + `}`,
		`{"exp":` + exp + `}`,
		`{"sub":"alice","sub":"mallory","exp":` + exp + `}`,
		`{"sub":"alice","s\u0075b":"mallory","exp":` + exp + `}`,
		`{"sub":"al` + "\xff" + `ice","exp":` + exp + `}`,
		`{"sub":"al\ud800ice","exp":` + exp + `}`,
		`{"sub":"alice","exp":` + exp + `}{"sub":"mallory"}`,
		`{"sub":"alice","exp":` + exp + `} x`,
		`{"sub":"alice","exp":` + exp + `}   `,
		`["sub","alice"]`,
		`"alice"`,
		`null`,
		``,
		`{"sub":"alice","exp":` + exp + `,"nested":{"a":1,"a":2}}`,
		// Names and values as the lean reading of checkedClaims meets them.
		`{"\u0073ub":"alice","\u0065xp":` + exp + `}`,
		`{"sub":"al\u0069ce\n","exp":` + exp + `,"jti":"\"j\""}`,
		`{"sub":"äliçe 😀","exp":` + exp + `,"sid":"s"}`,
		`{"sub":"alice","exp":` + exp + `,"iss":"https://auth.example","aud":["api",{"x":[1,2.5e3]},null,true]}`,
		`{"sub":"alice","exp":` + exp + `,"iss":null,"aud":false}`,
		`{"sub":"alice","exp":` + exp + `,"nested":{"exp":1,"sub":"mallory"},"list":[{"sub":"x"}]}`,
		` {  "sub" : "alice" ,	"exp"	: ` + exp + ` ,"iat":` + at(-time.Minute) + `.25 } `,
		`{"sub":"alice","exp":` + exp + `000e-3,"nbf":-0,"iat":0.0}`,
		`{"sub":"alice","exp":` + exp + `,"email":"a@example.com","jti":123}`,
		`{"sub":"alice","exp":` + exp + `,"sid":["s"],"jti":{"a":"b"}}`,
		`{"sub":"alice","exp":` + exp + `,"iss":"https://auth.example","aud":"api","typ":"x","":"empty"}`,
		`{"sub":"alice","exp":` + exp + `,"x":"\u00e9\ud83d\ude00"}`,
		`{"sub":"alice","exp":1e400}`,
		`{"sub":"alice","exp":` + exp + `,"x":[}`,
		`{"sub":"alice","exp":` + exp + `,}`,
		`{"sub":"alice" "exp":` + exp + `}`,
	}
}

// TestKnownHeaderVerifiesAsTheParser checks verifyKnown against golang-jwt's
// full parse: for tokens that carry a backend's known header, with every
// claims set of knownHeaderPayloads and with their segments tampered with,
// a backend that knows the header gives the same identity, or the same
// refusal, as one that reads every token in full.
func TestKnownHeaderVerifiesAsTheParser(t *testing.T) {
	for _, tc := range knownHeaderCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := provisionedBackend(t, tc.backend)
			good := tc.sign(t, tc.header, knownHeaderPayloads()[1])
			if _, err := b.verify(good); err != nil {
				t.Fatalf("the good token is refused: %v", err)
			}
			known := b.keys.known.Load()
			if known == nil {
				t.Fatal("no known header after a good token")
			}
			var tokens []string
			for _, payload := range knownHeaderPayloads() {
				raw := tc.sign(t, tc.header, payload)
				tokens = append(tokens, raw, raw+".", raw+"x", raw[:len(raw)-1],
					raw[:strings.LastIndexByte(raw, '.')+1])
				h, rest, _ := strings.Cut(raw, ".")
				p, s, _ := strings.Cut(rest, ".")
				// Another key's signature; the payload's unused bits set;
				// the segments swapped.
				tokens = append(tokens, h+"."+p+"."+b64url(make([]byte, 64)),
					h+"."+p+"A."+s, h+"."+flipLastBits(p)+"."+s, h+"."+s+"."+p)
			}
			tokens = append(tokens, flipLastBits(good), known.segment, known.segment+"..", known.segment+".e30.")
			for _, raw := range tokens {
				if diff := knownAgainstFull(b, known, raw); diff != "" {
					t.Errorf("%q: %s", raw, diff)
				}
			}
		})
	}
}

// knownAgainstFull verifies raw with known as b's known header, then with
// none, and tells how the two answers differ, or "".
func knownAgainstFull(b *Backend, known *knownHeader, raw string) string {
	b.keys.known.Store(known)
	gotID, gotErr := b.verify(raw)
	b.keys.known.Store(nil)
	wantID, wantErr := b.verify(raw)
	switch {
	case errString(gotErr) != errString(wantErr):
		return fmt.Sprintf("known header gives %v, full parse %v", gotErr, wantErr)
	case gotErr == nil && !sameIdentity(gotID, wantID):
		return fmt.Sprintf("known header gives %+v, full parse %+v", gotID, wantID)
	case gotErr == nil && !isB64Token(raw):
		// jwt_auth checks only tokens it has not verified before for the
		// b64token bytes.
		return "verified a token that is not a b64token"
	}
	return ""
}

// flipLastBits changes the last character of a base64url segment to one
// that decodes to the same bytes with an unused bit set, when it has any.
func flipLastBits(segment string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if segment == "" {
		return segment
	}
	i := strings.IndexByte(alphabet, segment[len(segment)-1])
	return segment[:len(segment)-1] + string(alphabet[(i+1)%64])
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sameIdentity compares what two identities tell the routes.
func sameIdentity(a, b *identity) bool {
	ca, _ := json.Marshal(a.claims())
	cb, _ := json.Marshal(b.claims())
	return a.backend == b.backend && a.userID == b.userID && a.jti == b.jti && a.sid == b.sid &&
		string(ca) == string(cb) && string(a.payload) == string(b.payload) &&
		reflect.DeepEqual(a.times, b.times)
}

// TestClaimsStayDecodedOnceAsked checks that a backend drops a verified
// token's decoded claims until a rule or placeholder asks for them, then
// keeps them for every later token, and that the claims read the same
// either way.
func TestClaimsStayDecodedOnceAsked(t *testing.T) {
	b := provisionedBackend(t, hmacBackendJSON)
	raw := hs256(t, testSecret, validClaims("alice", map[string]any{"role": "admin"}))
	id, err := b.verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if id.decoded.Load() != nil {
		t.Error("the claims stay decoded before anything asked for them")
	}
	if got := id.claims()["role"]; got != "admin" {
		t.Errorf("role = %v, want admin", got)
	}
	if v, ok := id.replace("http.auth.user.role"); !ok || v != "admin" {
		t.Errorf("placeholder = %v, %v, want admin", v, ok)
	}
	id2, err := b.verify(hs256(t, testSecret, validClaims("bob", map[string]any{"role": "user"})))
	if err != nil {
		t.Fatal(err)
	}
	if c := id2.decoded.Load(); c == nil || (*c)["role"] != "user" {
		t.Errorf("after a rule asked, the next token's claims are not kept decoded: %v", c)
	}
}

// FuzzKnownHeader is TestKnownHeaderVerifiesAsTheParser for any claims set:
// signed under the known header of an HMAC backend, it must read the same
// whether the header is known or not.
func FuzzKnownHeader(f *testing.F) {
	for _, payload := range knownHeaderPayloads() {
		f.Add(payload)
	}
	b := provisionedBackend(f, `{"secrets":[{"value":"`+testSecret+`"}],"issuer":"https://auth.example","audience":["api"]}`)
	const header = `{"alg":"HS256","typ":"JWT"}`
	if _, err := b.verify(mintRaw(f, "HS256", []byte(testSecret), header, knownHeaderPayloads()[1])); err != nil {
		f.Fatal(err)
	}
	known := b.keys.known.Load()
	f.Fuzz(func(t *testing.T, payload string) {
		if diff := knownAgainstFull(b, known, mintRaw(t, "HS256", []byte(testSecret), header, payload)); diff != "" {
			t.Fatal(diff)
		}
	})
}
