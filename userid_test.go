package caddyjwt

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// fastapiUserID is a user's id as fastapi-users makes it: a UUID.
const fastapiUserID = "4a6f3c9e-8f1b-4d2a-9c7e-1b2d3e4f5a6b"

// TestUsersLogInByNameAndTokensCarryTheirID: a JSON users file entry's id,
// and an inline user's id=, become sub (and the user_claim), while people
// log in with their username.
func TestUsersLogInByNameAndTokensCarryTheirID(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	users := tempFile(t, "users.json", `[
		{"username": "alice@example.com", "id": "`+fastapiUserID+`", "password": "`+hash+`", "claims": {"role": "admin"}},
		{"username": "bob", "password": "`+hash+`"}
	]`)
	base := startCaddy(t, jwtOption(
		backendBlock("file", "secret "+testSecret, "users "+users, "audience fastapi-users:auth"),
		backendBlock("inline", "secret "+testSecret, "user carol "+hash+" id=u-42 role=dev"),
		backendBlock("claim", "secret "+testSecret, "user_claim user_id", "user dave "+hash+" id=d-7"),
	), `jwt_login /file/login file
	jwt_login /inline/login inline
	jwt_login /claim/login claim
	jwt_auth /file/api/* file
	jwt_auth /claim/api/* claim
	respond "{http.auth.user.id} {http.auth.user.sub} {http.auth.user.role}"`)

	for _, tt := range []struct {
		path, user, sub string
		extra           map[string]string
	}{
		{"/file/login", "alice@example.com", fastapiUserID, map[string]string{"role": "admin"}},
		{"/file/login", "bob", "bob", nil}, // no id: the username
		{"/inline/login", "carol", "u-42", map[string]string{"role": "dev"}},
		{"/claim/login", "dave", "d-7", map[string]string{"user_id": "d-7"}},
	} {
		token := loginSite{t, base + tt.path}.token(tt.user, "pw")
		claims := decodeIssuedToken(t, token, testSecret).claims
		if claims["sub"] != tt.sub {
			t.Errorf("%s %s: sub %v, want %s", tt.path, tt.user, claims["sub"], tt.sub)
		}
		if _, ok := claims["id"]; ok {
			t.Errorf("%s %s: id= became a claim: %v", tt.path, tt.user, claims)
		}
		for k, v := range tt.extra {
			if claims[k] != v {
				t.Errorf("%s %s: claim %s = %v, want %s", tt.path, tt.user, k, claims[k], v)
			}
		}
	}
	// The id is who the request is from.
	token := loginSite{t, base + "/file/login"}.token("alice@example.com", "pw")
	if resp, body := sendAuth(t, "GET", base+"/file/api/me", bearer(token)); resp.StatusCode != 200 || body != fastapiUserID+" "+fastapiUserID+" admin" {
		t.Errorf("placeholders: %d %q", resp.StatusCode, body)
	}
	token = loginSite{t, base + "/claim/login"}.token("dave", "pw")
	if resp, body := sendAuth(t, "GET", base+"/claim/api/me", bearer(token)); resp.StatusCode != 200 || !strings.HasPrefix(body, "d-7 d-7") {
		t.Errorf("user_claim placeholders: %d %q", resp.StatusCode, body)
	}
	// Logging in by the id is not logging in by the username.
	if resp, body := (loginSite{t, base + "/file/login"}).json(fastapiUserID, "pw", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("login by id: status %d: %s", resp.StatusCode, body)
	}
}

// TestFastapiUsersTokenForAnEmailLogin: a person who logs in with an email
// gets a token that a fastapi-users app reads as its user's UUID: HS256,
// aud fastapi-users:auth, sub the UUID, checked by go-jose as that app's
// PyJWT would check it.
func TestFastapiUsersTokenForAnEmailLogin(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	users := tempFile(t, "users.json", `[{"username": "alice@example.com", "id": "`+fastapiUserID+`", "password": "`+hash+`"}]`)
	base := startCaddy(t, jwtOption(backendBlock("fastapi", "secret "+testSecret, "audience fastapi-users:auth", "users "+users)),
		"jwt_login /auth/jwt/login")
	token := loginSite{t, base + "/auth/jwt/login"}.tokenOf(loginSite{t, base + "/auth/jwt/login"}.form("alice@example.com", "pw", nil))
	parsed, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims josejwt.Claims
	if err := parsed.Claims([]byte(testSecret), &claims); err != nil {
		t.Fatal(err)
	}
	if err := claims.Validate(josejwt.Expected{AnyAudience: josejwt.Audience{"fastapi-users:auth"}}); err != nil {
		t.Fatal(err)
	}
	if claims.Subject != fastapiUserID {
		t.Errorf("sub %q, want the user's UUID %s", claims.Subject, fastapiUserID)
	}
}

