package caddyjwt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Project Wycheproof's JWS vectors (testdata/wycheproof, see NOTICE there)
// run through jwt_auth's own key loading and verification. Each group's
// key becomes a backend as a user would configure it: a public JWK served
// as the JWK Set of a jwks backend (each key then verifies with its own
// alg, and its use and key_ops are obeyed), an oct JWK as a secret read
// from a file with its kid.
//
// No vector is a JWT: their payloads are "foo", "" or other bytes, not a
// claims set, and Verify refuses them all while it reads the claims,
// before any signature is checked. So each vector also goes through
// verifyJWS, which is Verify up to that point: the same parser, keyfunc,
// methods and header checks, with the payload left unread. Both are run on
// a JWT signed with each group's private key as well, where they must
// agree.

// wycheproofRefused lists the vectors labelled valid that jwt_auth refuses
// on purpose: why, and a part of verifyJWS's error that shows it is for
// that reason. The test fails if one of them is accepted.
var wycheproofRefused = map[int]struct{ why, err string }{
	346: {"the key's JWK alg is PS256 and the token's PS384: a published key verifies only its own alg (RFC 8725 §3.1: one algorithm per key)", errUnknownKI.Error()},
	350: {"the key's JWK alg is PS256 and the token's PS384: a published key verifies only its own alg (RFC 8725 §3.1: one algorithm per key)", errUnknownKI.Error()},
	347: {"the key's JWK alg is ES521, which RFC 7518 does not define (ES512 is meant), so the set has no key to verify with", errUnknownKI.Error()},
	351: {"the key's JWK alg is ES521, which RFC 7518 does not define (ES512 is meant), so the set has no key to verify with", errUnknownKI.Error()},
	372: {"a '?' inside the header segment: RFC 7515 §2 allows no character outside base64url", "header: illegal base64 data"},
	373: {"a '?' inside the payload segment: RFC 7515 §2 allows no character outside base64url", "payload: illegal base64 data"},
}

// wycheproofSameAs lists the vectors labelled invalid whose JWS is, byte
// for byte, that of a vector labelled valid: jwt_auth can only accept
// both. The test checks that the bytes are equal.
var wycheproofSameAs = map[int]int{
	367: 357, // "invalidBase64Padding", yet without padding
	370: 357, // "invalidBase64PaddingInPayload", likewise
}

