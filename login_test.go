package caddyjwt

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
)

// These tests drive jwt_login through a real Caddy as API clients do.
// Tokens are decoded here with the standard library only, so a bug in the
// code that issues them cannot hide in the code that checks them.

// loginGlobals is a `jwt` global option with one backend named api whose
// body is testSecret plus the given lines.
func loginGlobals(lines string) string {
	return "\n\tjwt {\n\t\tbackend api {\n\t\t\tsecret " + testSecret + "\n" + lines + "\n\t\t}\n\t}\n"
}

// loginUsersFile writes a JSON users file: bob (with claims of several JSON
// types) and carol, who is disabled.
func loginUsersFile(t testing.TB) string {
	t.Helper()
	users := []map[string]any{
		{"username": "bob", "password": bcryptHashForTest(t, "bob-pw"),
			"claims": map[string]any{"role": "editor", "groups": []string{"a", "b"}, "level": 3}},
		{"username": "carol", "password": bcryptHashForTest(t, "carol-pw"), "disabled": true},
	}
	return tempFile(t, "users.json", string(mustJSON(t, users)))
}

// issuedToken is a token decoded without our code: header, claims, and
// whether its HMAC signature checks out with the secret.
type issuedToken struct {
	header map[string]any
	claims map[string]any
}

// decodeIssuedToken splits a compact JWS, checks its HMAC signature with
// secret (the algorithm taken from the header, which must be an HMAC one)
// and decodes its header and claims. Numbers stay json.Number.
func decodeIssuedToken(t testing.TB, token, secret string) issuedToken {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", token, len(parts))
	}
	var tok issuedToken
	for i, into := range []*map[string]any{&tok.header, &tok.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("token part %d is not base64url: %v", i, err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(into); err != nil {
			t.Fatalf("token part %d is not a JSON object: %q: %v", i, raw, err)
		}
	}
	alg, _ := tok.header["alg"].(string)
	newHash, ok := hmacHashes[alg]
	if !ok {
		t.Fatalf("token alg %v is not an HMAC algorithm", tok.header["alg"])
	}
	mac := hmac.New(newHash, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("token signature does not verify with the backend's secret")
	}
	return tok
}

// claimInt reads a numeric claim.
func (tok issuedToken) claimInt(t testing.TB, name string) int64 {
	t.Helper()
	n, ok := tok.claims[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %#v, want a number", name, tok.claims[name])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s = %v, want a whole number", name, n)
	}
	return v
}

// loginBody decodes a login response body.
func loginBody(t testing.TB, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %q: %v", body, err)
	}
	return m
}

func TestLoginSucceedsForFormAndJSONBodies(t *testing.T) {
	base := startCaddy(t, loginGlobals(`
			lifetime 90m
			user alice `+bcryptHashForTest(t, "alice-pw")+`
			users `+loginUsersFile(t)), `
	jwt_login /login {
		rate_limit off
	}`)
	site := loginSite{t, base + "/login"}

	tests := []struct {
		name        string
		contentType string
		body        string
		user        string
	}{
		{"form body logs in", formType, "username=alice&password=alice-pw", "alice"},
		{"form with grant_type=password logs in", formType, "grant_type=password&username=alice&password=alice-pw", "alice"},
		{"form with a charset parameter logs in", formType + "; charset=UTF-8", "username=alice&password=alice-pw", "alice"},
		{"form fields are URL-decoded", formType, "username=alice&password=alice%2Dpw", "alice"},
		{"JSON body logs in", jsonType, `{"username":"alice","password":"alice-pw"}`, "alice"},
		{"JSON with a charset parameter logs in", jsonType + "; charset=utf-8", `{"username":"alice","password":"alice-pw"}`, "alice"},
		{"JSON with grant_type password logs in", jsonType, `{"grant_type":"password","username":"alice","password":"alice-pw"}`, "alice"},
		{"users-file user logs in", jsonType, `{"username":"bob","password":"bob-pw"}`, "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site.t = t
			resp, body := site.post(tt.contentType, tt.body, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if p := resp.Header.Get("Pragma"); p != "no-cache" {
				t.Errorf("Pragma = %q, want no-cache", p)
			}
			m := loginBody(t, body)
			if len(m) != 4 {
				t.Errorf("body has fields %v, want exactly token, access_token, token_type, expires_in", m)
			}
			token, _ := m["token"].(string)
			if token == "" || m["access_token"] != token {
				t.Errorf("token %q and access_token %v must be the same non-empty token", token, m["access_token"])
			}
			if m["token_type"] != "bearer" {
				t.Errorf("token_type = %v, want bearer", m["token_type"])
			}
			if m["expires_in"] != float64(90*60) {
				t.Errorf("expires_in = %v, want 5400 (the lifetime in seconds)", m["expires_in"])
			}
			if sub := decodeIssuedToken(t, token, testSecret).claims["sub"]; sub != tt.user {
				t.Errorf("sub = %v, want %s", sub, tt.user)
			}
		})
	}
}