// TestRevokingAUserNamesTheirID: revocations and refresh families are
// keyed by the id, so revoking the id ends the user's tokens and sessions.
func TestRevokingAUserNamesTheirID(t *testing.T) {
	dir := t.TempDir()
	hash := bcryptHashForTest(t, "pw")
	ports := runOnFreePorts(t, 2, func(ports []string) string {
		return "{\n\tadmin 127.0.0.1:" + ports[1] + "\n\tauto_https off\n\tpersist_config off\n\tstorage file_system " + dir + "\n" +
			jwtOption(backendBlock("api", "secret "+testSecret, "refresh 1h", "user alice@example.com "+hash+" id="+fastapiUserID)) +
			"}\n\nhttp://127.0.0.1:" + ports[0] + " {\n" + storeSite + "\n}\n"
	})
	base := "http://127.0.0.1:" + ports[0]
	resp, body := loginSite{t, base + "/login"}.json("alice@example.com", "pw", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	token, refresh := jsonField(t, body, "token"), jsonField(t, body, "refresh_token")
	wantAuth(t, base, token, 200, "")

	revoke := func(user string) {
		t.Helper()
		resp, body := do(t, "POST", "http://127.0.0.1:"+ports[1]+"/jwt/revoke", map[string]string{"Content-Type": "application/json"},
			`{"backend":"api","user":"`+user+`"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke %s: %d %s", user, resp.StatusCode, body)
		}
	}
	revoke("alice@example.com") // the login name is not who the token is about
	wantAuth(t, base, token, 200, "")
	revoke(fastapiUserID)
	wantAuth(t, base, token, 401, "token revoked")
	resp, body = loginSite{t, base + "/login"}.post(formType, "grant_type=refresh_token&refresh_token="+refresh, nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "REFRESH_INVALID") {
		t.Errorf("refresh after revoking the id: %d %s", resp.StatusCode, body)
	}
}

// TestUserIDsAreUniquePerBackend: two users may not share an effective id,
// inline, in a users file, or across both.
func TestUserIDsAreUniquePerBackend(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	dupFile := tempFile(t, "dup.json", `[
		{"username": "a", "id": "x", "password": "`+hash+`"},
		{"username": "b", "id": "x", "password": "`+hash+`"}
	]`)
	nameFile := tempFile(t, "name.json", `[{"username": "a", "password": "`+hash+`"}, {"username": "b", "id": "a", "password": "`+hash+`"}]`)
	clashFile := tempFile(t, "clash.json", `[{"username": "b", "id": "x", "password": "`+hash+`"}]`)
	for _, tt := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"inline ids", []string{"user a " + hash + " id=x", "user b " + hash + " id=x"},
			[]string{`jwt backend "api"`, "user", `id "x" is already the id of user "a"`}},
		{"an id that is another's username", []string{"user a " + hash, "user b " + hash + " id=a"},
			[]string{`jwt backend "api"`, `user "b": id "a" is already the id of user "a"`}},
		{"a users file", []string{"users " + dupFile},
			[]string{`jwt backend "api"`, "users", dupFile + ":3", `id "x" is already the id of user "a"`}},
		{"a users file, name and id", []string{"users " + nameFile},
			[]string{`jwt backend "api"`, "users", nameFile + ":1", `id "a" is already the id of user "a"`}},
		{"inline and file", []string{"user a " + hash + " id=x", "users " + clashFile},
			[]string{`jwt backend "api"`, "users", `id "x" is already the id of user "a"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := loadError(t, jwtOption(backendBlock("api", append([]string{"secret " + testSecret}, tt.lines...)...)), "jwt_login /login")
			wantMentions(t, err, tt.want...)
		})
	}
}

// TestTheUserClaimIsNotAUserClaim: with user_claim user_id, a user's own
// user_id claim would be overwritten by the id; it is refused with a hint.
func TestTheUserClaimIsNotAUserClaim(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	file := tempFile(t, "users.json", `[{"username": "a", "password": "`+hash+`", "claims": {"user_id": "u-1"}}]`)
	for _, tt := range []struct {
		name string
		line string
		want []string
	}{
		{"inline", "user a " + hash + " user_id=u-1", []string{`jwt backend "api"`, "user", `claim "user_id" is the user_claim`, "id=<value>"}},
		{"users file", "users " + file, []string{`jwt backend "api"`, "users", file, `claim "user_id" is the user_claim`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := loadError(t, jwtOption(backendBlock("api", "secret "+testSecret, "user_claim user_id", tt.line)), "jwt_login /login")
			wantMentions(t, err, tt.want...)
		})
	}
}
