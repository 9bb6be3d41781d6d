package caddyjwt

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// publishedSet is a JWK Set as a verifier fetches it: the response, the set
// as go-jose reads it, and each key's members as sent.
type publishedSet struct {
	resp    *http.Response
	body    string
	set     jose.JSONWebKeySet
	members []map[string]any
}

// fetchJWKS GETs a published JWK Set, which must answer 200.
func fetchJWKS(t testing.TB, url string) publishedSet {
	t.Helper()
	resp, body := do(t, "GET", url, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	p := publishedSet{resp: resp, body: body}
	if err := json.Unmarshal([]byte(body), &p.set); err != nil {
		t.Fatalf("GET %s: go-jose cannot read the set: %v\n%s", url, err, body)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	p.members = raw.Keys
	return p
}

// tokenKID is the kid in a token's header.
func tokenKID(t testing.TB, token string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token[:strings.IndexByte(token, '.')])
	if err != nil {
		t.Fatal(err)
	}
	var header struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	return header.Kid
}

// joseVerify verifies token with a fetched set, as another service using
// go-jose does, and returns its sub; "" when it does not verify.
func joseVerify(t testing.TB, set jose.JSONWebKeySet, alg, token string) string {
	t.Helper()
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("go-jose cannot parse the token: %v", err)
	}
	var claims josejwt.Claims
	if err := tok.Claims(set, &claims); err != nil {
		return ""
	}
	return claims.Subject
}

// publicMembers are the members a published key of each kty has, exactly:
// its public parameters and kid, alg, use; anything else, such as the
// private d, p, q, dp, dq, qi or an HMAC k, must never be there.
var publicMembers = map[string][]string{
	"RSA": {"alg", "e", "kid", "kty", "n", "use"},
	"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
	"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
}