func TestLoginIssuesTheSpecifiedClaims(t *testing.T) {
	alice := bcryptHashForTest(t, "alice-pw")
	users := loginUsersFile(t)
	base := startCaddy(t, `
	jwt {
		backend plain {
			secret `+testSecret+`
			user alice `+alice+` role=admin
			users `+users+`
		}
		backend one {
			secret `+testSecret+`
			lifetime 10m
			issuer https://issuer.example
			audience fastapi-users:auth
			user alice `+alice+`
		}
		backend many {
			secret `+testSecret+testSecret+`
			algorithm HS512
			audience app-a app-b
			user alice `+alice+`
		}
	}`, `
	jwt_login /plain plain {
		rate_limit off
	}
	jwt_login /one one
	jwt_login /many many`)

	type want struct {
		lifetime int64
		alg      string
		iss      any // nil: must be absent
		aud      any // nil: must be absent
		extra    map[string]any
	}
	tests := []struct {
		name, path, secret, user, password string
		want                               want
	}{
		{"inline user's claims are issued, no iss or aud when unset", "/plain", testSecret, "alice", "alice-pw",
			want{3600, "HS256", nil, nil, map[string]any{"role": "admin"}}},
		{"users-file claims keep their JSON types", "/plain", testSecret, "bob", "bob-pw",
			want{3600, "HS256", nil, nil, map[string]any{"role": "editor", "groups": []any{"a", "b"}, "level": json.Number("3")}}},
		{"issuer is iss, a single audience is a string", "/one", testSecret, "alice", "alice-pw",
			want{600, "HS256", "https://issuer.example", "fastapi-users:auth", nil}},
		{"several audiences are a list, HS512 signs", "/many", testSecret + testSecret, "alice", "alice-pw",
			want{3600, "HS512", nil, []any{"app-a", "app-b"}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := loginSite{t, base + tt.path}
			before := time.Now().Unix()
			resp, body := site.form(tt.user, tt.password, nil)
			after := time.Now().Unix()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			tok := decodeIssuedToken(t, jsonField(t, body, "token"), tt.secret)

			if len(tok.header) != 2 || tok.header["alg"] != tt.want.alg || tok.header["typ"] != "JWT" {
				t.Errorf("header = %v, want exactly alg %s and typ JWT", tok.header, tt.want.alg)
			}
			if tok.claims["sub"] != tt.user {
				t.Errorf("sub = %v, want %s", tok.claims["sub"], tt.user)
			}
			iat, exp := tok.claimInt(t, "iat"), tok.claimInt(t, "exp")
			if iat < before || iat > after {
				t.Errorf("iat = %d, want the login time (%d..%d)", iat, before, after)
			}
			if exp != iat+tt.want.lifetime {
				t.Errorf("exp = %d, want iat + %d = %d", exp, tt.want.lifetime, iat+tt.want.lifetime)
			}
			if got := int64(loginBody(t, body)["expires_in"].(float64)); got != tt.want.lifetime {
				t.Errorf("expires_in = %d, want %d", got, tt.want.lifetime)
			}
			jti, _ := tok.claims["jti"].(string)
			if raw, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(raw) != 16 {
				t.Errorf("jti = %q, want 128 bits in base64url (err %v)", jti, err)
			}
			for _, c := range []struct {
				name string
				want any
			}{{"iss", tt.want.iss}, {"aud", tt.want.aud}} {
				got, present := tok.claims[c.name]
				switch {
				case c.want == nil && present:
					t.Errorf("%s = %v, want it absent", c.name, got)
				case c.want != nil && !reflect.DeepEqual(got, c.want):
					t.Errorf("%s = %#v, want %#v", c.name, got, c.want)
				}
			}
			registered := map[string]bool{"sub": true, "iat": true, "exp": true, "jti": true, "iss": true, "aud": true}
			for k, v := range tok.claims {
				if registered[k] {
					continue
				}
				if w, ok := tt.want.extra[k]; !ok || !reflect.DeepEqual(v, w) {
					t.Errorf("claim %s = %#v, want %#v", k, v, w)
				}
			}
			for k := range tt.want.extra {
				if _, ok := tok.claims[k]; !ok {
					t.Errorf("claim %s missing", k)
				}
			}
		})
	}

	t.Run("jti is distinct across logins", func(t *testing.T) {
		site := loginSite{t, base + "/plain"}
		seen := map[string]bool{}
		for i := 0; i < 20; i++ {
			_, body := site.form("alice", "alice-pw", nil)
			jti, _ := decodeIssuedToken(t, jsonField(t, body, "token"), testSecret).claims["jti"].(string)
			if jti == "" || seen[jti] {
				t.Fatalf("login %d: jti %q is empty or repeated", i, jti)
			}
			seen[jti] = true
		}
	})
}

