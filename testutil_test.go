package caddyjwt

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var (
	hashCacheMu sync.Mutex
	hashCache   = map[string]string{}
)

// lateSlack is how much longer than planned a wait may take before an
// upper bound calls it wrong. Timers never fire early, so lower bounds stay
// exact; under the race detector or on a loaded machine they fire late, so
// an upper bound only catches a wait that is far too long.
const lateSlack = 10 * time.Second

// bcryptHashForTest returns a bcrypt hash of password at the minimum cost,
// so tests stay fast; hashes are cached per password.
func bcryptHashForTest(t testing.TB, password string) string {
	t.Helper()
	hashCacheMu.Lock()
	defer hashCacheMu.Unlock()
	if h, ok := hashCache[password]; ok {
		return h
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashCache[password] = string(h)
	return string(h)
}

// wantMentions checks that err's message contains each of want.
func wantMentions(t testing.TB, err error, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

// mustJSON marshals a test value to JSON.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonField reads one string field of a JSON object.
func jsonField(t testing.TB, body, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", body, err)
	}
	s, _ := m[field].(string)
	return s
}
