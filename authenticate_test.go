package caddyjwt

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// This file tests jwt_auth against a real Caddy for Authorization: Bearer:
// statuses and challenges, claim validation, placeholders,
// several backends, CORS preflights; and fuzzes reading and verifying a
// token. Tokens are minted here by hand (mintHMAC, so every byte of header
// and payload is under the test's control) or with go-jose (interop_test.go),
// never with the code under test.

// hmacHashes are the hashes of the HMAC algorithms, for the tests that
// sign or check tokens by hand.
var hmacHashes = map[string]func() hash.Hash{
	"HS256": sha256.New,
	"HS384": sha512.New384,
	"HS512": sha512.New,
}

// mintHMAC signs header and payload (JSON texts, used byte for byte) with an
// HMAC algorithm (HS256, HS384, HS512) and returns the compact JWS.
func mintHMAC(t testing.TB, alg, secret, header, payload string) string {
	t.Helper()
	h, ok := hmacHashes[alg]
	if !ok {
		t.Fatalf("mintHMAC: no hash for %q", alg)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(h, []byte(secret))
	mac.Write([]byte(signingInput))
	return signingInput + "." + enc.EncodeToString(mac.Sum(nil))
}

// claimsJSON marshals claims for mintHMAC.
func claimsJSON(t testing.TB, claims map[string]any) string {
	t.Helper()
	return string(mustJSON(t, claims))
}

// validClaims are the claims of a good token for user sub, plus extra ones
// (a nil value deletes a claim).
func validClaims(sub string, extra map[string]any) map[string]any {
	now := time.Now().Unix()
	return withChanges(map[string]any{"sub": sub, "iat": now, "exp": now + 3600}, extra)
}

// withChanges sets the fields of changes in m, deletes those whose value is
// nil, and returns m: claims or a header, changed for one test.
func withChanges(m, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// hs256 mints an HS256 token with the usual header.
func hs256(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	return mintHMAC(t, "HS256", secret, `{"alg":"HS256","typ":"JWT"}`, claimsJSON(t, claims))
}

// challengeFor is the WWW-Authenticate of a failure with an error code.
func challengeFor(realm, code, reason string) string {
	return `Bearer realm="` + realm + `", error="` + code + `", error_description="` + reason + `"`
}

const singleBackend = `
	jwt {
		backend api {
			secret ` + testSecret + `
		}
	}`

func TestAuthStatusesAndChallenges(t *testing.T) {
	base := startCaddy(t, singleBackend, `
	jwt_auth
	respond "welcome {http.auth.user.id}"`)
	good := hs256(t, testSecret, validClaims("alice", nil))
	noToken := `Bearer realm="api"`

	tests := []struct {
		name          string
		header        http.Header
		wantStatus    int
		wantChallenge string
	}{
		{"valid token is let through", bearer(good), 200, ""},
		{"scheme in lower case is accepted", http.Header{"Authorization": {"bearer " + good}}, 200, ""},
		{"scheme in upper case is accepted", http.Header{"Authorization": {"BEARER " + good}}, 200, ""},
		{"several spaces after the scheme are accepted", http.Header{"Authorization": {"Bearer   " + good}}, 200, ""},
		{"no Authorization header gets a challenge without error", nil, 401, noToken},
		{"Basic credentials count as no token", http.Header{"Authorization": {"Basic YWxpY2U6cHc="}}, 401, noToken},
		{"another scheme carrying a valid token counts as no token", http.Header{"Authorization": {"Token " + good}}, 401, noToken},
		{"garbage token is invalid_token", bearer("garbage"), 401, challengeFor("api", "invalid_token", "malformed token")},
		{"token of two segments is invalid_token", bearer("abc.def"), 401, challengeFor("api", "invalid_token", "malformed token")},
		{"token signed with another secret is invalid_token", bearer(hs256(t, strings.Repeat("x", 40), validClaims("alice", nil))), 401,
			challengeFor("api", "invalid_token", "signature invalid")},
		{"two Authorization headers are invalid_request", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, 400,
			challengeFor("api", "invalid_request", "more than one Authorization header")},
		{"Bearer without a token is invalid_request", http.Header{"Authorization": {"Bearer"}}, 400,
			challengeFor("api", "invalid_request", "malformed Authorization header")},
		{"Bearer followed by spaces only is invalid_request", http.Header{"Authorization": {"Bearer    "}}, 400,
			challengeFor("api", "invalid_request", "malformed Authorization header")},
		{"a space inside the token is invalid_request", http.Header{"Authorization": {"Bearer abc def"}}, 400,
			challengeFor("api", "invalid_request", "malformed Authorization header")},
		{"a comma inside the token is invalid_request", http.Header{"Authorization": {"Bearer " + good + ",x"}}, 400,
			challengeFor("api", "invalid_request", "malformed Authorization header")},
		{"a quote inside the token is invalid_request", http.Header{"Authorization": {`Bearer "` + good + `"`}}, 400,
			challengeFor("api", "invalid_request", "malformed Authorization header")},
		{"non-ASCII in the token is invalid_request", http.Header{"Authorization": {"Bearer tök.en.x"}}, 400,
			challengeFor("api", "invalid_request", "malformed Authorization header")},
		{"padding in the middle is invalid_request", http.Header{"Authorization": {"Bearer ab=cd"}}, 400,
			challengeFor("api", "invalid_request", "malformed Authorization header")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+"/", tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			got := resp.Header.Get("WWW-Authenticate")
			if tt.wantStatus == 200 {
				if body != "welcome alice" {
					t.Errorf("body %q, want the next handler's", body)
				}
				if got != "" {
					t.Errorf("WWW-Authenticate %q on success", got)
				}
				return
			}
			if strings.Contains(body, "welcome") {
				t.Errorf("rejected request reached the next handler: %q", body)
			}
			if got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, tt.wantChallenge)
			}
			if n := len(resp.Header.Values("WWW-Authenticate")); n != 1 {
				t.Errorf("%d WWW-Authenticate fields, want 1", n)
			}
		})
	}
}