func TestLoginRefusesBadRequests(t *testing.T) {
	base := startCaddy(t, loginGlobals(`
			user alice `+bcryptHashForTest(t, "alice-pw")+`
			users `+loginUsersFile(t)), `
	jwt_login /login {
		rate_limit off
	}`)
	badCredentials := `{"error":"invalid_grant","detail":"LOGIN_BAD_CREDENTIALS"}`

	// pad makes a form body of exactly n bytes that logs alice in.
	pad := func(n int) string {
		b := "username=alice&password=alice-pw&pad="
		return b + strings.Repeat("x", n-len(b))
	}

	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		chunked     bool
		status      int
		errCode     string // "" when the body is not checked
		exactBody   string // checked when set
		allow       string // Allow header wanted, when set
	}{
		{name: "missing username is invalid_request", contentType: formType, body: "password=alice-pw", status: 400, errCode: "invalid_request"},
		{name: "empty username is invalid_request", contentType: formType, body: "username=&password=alice-pw", status: 400, errCode: "invalid_request"},
		{name: "missing password is invalid_request", contentType: formType, body: "username=alice", status: 400, errCode: "invalid_request"},
		{name: "empty password is invalid_request", contentType: formType, body: "username=alice&password=", status: 400, errCode: "invalid_request"},
		{name: "empty form is invalid_request", contentType: formType, body: "", status: 400, errCode: "invalid_request"},
		{name: "malformed form encoding is invalid_request", contentType: formType, body: "username=alice&password=%zz", status: 400, errCode: "invalid_request"},
		{name: "JSON without username is invalid_request", contentType: jsonType, body: `{"password":"alice-pw"}`, status: 400, errCode: "invalid_request"},
		{name: "JSON with empty password is invalid_request", contentType: jsonType, body: `{"username":"alice","password":""}`, status: 400, errCode: "invalid_request"},
		{name: "JSON null username is invalid_request", contentType: jsonType, body: `{"username":null,"password":"alice-pw"}`, status: 400, errCode: "invalid_request"},
		{name: "truncated JSON is invalid_request", contentType: jsonType, body: `{"username":"alice","password":`, status: 400, errCode: "invalid_request"},
		{name: "JSON with trailing data is invalid_request", contentType: jsonType, body: `{"username":"alice","password":"alice-pw"} {}`, status: 400, errCode: "invalid_request"},
		{name: "JSON number username is invalid_request", contentType: jsonType, body: `{"username":1,"password":"alice-pw"}`, status: 400, errCode: "invalid_request"},
		{name: "JSON boolean password is invalid_request", contentType: jsonType, body: `{"username":"alice","password":true}`, status: 400, errCode: "invalid_request"},
		{name: "JSON object password is invalid_request", contentType: jsonType, body: `{"username":"alice","password":{"x":1}}`, status: 400, errCode: "invalid_request"},
		{name: "JSON array body is invalid_request", contentType: jsonType, body: `["alice","alice-pw"]`, status: 400, errCode: "invalid_request"},
		{name: "JSON null body is invalid_request", contentType: jsonType, body: `null`, status: 400, errCode: "invalid_request"},
		{name: "grant_type other than password is unsupported_grant_type", contentType: formType, body: "grant_type=client_credentials&username=alice&password=alice-pw", status: 400, errCode: "unsupported_grant_type"},
		{name: "malformed grant_type is invalid_request", contentType: formType, body: "grant_type=pass+word&username=alice&password=alice-pw", status: 400, errCode: "invalid_request"},
		{name: "empty grant_type is invalid_request", contentType: formType, body: "grant_type=&username=alice&password=alice-pw", status: 400, errCode: "invalid_request"},
		{name: "JSON refresh_token grant without refresh is unsupported_grant_type", contentType: jsonType, body: `{"grant_type":"refresh_token","username":"alice","password":"alice-pw"}`, status: 400, errCode: "unsupported_grant_type"},
		{name: "JSON non-string grant_type is invalid_request", contentType: jsonType, body: `{"grant_type":1,"username":"alice","password":"alice-pw"}`, status: 400, errCode: "invalid_request"},

		{name: "wrong password is invalid_grant", contentType: formType, body: "username=alice&password=nope", status: 400, exactBody: badCredentials},
		{name: "password of another user is invalid_grant", contentType: formType, body: "username=alice&password=bob-pw", status: 400, exactBody: badCredentials},
		{name: "unknown user is invalid_grant", contentType: formType, body: "username=mallory&password=alice-pw", status: 400, exactBody: badCredentials},
		{name: "username is case-sensitive", contentType: formType, body: "username=Alice&password=alice-pw", status: 400, exactBody: badCredentials},
		{name: "disabled user with the right password is invalid_grant", contentType: jsonType, body: `{"username":"carol","password":"carol-pw"}`, status: 400, exactBody: badCredentials},
		{name: "disabled user with a wrong password is invalid_grant", contentType: jsonType, body: `{"username":"carol","password":"nope"}`, status: 400, exactBody: badCredentials},

		{name: "PUT is 405 with Allow", method: "PUT", contentType: formType, body: "username=alice&password=alice-pw", status: 405, allow: "GET, HEAD, POST"},
		{name: "DELETE is 405 with Allow", method: "DELETE", status: 405, allow: "GET, HEAD, POST"},
		{name: "PATCH is 405 with Allow", method: "PATCH", contentType: jsonType, body: `{}`, status: 405, allow: "GET, HEAD, POST"},
		{name: "OPTIONS is 405 with Allow", method: "OPTIONS", status: 405, allow: "GET, HEAD, POST"},

		{name: "text/plain is 415", contentType: "text/plain", body: "username=alice&password=alice-pw", status: 415},
		{name: "missing Content-Type is 415", body: "username=alice&password=alice-pw", status: 415},
		{name: "multipart form is 415", contentType: "multipart/form-data; boundary=x", body: "--x--", status: 415},
		{name: "malformed Content-Type is 415", contentType: "application/json; =", body: `{}`, status: 415},

		{name: "body of exactly 64 KiB is read", contentType: formType, body: pad(64 << 10), status: 200},
		{name: "body over 64 KiB with Content-Length is 413", contentType: formType, body: pad(64<<10 + 1), status: 413},
		{name: "chunked body of exactly 64 KiB is read", contentType: formType, body: pad(64 << 10), chunked: true, status: 200},
		{name: "chunked body over 64 KiB is 413", contentType: formType, body: pad(64<<10 + 1), chunked: true, status: 413},
		{name: "huge chunked body is 413", contentType: formType, body: pad(1 << 20), chunked: true, status: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "POST"
			}
			var rd io.Reader
			if tt.body != "" {
				rd = strings.NewReader(tt.body)
				if tt.chunked {
					// Hiding the length makes the client send it chunked.
					rd = io.MultiReader(rd)
				}
			}
			req, err := http.NewRequest(method, base+"/login", rd)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked && req.ContentLength != 0 {
				t.Fatalf("request has a Content-Length; it would not be chunked")
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, body := send(t, client, req)

			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			m := loginBody(t, body)
			if d, _ := m["detail"].(string); d == "" {
				t.Errorf("body %s has no detail", body)
			}
			if tt.errCode != "" && m["error"] != tt.errCode {
				t.Errorf("error = %v, want %s", m["error"], tt.errCode)
			}
			if tt.exactBody != "" && body != tt.exactBody {
				t.Errorf("body = %s, want %s", body, tt.exactBody)
			}
			if tt.allow != "" && resp.Header.Get("Allow") != tt.allow {
				t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), tt.allow)
			}
			if strings.Contains(body, "token") {
				t.Errorf("a refused login answered something token-like: %s", body)
			}
		})
	}
}

