package caddyjwt

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The rows of TestAttacks under "One token, one spelling, one meaning"
// send these cases through a real Caddy; this file tests the parts.

func TestIsSingleObject(t *testing.T) {
	for _, tt := range []struct {
		json   string
		single bool
	}{
		{`{}`, true},
		{`{"sub":"alice","iat":1,"exp":2}`, true},
		{" \t\r\n{ \"sub\" : \"alice\" } \t\r\n", true},                    // whitespace around and inside
		{`{"a":{"b":1},"b":{"a":1}}`, true},                                // a name once per object
		{`{"a":[{"b":1},{"b":1}]}`, true},                                  // the same name in two objects
		{`{"sub":"a","Sub":"b"}`, true},                                    // names differ in case
		{`{"sub":"\"sub\":","x":"}","y":"{\\"}`, true},                     // quotes, colons and brackets in strings
		{`{"a\\":1,"a":2}`, true},                                          // an escaped backslash ends one name
		{`{"\ud83d\ude00":1,"😀":1}`, false},                                // a pair escaped, and the same character
		{`{"sub":"alice","sub":"mallory"}`, false},                         // a name twice
		{`{"sub":"alice","s\u0075b":"mallory"}`, false},                    // once escaped
		{`{"s\u0075b":"alice","\u0073ub":"mallory"}`, false},               // escaped both times
		{`{"a\/b":1,"a/b":2}`, false},                                      // \/ is /
		{`{"x":1,"roles":{"admin":false,"admin":true}}`, false},            // in a nested object
		{`{"x":[1,{"k":1,"k":2}]}`, false},                                 // in an object in an array
		{`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"a":9}`, false}, // far apart
		{`{"sub":"alice"}{"sub":"mallory"}`, false},                        // a second object
		{`{"sub":"alice"}garbage`, false},                                  // bytes after the object
		{`{"sub":"alice"} ,`, false},                                       // a comma after whitespace
		{"{\"sub\":\"alice\"}\x00", false},                                 // a NUL byte
		{`[{"sub":"alice"}]`, false},                                       // not an object
		{`"sub"`, false},
		{`null`, false},
		{``, false},
		{`{"sub":"alice"`, false}, // cut off
		{`{"sub":"alice`, false},
	} {
		if got := isSingleObject([]byte(tt.json)); got != tt.single {
			t.Errorf("isSingleObject(%s) = %v, want %v", tt.json, got, tt.single)
		}
	}
}

// TestIsSingleObjectManyNames: an object with more names than fit on the
// stack, and many nested objects, are still checked.
func TestIsSingleObjectManyNames(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := 0; i < 200; i++ {
		b.WriteString(`"n` + strings.Repeat("x", i) + `":{"k":{}},`)
	}
	unique := b.String() + `"last":1}`
	if !isSingleObject([]byte(unique)) {
		t.Error("200 different names refused")
	}
	if isSingleObject([]byte(b.String() + `"nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx":1}`)) {
		t.Error("name 41 of 201 given twice, accepted")
	}
	deep := strings.Repeat(`{"a":`, 100) + `{"b":1,"b":2}` + strings.Repeat(`}`, 100)
	if isSingleObject([]byte(deep)) {
		t.Error("a name twice at depth 101, accepted")
	}
}