// TestAuthHandleErrors proves failures are caddyhttp.Errors: handle_errors
// runs, sees the status in {err.status_code} and the reason in
// {http.auth.jwt.error}, and the challenge header survives.
func TestAuthHandleErrors(t *testing.T) {
	base := startCaddy(t, singleBackend, `
	jwt_auth
	respond "welcome"
	handle_errors {
		respond "{err.status_code}|{http.auth.jwt.error}"
	}`)
	now := time.Now().Unix()
	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
		wantBody   string
	}{
		{"no token", nil, 401, "401|no token"},
		{"expired token", bearer(hs256(t, testSecret, validClaims("alice", map[string]any{"exp": now - 600}))), 401, "401|token expired"},
		{"wrong signature", bearer(hs256(t, "another-secret-0123456789-abcdefghijklmn", validClaims("alice", nil))), 401, "401|signature invalid"},
		{"no user claim", bearer(hs256(t, testSecret, validClaims("", map[string]any{"sub": nil}))), 401, "401|missing user claim sub"},
		{"two Authorization headers", http.Header{"Authorization": {"Bearer a", "Bearer b"}}, 400, "400|more than one Authorization header"},
		{"malformed Authorization header", http.Header{"Authorization": {"Bearer"}}, 400, "400|malformed Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+"/", tt.header)
			if resp.StatusCode != tt.wantStatus || body != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="api"`) {
				t.Errorf("WWW-Authenticate %q lost in handle_errors", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestAuthPlaceholders checks what a respond sees of an accepted token:
// each row is a route echoing one placeholder.
func TestAuthPlaceholders(t *testing.T) {
	exp := strconv.FormatInt(time.Now().Unix()+3600, 10)
	// Written by hand so that every number keeps the exact form under test.
	payload := `{"sub":"alice","exp":` + exp + `,"iat":1700000000,` +
		`"name":"Alice Liddell","uid":1700000000,"neg":-42,"big":1e21,"bigUpper":1E+21,"bigint":123456789012345678901234567890,` +
		`"sci":2.5e3,"small":1e-7,"ratio":0.25,"admin":true,"disabled":false,"nothing":null,` +
		`"roles":["admin","dev ops"],"one":["solo"],"none":[],"nums":[1,2.5,3],"mixed":["a",1],` +
		`"objs":[{"b":2,"a":1}],"profile":{"city":"Paris","zip":75001,"tags":["x"]},"html":"<b>&</b>",` +
		`"dotted.name":"dot","empty":""}`
	token := mintHMAC(t, "HS256", testSecret, `{"alg":"HS256","typ":"JWT"}`, payload)

	tests := []struct {
		name        string
		placeholder string
		want        string
	}{
		{"user id is the sub claim", "{http.auth.user.id}", "alice"},
		{"backend is named", "{http.auth.jwt.backend}", "api"},
		{"string claim as is", "{http.auth.user.name}", "Alice Liddell"},
		{"registered claim is available too", "{http.auth.user.sub}", "alice"},
		{"integer claim", "{http.auth.user.uid}", "1700000000"},
		{"iat as written", "{http.auth.user.iat}", "1700000000"},
		{"exp as written", "{http.auth.user.exp}", exp},
		{"negative integer", "{http.auth.user.neg}", "-42"},
		{"large number written with exponent has none", "{http.auth.user.big}", "1000000000000000000000"},
		{"upper-case exponent too", "{http.auth.user.bigUpper}", "1000000000000000000000"},
		{"integer beyond float precision is kept exactly", "{http.auth.user.bigint}", "123456789012345678901234567890"},
		{"small exponent becomes a decimal", "{http.auth.user.sci}", "2500"},
		{"tiny number without exponent", "{http.auth.user.small}", "0.0000001"},
		{"float claim", "{http.auth.user.ratio}", "0.25"},
		{"true", "{http.auth.user.admin}", "true"},
		{"false", "{http.auth.user.disabled}", "false"},
		{"null is empty", "{http.auth.user.nothing}", ""},
		{"array of strings joined with commas", "{http.auth.user.roles}", "admin,dev ops"},
		{"array of one string", "{http.auth.user.one}", "solo"},
		{"empty array is empty", "{http.auth.user.none}", ""},
		{"array of numbers as compact JSON", "{http.auth.user.nums}", "[1,2.5,3]"},
		{"mixed array as compact JSON", "{http.auth.user.mixed}", `["a",1]`},
		{"array of objects as compact JSON", "{http.auth.user.objs}", `[{"a":1,"b":2}]`},
		{"object as compact JSON", "{http.auth.user.profile}", `{"city":"Paris","tags":["x"],"zip":75001}`},
		{"string with markup untouched", "{http.auth.user.html}", "<b>&</b>"},
		{"claim name with a dot", "{http.auth.user.dotted.name}", "dot"},
		{"empty string claim", "{http.auth.user.empty}", ""},
	}
	var site strings.Builder
	site.WriteString("jwt_auth\n")
	for i, tt := range tests {
		site.WriteString("\trespond /p" + strconv.Itoa(i) + " `[" + tt.placeholder + "]`\n")
	}
	base := startCaddy(t, singleBackend, site.String())
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+"/p"+strconv.Itoa(i), bearer(token))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d %q", resp.StatusCode, body)
			}
			if want := "[" + tt.want + "]"; body != want {
				t.Errorf("%s = %s, want %s", tt.placeholder, body, want)
			}
		})
	}
}

// TestAuthValidation covers the claim checks of a verified token, each
// backend on its own path.
func TestAuthValidation(t *testing.T) {
	base := startCaddy(t, `
	jwt {
		backend plain {
			secret `+testSecret+`
		}
		backend strict {
			secret `+testSecret+`
			leeway 0s
		}
		backend iss {
			secret `+testSecret+`
			issuer https://issuer.example
		}
		backend aud {
			secret `+testSecret+`
			audience alpha beta gamma
		}
		backend uid {
			secret `+testSecret+`
			user_claim user_id
		}
		backend odd {
			secret `+testSecret+`
			user_claim "a\"bé"
		}
	}`, `
	jwt_auth /odd/* odd
	jwt_auth /plain/* plain
	jwt_auth /strict/* strict
	jwt_auth /iss/* iss
	jwt_auth /aud/* aud
	jwt_auth /uid/* uid
	respond "ok {http.auth.user.id}"`)

	now := time.Now().Unix()
	c := func(extra map[string]any) map[string]any { return validClaims("alice", extra) }
	tests := []struct {
		name       string
		path       string
		claims     map[string]any
		wantStatus int
		want       string // body on 200, error_description otherwise
	}{
		{"valid token", "/plain/", c(nil), 200, "ok alice"},
		{"exp is required", "/plain/", c(map[string]any{"exp": nil}), 401, "token has no exp"},
		{"exp of the wrong type is refused", "/plain/", c(map[string]any{"exp": "tomorrow"}), 401, "invalid token"},
		{"expired beyond the default leeway", "/plain/", c(map[string]any{"exp": now - 120}), 401, "token expired"},
		{"expired within the default 30s leeway", "/plain/", c(map[string]any{"exp": now - 10}), 200, "ok alice"},
		{"expired 10s ago with leeway 0s", "/strict/", c(map[string]any{"exp": now - 10}), 401, "token expired"},
		{"expired 2s ago with leeway 0s", "/strict/", c(map[string]any{"exp": now - 2}), 401, "token expired"},
		{"valid token with leeway 0s", "/strict/", c(nil), 200, "ok alice"},
		{"nbf in the future", "/plain/", c(map[string]any{"nbf": now + 300}), 401, "token not valid yet"},
		{"nbf within the leeway", "/plain/", c(map[string]any{"nbf": now + 10}), 200, "ok alice"},
		{"nbf in the past", "/plain/", c(map[string]any{"nbf": now - 10}), 200, "ok alice"},
		{"nbf 10s ahead with leeway 0s", "/strict/", c(map[string]any{"nbf": now + 10}), 401, "token not valid yet"},
		{"iat in the future", "/plain/", c(map[string]any{"iat": now + 300}), 401, "token issued in the future"},
		{"iat within the leeway", "/plain/", c(map[string]any{"iat": now + 10}), 200, "ok alice"},
		{"iat 10s ahead with leeway 0s", "/strict/", c(map[string]any{"iat": now + 10}), 401, "token issued in the future"},
		{"iat is optional", "/plain/", c(map[string]any{"iat": nil}), 200, "ok alice"},
		{"issuer matches", "/iss/", c(map[string]any{"iss": "https://issuer.example"}), 200, "ok alice"},
		{"issuer differs", "/iss/", c(map[string]any{"iss": "https://evil.example"}), 401, "issuer mismatch"},
		{"issuer differs by a trailing slash", "/iss/", c(map[string]any{"iss": "https://issuer.example/"}), 401, "issuer mismatch"},
		{"issuer missing", "/iss/", c(nil), 401, "token has no iss"},
		{"issuer not checked when not configured", "/plain/", c(map[string]any{"iss": "anyone"}), 200, "ok alice"},
		{"audience as a string", "/aud/", c(map[string]any{"aud": "beta"}), 200, "ok alice"},
		{"audience list containing the last configured one", "/aud/", c(map[string]any{"aud": []string{"other", "gamma"}}), 200, "ok alice"},
		{"audience list containing the first configured one", "/aud/", c(map[string]any{"aud": []string{"alpha"}}), 200, "ok alice"},
		{"audience string not configured", "/aud/", c(map[string]any{"aud": "delta"}), 401, "audience mismatch"},
		{"audience list without a configured one", "/aud/", c(map[string]any{"aud": []string{"delta", "epsilon"}}), 401, "audience mismatch"},
		{"audience matching is case-sensitive", "/aud/", c(map[string]any{"aud": "Alpha"}), 401, "audience mismatch"},
		{"audience missing", "/aud/", c(nil), 401, "token has no aud"},
		{"audience empty list", "/aud/", c(map[string]any{"aud": []string{}}), 401, "token has no aud"},
		{"audience not checked when not configured", "/plain/", c(map[string]any{"aud": "anything"}), 200, "ok alice"},
		{"user claim missing", "/plain/", c(map[string]any{"sub": nil}), 401, "missing user claim sub"},
		{"user claim empty", "/plain/", c(map[string]any{"sub": ""}), 401, "missing user claim sub"},
		{"user claim an object", "/plain/", c(map[string]any{"sub": map[string]any{"id": "alice"}}), 401, "user claim sub is not a string or number"},
		{"user claim a list", "/plain/", c(map[string]any{"sub": []string{"alice"}}), 401, "user claim sub is not a string or number"},
		{"user claim true", "/plain/", c(map[string]any{"sub": true}), 401, "user claim sub is not a string or number"},
		{"user claim null", "/plain/", c(map[string]any{"sub": json.RawMessage("null")}), 401, "missing user claim sub"},
		{"odd user claim name is made safe for the challenge", "/odd/", c(nil), 401, "missing user claim a?b??"},
		{"numeric user claim", "/uid/", c(map[string]any{"user_id": 42}), 200, "ok 42"},
		{"other user claim", "/uid/", c(map[string]any{"user_id": "u-7"}), 200, "ok u-7"},
		{"other user claim missing though sub is set", "/uid/", c(nil), 401, "missing user claim user_id"},
		{"other user claim empty", "/uid/", c(map[string]any{"user_id": ""}), 401, "missing user claim user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+tt.path, bearer(hs256(t, testSecret, tt.claims)))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q, %s)", resp.StatusCode, tt.wantStatus, body, resp.Header.Get("WWW-Authenticate"))
			}
			if tt.wantStatus == 200 {
				if body != tt.want {
					t.Errorf("body %q, want %q", body, tt.want)
				}
				return
			}
			realm := strings.Trim(tt.path, "/")
			if got, want := resp.Header.Get("WWW-Authenticate"), challengeFor(realm, "invalid_token", tt.want); got != want {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
			}
		})
	}
}

// paddedToken is a valid HS256 token for alice whose length is as close to
// size as base64 allows without going over, and at least size-2.
func paddedToken(t testing.TB, secret string, size int) string {
	t.Helper()
	lo, hi := 0, size
	for lo < hi { // largest padding whose token fits in size
		mid := (lo + hi + 1) / 2
		if len(hs256(t, secret, validClaims("alice", map[string]any{"pad": strings.Repeat("p", mid)}))) <= size {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	tok := hs256(t, secret, validClaims("alice", map[string]any{"pad": strings.Repeat("p", lo)}))
	if len(tok) > size || len(tok) < size-2 {
		t.Fatalf("padded token is %d bytes, want about %d", len(tok), size)
	}
	return tok
}

func TestAuthTokenSizeLimit(t *testing.T) {
	base := startCaddy(t, singleBackend, `
	jwt_auth
	respond "welcome {http.auth.user.id}"`)
	tests := []struct {
		name       string
		size       int
		wantStatus int
	}{
		{"8 KiB token is accepted", 8 << 10, 200},
		{"token just under 8 KiB is accepted", 8<<10 - 100, 200},
		{"token a few bytes over 8 KiB is rejected", 8<<10 + 4, 401},
		{"9 KiB token is rejected", 9 << 10, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := paddedToken(t, testSecret, tt.size)
			if tt.wantStatus == 401 && len(tok) <= 8<<10 {
				t.Fatalf("token is only %d bytes", len(tok))
			}
			resp, body := sendAuth(t, "GET", base+"/", bearer(tok))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%d-byte token: status %d, want %d (%s)", len(tok), resp.StatusCode, tt.wantStatus, resp.Header.Get("WWW-Authenticate"))
			}
			if tt.wantStatus == 200 && body != "welcome alice" {
				t.Errorf("body %q", body)
			}
			if tt.wantStatus == 401 {
				if want := challengeFor("api", "invalid_token", "token too large"); resp.Header.Get("WWW-Authenticate") != want {
					t.Errorf("WWW-Authenticate %q, want %q", resp.Header.Get("WWW-Authenticate"), want)
				}
			}
		})
	}
}

func TestAuthSeveralBackends(t *testing.T) {
	secretA := testSecret
	secretB := "backend-b-secret-0123456789-abcdefghijkl"
	secretC := "backend-c-secret-0123456789-abcdefghijkl"
	base := startCaddy(t, `
	jwt {
		backend a {
			secret `+secretA+`
		}
		backend b {
			secret `+secretB+`
			user_claim uid
		}
		backend c {
			secret `+secretC+`
		}
	}`, `
	jwt_auth a b
	respond "{http.auth.jwt.backend} {http.auth.user.id}"`)

	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
		want       string // body on success, WWW-Authenticate otherwise
	}{
		{"token for the first backend", bearer(hs256(t, secretA, validClaims("alice", nil))), 200, "a alice"},
		{"token for the second backend", bearer(hs256(t, secretB, validClaims("x", map[string]any{"uid": "bob"}))), 200, "b bob"},
		{"token for a backend not listed", bearer(hs256(t, secretC, validClaims("carol", nil))), 401,
			challengeFor("a", "invalid_token", "signature invalid")},
		{"no token names the first backend as realm", nil, 401, `Bearer realm="a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+"/", tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			got := body
			if tt.wantStatus != 200 {
				got = resp.Header.Get("WWW-Authenticate")
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAuthCORSPreflight: a preflight needs a token like any request, since
// whatever answers OPTIONS behind jwt_auth may answer with the
// protected content; allow_preflight lets real preflights through, and only
// them.
func TestAuthCORSPreflight(t *testing.T) {
	const next = "protected content"
	preflight := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}}
	good := hs256(t, testSecret, validClaims("alice", nil))
	noToken := `Bearer realm="api"`
	badToken := `Bearer realm="api", error="invalid_token", error_description="malformed token"`

	t.Run("without allow_preflight", func(t *testing.T) {
		base := startCaddy(t, singleBackend, `
	jwt_auth {
		redirect /login
	}
	respond "`+next+`"`)
		// The answer a tokenless request gets, to compare the preflight's with.
		plain, plainBody := sendAuth(t, "GET", base+"/", nil)
		if plain.StatusCode != 401 || plain.Header.Get("WWW-Authenticate") != noToken {
			t.Fatalf("a tokenless GET: %d %q", plain.StatusCode, plain.Header.Get("WWW-Authenticate"))
		}
		for _, tt := range []struct {
			name       string
			header     http.Header
			wantStatus int
			challenge  string
		}{
			{"a preflight without a token is answered as any tokenless request", preflight, 401, noToken},
			{"a preflight with a bad token is refused as invalid", withHeader(preflight, "Authorization", "Bearer garbage"), 401, badToken},
			{"a preflight with a valid token goes on", withHeader(preflight, "Authorization", "Bearer "+good), 200, ""},
			{"a preflight from a page is not sent to the login page", withHeader(preflight, "Accept", "text/html"), 401, noToken},
		} {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := sendAuth(t, "OPTIONS", base+"/", tt.header)
				if resp.StatusCode != tt.wantStatus || resp.Header.Get("WWW-Authenticate") != tt.challenge {
					t.Fatalf("status %d, challenge %q; want %d, %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.wantStatus, tt.challenge)
				}
				if reached := body == next; reached != (tt.wantStatus == 200) {
					t.Errorf("body %q", body)
				}
				if tt.challenge == noToken && (body != plainBody || resp.Header.Get("Access-Control-Allow-Origin") != "") {
					t.Errorf("body %q, want the tokenless GET's %q and no CORS header", body, plainBody)
				}
			})
		}
	})

	t.Run("with allow_preflight", func(t *testing.T) {
		base := startCaddy(t, singleBackend, `
	jwt_auth {
		allow_preflight
	}
	respond "`+next+`"`)
		for _, tt := range []struct {
			name       string
			method     string
			header     http.Header
			wantStatus int
		}{
			{"a preflight passes through without a token", "OPTIONS", preflight, 200},
			{"a preflight with a bad token still passes through", "OPTIONS",
				withHeader(preflight, "Authorization", "Bearer garbage"), 200},
			{"a plain OPTIONS needs a token", "OPTIONS", nil, 401},
			{"an OPTIONS with Origin only needs a token", "OPTIONS", http.Header{"Origin": {"https://app.example"}}, 401},
			{"an OPTIONS with Access-Control-Request-Method only needs a token", "OPTIONS",
				http.Header{"Access-Control-Request-Method": {"POST"}}, 401},
			{"a GET with preflight headers needs a token", "GET", preflight, 401},
			{"a POST with preflight headers needs a token", "POST", preflight, 401},
		} {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := sendAuth(t, tt.method, base+"/", tt.header)
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
				if reached := body == next; reached != (tt.wantStatus == 200) {
					t.Errorf("body %q", body)
				}
				// A preflight let through is not authenticated content.
				if tt.wantStatus == 200 && resp.Header.Get("Cache-Control") != "" {
					t.Errorf("Cache-Control %q on a preflight let through untouched", resp.Header.Get("Cache-Control"))
				}
			})
		}
	})
}

// provisionBackends provisions a jwt app from its JSON, as Caddy would, and
// returns the context it lives in (for handlers to find it).
func provisionBackends(tb testing.TB, appJSON string) caddy.Context {
	tb.Helper()
	// Caddy's storage is the tests' own, since the store reads and writes
	// revocations there.
	storage := `{"module":"file_system","root":` + strconv.Quote(testStorageDir) + `}`
	cfg := &caddy.Config{
		StorageRaw: json.RawMessage(storage),
		AppsRaw:    caddy.ModuleMap{"jwt": json.RawMessage(appJSON)},
	}
	ctx, err := caddy.ProvisionContext(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	// The app gives its store back to the pool when the test ends.
	tb.Cleanup(func() {
		if app, err := ctx.AppIfConfigured("jwt"); err == nil {
			_ = app.(*App).Cleanup()
		}
	})
	return ctx
}

// fuzzBackend is the backend FuzzBearerToken verifies with: the seed corpus
// holds tokens signed with testSecret.
func fuzzBackend(tb testing.TB) *Backend {
	tb.Helper()
	return provisionedBackend(tb, `{"secrets":[{"value":"`+testSecret+`"}]}`)
}

// provisionedBackend provisions a jwt app whose one backend, api, is
// backendJSON, and returns that backend.
func provisionedBackend(tb testing.TB, backendJSON string) *Backend {
	tb.Helper()
	app, err := loadApp(provisionBackends(tb, `{"backends":{"api":`+backendJSON+`}}`))
	if err != nil {
		tb.Fatal(err)
	}
	_, b, err := app.backend("api")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzBearerToken reads a token out of one or two Authorization header
// values and verifies it; neither may panic, and what comes out must obey
// RFC 6750's grammar. Seeds are in testdata/fuzz/FuzzBearerToken.
func FuzzBearerToken(f *testing.F) {
	b := fuzzBackend(f)
	f.Fuzz(func(t *testing.T, value, second string, repeated bool) {
		h := http.Header{"Authorization": {value}}
		if repeated {
			h["Authorization"] = append(h["Authorization"], second)
		}
		if usual, ok := usualCredentials(value); ok {
			if token, err := anyCredentials(value); token != usual || err != nil {
				t.Fatalf("%q: read as %q by the usual path, as %q, %v by any", value, usual, token, err)
			}
		}
		token, err := bearerToken(h)
		switch {
		case err != nil:
			if token != "" {
				t.Fatalf("token %q with error %v", token, err)
			}
			if repeated && err != errAuthRepeated {
				t.Fatalf("two headers: error %v", err)
			}
		case repeated:
			t.Fatalf("two headers accepted: %q", token)
		case token != "":
			if !isB64Token(token) || !strings.Contains(value, token) {
				t.Fatalf("token %q read out of %q", token, value)
			}
			scheme, _, _ := strings.Cut(strings.TrimSpace(value), " ")
			if !strings.EqualFold(scheme, "Bearer") {
				t.Fatalf("token %q read out of scheme %q", token, scheme)
			}
		}
		// Verify the header's token and, whatever the header parse said,
		// the raw value as well: Verify sees every string that reaches it.
		for _, raw := range []string{token, value} {
			if raw == "" {
				continue
			}
			id, err := b.Verify(raw)
			if err != nil {
				if id != nil {
					t.Fatalf("identity with error %v", err)
				}
				if strings.ContainsAny(err.Error(), "\"\\") {
					t.Fatalf("reason %q cannot go into a quoted-string", err.Error())
				}
				continue
			}
			if id.userID == "" || id.backend != "api" {
				t.Fatalf("accepted %q with identity %+v", raw, id)
			}
			// jwt_auth checks only tokens it has not verified before
			// for the b64token bytes.
			if !isB64Token(raw) {
				t.Fatalf("accepted %q, which is not a b64token", raw)
			}
			for claim := range id.claims() {
				id.replace("http.auth.user." + claim)
			}
		}
	})
}