func TestLoginPageIsServedOnGetAndHead(t *testing.T) {
	base := startCaddy(t, loginGlobals("\t\t\tuser alice "+bcryptHashForTest(t, "alice-pw")), `
	jwt_login /auth/login`)

	for _, method := range []string{"GET", "HEAD"} {
		t.Run(method+" serves the HTML page with a strict CSP", func(t *testing.T) {
			resp, body := do(t, method, base+"/auth/login?redirect=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", nil, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, directive := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, directive) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, directive)
				}
			}
			if strings.Contains(csp, "script-src") && !strings.Contains(csp, "script-src 'none'") {
				t.Errorf("Content-Security-Policy %q allows scripts", csp)
			}
			if method == "HEAD" {
				if body != "" {
					t.Errorf("HEAD answered a body of %d bytes", len(body))
				}
				return
			}
			for _, want := range []string{`<form`, `method="post"`, `action="/auth/login"`, `name="username"`, `name="password"`, `type="password"`} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("the redirect parameter was not escaped: %s", body)
			}
			for _, external := range []string{"http://", "https://", "//"} {
				if strings.Contains(body, `src="`+external) || strings.Contains(body, `href="`+external) {
					t.Errorf("page loads an external asset (%s)", external)
				}
			}
		})
	}
}

func TestLoginPageFormPostsToTheURLTheBrowserSees(t *testing.T) {
	// Behind handle_path the handler sees a stripped path; the form must
	// still post to the path the browser asked for, or logging in breaks.
	base := startCaddy(t, loginGlobals("\t\t\tuser alice "+bcryptHashForTest(t, "alice-pw")), `
	handle_path /auth/* {
		jwt_login
	}`)
	resp, body := do(t, "GET", base+"/auth/login", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(body, `action="/auth/login"`) {
		t.Fatalf("form does not post to /auth/login:\n%s", body)
	}
	// And posting there logs in.
	resp, body = loginSite{t, base + "/auth/login"}.form("alice", "alice-pw", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login through the page's action: status %d: %s", resp.StatusCode, body)
	}
}

// argon2idHashForTest hashes password with Caddy's argon2id, at light
// parameters so tests stay fast. The zero Argon2idHash cannot hash (argon2
// panics on zero rounds) and its parameters are unexported, so they come
// from a PHC string through caddyauth.DecodeHash, as Caddy reads them.
func argon2idHashForTest(t testing.TB, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawStdEncoding.EncodeToString
	// The key part only sets the key length: 32 bytes.
	params, _, err := caddyauth.DecodeHash([]byte("$argon2id$v=19$m=4096,t=2,p=1$" + b64(salt) + "$" + b64(make([]byte, 32))))
	if err != nil {
		t.Fatal(err)
	}
	h, err := params.Hash([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestLoginAcceptsArgon2idUsers(t *testing.T) {
	hash := argon2idHashForTest(t, "dora-pw")
	if !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("not an argon2id hash: %s", hash)
	}
	file := tempFile(t, "htpasswd", "# argon2id users\nerin:"+argon2idHashForTest(t, "erin-pw")+"\n")
	base := startCaddy(t, loginGlobals("\t\t\tuser dora "+hash+"\n\t\t\tusers "+file), `
	jwt_login /login`)
	site := loginSite{t, base + "/login"}

	tests := []struct {
		name, user, password string
		status               int
	}{
		{"inline argon2id user logs in", "dora", "dora-pw", 200},
		{"argon2id user from an htpasswd file logs in", "erin", "erin-pw", 200},
		{"wrong password for an argon2id user is refused", "dora", "erin-pw", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site.t = t
			resp, body := site.form(tt.user, tt.password, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				if sub := decodeIssuedToken(t, jsonField(t, body, "token"), testSecret).claims["sub"]; sub != tt.user {
					t.Errorf("sub = %v", sub)
				}
			}
		})
	}
}

// retryAfterSeconds reads a Retry-After header that must be whole seconds.
func retryAfterSeconds(t testing.TB, resp *http.Response) int {
	t.Helper()
	v := resp.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("Retry-After = %q, want whole seconds", v)
	}
	return n
}

// wantRateLimited checks a 429 answer.
func wantRateLimited(t testing.TB, resp *http.Response, body string, maxWait int) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429; body %s", resp.StatusCode, body)
	}
	if wait := retryAfterSeconds(t, resp); wait <= 0 || wait > maxWait {
		t.Errorf("Retry-After = %d, want 1..%d", wait, maxWait)
	}
	m := loginBody(t, body)
	if m["detail"] != "LOGIN_RATE_LIMITED" {
		t.Errorf("detail = %v, want LOGIN_RATE_LIMITED", m["detail"])
	}
	if e, _ := m["error"].(string); e == "" {
		t.Errorf("429 body %s has no error", body)
	}
}

// failLogins logs user in with a wrong password n times; each must be
// refused with 400.
func (s loginSite) failLogins(user string, n int, headers map[string]string) {
	s.t.Helper()
	for i := 1; i <= n; i++ {
		if resp, body := s.form(user, "wrong", headers); resp.StatusCode != 400 {
			s.t.Fatalf("failure %d: status %d, want 400: %s", i, resp.StatusCode, body)
		}
	}
}

// startAliceLogin runs jwt_login /login on a backend whose one user is
// alice, password alice-pw, with a rate_limit line ("" for the default)
// and more global options.
func startAliceLogin(t testing.TB, rateLimit, moreGlobals string) loginSite {
	t.Helper()
	site := "jwt_login /login"
	if rateLimit != "" {
		site += " {\n\t\t" + rateLimit + "\n\t}"
	}
	globals := loginGlobals("\t\t\tuser alice "+bcryptHashForTest(t, "alice-pw")) + moreGlobals
	return loginSite{t, startCaddy(t, globals, site) + "/login"}
}