func memberNames(m map[string]any) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func TestPublishJWKSContentPerKeyType(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	user := "user alice " + hash
	signKey := func(name string, key crypto.Signer, format string) string {
		return "sign_key " + keyFile(t, name+".pem", pemPrivate(t, key, format))
	}
	verifyKey := func(name string, pub crypto.PublicKey) string {
		return "verify_key " + keyFile(t, name+".pub.pem", pemPublic(t, pub))
	}
	globals := jwtOption(
		backendBlock("rsa", signKey("rsa", k.rsa, "pkcs1"), verifyKey("rsa-old", k.rsaOther.Public())+" rsa-2025", user),
		backendBlock("pss", signKey("pss", k.rsa, "pkcs8")+" pss-1", "algorithm PS256", user),
		backendBlock("p256", signKey("p256", k.p256, "sec1"), verifyKey("p256-old", k.p256Other.Public()), user),
		backendBlock("p384", signKey("p384", k.p384, "pkcs8"), user),
		backendBlock("p521", signKey("p521", k.p521, "pkcs8"), user),
		backendBlock("ed", signKey("ed", k.ed, "pkcs8"), verifyKey("ed-old", k.edOther.Public()), user),
		backendBlock("ro", verifyKey("ro", k.p384.Public())),
	)
	var site strings.Builder
	for _, name := range []string{"rsa", "pss", "p256", "p384", "p521", "ed"} {
		site.WriteString("\tjwt_login /" + name + "/login " + name + "\n")
		site.WriteString("\tjwt_jwks /" + name + "/jwks " + name + "\n")
	}
	site.WriteString("\tjwt_jwks /ro/jwks ro\n\tjwt_jwks /all/jwks rsa p256 ed\n\trespond 404")
	base := startCaddy(t, globals, site.String())

	type key struct {
		pub      crypto.PublicKey
		kid      string // "" for the thumbprint
		kty, crv string
	}
	tests := []struct {
		name    string
		backend string
		alg     string
		keys    []key // the sign_key first, then the verify_keys
	}{
		{"RSA sign_key and a verify_key with its own kid", "rsa", "RS256", []key{
			{k.rsa.Public(), "", "RSA", ""}, {k.rsaOther.Public(), "rsa-2025", "RSA", ""}}},
		{"RSA key with PS256 and a kid", "pss", "PS256", []key{{k.rsa.Public(), "pss-1", "RSA", ""}}},
		{"P-256 sign_key and verify_key", "p256", "ES256", []key{
			{k.p256.Public(), "", "EC", "P-256"}, {k.p256Other.Public(), "", "EC", "P-256"}}},
		{"P-384 sign_key", "p384", "ES384", []key{{k.p384.Public(), "", "EC", "P-384"}}},
		{"P-521 sign_key", "p521", "ES512", []key{{k.p521.Public(), "", "EC", "P-521"}}},
		{"Ed25519 sign_key and verify_key", "ed", "EdDSA", []key{
			{k.ed.Public(), "", "OKP", "Ed25519"}, {k.edOther.Public(), "", "OKP", "Ed25519"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := loginSite{t, base + "/" + tt.backend + "/login"}.token("alice", "pw")
			p := fetchJWKS(t, base+"/"+tt.backend+"/jwks")
			if ct := p.resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
				t.Errorf("Content-Type %q", ct)
			}
			if len(p.set.Keys) != len(tt.keys) {
				t.Fatalf("%d keys, want %d:\n%s", len(p.set.Keys), len(tt.keys), p.body)
			}
			for i, want := range tt.keys {
				got, members := p.set.Keys[i], p.members[i]
				kid := want.kid
				if kid == "" {
					kid = joseThumbprint(t, want.pub)
				}
				if got.KeyID != kid || got.Algorithm != tt.alg || got.Use != "sig" {
					t.Errorf("key %d: kid %q alg %q use %q, want %q %s sig", i, got.KeyID, got.Algorithm, got.Use, kid, tt.alg)
				}
				if members["kty"] != want.kty || (want.crv != "" && members["crv"] != want.crv) {
					t.Errorf("key %d: kty %v crv %v, want %s %s", i, members["kty"], members["crv"], want.kty, want.crv)
				}
				if names := memberNames(members); !slices.Equal(names, publicMembers[want.kty]) {
					t.Errorf("key %d has the members %v, want exactly %v", i, names, publicMembers[want.kty])
				}
				if !got.IsPublic() || !got.Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(want.pub) {
					t.Errorf("key %d is not the backend's public key", i)
				}
			}
			// The token's kid is the published signing key's, and go-jose
			// verifies the token with the set alone.
			if kid := tokenKID(t, token); kid != p.set.Keys[0].KeyID {
				t.Errorf("token kid %q, published signing key kid %q", kid, p.set.Keys[0].KeyID)
			}
			if sub := joseVerify(t, p.set, tt.alg, token); sub != "alice" {
				t.Errorf("go-jose does not verify jwt_login's token with the published set")
			}
		})
	}

	t.Run("a verify-only backend publishes its verify_keys", func(t *testing.T) {
		p := fetchJWKS(t, base+"/ro/jwks")
		if len(p.set.Keys) != 1 || p.set.Keys[0].KeyID != joseThumbprint(t, k.p384.Public()) || p.set.Keys[0].Algorithm != "ES384" {
			t.Fatalf("set %s", p.body)
		}
	})

	t.Run("several backends in one set, in their order", func(t *testing.T) {
		p := fetchJWKS(t, base+"/all/jwks")
		var kids []string
		for _, key := range p.set.Keys {
			kids = append(kids, key.KeyID)
		}
		// Each backend's signing key, then its verify_key.
		want := []string{joseThumbprint(t, k.rsa.Public()), "rsa-2025",
			joseThumbprint(t, k.p256.Public()), joseThumbprint(t, k.p256Other.Public()),
			joseThumbprint(t, k.ed.Public()), joseThumbprint(t, k.edOther.Public())}
		if !slices.Equal(kids, want) {
			t.Fatalf("kids %v, want %v", kids, want)
		}
		for _, name := range []string{"rsa", "p256", "ed"} {
			token := loginSite{t, base + "/" + name + "/login"}.token("alice", "pw")
			alg := map[string]string{"rsa": "RS256", "p256": "ES256", "ed": "EdDSA"}[name]
			if joseVerify(t, p.set, alg, token) != "alice" {
				t.Errorf("go-jose does not verify the %s token with the combined set", name)
			}
		}
		// A key the set does not hold verifies nothing.
		forged := mintJoseKey(t, jose.ES256, k.attackerP256, joseThumbprint(t, k.p256.Public()), validClaims("alice", nil))
		if joseVerify(t, p.set, "ES256", forged) != "" {
			t.Error("go-jose verified a token of another key")
		}
	})
}

