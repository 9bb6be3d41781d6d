package caddyjwt

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestHasLoneSurrogate(t *testing.T) {
	for _, tt := range []struct {
		json string
		lone bool
	}{
		{`{"sub":"alice"}`, false},
		{`{"sub":"\u00e9l\u00e8ve"}`, false}, // escapes, none a surrogate
		{`{"sub":"\ud83d\ude00"}`, false},    // a pair: 😀
		{`{"sub":"\uD83D\uDE00"}`, false},    // a pair, upper case
		{`{"sub":"a\\ud800"}`, false},        // an escaped backslash, then text
		{`{"sub":"\\\ud83d\ude00"}`, false},  // an escaped backslash, then a pair
		{`{"sub":"\ufffd"}`, false},          // U+FFFD itself is a character
		{`{"\u0073ub":"x","k":"\ud83d\ude00\ud83d\ude00"}`, false},
		{`{"sub":"\ud800"}`, true},                     // high, alone
		{`{"sub":"\udfff"}`, true},                     // low, alone
		{`{"sub":"\ud800x"}`, true},                    // high, then text
		{`{"sub":"\ud800\u0041"}`, true},               // high, then a non-surrogate escape
		{`{"sub":"\ud800\ud800"}`, true},               // high, high
		{`{"sub":"\udc00\ud800"}`, true},               // low before high
		{`{"\ud800":"alice"}`, true},                   // in a key
		{`{"sub":"ok","groups":["a","\udbff"]}`, true}, // in an array
		{`{"sub":"\ud800`, true},                       // cut off
	} {
		if got := hasLoneSurrogate([]byte(tt.json)); got != tt.lone {
			t.Errorf("hasLoneSurrogate(%s) = %v, want %v", tt.json, got, tt.lone)
		}
	}
}

// TestVerifyKeepsEscapedCharacters: escapes that are well-formed UTF-16,
// and U+FFFD itself, are accepted and read as the characters they stand
// for; only lone surrogates are malformed.
func TestVerifyKeepsEscapedCharacters(t *testing.T) {
	b := fuzzBackend(t)
	now := time.Now().Unix()
	for _, tt := range []struct{ sub, want string }{
		{`\u00e9l\u00e8ve`, "élève"},
		{`smile\ud83d\ude00`, "smile😀"},
		{`\ufffd`, "\ufffd"},
		{`back\\ud800slash`, `back\ud800slash`},
	} {
		payload := fmt.Sprintf(`{"sub":"%s","iat":%d,"exp":%d}`, tt.sub, now, now+60)
		id, err := b.Verify(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT"}`, payload))
		if err != nil {
			t.Errorf("sub %s: %v", tt.sub, err)
			continue
		}
		if id.userID != tt.want {
			t.Errorf("sub %s reads as %q, want %q", tt.sub, id.userID, tt.want)
		}
	}
	payload := fmt.Sprintf(`{"sub":"alice\ud800","iat":%d,"exp":%d}`, now, now+60)
	if _, err := b.Verify(mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT"}`, payload)); err == nil {
		t.Error("a lone surrogate was accepted")
	}
}

// FuzzHasLoneSurrogate: no panic on any bytes, no lone surrogate found in
// the JSON of any Go string (json.Marshal escapes no surrogates), and one
// found whenever a lone escaped surrogate is appended to a string.
func FuzzHasLoneSurrogate(f *testing.F) {
	for _, s := range []string{"", "alice", `\u`, `"\ud800"`, "élève😀", `a\"b`, "\\", `"\\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hasLoneSurrogate([]byte(s))
		js, err := json.Marshal(map[string]string{"sub": s})
		if err != nil {
			t.Fatal(err)
		}
		if hasLoneSurrogate(js) {
			t.Fatalf("lone surrogate found in %s", js)
		}
		bad := append(js[:len(js)-2:len(js)-2], `\udc01"}`...)
		if !hasLoneSurrogate(bad) {
			t.Fatalf("no lone surrogate found in %s", bad)
		}
	})
}