func TestLoginRateLimit(t *testing.T) {

	t.Run("default allows 10 failures per 5m, then refuses even the right password", func(t *testing.T) {
		site := startAliceLogin(t, "", "")
		site.failLogins("alice", 10, nil)
		resp, body := site.form("alice", "alice-pw", nil)
		wantRateLimited(t, resp, body, 300)
		if wait := retryAfterSeconds(t, resp); wait < 290 {
			t.Errorf("Retry-After = %d, want about 300 (the oldest failure just happened)", wait)
		}
	})

	t.Run("rate_limit 3 1m refuses the 4th attempt", func(t *testing.T) {
		site := startAliceLogin(t, "rate_limit 3 1m", "")
		site.failLogins("alice", 3, nil)
		for _, attempt := range []struct{ contentType, body string }{
			{formType, "username=alice&password=alice-pw"},
			{jsonType, `{"username":"alice","password":"alice-pw"}`},
			{formType, "username=alice&password=wrong"},
			// Even a request that would be refused anyway is refused
			// early, before its body is read.
			{formType, "username=alice"},
		} {
			resp, body := site.post(attempt.contentType, attempt.body, nil)
			wantRateLimited(t, resp, body, 60)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		}
	})

	t.Run("successful logins are counted apart, with the same limit", func(t *testing.T) {
		site := startAliceLogin(t, "rate_limit 3 1m", "")
		site.failLogins("alice", 2, nil)
		// Malformed requests are neither failures nor successes.
		for i := 1; i <= 5; i++ {
			if resp, _ := site.post(formType, "username=alice", nil); resp.StatusCode != 400 {
				t.Fatalf("malformed request %d: status %d", i, resp.StatusCode)
			}
			if resp, _ := site.post("text/plain", "x", nil); resp.StatusCode != 415 {
				t.Fatalf("text/plain request %d: status %d", i, resp.StatusCode)
			}
		}
		// Successes neither clear nor add to the failures; twice the
		// count are allowed.
		for i := 1; i <= 2*3; i++ {
			if resp, body := site.form("alice", "alice-pw", nil); resp.StatusCode != 200 {
				t.Fatalf("success %d: status %d: %s", i, resp.StatusCode, body)
			}
		}
		resp, body := site.form("alice", "alice-pw", nil)
		wantRateLimited(t, resp, body, 60)

		// Another window, for counts of its own.
		site = startAliceLogin(t, "rate_limit 3 2m", "")
		for i := 1; i <= 5; i++ {
			site.tokenOf(site.json("alice", "alice-pw", nil))
		}
		site.failLogins("alice", 3, nil)
		resp, body = site.form("alice", "wrong", nil)
		wantRateLimited(t, resp, body, 120)
	})

	t.Run("rate_limit off never limits", func(t *testing.T) {
		site := startAliceLogin(t, "rate_limit off", "")
		site.failLogins("alice", 30, nil)
		if resp, body := site.form("alice", "alice-pw", nil); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})

	t.Run("with trusted_proxies, each forwarded client IP is counted apart", func(t *testing.T) {
		site := startAliceLogin(t, "rate_limit 3 1m", `
	servers {
		trusted_proxies static 127.0.0.1/32
	}`)
		a := map[string]string{"X-Forwarded-For": "203.0.113.1"}
		b := map[string]string{"X-Forwarded-For": "203.0.113.2"}
		site.failLogins("alice", 3, a)
		resp, body := site.form("alice", "alice-pw", a)
		wantRateLimited(t, resp, body, 60)

		if resp, body := site.form("alice", "wrong", b); resp.StatusCode != 400 {
			t.Fatalf("another client's failure: status %d, want 400: %s", resp.StatusCode, body)
		}
		if resp, body := site.form("alice", "alice-pw", b); resp.StatusCode != 200 {
			t.Fatalf("another client's login: status %d, want 200: %s", resp.StatusCode, body)
		}
		// The proxy itself has failed nothing.
		if resp, body := site.form("alice", "alice-pw", nil); resp.StatusCode != 200 {
			t.Fatalf("the proxy's own login: status %d, want 200: %s", resp.StatusCode, body)
		}
	})

	t.Run("without trusted_proxies, a spoofed X-Forwarded-For does not escape the limit", func(t *testing.T) {
		site := startAliceLogin(t, "rate_limit 3 1m", "")
		for i := 1; i <= 3; i++ {
			xff := map[string]string{"X-Forwarded-For": "198.51.100." + strconv.Itoa(i)}
			if resp, body := site.form("alice", "wrong", xff); resp.StatusCode != 400 {
				t.Fatalf("failure %d: status %d: %s", i, resp.StatusCode, body)
			}
		}
		resp, body := site.form("alice", "alice-pw", map[string]string{"X-Forwarded-For": "198.51.100.99"})
		wantRateLimited(t, resp, body, 60)
		resp, body = site.form("alice", "alice-pw", map[string]string{"X-Real-IP": "198.51.100.98"})
		wantRateLimited(t, resp, body, 60)
	})

	t.Run("concurrent failures cannot exceed the limit", func(t *testing.T) {
		const limit, attempts = 3, 24
		url := startAliceLogin(t, "rate_limit 3 1m", "").url
		var wg sync.WaitGroup
		var refused, limited, other atomic.Int32
		start := make(chan struct{})
		for i := 0; i < attempts; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", url, strings.NewReader("username=alice&password=wrong"))
				req.Header.Set("Content-Type", formType)
				<-start
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 400:
					refused.Add(1)
				case 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if refused.Load() != limit || limited.Load() != attempts-limit || other.Load() != 0 {
			t.Fatalf("%d concurrent wrong passwords: %d checked (400), %d limited (429), %d other; want exactly %d checked",
				attempts, refused.Load(), limited.Load(), other.Load(), limit)
		}
	})
}