func TestPublishJWKSCachingAndMethods(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	globals := jwtOption(backendBlock("api",
		"sign_key "+keyFile(t, "ed.pem", pemPrivate(t, k.ed, "pkcs8")), "issuer https://auth.example.com", "user alice "+hash))
	base := startCaddy(t, globals, "jwt_jwks /.well-known/jwks.json\n\tjwt_discovery /.well-known/openid-configuration\n\trespond 404")

	for _, doc := range []struct{ path, contentType string }{
		{"/.well-known/jwks.json", "application/jwk-set+json"},
		{"/.well-known/openid-configuration", "application/json"},
	} {
		t.Run(doc.path, func(t *testing.T) {
			url := base + doc.path
			resp, body := do(t, "GET", url, nil, "")
			etag := resp.Header.Get("ETag")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != doc.contentType || body == "" {
				t.Fatalf("GET: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
				t.Errorf("Cache-Control %q", cc)
			}
			if len(etag) < 10 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
				t.Fatalf("ETag %q is not a strong entity tag", etag)
			}
			again, body2 := do(t, "GET", url, nil, "")
			if again.Header.Get("ETag") != etag || body2 != body {
				t.Errorf("a second GET answers another body or ETag")
			}

			tests := []struct {
				name        string
				ifNoneMatch string
				status      int
			}{
				{"its ETag", etag, 304},
				{"its ETag, weak", "W/" + etag, 304},
				{"its ETag in a list", `"other", ` + etag, 304},
				{"any", "*", 304},
				{"another ETag", `"other"`, 200},
			}
			for _, tt := range tests {
				for _, method := range []string{"GET", "HEAD"} {
					resp, body := do(t, method, url, map[string]string{"If-None-Match": tt.ifNoneMatch}, "")
					if resp.StatusCode != tt.status {
						t.Errorf("%s with If-None-Match %s: %d, want %d", method, tt.name, resp.StatusCode, tt.status)
					}
					if resp.StatusCode == 304 && (body != "" || resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") != "public, max-age=300") {
						t.Errorf("%s 304: body %q, ETag %q, Cache-Control %q", method, body, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
					}
				}
			}

			head, headBody := do(t, "HEAD", url, nil, "")
			if head.StatusCode != 200 || headBody != "" || head.Header.Get("ETag") != etag ||
				head.Header.Get("Content-Type") != doc.contentType || head.ContentLength != int64(len(body)) {
				t.Errorf("HEAD: %d, body %q, ETag %q, type %q, length %d", head.StatusCode, headBody,
					head.Header.Get("ETag"), head.Header.Get("Content-Type"), head.ContentLength)
			}

			for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
				resp, body := do(t, method, url, nil, "x")
				if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" || strings.Contains(body, "keys") || strings.Contains(body, "issuer") {
					t.Errorf("%s: %d, Allow %q, body %q; want 405 with Allow: GET, HEAD", method, resp.StatusCode, resp.Header.Get("Allow"), body)
				}
			}
		})
	}
}

