package caddyjwt

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// keysDoc is docs/recipes.md, which holds the keys recipes.
func keysDoc(t *testing.T) string {
	t.Helper()
	doc := readFile(t, "docs/recipes.md")
	for _, heading := range []string{
		"## Verify tokens from an OIDC provider",
		"## Rotate signing keys without downtime",
		"## Role-based access",
	} {
		if !strings.Contains(doc, "\n"+heading+"\n") {
			t.Fatalf("docs/recipes.md has no recipe %q", heading)
		}
	}
	return doc
}

// TestKeysDocRecipes runs each keys recipe of docs/recipes.md as printed
// (only the site address, upstream, key files, users file and JWKS URL
// swapped for test ones) and checks it does what the text says.
// TestREADMECaddyfilesAdapt adapts their Caddyfiles with every other one
// of the docs.
func TestKeysDocRecipes(t *testing.T) {
	doc := keysDoc(t)
	k := testKeys(t)
	t.Setenv("JWT_SECRET", testSecret)

	// app is the proxied app: it answers with the X-User it receives.
	var mu sync.Mutex
	var reached []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.URL.Path)
		mu.Unlock()
		fmt.Fprint(w, "X-User=", r.Header.Get("X-User"))
	}))
	t.Cleanup(app.Close)
	upstream := strings.TrimPrefix(app.URL, "http://")
	appReached := func(path string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range reached {
			if p == path {
				return true
			}
		}
		return false
	}

	t.Run("OIDC provider tokens: issuer, audience and require are all checked", func(t *testing.T) {
		cf := sectionCaddyfile(t, doc, "## Verify tokens from an OIDC provider")
		const url = "https://sso.example.com/realms/acme/protocol/openid-connect/certs"
		if !strings.Contains(cf, url) {
			t.Fatalf("the recipe no longer uses %s", url)
		}
		idp := newJWKSServer(t, jwkSet(t, sigJWK(k.rsa.Public(), "kc-1", "RS256")))
		base := runREADMECaddyfile(t, strings.ReplaceAll(cf, url, idp.URL+"/certs"), upstream, "")

		claims := func(change map[string]any) map[string]any {
			return withChanges(validClaims("f6a1c2d0-uuid", map[string]any{
				"iss":                "https://sso.example.com/realms/acme",
				"aud":                []string{"orders-api", "account"},
				"preferred_username": "alice",
				"realm_access":       map[string]any{"roles": []string{"offline_access", "orders-reader"}},
				"scope":              "openid profile orders:read",
			}), change)
		}
		tests := []struct {
			name   string
			path   string
			token  string
			status int
		}{
			{"a token of the realm for this API", "/api/ok", mintJoseKey(t, jose.RS256, k.rsa, "kc-1", claims(nil)), 200},
			{"without the realm role", "/api/norole",
				mintJoseKey(t, jose.RS256, k.rsa, "kc-1", claims(map[string]any{"realm_access": map[string]any{"roles": []string{"offline_access"}}})), 403},
			{"without the scope", "/api/noscope", mintJoseKey(t, jose.RS256, k.rsa, "kc-1", claims(map[string]any{"scope": "openid profile"})), 403},
			{"for another application", "/api/otheraud", mintJoseKey(t, jose.RS256, k.rsa, "kc-1", claims(map[string]any{"aud": "billing"})), 401},
			{"from another realm", "/api/otheriss",
				mintJoseKey(t, jose.RS256, k.rsa, "kc-1", claims(map[string]any{"iss": "https://sso.example.com/realms/other"})), 401},
			{"signed by a key the provider does not publish", "/api/forged", mintJoseKey(t, jose.RS256, k.attackerRSA, "kc-1", claims(nil)), 401},
		}
		for _, tt := range tests {
			resp, body := sendAuth(t, "GET", base+tt.path, bearer(tt.token))
			if resp.StatusCode != tt.status {
				t.Errorf("%s: %d, want %d (%s)", tt.name, resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
				continue
			}
			if tt.status == 200 && body != "X-User=alice" {
				t.Errorf("%s: the app got %q, want the preferred_username", tt.name, body)
			}
			if tt.status != 200 && appReached(tt.path) {
				t.Errorf("%s: the request reached the app", tt.name)
			}
		}
	})

	t.Run("rotating the sign_key keeps the old key's tokens valid", func(t *testing.T) {
		cf := sectionCaddyfile(t, doc, "## Rotate signing keys without downtime")
		newKey := keyFile(t, "jwt-2026.pem", pemPrivate(t, k.ed, "pkcs8"))
		oldKey := keyFile(t, "jwt-2025.pem", pemPrivate(t, k.edOther, "pkcs8"))
		users := tempFile(t, "users", "alice:"+bcryptHashForTest(t, "pw")+"\n")
		cf = strings.NewReplacer("/etc/caddy/jwt-2026.pem", newKey, "/etc/caddy/jwt-2025.pem", oldKey).Replace(cf)
		base := runREADMECaddyfile(t, cf, upstream, users)

		login := loginSite{t, base + "/auth/login"}.token("alice", "pw")
		obj, err := jose.ParseSigned(login, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil || obj.Signatures[0].Protected.KeyID != joseThumbprint(t, k.ed.Public()) {
			t.Fatalf("a new login is not signed by the new key, named by its thumbprint (%v)", err)
		}
		oldToken := signToken(t, "EdDSA", k.edOther, map[string]any{"kid": joseThumbprint(t, k.edOther.Public())}, validClaims("alice", nil))
		for name, tok := range map[string]string{"new login": login, "token of the old key": oldToken} {
			if resp, _ := sendAuth(t, "GET", base+"/api/x", bearer(tok)); resp.StatusCode != 200 {
				t.Errorf("%s: %d", name, resp.StatusCode)
			}
		}
		forged := signToken(t, "EdDSA", k.attackerEd25519, nil, validClaims("alice", nil))
		if resp, _ := sendAuth(t, "GET", base+"/api/x", bearer(forged)); resp.StatusCode != 401 {
			t.Errorf("a token of neither key: %d", resp.StatusCode)
		}
	})

	t.Run("roles decide which paths a user reaches", func(t *testing.T) {
		cf := sectionCaddyfile(t, doc, "## Role-based access")
		sec := section(t, doc, "## Role-based access")
		example := fencedBlocks(sec, "json")
		if len(example) != 1 || !strings.Contains(example[0], `"claims": {"roles": ["admin"]}`) {
			t.Fatalf("the recipe's users file example changed:\n%v", example)
		}
		var users []User
		for name, role := range map[string]string{"alice": "admin", "bob": "editor", "carol": "viewer"} {
			users = append(users, User{Username: name, Password: bcryptHashForTest(t, "pw"), Claims: map[string]any{"roles": []string{role}}})
		}
		base := runREADMECaddyfile(t, cf, upstream, tempFile(t, "users", string(mustJSON(t, users))))

		tokens := map[string]string{}
		for _, name := range []string{"alice", "bob", "carol"} {
			tokens[name] = loginSite{t, base + "/auth/login"}.token(name, "pw")
		}
		tests := []struct {
			user, path string
			status     int
		}{
			{"alice", "/admin/a", 200}, {"alice", "/api/a", 200},
			{"bob", "/admin/b", 403}, {"bob", "/api/b", 200},
			{"carol", "/admin/c", 403}, {"carol", "/api/c", 403},
			{"", "/api/anonymous", 401},
			// The areas without their trailing slash are the same areas.
			{"bob", "/admin", 403}, {"", "/admin", 401}, {"carol", "/api", 403}, {"alice", "/api", 200},
		}
		for _, tt := range tests {
			var h http.Header
			if tt.user != "" {
				h = bearer(tokens[tt.user])
			}
			resp, _ := sendAuth(t, "GET", base+tt.path, h)
			if resp.StatusCode != tt.status {
				t.Errorf("%s on %s: %d, want %d", tt.user, tt.path, resp.StatusCode, tt.status)
			}
			if tt.status == 403 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("%s on %s: WWW-Authenticate %q", tt.user, tt.path, resp.Header.Get("WWW-Authenticate"))
			}
			if (tt.status == 200) != appReached(tt.path) {
				t.Errorf("%s on %s: reached the app = %v", tt.user, tt.path, appReached(tt.path))
			}
		}
	})
}