// runningJWTApp is the jwt app of the Caddy a test started.
func runningJWTApp(t testing.TB) *App {
	t.Helper()
	app, err := caddy.ActiveContext().App("jwt")
	if err != nil {
		t.Fatal(err)
	}
	return app.(*App)
}

func TestAcquireHashSlotCapsConcurrentHashChecks(t *testing.T) {
	// A context with a config, as Caddy provisions apps in: the app keeps
	// its state in the config's storage.
	ctx, err := caddy.ProvisionContext(&caddy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Slots alone: this test holds them for seconds, which the budget
	// would charge.
	app := &App{HashCPU: "off"}
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	slots := 2 * runtime.GOMAXPROCS(0)

	// Every slot is handed out at once: one that is not free gives errBusy
	// after hashSlotWait, and the timeout only catches a hang.
	releases := make([]func(bool), 0, slots)
	for i := 0; i < slots; i++ {
		done := make(chan struct{})
		var release func(bool)
		var err error
		go func() {
			release, err = app.acquireHashSlot(context.Background(), false, 0)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(hashSlotWait + lateSlack):
			t.Fatalf("slot %d of %d was not handed out at once", i+1, slots)
		}
		if err != nil {
			t.Fatalf("slot %d of %d: %v", i+1, slots, err)
		}
		releases = append(releases, release)
	}

	t.Run("one more waiter gets errBusy after the wait", func(t *testing.T) {
		start := time.Now()
		release, err := app.acquireHashSlot(context.Background(), false, 0)
		waited := time.Since(start)
		if err != errBusy || release != nil {
			t.Fatalf("got err %v, want errBusy", err)
		}
		// Timers never fire early, so the lower bound is exact; the upper
		// one only catches a waiter that does not give up.
		if waited < hashSlotWait || waited > hashSlotWait+lateSlack {
			t.Errorf("gave up after %s, want after %s", waited, hashSlotWait)
		}
	})

	t.Run("a trusted check takes a reserved slot meanwhile, untrusted ones cannot", func(t *testing.T) {
		var trusted []func(bool)
		for i := 0; i < cap(app.reservedSlots); i++ {
			release, err := app.acquireHashSlot(context.Background(), true, 0)
			if err != nil {
				t.Fatalf("reserved slot %d: %v", i+1, err)
			}
			trusted = append(trusted, release)
		}
		if _, err := app.acquireHashSlot(context.Background(), true, 0); err != errBusy {
			t.Fatalf("with every slot taken, a trusted check got %v, want errBusy", err)
		}
		for _, release := range trusted {
			release(false)
		}
		if n := len(app.reservedSlots); n != 0 {
			t.Errorf("%d reserved slots still taken after every release", n)
		}
	})

	t.Run("a waiter whose request ends stops waiting", func(t *testing.T) {
		rctx, rcancel := context.WithCancel(context.Background())
		rcancel()
		if _, err := app.acquireHashSlot(rctx, false, 0); err != context.Canceled {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})

	// A waiter the release does not reach gives errBusy after
	// hashSlotWait; the timeout only catches a hang.
	t.Run("a waiter gets a slot as soon as one is released", func(t *testing.T) {
		got := make(chan error, 1)
		var release func(bool)
		go func() {
			var err error
			release, err = app.acquireHashSlot(context.Background(), false, 0)
			got <- err
		}()
		releases[0](false)
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("waiter got %v after a release", err)
			}
			releases[0] = release
		case <-time.After(hashSlotWait + lateSlack):
			t.Fatal("waiter did not get the released slot")
		}
	})

	for _, release := range releases {
		release(false)
	}
	if n := len(app.hashSlots); n != 0 {
		t.Errorf("%d slots still taken after every release", n)
	}
	for i := 0; i < slots; i++ {
		if _, err := app.acquireHashSlot(context.Background(), false, 0); err != nil {
			t.Fatalf("released slot %d not reusable: %v", i, err)
		}
	}
}

func TestLoginAnswers503WhenEveryHashSlotStaysTaken(t *testing.T) {
	site := startAliceLogin(t, "rate_limit 1 1m", "")
	app := runningJWTApp(t)
	free := fillHashSlots(app)

	resp, body := site.form("alice", "wrong", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
	}
	if wait := retryAfterSeconds(t, resp); wait <= 0 {
		t.Errorf("Retry-After = %d, want a positive number of seconds", wait)
	}
	if m := loginBody(t, body); m["error"] == "" || m["detail"] == "" {
		t.Errorf("503 body %s lacks error or detail", body)
	}

	free()
	// The refused attempt was never checked, so it is not a failure: with
	// rate_limit 1, a counted failure would make this a 429.
	if resp, body := site.form("alice", "alice-pw", nil); resp.StatusCode != 200 {
		t.Fatalf("after the slots are free: status %d, want 200: %s", resp.StatusCode, body)
	}
}

// comparisonLog records the hashes password checks compared against.
type comparisonLog struct {
	mu     sync.Mutex
	hashes [][]byte
}

func (c *comparisonLog) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hashes
	c.hashes = nil
	return h
}

// countingComparer is a Comparer that writes every comparison to a log.
type countingComparer struct {
	caddyauth.Comparer
	log *comparisonLog
}

func (c countingComparer) Compare(hashed, plaintext []byte) (bool, error) {
	c.log.mu.Lock()
	c.log.hashes = append(c.log.hashes, hashed)
	c.log.mu.Unlock()
	return c.Comparer.Compare(hashed, plaintext)
}

