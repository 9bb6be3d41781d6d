package caddyjwt

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// ruleClaims are the claims the require table is checked against, decoded
// as the backend's parser decodes them (numbers as json.Number).
const ruleClaims = `{
	"sub": "alice",
	"role": "admin",
	"team": "red blue",
	"roles": ["editor", "viewer"],
	"mixed": ["x", 7, true],
	"level": 3,
	"ratio": 0.5,
	"big": 12345678901234567890,
	"admin": true,
	"guest": false,
	"empty": "",
	"nothing": null,
	"realm_access": {"roles": ["offline_access", "app-user"]},
	"org": {"team": {"name": "core", "size": 4}},
	"resource_access": {"my.client": {"roles": ["reader"]}},
	"https://example.com/roles": ["owner"],
	"scope": "openid profile read:users",
	"scp": "files.read  files.write",
	"app": {"scope": "alpha beta"},
	"scopes": ["read", "write"]
}`

func TestRequireRules(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader([]byte(ruleClaims)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		claim  string
		values []string
		holds  bool
	}{
		{"string equals the value", "role", []string{"admin"}, true},
		{"string equals one of the values", "role", []string{"owner", "admin"}, true},
		{"string differs", "role", []string{"user"}, false},
		{"string comparison is case-sensitive", "role", []string{"Admin"}, false},
		{"string is not a prefix match", "role", []string{"adm"}, false},
		{"a string with spaces is not split unless it is a scope", "team", []string{"red"}, false},
		{"the whole string with spaces matches", "team", []string{"red blue"}, true},
		{"empty string claim matches only an empty value", "empty", []string{"x"}, false},
		{"number equals its text", "level", []string{"3"}, true},
		{"number equals another spelling of it", "level", []string{"3.0"}, true},
		{"number in exponent form", "level", []string{"0.3e1"}, true},
		{"number differs", "level", []string{"4"}, false},
		{"number is not a string match on a prefix", "level", []string{"33"}, false},
		{"fraction", "ratio", []string{".5", "0.50"}, true},
		{"big integer compared exactly", "big", []string{"12345678901234567890"}, true},
		{"big integer off by one", "big", []string{"12345678901234567891"}, false},
		{"boolean true", "admin", []string{"true"}, true},
		{"boolean true is not 1", "admin", []string{"1"}, false},
		{"boolean false", "guest", []string{"false"}, true},
		{"boolean false is not true", "guest", []string{"true"}, false},
		{"array contains the value", "roles", []string{"viewer"}, true},
		{"array contains one of the values", "roles", []string{"admin", "editor"}, true},
		{"array does not contain it", "roles", []string{"admin"}, false},
		{"array of mixed types: number element", "mixed", []string{"7"}, true},
		{"array of mixed types: boolean element", "mixed", []string{"true"}, true},
		{"array of mixed types: no match", "mixed", []string{"y"}, false},
		{"nested array by dotted path (Keycloak realm roles)", "realm_access.roles", []string{"app-user"}, true},
		{"nested array, no match", "realm_access.roles", []string{"admin"}, false},
		{"deeply nested string", "org.team.name", []string{"core"}, true},
		{"deeply nested number", "org.team.size", []string{"4"}, true},
		{"nested key that has a dot itself (Keycloak client roles)", "resource_access.my.client.roles", []string{"reader"}, true},
		{"top-level claim named like a URL", "https://example.com/roles", []string{"owner"}, true},
		{"object is never equal to a value", "org", []string{"core"}, false},
		{"path through a string stops", "role.name", []string{"admin"}, false},
		{"missing claim fails", "department", []string{"sales"}, false},
		{"missing nested claim fails", "org.team.lead", []string{"bob"}, false},
		{"null claim fails", "nothing", []string{"null"}, false},
		{"scope is split on spaces", "scope", []string{"read:users"}, true},
		{"scope holds when one of the values is granted", "scope", []string{"write:users", "profile"}, true},
		{"scope needs a whole scope, not a part", "scope", []string{"read"}, false},
		{"scope does not match the whole string", "scope", []string{"openid profile read:users"}, false},
		{"scp is split on spaces, runs of spaces too", "scp", []string{"files.write"}, true},
		{"scp without the value", "scp", []string{"files.delete"}, false},
		{"a nested scope is split as well", "app.scope", []string{"beta"}, true},
		{"a scope list is matched element-wise", "scopes", []string{"write"}, true},
		{"a claim merely named like scopes is not split", "scopes", []string{"read write"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRule(Rule{Claim: tt.claim, Values: tt.values})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.holds(claims); got != tt.holds {
				t.Errorf("require %s %v: holds=%v, want %v", tt.claim, tt.values, got, tt.holds)
			}
		})
	}
}