// wycheproofFile is the part of the vector file the test reads.
type wycheproofFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string          `json:"comment"`
		Public  json.RawMessage `json:"public"`
		Private json.RawMessage `json:"private"`
		Tests   []struct {
			TcID    int    `json:"tcId"`
			Comment string `json:"comment"`
			JWS     string `json:"jws"`
			Result  string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func TestWycheproofJWS(t *testing.T) {
	data, err := os.ReadFile("testdata/wycheproof/json_web_signature_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var file wycheproofFile
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	jws := map[int]string{}
	ran, accepted := 0, 0
	exceptionsSeen := map[int]bool{}
	for _, g := range file.TestGroups {
		b, key, alg, kid := wycheproofBackend(t, g.Public, g.Private)

		// A JWT of the group's key, and the same with one signature
		// character changed: Verify and verifyJWS agree on both, and the
		// JWT passes wherever a vector of the group does.
		token := signToken(t, alg, key, map[string]any{"kid": kid}, validClaims("wycheproof", nil))
		parts := strings.Split(token, ".")
		tampered := parts[0] + "." + parts[1] + "." + flipChar(parts[2], 3)
		_, tokenErr := b.Verify(token)
		if _, err := b.Verify(tampered); err == nil {
			t.Errorf("group %s: a JWT with a changed signature is accepted", g.Comment)
		}
		for _, tok := range []string{token, tampered} {
			_, verifyErr := b.Verify(tok)
			if jwsErr := verifyJWS(b, tok); (verifyErr == nil) != (jwsErr == nil) {
				t.Errorf("group %s: Verify says %v, verifyJWS %v, on a JWT of the group's key", g.Comment, verifyErr, jwsErr)
			}
		}

		groupAccepts := false
		for _, v := range g.Tests {
			ran++
			jws[v.TcID] = v.JWS
			name := fmt.Sprintf("tcId %d %s (%s, %s)", v.TcID, v.Comment, g.Comment, v.Result)
			if _, err := b.Verify(v.JWS); err == nil {
				t.Errorf("%s: Verify accepted a JWS that is no JWT", name)
			}
			err := verifyJWS(b, v.JWS)
			if err == nil {
				accepted++
				groupAccepts = true
			}
			switch want, refused := wycheproofRefused[v.TcID]; {
			case refused:
				exceptionsSeen[v.TcID] = true
				if v.Result != "valid" {
					t.Errorf("%s: listed as a valid vector jwt_auth refuses", name)
				}
				if err == nil || !strings.Contains(err.Error(), want.err) {
					t.Errorf("%s: %v, but listed as refused with %q because %s", name, err, want.err, want.why)
				}
			case v.Result == "valid":
				if err != nil {
					t.Errorf("%s: refused: %v", name, err)
				}
			case v.Result == "invalid" && err == nil:
				if same, ok := wycheproofSameAs[v.TcID]; !ok || jws[same] != v.JWS {
					t.Errorf("%s: accepted", name)
				}
				exceptionsSeen[v.TcID] = true
			case v.Result != "invalid":
				t.Errorf("%s: unknown result %q", name, v.Result)
			}
		}
		if groupAccepts && tokenErr != nil {
			t.Errorf("group %s: its vectors verify, but a JWT of its key is refused: %v", g.Comment, tokenErr)
		}
	}
	if ran != file.NumberOfTests {
		t.Errorf("ran %d vectors of %d", ran, file.NumberOfTests)
	}
	for tcID := range wycheproofRefused {
		if !exceptionsSeen[tcID] {
			t.Errorf("tcId %d is listed as refused but was not run", tcID)
		}
	}
	for tcID := range wycheproofSameAs {
		if !exceptionsSeen[tcID] {
			t.Errorf("tcId %d is listed as the same as another but was refused or not run", tcID)
		}
	}
	t.Logf("%d vectors: %d accepted, %d refused; %d valid ones refused on purpose, %d invalid ones the same as valid ones",
		ran, accepted, ran-accepted, len(wycheproofRefused), len(wycheproofSameAs))
}

// wycheproofBackend provisions the backend of a vector group, and gives
// the group's private key with the algorithm and kid to sign a JWT with.
func wycheproofBackend(t *testing.T, public, private json.RawMessage) (b *Backend, key any, alg, kid string) {
	t.Helper()
	var priv jose.JSONWebKey
	if err := priv.UnmarshalJSON(private); err != nil {
		t.Fatalf("private key %s: %v", private, err)
	}
	var members struct{ Kty, Alg, K string }
	if err := json.Unmarshal(private, &members); err != nil {
		t.Fatal(err)
	}
	kid, alg = priv.KeyID, members.Alg
	switch {
	case members.Kty == "oct":
		// A secret holds any bytes when it comes from a file.
		secret, err := base64.RawURLEncoding.DecodeString(members.K)
		if err != nil {
			t.Fatal(err)
		}
		file := tempFile(t, "secret", string(secret))
		return provisionedBackend(t, fmt.Sprintf(`{"secrets":[{"value":"{file.%s}","kid":%q}],"algorithm":%q}`, file, kid, alg)), secret, alg, kid
	case len(public) == 0:
		t.Fatalf("a %s group without a public key", members.Kty)
	}
	srv := newJWKSServer(t, `{"keys":[`+string(public)+`]}`)
	// Groups whose key is not for signatures name no alg; ES521 is
	// nobody's name for ES512.
	switch {
	case alg == "ES521":
		alg = "ES512"
	case alg == "" && members.Kty == "RSA":
		alg = "RS256"
	case alg == "":
		alg = "ES256"
	}
	return provisionedBackend(t, `{"jwks":{"url":"`+srv.URL+`"}}`), priv.Key, alg, kid
}

// verifyJWS verifies a compact JWS as Backend.verify does, up to where
// verify would read its payload as JWT claims: the steps of golang-jwt's
// ParseWithClaims, in their order, with the backend's parser (so its
// decoding), its keyfunc (so its keys, algorithms and methods) and the
// header checks of verify.
func verifyJWS(b *Backend, raw string) error {
	if strings.ContainsAny(raw, "\r\n") {
		return errors.New("line break")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%d segments", len(parts))
	}
	headerJSON, err := b.parser.DecodeSegment(parts[0])
	if err != nil {
		return fmt.Errorf("header: %v", err)
	}
	tok := &jwt.Token{Raw: raw}
	if err := json.Unmarshal(headerJSON, &tok.Header); err != nil {
		return fmt.Errorf("header: %v", err)
	}
	if !wellFormedJSON(headerJSON) {
		return errors.New("header: not well-formed")
	}
	if _, err := b.parser.DecodeSegment(parts[1]); err != nil {
		return fmt.Errorf("payload: %v", err)
	}
	alg, _ := tok.Header["alg"].(string)
	if tok.Method = jwt.GetSigningMethod(alg); tok.Method == nil {
		return fmt.Errorf("alg %q", alg)
	}
	if tok.Signature, err = b.parser.DecodeSegment(parts[2]); err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	key, err := b.keys.keyfunc(tok)
	if err != nil {
		return err
	}
	input := parts[0] + "." + parts[1]
	set, ok := key.(jwt.VerificationKeySet)
	if !ok {
		return tok.Method.Verify(input, tok.Signature, key)
	}
	for _, k := range set.Keys {
		if err = tok.Method.Verify(input, tok.Signature, k); err == nil {
			return nil
		}
	}
	return err
}