// countComparisons makes every password check of a users table, for known
// and unknown users alike, write to the returned log.
func countComparisons(table *userTable) *comparisonLog {
	log := &comparisonLog{}
	wrapped := map[*account]bool{}
	for _, a := range mapValues(table.accounts) {
		if a != nil && !wrapped[a] {
			a.cmp = countingComparer{a.cmp, log}
			wrapped[a] = true
		}
	}
	return log
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestLoginChecksAHashOfTheSameCostForUnknownUsers(t *testing.T) {
	// Timing parity, proven by structure rather than by a clock: every
	// login runs exactly one Compare, through the same comparer, against a
	// hash of the same algorithm and cost, whether the user exists or not.
	// Cost 6 is nobody's default, so a fixed fake hash would show.
	cost6, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), 6)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		user string // a user line
		cost func(t *testing.T, hash []byte) string
	}{
		{"bcrypt cost 6", "user alice " + string(cost6), func(t *testing.T, hash []byte) string {
			c, err := bcrypt.Cost(hash)
			if err != nil {
				t.Fatalf("compared against a non-bcrypt hash %q", hash)
			}
			return "bcrypt cost " + strconv.Itoa(c)
		}},
		{"argon2id", "user alice " + argon2idHashForTest(t, "alice-pw"), func(t *testing.T, hash []byte) string {
			if _, _, err := caddyauth.DecodeHash(hash); err != nil {
				t.Fatalf("compared against a non-argon2id hash %q", hash)
			}
			// Everything but the salt and key: version and parameters.
			parts := strings.Split(string(hash), "$")
			return "argon2id " + parts[2] + "$" + parts[3]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startCaddy(t, loginGlobals("\t\t\t"+tt.user), `
	jwt_login /login {
		rate_limit off
	}`)
			site := loginSite{t, base + "/login"}
			counter := countComparisons(runningJWTApp(t).Backends["api"].users.current())

			resp, _ := site.form("alice", "wrong", nil)
			known := counter.take()
			if resp.StatusCode != 400 || len(known) != 1 {
				t.Fatalf("wrong password for alice: status %d, %d comparisons; want 400 and 1", resp.StatusCode, len(known))
			}
			want := tt.cost(t, known[0])

			for _, name := range []string{"mallory", strings.Repeat("x", 500)} {
				resp, _ := site.form(name, "wrong", nil)
				got := counter.take()
				if resp.StatusCode != 400 {
					t.Fatalf("unknown user %s: status %d", name[:min(len(name), 20)], resp.StatusCode)
				}
				if len(got) != 1 {
					t.Fatalf("unknown user: %d comparisons through the users' comparer, want 1", len(got))
				}
				if c := tt.cost(t, got[0]); c != want {
					t.Errorf("unknown user compared against %s, known user against %s", c, want)
				}
			}
		})
	}
}

// loginLogLine is one JSON line of Caddy's log.
type loginLogLine map[string]any