// TestWellFormedJSONAllocatesNothing: checking a usual token's header and
// claims costs no allocation, and the JSON checked can stay on the stack,
// where verify decodes it.
func TestWellFormedJSONAllocatesNothing(t *testing.T) {
	header := `{"alg":"RS256","kid":"8c2c8f6e","typ":"JWT"}`
	claims := `{"sub":"alice","iat":1765000000,"exp":1765003600,"jti":"AAAAAAAAAAAAAAAAAAAAAA","roles":["a","b"],"org":{"id":7}}`
	if n := testing.AllocsPerRun(100, func() {
		var stack [256]byte
		for _, js := range []string{header, claims} {
			if !wellFormedJSON(append(stack[:0], js...)) {
				t.Fatalf("%s refused", js)
			}
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzIsSingleObject compares isSingleObject with encoding/json's own
// tokenizer on any input whose first value parses, and checks that it
// never panics on the rest.
func FuzzIsSingleObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":1}]}`,
		`{"s\u0075b":1,"sub":2}`, `{"a":1} `, `{"a":1}x`, `{"a":"}"}`, `{"a":"\"","b":1}`,
		`[1]`, `"x"`, ``, `{"a":1`, `{"a\\":1,"a":2}`, "{\"\\ud800\":1,\"\\udc00\":2}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		got := isSingleObject(js)
		wellFormedJSON(js)
		// The tokenizer reads invalid UTF-8 as U+FFFD, so two names of
		// different bytes could read the same; verify refuses those bytes
		// before this check.
		if !utf8.Valid(js) {
			return
		}
		want, parsed := singleObjectByTokens(js)
		if parsed && got != want {
			t.Fatalf("isSingleObject(%q) = %v, encoding/json's tokens say %v", js, got, want)
		}
	})
}

// singleObjectByTokens is what isSingleObject tells, found with
// encoding/json's tokenizer; parsed is false when js has no first value
// that parses.
func singleObjectByTokens(js []byte) (single, parsed bool) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	first, err := dec.Token()
	if err != nil {
		return false, false
	}
	if first != json.Delim('{') {
		return false, true
	}
	// One frame per open object or array; an object's holds its names and
	// whether a name comes next.
	type frame struct {
		names    map[string]bool
		nameNext bool
	}
	stack := []frame{{names: map[string]bool{}, nameNext: true}}
	repeated := false
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return false, false
		}
		top := &stack[len(stack)-1]
		if top.names != nil && top.nameNext && tok != json.Delim('}') {
			name := tok.(string)
			repeated = repeated || top.names[name]
			top.names[name], top.nameNext = true, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{names: map[string]bool{}, nameNext: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a name comes next.
		if len(stack) > 0 && stack[len(stack)-1].names != nil {
			stack[len(stack)-1].nameNext = true
		}
	}
	rest := js[dec.InputOffset():]
	return !repeated && len(bytes.TrimLeft(rest, " \t\r\n")) == 0, true
}

// TestStrictPSSLeavesGolangJWTAlone: the PS methods this plugin verifies
// with want a salt as long as the hash, and golang-jwt's own, which other
// plugins in the same Caddy share, are as they were.
func TestStrictPSSLeavesGolangJWTAlone(t *testing.T) {
	key := testKeys(t).rsa
	input := "eyJhbGciOiJQUzI1NiJ9.e30"
	digest := sha256.Sum256([]byte(input))
	for _, tt := range []struct {
		salt   int
		strict bool
	}{{sha256.Size, true}, {20, false}, {rsa.PSSSaltLengthAuto, false}} {
		sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: tt.salt})
		if err != nil {
			t.Fatal(err)
		}
		if err := signingMethods["PS256"].Verify(input, sig, key.Public()); (err == nil) != tt.strict {
			t.Errorf("salt length %d: this plugin's PS256 says %v", tt.salt, err)
		}
		if err := jwt.SigningMethodPS256.Verify(input, sig, key.Public()); err != nil {
			t.Errorf("salt length %d: golang-jwt's PS256 changed: %v", tt.salt, err)
		}
	}
	for _, alg := range algorithmNames {
		if signingMethods[alg] == nil || signingMethods[alg].Alg() != alg {
			t.Errorf("no method for %s", alg)
		}
	}

	// What jwt_login signs with PS256, jwt_auth accepts.
	b := provisionedBackend(t, `{"sign_key":{"file":"`+keyFile(t, "rsa.pem", pemPrivate(t, key, "pkcs8"))+`"},"algorithm":"PS256"}`)
	token, _, err := b.Issue(&account{name: "alice", id: "alice"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := b.Verify(token); err != nil || id.userID != "alice" {
		t.Fatalf("issued PS256 token: %v", err)
	}
}

// TestLineBreakInTokenIsMalformed: Go's base64 decoders skip CR and LF, even
// strict ones, so a signature with one inserted would verify. An
// Authorization header cannot carry one, but a query parameter can.
func TestLineBreakInTokenIsMalformed(t *testing.T) {
	base := startCaddy(t, singleBackend, `
	jwt_auth {
		from_query token
	}
	respond "reached {http.auth.user.id}"`)
	good := hs256(t, testSecret, validClaims("alice", nil))
	cut := len(good) - 10
	for _, tt := range []struct {
		name, token string
		status      int
	}{
		{"the token as issued", good, 200},
		{"LF in the signature", good[:cut] + "\n" + good[cut:], 401},
		{"CR LF in the signature", good[:cut] + "\r\n" + good[cut:], 401},
		{"LF at the end", good + "\n", 401},
	} {
		resp, body := sendAuth(t, "GET", base+"/?token="+url.QueryEscape(tt.token), nil)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			continue
		}
		if tt.status == 401 {
			if want := challengeFor("api", "invalid_token", "malformed token"); resp.Header.Get("WWW-Authenticate") != want {
				t.Errorf("%s: %s, want %s", tt.name, resp.Header.Get("WWW-Authenticate"), want)
			}
		} else if body != "reached alice" {
			t.Errorf("%s: body %q", tt.name, body)
		}
	}
}