func TestRequireThroughCaddy(t *testing.T) {
	base := startCaddy(t, `
	jwt {
		backend api {
			secret `+testSecret+`
		}
	}`, `
	jwt_auth /admin/* {
		require realm_access.roles admin
		require scope write
	}
	jwt_auth /any/* {
		require role editor admin
	}
	respond "reached {http.auth.user.id}"`)

	tok := func(extra map[string]any) string { return hs256(t, testSecret, validClaims("alice", extra)) }
	tests := []struct {
		name   string
		path   string
		token  string
		status int
		reason string
	}{
		{"every require line holds", "/admin/x",
			tok(map[string]any{"realm_access": map[string]any{"roles": []string{"admin"}}, "scope": "read write"}), 200, ""},
		{"the first line holds, the second does not", "/admin/x",
			tok(map[string]any{"realm_access": map[string]any{"roles": []string{"admin"}}, "scope": "read"}), 403, "claim scope does not allow this request"},
		{"the second line holds, the first does not", "/admin/x",
			tok(map[string]any{"realm_access": map[string]any{"roles": []string{"user"}}, "scope": "write"}), 403, "claim realm_access.roles does not allow this request"},
		{"the claim is missing", "/admin/x", tok(nil), 403, "claim realm_access.roles does not allow this request"},
		{"one of several values", "/any/x", tok(map[string]any{"role": "admin"}), 200, ""},
		{"none of several values", "/any/x", tok(map[string]any{"role": "viewer"}), 403, "claim role does not allow this request"},
		{"a bad token is still 401, not 403", "/any/x", tok(map[string]any{"role": "admin", "exp": 1}), 401, "token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+tt.path, bearer(tt.token))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			}
			if tt.status == 200 {
				if body != "reached alice" {
					t.Errorf("body %q", body)
				}
				return
			}
			if strings.Contains(body, "reached") {
				t.Fatal("the next handler ran")
			}
			code := "invalid_token"
			if tt.status == 403 {
				code = "insufficient_scope"
			}
			want := challengeFor("api", code, tt.reason)
			if tt.status == 403 {
				want = `Bearer realm="api", error="insufficient_scope"`
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		})
	}
}

// TestRequireFailureReachesHandleErrors: a 403 is a handler error, with
// the reason and the bearer's identity in placeholders.
func TestRequireFailureReachesHandleErrors(t *testing.T) {
	base := startCaddy(t, `
	jwt {
		backend api {
			secret `+testSecret+`
		}
	}`, `
	jwt_auth {
		require role admin
	}
	respond "reached"
	handle_errors {
		respond "{err.status_code} {http.auth.jwt.error} user={http.auth.user.id}"
	}`)
	resp, body := sendAuth(t, "GET", base+"/", bearer(hs256(t, testSecret, validClaims("bob", map[string]any{"role": "viewer"}))))
	if resp.StatusCode != 403 || body != "403 claim role does not allow this request user=bob" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="api", error="insufficient_scope"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

// TestTokenSources: Authorization, then from_header, then from_query; the
// first present wins, even when it is bad.
func TestTokenSources(t *testing.T) {
	base := startCaddy(t, `
	jwt {
		backend api {
			secret `+testSecret+`
		}
	}`, `
	jwt_auth /all/* {
		from_header X-Api-Token
		from_query access_token
	}
	jwt_auth /plain/*
	respond "reached {http.auth.user.id}"`)
	good := hs256(t, testSecret, validClaims("alice", nil))
	bad := hs256(t, "another-secret-0123456789-0123456789-xyz", validClaims("mallory", nil))

	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"Authorization alone", "/all/", bearer(good), 200},
		{"from_header alone", "/all/", http.Header{"X-Api-Token": {good}}, 200},
		{"from_header value with surrounding spaces", "/all/", http.Header{"X-Api-Token": {"  " + good + " "}}, 200},
		{"from_query alone", "/all/?access_token=" + good, nil, 200},
		{"Authorization wins over a bad from_header", "/all/", http.Header{"Authorization": {"Bearer " + good}, "X-Api-Token": {bad}}, 200},
		{"a bad Authorization is not rescued by a good from_header", "/all/", http.Header{"Authorization": {"Bearer " + bad}, "X-Api-Token": {good}}, 401},
		{"a bad from_header is not rescued by a good from_query", "/all/?access_token=" + good, http.Header{"X-Api-Token": {bad}}, 401},
		{"from_header wins over a bad from_query", "/all/?access_token=" + bad, http.Header{"X-Api-Token": {good}}, 200},
		{"Basic credentials are no token, so from_header is read", "/all/", http.Header{"Authorization": {"Basic YWxpY2U6cHc="}, "X-Api-Token": {good}}, 200},
		{"a malformed Authorization header is still 400", "/all/", http.Header{"Authorization": {"Bearer a b"}, "X-Api-Token": {good}}, 400},
		{"another query parameter is no source", "/all/?token=" + good, nil, 401},
		{"another header is no source", "/all/", http.Header{"X-Token": {good}}, 401},
		{"without from_query, the query is ignored", "/plain/?access_token=" + good, nil, 401},
		{"without from_header, the header is ignored", "/plain/", http.Header{"X-Api-Token": {good}}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+tt.path, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			}
			if (tt.status == 200) != (body == "reached alice") {
				t.Errorf("body %q", body)
			}
		})
	}
}