// readLogLines reads Caddy's JSON log file, waiting briefly for lines with
// msg to appear.
func readLogLines(t testing.TB, path, msg string, want int) (raw string, lines []loginLogLine) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		raw = string(data)
		lines = lines[:0]
		n := 0
		for _, l := range strings.Split(raw, "\n") {
			if l == "" {
				continue
			}
			var m loginLogLine
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line is not JSON: %q", l)
			}
			lines = append(lines, m)
			if m["msg"] == msg {
				n++
			}
		}
		if n >= want || time.Now().After(deadline) {
			return raw, lines
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLoginLogsForAuditWithoutSecrets(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "caddy.log")
	accessLog := filepath.Join(dir, "access.log")
	// Every password, secret and forged token carries the word MARKER, so
	// no log may contain it at all.
	const (
		alicePW   = "MARKERPASS-alice-1"
		typedPW   = "MARKERPASS-typed-into-username-2"
		wrongPW   = "MARKERPASS-wrong-3"
		carolPW   = "carol-pw"
		secret    = "MARKERSECRET-0123456789-abcdefghijklmnopq"
		forged    = "MARKERTOKEN"
		backendID = "api"
	)
	users := loginUsersFile(t)
	globals := loginGlobals("\t\t\tuser alice " + bcryptHashForTest(t, alicePW) + "\n\t\t\tusers " + users + "\n\t\t\tcookie {\n\t\t\t\tinsecure\n\t\t\t}")
	base := startCaddy(t, `
	log {
		output file `+logFile+`
		format json
		level DEBUG
	}`+strings.Replace(globals, testSecret, secret, 1), `
	log {
		output file `+accessLog+`
		format json
	}
	jwt_login /login
	jwt_auth /api/*
	respond /api/* "hi {http.auth.user.id}"`)
	site := loginSite{t, base + "/login"}

	type attempt struct {
		name     string
		user, pw string
		status   int
		logUser  string // the user field wanted; "" for none
	}
	failures := []attempt{
		{"wrong password logs the existing user", "alice", wrongPW, 400, "alice"},
		{"unknown user is not logged by name", typedPW, wrongPW, 400, ""},
		{"disabled user logs the existing user", "carol", carolPW, 400, "carol"},
	}
	var tokens []string
	for _, a := range failures {
		if resp, body := site.form(a.user, a.pw, nil); resp.StatusCode != a.status {
			t.Fatalf("%s: status %d: %s", a.name, resp.StatusCode, body)
		}
	}
	tokens = append(tokens, site.tokenOf(site.form("alice", alicePW, nil)), site.token("alice", alicePW))
	// Use a token, so the access log sees it in a header.
	if resp, body := sendAuth(t, "GET", base+"/api/x", bearer(tokens[0])); resp.StatusCode != 200 {
		t.Fatalf("api: %d %s", resp.StatusCode, body)
	}
	// A bad request that carries a password.
	site.post(jsonType, `{"username":"alice","password":"`+alicePW+`","grant_type":"x"}`, nil)
	// Tokens jwt_auth refuses, in every place it reads one from.
	expired := hs256(t, secret, validClaims("alice", map[string]any{
		"iat": time.Now().Add(-3 * time.Hour).Unix(), "exp": time.Now().Add(-2 * time.Hour).Unix()}))
	tokens = append(tokens, expired)
	first := tokens[0][:strings.LastIndex(tokens[0], ".")]
	for _, r := range []struct {
		header http.Header
		status int
	}{
		{bearer(forged + "." + forged + "." + forged), 401},
		{bearer(first + "." + forged + "SIGNATURE"), 401},
		{bearer(expired), 401},
		{http.Header{"Authorization": {"Bearer " + tokens[0], "Bearer " + forged}}, 400},
		{http.Header{"Authorization": {"Bearer " + forged + " " + alicePW}}, 400},
		{http.Header{"Cookie": {"jwt_api=" + forged + "." + forged + "." + forged}}, 401},
	} {
		if resp, body := sendAuth(t, "GET", base+"/api/x", r.header); resp.StatusCode != r.status {
			t.Fatalf("refused token: status %d, want %d: %s", resp.StatusCode, r.status, body)
		}
	}

	raw, lines := readLogLines(t, logFile, "login succeeded", 2)
	var failed, succeeded []loginLogLine
	for _, l := range lines {
		if l["logger"] != "http.handlers.jwt_login" {
			continue
		}
		switch l["msg"] {
		case "login failed":
			failed = append(failed, l)
		case "login succeeded":
			succeeded = append(succeeded, l)
		}
	}

	t.Run("each failed login is one warn line for fail2ban", func(t *testing.T) {
		if len(failed) != len(failures) {
			t.Fatalf("%d 'login failed' lines from http.handlers.jwt_login, want %d; log:\n%s", len(failed), len(failures), raw)
		}
		for i, a := range failures {
			l := failed[i]
			if l["level"] != "warn" {
				t.Errorf("%s: level %v, want warn", a.name, l["level"])
			}
			if l["client_ip"] != "127.0.0.1" {
				t.Errorf("%s: client_ip = %v, want 127.0.0.1", a.name, l["client_ip"])
			}
			if r, _ := l["reason"].(string); r == "" {
				t.Errorf("%s: no reason", a.name)
			}
			if l["backend"] != backendID {
				t.Errorf("%s: backend = %v, want %s", a.name, l["backend"], backendID)
			}
			u, has := l["user"]
			switch {
			case a.logUser == "" && has:
				t.Errorf("%s: user = %v logged for a user that does not exist", a.name, u)
			case a.logUser != "" && u != a.logUser:
				t.Errorf("%s: user = %v, want %s", a.name, u, a.logUser)
			}
		}
	})

	t.Run("each success is one info line", func(t *testing.T) {
		if len(succeeded) != 2 {
			t.Fatalf("%d 'login succeeded' lines, want 2; log:\n%s", len(succeeded), raw)
		}
		for _, l := range succeeded {
			if l["level"] != "info" || l["user"] != "alice" || l["client_ip"] != "127.0.0.1" || l["backend"] != backendID {
				t.Errorf("success line %v, want level info, user alice, client_ip 127.0.0.1, backend %s", l, backendID)
			}
		}
	})

	t.Run("no password, token or secret is ever logged", func(t *testing.T) {
		access, _ := os.ReadFile(accessLog)
		if len(access) == 0 {
			t.Fatalf("the access log is empty; the test would prove nothing about it")
		}
		// The refused tokens were logged about, at debug level: the check
		// below covers those lines too.
		if n := strings.Count(raw, `"msg":"request rejected"`); n != 6 {
			t.Fatalf("%d 'request rejected' debug lines, want 6; log:\n%s", n, raw)
		}
		secrets := map[string]string{
			"alice's password":                        alicePW,
			"a password typed as a username":          typedPW,
			"a wrong password":                        wrongPW,
			"the disabled user's password":            carolPW,
			"a marker":                                "MARKER",
			"the backend secret":                      secret,
			"alice's password hash":                   bcryptHashForTest(t, alicePW),
			"the signature of the first token":        tokens[0][strings.LastIndex(tokens[0], ".")+1:],
			"the claims of the second token":          strings.Split(tokens[1], ".")[1],
			"the signature of an expired token":       expired[strings.LastIndex(expired, ".")+1:],
			"the secret, base64url (as in some logs)": base64.RawURLEncoding.EncodeToString([]byte(secret)),
		}
		for file, content := range map[string]string{"Caddy's log": raw, "the access log": string(access)} {
			for what, s := range secrets {
				if strings.Contains(content, s) {
					t.Errorf("%s contains %s", file, what)
				}
			}
		}
	})
}

// BenchmarkLogin measures the whole jwt_login ServeHTTP of a successful JSON
// login for a bcrypt cost 10 user: body parsing, limiter, hash check,
// signing and the response. The bcrypt check dominates, by design.
func BenchmarkLogin(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), 10)
	if err != nil {
		b.Fatal(err)
	}
	startCaddy(b, `
	log {
		output discard
	}`+loginGlobals("\t\t\tuser alice "+string(hash)+" role=admin"), `respond "unused"`)
	h := &Login{Backend: "api"}
	if err := h.Provision(caddy.ActiveContext()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Cleanup() })
	body := []byte(`{"username":"alice","password":"alice-pw"}`)

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", jsonType)
		ctx := context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
		ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "192.0.2.1"})
		rec := httptest.NewRecorder()
		if err := h.ServeHTTP(rec, req.WithContext(ctx), nil); err != nil || rec.Code != http.StatusOK {
			b.Fatalf("login: %v, status %d: %s", err, rec.Code, rec.Body)
		}
	}
}