func TestPublishJWKSAndDiscoveryAdaptToJSON(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	one := jwtOption(backendBlock("api", "sign_key /etc/caddy/jwt.pem", "issuer https://auth.example.com", "user alice "+hash))
	two := jwtOption(backendBlock("web", "sign_key /etc/caddy/web.pem", "issuer https://web.example.com/", "user alice "+hash),
		backendBlock("partner", "verify_key /etc/caddy/partner.pem", "issuer https://partner.example"))
	tests := []struct {
		name    string
		globals string
		site    string
		want    string
	}{
		{"jwt_jwks without a backend uses the only one", one, "jwt_jwks /.well-known/jwks.json",
			`[{"handler":"jwt_jwks","backends":["api"]}]`},
		{"jwt_jwks keeps the order of several backends", two, "jwt_jwks partner web",
			`[{"handler":"jwt_jwks","backends":["partner","web"]}]`},
		{"jwt_discovery without settings", one, "jwt_discovery /.well-known/openid-configuration",
			`[{"handler":"jwt_discovery","backend":"api"}]`},
		{"jwt_discovery with its URLs", two, "jwt_discovery /.well-known/openid-configuration web {\n\t\tjwks_uri https://keys.example.com/jwks\n\t\ttoken_endpoint https://web.example.com/token\n\t}",
			`[{"handler":"jwt_discovery","backend":"web","jwks_uri":"https://keys.example.com/jwks","token_endpoint":"https://web.example.com/token"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameJSON(t, "jwt handlers", jwtHandlers(adaptedConfig(t, tt.globals, tt.site)), tt.want)
		})
	}
}

// TestPublishDirectiveOrder: jwt_jwks and jwt_discovery run before
// jwt_login and jwt_auth without an order line, so they answer inside a
// protected site, without a token and without jwt_auth's private marking.
func TestPublishDirectiveOrder(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	globals := jwtOption(backendBlock("api", "sign_key "+keyFile(t, "p256.pem", pemPrivate(t, k.p256, "pkcs8")),
		"issuer https://auth.example.com", "user alice "+hash))
	// Written in the reverse of the order they run in.
	site := `
	respond "secret content"
	jwt_auth
	jwt_logout /logout
	jwt_login /login
	jwt_discovery /.well-known/openid-configuration
	jwt_jwks /.well-known/jwks.json`
	var got []string
	for _, h := range handlerObjects(adaptedConfig(t, globals, site)["apps"].(map[string]any)["http"]) {
		if name := h["handler"].(string); name != "subroute" {
			got = append(got, name)
		}
	}
	want := []string{"jwt_login", "jwt_jwks", "jwt_discovery", "jwt_logout", "jwt_auth", "static_response"}
	if !slices.Equal(got, want) {
		t.Fatalf("handler order %v, want %v", got, want)
	}

	base := startCaddy(t, globals, site)
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		resp, body := do(t, "GET", base+path, nil, "")
		if resp.StatusCode != 200 || strings.Contains(body, "secret") || resp.Header.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("GET %s in a protected site: %d %q, Cache-Control %q", path, resp.StatusCode, body, resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := do(t, "GET", base+"/", nil, ""); resp.StatusCode != 401 {
		t.Errorf("GET / without a token: %d, want 401", resp.StatusCode)
	}
}

func TestPublishJWKSConfigErrors(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	p256 := keyFile(t, "p256.pem", pemPrivate(t, k.p256, "pkcs8"))
	hmac := backendBlock("api", "secret "+testSecret, "user alice "+hash)
	idp := backendBlock("idp", "jwks https://idp.example.com/certs")
	pair := backendBlock("pair", "sign_key "+p256)
	tests := []adaptErrorCase{
		{"an HMAC backend", jwtOption(hmac), "jwt_jwks /.well-known/jwks.json", "jwt_jwks",
			[]string{`jwt_jwks: jwt backend "api" signs with HMAC secrets, which must never be published`}},
		{"an HMAC backend among others", jwtOption(pair, hmac), "respond ok\n\tjwt_jwks pair api", "jwt_jwks",
			[]string{`jwt_jwks: jwt backend "api" signs with HMAC secrets`}},
		{"a jwks backend", jwtOption(idp), "jwt_jwks", "jwt_jwks",
			[]string{`jwt_jwks: jwt backend "idp" verifies with a remote JWK Set (jwks) and has no keys of its own to publish`}},
		{"an unknown backend", jwtOption(pair), "jwt_jwks other", "jwt_jwks",
			[]string{`jwt_jwks: unknown jwt backend "other" (defined: pair)`}},
		{"no backend named among several", jwtOption(pair, idp), "jwt_jwks", "jwt_jwks",
			[]string{`jwt_jwks: name a backend; 2 are defined (idp, pair)`}},
		{"a subdirective", jwtOption(pair), "jwt_jwks {\n\t\tfoo\n\t}", "foo",
			[]string{`jwt_jwks: unrecognized subdirective "foo"`}},
	}
	wantAdaptErrors(t, tests)

	t.Run("in JSON, at provision", func(t *testing.T) {
		app := `{"backends":{"api":{"secrets":[{"value":"` + testSecret + `"}]}}}`
		err := wantProvisionError(t, app, `{"handler":"jwt_jwks"}`, `jwt_jwks: jwt backend "api" signs with HMAC secrets`)
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("the error shows the secret: %v", err)
		}
	})

	t.Run("one kid for two keys", func(t *testing.T) {
		other := keyFile(t, "p256-other.pem", pemPrivate(t, k.p256Other, "pkcs8"))
		globals := jwtOption(backendBlock("a", "sign_key "+p256+" 2026"), backendBlock("b", "sign_key "+other+" 2026"))
		wantLoadError(t, globals, "jwt_jwks a b", `jwt_jwks: jwt backends "a" and "b" have different keys under the key ID "2026"`)
	})

	t.Run("a key that two backends share is published once", func(t *testing.T) {
		globals := jwtOption(backendBlock("a", "sign_key "+p256), backendBlock("b", "verify_key "+keyFile(t, "p256.pub.pem", pemPublic(t, k.p256.Public()))))
		base := startCaddy(t, globals, "jwt_jwks a b")
		if p := fetchJWKS(t, base+"/"); len(p.set.Keys) != 1 {
			t.Fatalf("set %s, want the one key", p.body)
		}
	})
}

func TestPublishDiscoveryDocument(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	p384 := keyFile(t, "p384.pem", pemPrivate(t, k.p384, "pkcs8"))
	globals := jwtOption(
		backendBlock("api", "sign_key "+p384, "issuer https://auth.example.com/", "user alice "+hash),
		backendBlock("pss", "sign_key "+keyFile(t, "rsa.pem", pemPrivate(t, k.rsa, "pkcs8")), "algorithm PS384", "issuer http://127.0.0.1:9"),
	)
	base := startCaddy(t, globals, `
	jwt_discovery /api/.well-known/openid-configuration api
	jwt_discovery /pss/.well-known/openid-configuration pss {
		jwks_uri https://keys.example.com/pss.json
		token_endpoint https://login.example.com/token
	}
	respond 404`)

	tests := []struct {
		name, path, want string
	}{
		{"defaults from the issuer, without its trailing slash", "/api/.well-known/openid-configuration",
			`{"issuer":"https://auth.example.com/","jwks_uri":"https://auth.example.com/.well-known/jwks.json",
			"response_types_supported":["id_token"],"subject_types_supported":["public"],
			"id_token_signing_alg_values_supported":["ES384"]}`},
		{"URLs set in the directive", "/pss/.well-known/openid-configuration",
			`{"issuer":"http://127.0.0.1:9","jwks_uri":"https://keys.example.com/pss.json","token_endpoint":"https://login.example.com/token",
			"response_types_supported":["id_token"],"subject_types_supported":["public"],
			"id_token_signing_alg_values_supported":["PS384"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "GET", base+tt.path, nil, "")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			sameJSON(t, "discovery document", jsonValue(t, body), tt.want)
		})
	}
}

