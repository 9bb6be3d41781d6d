package caddyjwt

import (
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/caddyserver/caddy/v2"
	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// jwksServer is a JWK Set endpoint whose answer a test can change, and
// which counts the requests it gets: on 127.0.0.1 from newJWKSServer, or in
// memory through handlerTransport.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu           sync.Mutex
	status       int
	body         string
	cacheControl string
	hang         bool          // answer nothing until the client gives up
	quit         chan struct{} // ends a hang when the test ends
}

func newJWKSServer(t testing.TB, body string) *jwksServer {
	t.Helper()
	s := &jwksServer{status: 200, body: body, quit: make(chan struct{})}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.quit) }) // runs before Close
	return s
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	status, body, cc, hang := s.status, s.body, s.cacheControl, s.hang
	s.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// handlerTransport answers a client's requests with a handler, in memory.
type handlerTransport struct{ http.Handler }

func (h handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// serve changes what the server answers.
func (s *jwksServer) serve(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// jwkSet builds a JWK Set with go-jose, the independent implementation.
func jwkSet(t testing.TB, keys ...jose.JSONWebKey) string {
	t.Helper()
	return string(mustJSON(t, jose.JSONWebKeySet{Keys: keys}))
}

// sigJWK is a public signature key as an identity provider publishes it.
func sigJWK(pub crypto.PublicKey, kid, alg string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}
}

// fakeClock is a clock that moves only when a test says so.
type fakeClock struct{ nanos atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.nanos.Add(int64(d)) }

// jwksClock gives the remote key set of a backend of the running Caddy a
// fake clock, which only the cooldown on unknown kids reads, applies
// change (if not nil) to the set's timing, and returns the clock. Call it
// after startCaddy and before the first request.
func jwksClock(t testing.TB, backend string, change func(*jwksTiming)) *fakeClock {
	t.Helper()
	b := runningJWTApp(t).Backends[backend]
	if b == nil || b.keys == nil || b.keys.remote == nil {
		t.Fatalf("backend %q has no JWK Set", backend)
	}
	clock := new(fakeClock)
	clock.nanos.Store(time.Now().UnixNano())
	r := b.keys.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timing.now = clock.now
	if change != nil {
		change(&r.timing)
	}
	return clock
}

// jwksSite is the site of the JWKS tests: /api behind a jwks backend.
const jwksSite = `
	jwt_auth /api/* idp
	respond "reached {http.auth.user.id}"`

func jwksGlobals(url, extra string) string {
	return `
	jwt {
		backend idp {
			jwks ` + url + `
			issuer https://idp.example
			` + extra + `
		}
	}`
}

func idpClaims(sub string) map[string]any {
	return validClaims(sub, map[string]any{"iss": "https://idp.example"})
}

// status sends a token to /api/ and returns the status and reason.
func apiStatus(t testing.TB, base, token string) (int, string) {
	t.Helper()
	resp, body := sendAuth(t, "GET", base+"/api/", bearer(token))
	if resp.StatusCode == 200 && !strings.HasPrefix(body, "reached ") {
		t.Fatalf("200 with body %q", body)
	}
	if resp.StatusCode != 200 && strings.Contains(body, "reached") {
		t.Fatalf("status %d, but the next handler ran", resp.StatusCode)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

func TestJWKSRotationIsPickedUpOnUnknownKid(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, jwkSet(t, sigJWK(k.p256.Public(), "a", "ES256")))
	base := startCaddy(t, jwksGlobals(srv.URL+"/jwks", ""), jwksSite)
	clock := jwksClock(t, "idp", nil)
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches at provision, want 1", n)
	}
	tokA := signToken(t, "ES256", k.p256, map[string]any{"kid": "a"}, idpClaims("alice"))
	tokB := signToken(t, "RS256", k.rsa, map[string]any{"kid": "b"}, idpClaims("bob"))
	if status, _ := apiStatus(t, base, tokA); status != 200 {
		t.Fatalf("token of the published key: %d", status)
	}

	// The provider rotates: key a is gone, key b is new. The first token
	// naming b fetches the set at once and is accepted by that request.
	srv.serve(200, jwkSet(t, sigJWK(k.rsa.Public(), "b", "RS256")))
	if status, challenge := apiStatus(t, base, tokB); status != 200 {
		t.Fatalf("new kid: %d %s", status, challenge)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// The key the provider removed no longer verifies.
	if status, _ := apiStatus(t, base, tokA); status != 401 {
		t.Fatalf("removed key: %d", status)
	}

	// Within 10 s of that fetch, another unknown kid fetches nothing...
	srv.serve(200, jwkSet(t, sigJWK(k.rsa.Public(), "b", "RS256"), sigJWK(k.ed.Public(), "c", "EdDSA")))
	tokC := signToken(t, "EdDSA", k.ed, map[string]any{"kid": "c"}, idpClaims("carol"))
	clock.advance(9 * time.Second)
	if status, challenge := apiStatus(t, base, tokC); status != 401 || !strings.Contains(challenge, "unknown key ID") {
		t.Fatalf("new kid within the cooldown: %d %s", status, challenge)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want still 2 within the cooldown", n)
	}
	// ...and 10 s after it, it does.
	clock.advance(time.Second)
	if status, challenge := apiStatus(t, base, tokC); status != 200 {
		t.Fatalf("new kid after the cooldown: %d %s", status, challenge)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
	if status, _ := apiStatus(t, base, tokB); status != 200 {
		t.Fatalf("key b after the second rotation: %d", status)
	}
}

func TestJWKSCooldownHoldsUnderAFloodOfUnknownKids(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, jwkSet(t, sigJWK(k.p256.Public(), "a", "ES256")))
	base := startCaddy(t, jwksGlobals(srv.URL+"/jwks", ""), jwksSite)
	clock := jwksClock(t, "idp", nil)

	// Forged tokens, each with its own unknown kid.
	forged := make([]string, 200)
	for i := range forged {
		forged[i] = signToken(t, "ES256", k.attackerP256, map[string]any{"kid": fmt.Sprintf("flood-%d", i)}, idpClaims("mallory"))
	}
	flood := func() {
		t.Helper()
		var wg sync.WaitGroup
		var accepted atomic.Int64
		work := make(chan string)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for tok := range work {
					req, _ := http.NewRequest("GET", base+"/api/", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := client.Do(req)
					if err != nil {
						t.Error(err)
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != 401 {
						accepted.Add(1)
					}
				}
			}()
		}
		for _, tok := range forged {
			work <- tok
		}
		close(work)
		wg.Wait()
		if n := accepted.Load(); n != 0 {
			t.Fatalf("%d forged tokens were not refused", n)
		}
	}

	steps := []struct {
		name    string
		advance time.Duration
		want    int64 // fetches so far, counting the one at provision
	}{
		{"right after the fetch at provision, a flood fetches exactly once", 0, 2},
		{"9.9 s after that, nothing", 9900 * time.Millisecond, 2},
		{"at 10 s, once more", 100 * time.Millisecond, 3},
		{"and the same flood again right away, nothing", 0, 3},
		{"a minute later, once", time.Minute, 4},
	}
	for _, step := range steps {
		clock.advance(step.advance)
		flood()
		if n := srv.hits.Load(); n != step.want {
			t.Fatalf("%s: %d fetches, want %d", step.name, n, step.want)
		}
	}
	// The real key still works after all that.
	if status, _ := apiStatus(t, base, signToken(t, "ES256", k.p256, map[string]any{"kid": "a"}, idpClaims("alice"))); status != 200 {
		t.Fatalf("published key after the flood: %d", status)
	}
}

func TestJWKSKeepsTheLastGoodSet(t *testing.T) {
	k := testKeys(t)
	good := jwkSet(t, sigJWK(k.p256.Public(), "a", "ES256"))
	srv := newJWKSServer(t, good)
	base := startCaddy(t, jwksGlobals(srv.URL+"/jwks", ""), jwksSite)
	clock := jwksClock(t, "idp", func(tm *jwksTiming) { tm.timeout = time.Second })
	tokA := signToken(t, "ES256", k.p256, map[string]any{"kid": "a"}, idpClaims("alice"))
	tokC := signToken(t, "EdDSA", k.ed, map[string]any{"kid": "c"}, idpClaims("carol"))
	setC := jwkSet(t, sigJWK(k.p256.Public(), "a", "ES256"), sigJWK(k.ed.Public(), "c", "EdDSA"))
	// padded puts setC into a JSON object of exactly n bytes.
	padded := func(n int) string {
		head := `{"pad":"`
		tail := `",` + strings.TrimPrefix(setC, "{")
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	oct := `{"keys":[{"kty":"oct","kid":"c","alg":"HS256","k":"` + b64url([]byte(testSecret)) + `"}]}`

	steps := []struct {
		name   string
		status int
		body   string
		hang   bool
		wantC  int // status of the token with kid c afterwards
	}{
		{"server error", 500, setC, false, 401},
		{"HTML instead of JSON", 200, "<html>maintenance</html>", false, 401},
		{"truncated JSON", 200, setC[:len(setC)/2], false, 401},
		{"an empty set", 200, `{"keys":[]}`, false, 401},
		{"a set of only a symmetric key", 200, oct, false, 401},
		{"a set one byte over 1 MiB", 200, padded(maxJWKSBytes + 1), false, 401},
		{"no answer within the timeout", 200, setC, true, 401},
		{"a set of exactly 1 MiB is good again", 200, padded(maxJWKSBytes), false, 200},
	}
	for i, step := range steps {
		srv.serve(step.status, step.body)
		srv.mu.Lock()
		srv.hang = step.hang
		srv.mu.Unlock()
		clock.advance(10 * time.Second)
		// kid c is unknown, so this request fetches the set again.
		if status, _ := apiStatus(t, base, tokC); status != step.wantC {
			t.Fatalf("%s: token with kid c got %d, want %d", step.name, status, step.wantC)
		}
		if n := srv.hits.Load(); n != int64(i+2) {
			t.Fatalf("%s: %d fetches, want %d", step.name, n, i+2)
		}
		if status, challenge := apiStatus(t, base, tokA); status != 200 {
			t.Fatalf("%s: the last good set was lost: %d %s", step.name, status, challenge)
		}
	}
}

func TestJWKSFetchFailureAtStartIsNotFatal(t *testing.T) {
	k := testKeys(t)
	srv := newJWKSServer(t, "")
	srv.serve(503, "down")
	base := startCaddy(t, jwksGlobals(srv.URL+"/jwks", ""), jwksSite) // startCaddy fails the test if loading fails
	clock := jwksClock(t, "idp", nil)
	tokA := signToken(t, "ES256", k.p256, map[string]any{"kid": "a"}, idpClaims("alice"))
	noKid := signToken(t, "ES256", k.p256, nil, idpClaims("alice"))
	// The first token tries a fetch at once (the provider is still down).
	if status, _ := apiStatus(t, base, tokA); status != 401 {
		t.Fatalf("no set yet: %d", status)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	if status, challenge := apiStatus(t, base, noKid); status != 401 || !strings.Contains(challenge, "no key to verify with") {
		t.Fatalf("no set yet, token without kid: %d %s", status, challenge)
	}

	srv.serve(200, jwkSet(t, sigJWK(k.p256.Public(), "a", "ES256")))
	clock.advance(10 * time.Second)
	if status, challenge := apiStatus(t, base, noKid); status != 200 {
		t.Fatalf("once the provider is back, a token without kid: %d %s", status, challenge)
	}
	if status, _ := apiStatus(t, base, tokA); status != 200 {
		t.Fatalf("once the provider is back: %d", status)
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

// TestJWKSRefresherRunsAndStops: the background refresh replaces the set
// on its own (no unknown kid needed), follows max-age within its bounds,
// and stops when Caddy stops.
func TestJWKSRefresherRunsAndStops(t *testing.T) {
	k := testKeys(t)
	setA := jwkSet(t, sigJWK(k.p256.Public(), "a", "ES256"))
	setB := jwkSet(t, sigJWK(k.ed.Public(), "b", "EdDSA"))

	// In a synctest bubble, time moves only when every goroutine waits, so
	// each refresh is seen at the exact instant it is due.
	t.Run("refreshes as max-age says", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			steps := []struct {
				name         string
				status       int
				body         string
				cacheControl string
				next         time.Duration // until the following fetch
			}{
				{"max-age=0 is raised to the minimum", 200, setA, "public, max-age=0", time.Minute},
				{"a key published after start", 200, setB, "max-age=7200", 2 * time.Hour},
				{"max-age over a day is cut to a day", 200, setB, "max-age=999999", 24 * time.Hour},
				{"without max-age, the default", 200, setB, "no-cache", 5 * time.Minute},
				{"after a failed fetch, the minimum", 500, "down", "", time.Minute},
				{"back to normal", 200, setB, "", 5 * time.Minute},
			}
			srv := &jwksServer{}
			serve := func(i int) {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				srv.status, srv.body, srv.cacheControl = steps[i].status, steps[i].body, steps[i].cacheControl
			}
			r := newRemoteKeySet("https://idp.example/jwks", nil, zap.NewNop())
			r.client.Transport = handlerTransport{srv}
			serve(0)
			if err := r.fetch(); err != nil {
				t.Fatal(err)
			}
			r.run()
			defer r.stopRefresh()
			for i, step := range steps {
				// From the second step on, the set with key b is current,
				// kept through the failed fetch.
				if got := r.current.Load().find("b", "EdDSA") != nil; got != (i >= 1) {
					t.Fatalf("%s: key b in the set: %v", step.name, got)
				}
				hits := srv.hits.Load()
				time.Sleep(step.next - time.Nanosecond)
				synctest.Wait()
				if n := srv.hits.Load(); n != hits {
					t.Fatalf("%s: fetched before %s", step.name, step.next)
				}
				if i+1 < len(steps) {
					serve(i + 1)
				}
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				if n := srv.hits.Load(); n != hits+1 {
					t.Fatalf("%s: %d fetches at %s, want 1", step.name, n-hits, step.next)
				}
			}
		})
	})

	t.Run("stops when Caddy stops", func(t *testing.T) {
		srv := newJWKSServer(t, setA)
		startCaddy(t, jwksGlobals(srv.URL+"/jwks", ""), jwksSite)
		r := runningJWTApp(t).Backends["idp"].keys.remote
		select {
		case <-r.done:
			t.Fatal("the refresher is not running")
		default:
		}
		if err := caddy.Stop(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-r.done:
		default:
			t.Fatal("the refresher still runs after Caddy stopped")
		}
	})
}

// TestJWKSKeyUse: which published keys verify which tokens, on a backend
// without algorithm (each key's alg decides) and on one that lists two.
func TestJWKSKeyUse(t *testing.T) {
	k := testKeys(t)
	encJWK := sigJWK(k.rsaOther.Public(), "enc", "RS256")
	encJWK.Use = "enc"
	opsJWK := map[string]any{"kty": "EC", "crv": "P-256", "kid": "ops", "alg": "ES256", "key_ops": []string{"encrypt"}}
	if b, err := (&jose.JSONWebKey{Key: k.p256Other.Public()}).MarshalJSON(); err == nil {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		opsJWK["x"], opsJWK["y"] = m["x"], m["y"]
	}
	keys := []any{
		sigJWK(k.rsa.Public(), "rs", "RS256"),
		jose.JSONWebKey{Key: k.p256.Public(), KeyID: "noalg"}, // no alg, no use
		encJWK,
		sigJWK(k.rsa1024.Public(), "small", "RS256"),
		sigJWK(k.ed.Public(), "ed", "EdDSA"),
		sigJWK(k.p384.Public(), "wrongalg", "ES256"), // alg does not fit the curve
		sigJWK(k.attackerRSA.Public(), "dup", "RS256"),
		sigJWK(k.p256Other.Public(), "dup", "ES256"),
		opsJWK,
		map[string]any{"kty": "oct", "kid": "oct", "alg": "HS256", "k": b64url([]byte(testSecret))},
		map[string]any{"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64url(make([]byte, 32))},
		map[string]any{"kty": "EC", "crv": "P-256", "kid": "offcurve", "alg": "ES256", "x": b64url(make([]byte, 32)), "y": b64url(make([]byte, 32))},
	}
	srv := newJWKSServer(t, string(mustJSON(t, map[string]any{"keys": keys})))
	static := keyFile(t, "static.pub.pem", pemPublic(t, k.edOther.Public()))
	base := startCaddy(t, `
	jwt {
		backend auto {
			jwks `+srv.URL+`
			verify_key `+static+`
		}
		backend multi {
			jwks `+srv.URL+`
			algorithm RS256 ES256
		}
	}`, `
	jwt_auth /auto auto
	jwt_auth /multi multi
	respond "reached {http.auth.user.id}"`)
	jwksClock(t, "auto", nil)
	jwksClock(t, "multi", nil)

	claims := validClaims("alice", nil)
	tests := []struct {
		name        string
		token       string
		auto, multi int
	}{
		{"RS256 with the RS256 key", signToken(t, "RS256", k.rsa, map[string]any{"kid": "rs"}, claims), 200, 200},
		{"PS256 with the RS256 key: the key's alg disagrees", signToken(t, "PS256", k.rsa, map[string]any{"kid": "rs"}, claims), 401, 401},
		{"ES256 with a key without alg: used only when the backend lists ES256", signToken(t, "ES256", k.p256, map[string]any{"kid": "noalg"}, claims), 401, 200},
		{"ES256 without kid, by the key without alg", signToken(t, "ES256", k.p256, nil, claims), 401, 200},
		{"a key with use enc", signToken(t, "RS256", k.rsaOther, map[string]any{"kid": "enc"}, claims), 401, 401},
		{"an RSA key under 2048 bits", signToken(t, "RS256", k.rsa1024, map[string]any{"kid": "small"}, claims), 401, 401},
		{"EdDSA key: not among multi's algorithms", signToken(t, "EdDSA", k.ed, map[string]any{"kid": "ed"}, claims), 200, 401},
		{"EdDSA without kid", signToken(t, "EdDSA", k.ed, nil, claims), 200, 401},
		{"a key whose alg does not fit its curve", signToken(t, "ES384", k.p384, map[string]any{"kid": "wrongalg"}, claims), 401, 401},
		{"a kid shared by two keys: the ES256 one for ES256", signToken(t, "ES256", k.p256Other, map[string]any{"kid": "dup"}, claims), 200, 200},
		{"a kid shared by two keys: the RS256 one for RS256", signToken(t, "RS256", k.attackerRSA, map[string]any{"kid": "dup"}, claims), 200, 200},
		{"a key whose key_ops exclude verify", signToken(t, "ES256", k.p256Other, map[string]any{"kid": "ops"}, claims), 401, 401},
		{"HS256 with a published symmetric key", signToken(t, "HS256", []byte(testSecret), map[string]any{"kid": "oct"}, claims), 401, 401},
		{"a verify_key next to the JWK Set, by its thumbprint", signToken(t, "EdDSA", k.edOther, map[string]any{"kid": joseThumbprint(t, k.edOther.Public())}, claims), 200, 401},
		{"a verify_key next to the JWK Set, without kid", signToken(t, "EdDSA", k.edOther, nil, claims), 200, 401},
		{"the verify_key's kid with another algorithm", signToken(t, "ES256", k.p256, map[string]any{"kid": joseThumbprint(t, k.edOther.Public())}, claims), 401, 401},
		{"HS256 keyed with the RSA key's PEM", signToken(t, "HS256", []byte(pemPublic(t, k.rsa.Public())), map[string]any{"kid": "rs"}, claims), 401, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for path, want := range map[string]int{"/auto": tt.auto, "/multi": tt.multi} {
				resp, body := sendAuth(t, "GET", base+path, bearer(tt.token))
				if resp.StatusCode != want {
					t.Errorf("%s: status %d, want %d (%s)", path, resp.StatusCode, want, resp.Header.Get("WWW-Authenticate"))
				}
				if want != 200 && strings.Contains(body, "reached") {
					t.Errorf("%s: the next handler ran", path)
				}
			}
		})
	}
}

func TestJWKSMaxAge(t *testing.T) {
	r := newRemoteKeySet("https://idp.example/jwks", nil, zap.NewNop())
	tests := []struct {
		cacheControl []string
		want         time.Duration
	}{
		{nil, 5 * time.Minute},
		{[]string{"no-cache"}, 5 * time.Minute},
		{[]string{"max-age=abc"}, 5 * time.Minute},
		{[]string{"max-age=-5"}, 5 * time.Minute},
		{[]string{"max-age=0"}, time.Minute},
		{[]string{"max-age=30"}, time.Minute},
		{[]string{"max-age=600"}, 10 * time.Minute},
		{[]string{"public, max-age=3600, must-revalidate"}, time.Hour},
		{[]string{`max-age="120"`}, 2 * time.Minute},
		{[]string{"Max-Age=120"}, 2 * time.Minute},
		{[]string{"public", "max-age=7200"}, 2 * time.Hour},
		{[]string{"max-age=90000"}, 24 * time.Hour},
		{[]string{"max-age=99999999999999999999"}, 5 * time.Minute},
		{[]string{"max-age=9999999999"}, 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := r.refreshInterval(maxAge(tt.cacheControl)); got != tt.want {
			t.Errorf("Cache-Control %q: refresh in %s, want %s", tt.cacheControl, got, tt.want)
		}
	}
}

func TestJWKSURLRule(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://idp.example/.well-known/jwks.json", true},
		{"https://10.0.0.1/jwks", true},
		{"http://127.0.0.1:8080/jwks", true},
		{"http://127.0.0.2/jwks", true},
		{"http://localhost/jwks", true},
		{"http://[::1]:9000/jwks", true},
		{"http://idp.example/jwks", false},
		{"http://10.0.0.1/jwks", false},
		{"http://localhost.evil.example/jwks", false},
		{"http://127.0.0.1.nip.io/jwks", false},
		{"ftp://idp.example/jwks", false},
		{"file:///etc/jwks.json", false},
		{"/jwks.json", false},
		{"https://", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := checkJWKSURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("%q: error %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

// TestJWKSRedirectFollowsTheURLRule: a loopback server may not send the
// fetch on to a plain-http remote host.
func TestJWKSRedirectFollowsTheURLRule(t *testing.T) {
	target, hits := hitCounter(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/remote":
			http.Redirect(w, r, "http://192.0.2.1/jwks", http.StatusFound)
		case "/loopback":
			http.Redirect(w, r, target+"/jwks", http.StatusFound)
		}
	}))
	defer srv.Close()

	r := newRemoteKeySet(srv.URL+"/remote", nil, zap.NewNop())
	if err := r.fetch(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("redirect to plain http on a remote host: %v", err)
	}
	r = newRemoteKeySet(srv.URL+"/loopback", nil, zap.NewNop())
	if err := r.fetch(); err == nil || !strings.Contains(err.Error(), "status 404") || hits.Load() != 1 {
		t.Errorf("redirect to loopback: %v, %d hits", err, hits.Load())
	}
}

// TestRemoteKeySetStopsWithoutStart: Cleanup after a provision that never
// started the refresher (caddy validate) neither blocks nor starts it later.
// In the bubble, a stopRefresh that blocks is a deadlock synctest reports,
// and synctest.Wait lets a refresher started by mistake run to its end.
func TestRemoteKeySetStopsWithoutStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRemoteKeySet("https://127.0.0.1:1/jwks", nil, zap.NewNop())
		r.stopRefresh()
		r.stopRefresh()
		r.run() // too late: must not start
		synctest.Wait()
		select {
		case <-r.done:
			t.Fatal("the refresher ran after stop")
		default:
		}
	})
}