func TestPublishDiscoveryConfigErrors(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	backend := func(lines ...string) string {
		return jwtOption(backendBlock("api", append([]string{"sign_key /etc/caddy/jwt.pem", "user alice " + hash}, lines...)...))
	}
	tests := []adaptErrorCase{
		{"no issuer", backend(), "respond ok\n\tjwt_discovery /.well-known/openid-configuration", "jwt_discovery",
			[]string{`jwt_discovery: jwt backend "api" has no issuer; set one in its block, such as issuer https://auth.example.com`}},
		{"an issuer that is not a URL", backend("issuer my-app"), "jwt_discovery", "jwt_discovery",
			[]string{`jwt_discovery: jwt backend "api": issuer "my-app" is not an absolute http(s) URL`}},
		{"a jwks_uri that is not a URL", backend("issuer https://auth.example.com"),
			"jwt_discovery {\n\t\tjwks_uri /jwks.json\n\t}", "jwks_uri",
			[]string{`jwt_discovery: jwks_uri: "/jwks.json" is not an absolute http(s) URL`}},
		{"a token_endpoint with a query", backend("issuer https://auth.example.com"),
			"jwt_discovery {\n\t\ttoken_endpoint https://auth.example.com/login?x=1\n\t}", "token_endpoint",
			[]string{`jwt_discovery: token_endpoint: "https://auth.example.com/login?x=1" has a query or fragment`}},
		{"a URL without its value", backend("issuer https://auth.example.com"),
			"jwt_discovery {\n\t\tjwks_uri\n\t}", "jwks_uri",
			[]string{`jwt_discovery: jwks_uri: expected one URL`}},
		{"two backends", backend("issuer https://auth.example.com"), "jwt_discovery api api", "jwt_discovery",
			[]string{`jwt_discovery takes at most one backend, got 2`}},
		{"an unknown subdirective", backend("issuer https://auth.example.com"), "jwt_discovery {\n\t\tissuer x\n\t}", "issuer x",
			[]string{`jwt_discovery: unrecognized subdirective "issuer"`}},
		{"an unknown backend", backend("issuer https://auth.example.com"), "jwt_discovery web", "jwt_discovery",
			[]string{`jwt_discovery: unknown jwt backend "web" (defined: api)`}},
	}
	wantAdaptErrors(t, tests)

	t.Run("in JSON, at provision", func(t *testing.T) {
		k := testKeys(t)
		app := `{"backends":{"api":{"sign_key":{"file":` + string(mustJSON(t, keyFile(t, "ed.pem", pemPrivate(t, k.ed, "pkcs8")))) + `}}}}`
		wantProvisionError(t, app, `{"handler":"jwt_discovery"}`, `jwt_discovery: jwt backend "api" has no issuer`)
	})
}

// TestPublishDiscoveryTokenEndpointFollowsTheLogin: without
// token_endpoint, the document names the backend's jwt_login when it is
// on one literal path, whichever comes first in the Caddyfile.
func TestPublishDiscoveryTokenEndpointFollowsTheLogin(t *testing.T) {
	hash := bcryptHashForTest(t, "pw")
	globals := jwtOption(
		backendBlock("api", "sign_key /etc/caddy/jwt.pem", "issuer https://auth.example.com/", "user alice "+hash),
		backendBlock("web", "sign_key /etc/caddy/web.pem", "issuer https://web.example.com", "user alice "+hash))
	tests := []struct {
		name, site, want string
	}{
		{"login first", "jwt_login /auth/login api\n\tjwt_discovery /.well-known/openid-configuration api",
			"https://auth.example.com/auth/login"},
		{"discovery first", "jwt_discovery /.well-known/openid-configuration api\n\tjwt_login /auth/login api",
			"https://auth.example.com/auth/login"},
		{"the first login on a literal path counts", "jwt_login /auth/* api\n\tjwt_discovery api\n\tjwt_login /token api\n\tjwt_login /later api",
			"https://auth.example.com/token"},
		{"a login of another backend does not count", "jwt_discovery api\n\tjwt_login /web/login web", ""},
		{"token_endpoint wins", "jwt_login /auth/login api\n\tjwt_discovery api {\n\t\ttoken_endpoint https://sso.example.com/token\n\t}",
			"https://sso.example.com/token"},
		{"token_endpoint wins over a later login", "jwt_discovery api {\n\t\ttoken_endpoint https://sso.example.com/token\n\t}\n\tjwt_login /auth/login api",
			"https://sso.example.com/token"},
		{"a discovery in a handle block after the login", "jwt_login /auth/login api\n\thandle /.well-known/* {\n\t\tjwt_discovery api\n\t}",
			"https://auth.example.com/auth/login"},
		{"a login in a handle block is not on one literal path", "handle /auth/login {\n\t\tjwt_login api\n\t}\n\tjwt_discovery api", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, h := range jwtHandlers(adaptedConfig(t, globals, tt.site)) {
				if h := h.(map[string]any); h["handler"] == "jwt_discovery" {
					te, _ := h["token_endpoint"].(string)
					got = append(got, te)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("token_endpoint %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPublishLoginPathsRewriteWaitingDiscovery drives the adapter's
// record of login paths as parseLoginRoute and parseDiscoveryRoute do: a
// discovery read before its login gets the login's path in its route.
func TestPublishLoginPathsRewriteWaitingDiscovery(t *testing.T) {
	h := httpcaddyfile.Helper{State: map[string]any{}}
	lp := loginPathsOf(h)
	if loginPathsOf(h) != lp {
		t.Fatal("the record is not kept in the adapter's State")
	}
	disc := &Discovery{Backend: "api"}
	route := caddyhttp.Route{HandlersRaw: []json.RawMessage{json.RawMessage(`{"handler":"jwt_discovery","backend":"api"}`)}}
	var value any = route // as the adapter keeps it, in a ConfigValue
	lp.waiting["api"] = append(lp.waiting["api"], waitingDiscovery{disc, "https://auth.example.com/", &route.HandlersRaw[0]})

	noteLoginPath(h, "web", "/web/login")
	noteLoginPath(h, "api", "")
	if got := string(value.(caddyhttp.Route).HandlersRaw[0]); strings.Contains(got, "token_endpoint") {
		t.Fatalf("a login of another backend, or not on a literal path, changed the route: %s", got)
	}
	noteLoginPath(h, "api", "/auth/login")
	noteLoginPath(h, "api", "/other")
	sameJSON(t, "the waiting discovery", jsonValue(t, string(value.(caddyhttp.Route).HandlersRaw[0])),
		`{"handler":"jwt_discovery","backend":"api","token_endpoint":"https://auth.example.com/auth/login"}`)
	if lp.path["api"] != "/auth/login" || len(lp.waiting["api"]) != 0 {
		t.Fatalf("record after the login: %+v", lp)
	}
}

// TestPublishJWKSVerifiedByAnotherCaddyJWT: one Caddy config, two sites:
// A issues tokens and publishes its keys; B has only A's JWKS URL, and
// accepts A's tokens and nothing else.
func TestPublishJWKSVerifiedByAnotherCaddyJWT(t *testing.T) {
	k := testKeys(t)
	hash := bcryptHashForTest(t, "pw")
	signKey := keyFile(t, "rsa.pem", pemPrivate(t, k.rsa, "pkcs8"))
	ports := runOnFreePorts(t, 2, func(ports []string) string {
		return "{\n" + testGlobals + jwtOption(
			backendBlock("a", "sign_key "+signKey, "issuer http://127.0.0.1:"+ports[0], "user alice "+hash),
			backendBlock("b", "jwks http://127.0.0.1:"+ports[0]+"/.well-known/jwks.json", "issuer http://127.0.0.1:"+ports[0]),
		) + "}\n\nhttp://127.0.0.1:" + ports[0] + " {\n\tjwt_login /login a\n\tjwt_jwks /.well-known/jwks.json a\n}\n" +
			"\nhttp://127.0.0.1:" + ports[1] + " {\n\tjwt_auth b\n\trespond \"B: {http.auth.user.id}\"\n}\n"
	})
	a, b := "http://127.0.0.1:"+ports[0], "http://127.0.0.1:"+ports[1]
	if !waitForPort(t, "127.0.0.1:"+ports[1], nil) {
		t.Fatal("site B does not listen")
	}
	token := loginSite{t, a + "/login"}.token("alice", "pw")
	resp, body := sendAuth(t, "GET", b+"/", bearer(token))
	if resp.StatusCode != 200 || body != "B: alice" {
		t.Fatalf("B with A's token: %d %q %s", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	claims := validClaims("mallory", map[string]any{"iss": a})
	for _, forged := range []string{
		signToken(t, "RS256", k.attackerRSA, map[string]any{"kid": tokenKID(t, token)}, claims),
		signToken(t, "RS256", k.attackerRSA, nil, claims),
		signToken(t, "HS256", []byte(testSecret), nil, claims),
	} {
		if resp, _ := sendAuth(t, "GET", b+"/", bearer(forged)); resp.StatusCode != 401 {
			t.Errorf("B with a token A did not sign: %d", resp.StatusCode)
		}
	}
}

// issuerNode is a Caddy process that issues tokens and publishes its keys,
// reloaded through its admin endpoint as an operator reloads one.
type issuerNode struct {
	t     *testing.T
	base  string
	admin string
	dir   string
	port  string
	cmd   *exec.Cmd
	log   *lockedBuffer
	done  chan struct{}
	// clients are those of the verifiers, whose idle connections a reload
	// ends.
	clients []*http.Client
}

// issuerCaddyfile is the issuer's config with the given key lines.
func (n *issuerNode) caddyfile(keyLines ...string) string {
	hash := bcryptHashForTest(n.t, "pw")
	lines := append(slices.Clone(keyLines), "issuer "+n.base, "lifetime 1h", "user alice "+hash)
	return "{\n\tadmin " + n.admin + "\n\tauto_https off\n\tpersist_config off\n\tstorage file_system " + n.dir + "\n" +
		jwtOption(backendBlock("issuer", lines...)) + "}\n\n" +
		n.base + " {\n\tjwt_login /login\n\tjwt_jwks /.well-known/jwks.json\n\tjwt_discovery /.well-known/openid-configuration\n}\n"
}

// startIssuer runs `caddy run` with the key lines.
func startIssuer(t *testing.T, keyLines ...string) *issuerNode {
	t.Helper()
	bin := caddyBinary(t)
	for attempt := 1; ; attempt++ {
		port, admin := freePort(t), freePort(t)
		n := &issuerNode{t: t, base: "http://127.0.0.1:" + port, admin: "127.0.0.1:" + admin, dir: t.TempDir(),
			port: port, log: &lockedBuffer{}, done: make(chan struct{})}
		config := filepath.Join(n.dir, "Caddyfile")
		if err := os.WriteFile(config, []byte(n.caddyfile(keyLines...)), 0o600); err != nil {
			t.Fatal(err)
		}
		n.cmd = exec.Command(bin, "run", "--config", config, "--adapter", "caddyfile")
		n.cmd.Env = caddyEnv(t)
		n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = n.cmd.Wait(); close(n.done) }()
		stop := func() { stopProcess(n.cmd, n.done) }
		t.Cleanup(stop)
		if waitForPort(t, "127.0.0.1:"+port, n.done) && waitForPort(t, n.admin, n.done) {
			return n
		}
		stop()
		if attempt < portAttempts && strings.Contains(n.log.String(), "address already in use") {
			continue
		}
		t.Fatalf("the issuer does not start:\n%s", n.log.String())
	}
}

// reload loads a config with other key lines, as `caddy reload` does.
func (n *issuerNode) reload(keyLines ...string) {
	n.t.Helper()
	req, err := http.NewRequest("POST", "http://"+n.admin+"/load", strings.NewReader(n.caddyfile(keyLines...)))
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	if resp, body := send(n.t, client, req); resp.StatusCode != 200 {
		n.t.Fatalf("reloading the issuer: %d %s\n%s", resp.StatusCode, body, n.log.String())
	}
	// The old config's server closes its idle connections; a request on
	// one of them as it closes would fail (a verifier keeps its last set
	// then, as TestJWKSKeepsTheLastGoodSet shows), so clients start anew.
	client.CloseIdleConnections()
	for _, c := range n.clients {
		c.CloseIdleConnections()
	}
	// For a moment the old server may still accept a connection and then
	// close it: go on once the site answers on new connections, three
	// times in a row.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	for ok, deadline := 0, time.Now().Add(10*time.Second); ok < 3; {
		resp, err := fresh.Get(n.base + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == 200 {
			ok++
			continue
		}
		if ok = 0; time.Now().After(deadline) {
			n.t.Fatalf("the issuer does not answer after a reload: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPublishKeyRotationEndToEnd rotates the issuer's signing key as
// docs/publishing.md says, while a verifier that has only the issuer's
// JWKS URL (no PEM file) keeps accepting every valid token: the issuer
// is a `caddy run` process reloaded through its admin endpoint, the
// verifier this process's Caddy, never reloaded.
func TestPublishKeyRotationEndToEnd(t *testing.T) {
	k := testKeys(t)
	k1 := keyFile(t, "k1.pem", pemPrivate(t, k.p256, "pkcs8"))
	k2 := keyFile(t, "k2.pem", pemPrivate(t, k.p256Other, "pkcs8")) // of the backend's algorithm, as every key of it
	kid1, kid2 := joseThumbprint(t, k.p256.Public()), joseThumbprint(t, k.p256Other.Public())
	issuer := startIssuer(t, "sign_key "+k1)

	verifier := startCaddy(t, jwtOption(backendBlock("idp",
		"jwks "+issuer.base+"/.well-known/jwks.json", "issuer "+issuer.base)),
		"jwt_auth\n\trespond \"{http.auth.user.id}\"")
	remote := runningJWTApp(t).Backends["idp"].keys.remote
	issuer.clients = append(issuer.clients, remote.client)
	status := func(token string) int {
		t.Helper()
		resp, _ := sendAuth(t, "GET", verifier+"/", bearer(token))
		return resp.StatusCode
	}
	published := func() []string {
		t.Helper()
		var kids []string
		for _, key := range fetchJWKS(t, issuer.base+"/.well-known/jwks.json").set.Keys {
			kids = append(kids, key.KeyID)
		}
		return kids
	}
	login := func() string {
		t.Helper()
		return loginSite{t, issuer.base + "/login"}.token("alice", "pw")
	}

	// The verifier fetched the set at start, and refreshes it as the
	// issuer's max-age says.
	tok1 := login()
	if tokenKID(t, tok1) != kid1 || status(tok1) != 200 {
		t.Fatalf("before the rotation: kid %q, status %d", tokenKID(t, tok1), status(tok1))
	}
	remote.mu.Lock()
	next := remote.next
	remote.mu.Unlock()
	if next != 300*time.Second {
		t.Errorf("the verifier refreshes in %s, want the published max-age (5m)", next)
	}

	// 1. The next key as verify_key: published at once, signing nothing.
	issuer.reload("sign_key "+k1, "verify_key "+k2)
	if kids := published(); !slices.Equal(kids, []string{kid1, kid2}) {
		t.Fatalf("published %v, want the signing key, then the next one", kids)
	}
	if kid := tokenKID(t, login()); kid != kid1 {
		t.Fatalf("after adding the next key, tokens carry kid %q", kid)
	}

	// 2. Switch: the next key signs, the old one still verifies. The
	// verifier has not refreshed yet; the first token of the new key makes
	// it fetch the set at once.
	issuer.reload("sign_key "+k2, "verify_key "+k1)
	if kids := published(); !slices.Equal(kids, []string{kid2, kid1}) {
		t.Fatalf("published %v after the switch", kids)
	}
	tok2 := login()
	if tokenKID(t, tok2) != kid2 {
		t.Fatalf("after the switch, tokens carry kid %q", tokenKID(t, tok2))
	}
	if s1, s2 := status(tok1), status(tok2); s1 != 200 || s2 != 200 {
		t.Fatalf("after the switch: old token %d, new token %d; want both accepted", s1, s2)
	}

	// 3. Drop the old key: once the verifier refreshes, its tokens are
	// refused; the new key's still pass.
	issuer.reload("sign_key " + k2)
	if kids := published(); !slices.Equal(kids, []string{kid2}) {
		t.Fatalf("published %v after dropping the old key", kids)
	}
	if s := status(tok1); s != 200 {
		t.Fatalf("before the verifier's refresh, the old token: %d (it still has the old set)", s)
	}
	if err := remote.fetch(); err != nil { // the refresh the refresher makes when max-age is up
		t.Fatal(err)
	}
	if s := status(tok1); s != 401 {
		t.Fatalf("after the verifier's refresh, the old token: %d, want 401", s)
	}
	if s := status(tok2); s != 200 {
		t.Fatalf("after the verifier's refresh, the new token: %d", s)
	}
	if s := status(login()); s != 200 {
		t.Fatalf("a fresh token: %d", s)
	}
}

// adaptErrorCase is a Caddyfile that must not adapt: the error names want
// and points at the line of marker.
type adaptErrorCase struct {
	name, globals, site string
	marker              string // where the error points
	want                []string
}

func wantAdaptErrors(t *testing.T, tests []adaptErrorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(caddyfileFor("0", tt.globals, tt.site))
			if err == nil {
				t.Fatal("the Caddyfile adapted; want an error")
			}
			wantMentions(t, err, tt.want...)
			wantErrorAt(t, err, tt.globals, tt.site, tt.marker)
		})
	}
}
