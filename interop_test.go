package caddyjwt

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// Interoperability with an independent implementation: tokens minted by
// go-jose (as another service, or a fastapi-users app through PyJWT, would
// mint them) are accepted by jwt_auth, and tokens issued by jwt_login verify
// with go-jose.

const (
	secret384 = "hs384-secret-0123456789-0123456789-abcdefghijklmn"                // 49 bytes
	secret512 = "hs512-secret-0123456789-0123456789-0123456789-abcdefghijklmnopqr" // 65 bytes
)

// mintJose signs claims with go-jose; header adds protected header fields.
func mintJose(t testing.TB, alg jose.SignatureAlgorithm, secret string, claims any, header map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range header {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: []byte(secret)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInteropGoJoseTokensAccepted(t *testing.T) {
	base := startCaddy(t, `
	jwt {
		backend hs256 {
			secret `+testSecret+`
		}
		backend hs384 {
			secret `+secret384+`
			algorithm HS384
		}
		backend hs512 {
			secret `+secret512+`
			algorithm HS512
		}
		backend rotated {
			secret `+secret384+` new
			secret `+testSecret+` old
		}
		backend fastapi {
			secret `+testSecret+`
			audience fastapi-users:auth
		}
		backend fastapi_old {
			secret `+testSecret+`
			audience fastapi-users:auth
			user_claim user_id
		}
	}`, `
	jwt_auth /hs256/* hs256
	jwt_auth /hs384/* hs384
	jwt_auth /hs512/* hs512
	jwt_auth /rotated/* rotated
	jwt_auth /fastapi/* fastapi
	jwt_auth /fastapi_old/* fastapi_old
	respond "{http.auth.jwt.backend} {http.auth.user.id} {http.auth.user.role}"`)

	now := time.Now()
	std := func(sub string) josejwt.Claims {
		return josejwt.Claims{
			Subject:   sub,
			Issuer:    "another-service",
			ID:        "a1b2c3",
			IssuedAt:  josejwt.NewNumericDate(now),
			NotBefore: josejwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry:    josejwt.NewNumericDate(now.Add(time.Hour)),
		}
	}
	withRole := func(c josejwt.Claims) map[string]any {
		return map[string]any{"sub": c.Subject, "iss": c.Issuer, "jti": c.ID, "iat": c.IssuedAt,
			"nbf": c.NotBefore, "exp": c.Expiry, "role": "admin"}
	}
	const userUUID = "8c0d1f6e-3b0a-4d8e-9a57-2f4a1c9e7b21"
	exp := now.Add(time.Hour).Unix()

	tests := []struct {
		name  string
		path  string
		token string
		want  string
	}{
		{"HS256 token with registered claims", "/hs256/", mintJose(t, jose.HS256, testSecret, std("alice"), nil), "hs256 alice {http.auth.user.role}"},
		{"HS256 token with a private claim", "/hs256/", mintJose(t, jose.HS256, testSecret, withRole(std("alice")), nil), "hs256 alice admin"},
		{"HS384 token", "/hs384/", mintJose(t, jose.HS384, secret384, withRole(std("bob")), nil), "hs384 bob admin"},
		{"HS512 token", "/hs512/", mintJose(t, jose.HS512, secret512, withRole(std("carol")), nil), "hs512 carol admin"},
		{"token naming the new key by kid", "/rotated/",
			mintJose(t, jose.HS256, secret384, std("dave"), map[jose.HeaderKey]any{"kid": "new"}), "rotated dave {http.auth.user.role}"},
		{"token naming the old key by kid", "/rotated/",
			mintJose(t, jose.HS256, testSecret, std("erin"), map[jose.HeaderKey]any{"kid": "old"}), "rotated erin {http.auth.user.role}"},
		{"token without kid tries every key", "/rotated/", mintJose(t, jose.HS256, testSecret, std("frank"), nil), "rotated frank {http.auth.user.role}"},
		// fastapi-users' JWTStrategy.write_token: generate_jwt({"sub": str(user.id),
		// "aud": ["fastapi-users:auth"]}, secret, lifetime_seconds), PyJWT HS256.
		{"fastapi-users token", "/fastapi/",
			mintJose(t, jose.HS256, testSecret, map[string]any{"sub": userUUID, "aud": []string{"fastapi-users:auth"}, "exp": exp}, nil),
			"fastapi " + userUUID + " {http.auth.user.role}"},
		// Before fastapi-users 10, the id was in user_id and aud a string.
		{"old fastapi-users token with user_id", "/fastapi_old/",
			mintJose(t, jose.HS256, testSecret, map[string]any{"user_id": userUUID, "aud": "fastapi-users:auth", "exp": exp}, nil),
			"fastapi_old " + userUUID + " {http.auth.user.role}"},
		{"old fastapi-users token with aud as a list", "/fastapi_old/",
			mintJose(t, jose.HS256, testSecret, map[string]any{"user_id": userUUID, "aud": []string{"fastapi-users:auth"}, "exp": exp}, nil),
			"fastapi_old " + userUUID + " {http.auth.user.role}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, "GET", base+tt.path, bearer(tt.token))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			if body != tt.want {
				t.Errorf("body %q, want %q", body, tt.want)
			}
		})
	}

	// The same tokens are refused where they do not belong, so the
	// acceptance above is not an accident of a lax backend.
	refused := []struct {
		name, path, token, reason string
	}{
		{"HS256 token on the HS512 backend", "/hs512/", mintJose(t, jose.HS256, secret512, std("carol"), nil), "algorithm not allowed"},
		{"token naming an unknown kid", "/rotated/",
			mintJose(t, jose.HS256, testSecret, std("erin"), map[jose.HeaderKey]any{"kid": "older"}), "unknown key ID"},
		{"fastapi-users token with another audience", "/fastapi/",
			mintJose(t, jose.HS256, testSecret, map[string]any{"sub": userUUID, "aud": []string{"other-app"}, "exp": exp}, nil), "audience mismatch"},
		{"fastapi-users token whose aud is missing", "/fastapi/",
			mintJose(t, jose.HS256, testSecret, map[string]any{"sub": userUUID, "exp": exp}, nil), "token has no aud"},
		{"old-style token on a backend expecting sub", "/fastapi/",
			mintJose(t, jose.HS256, testSecret, map[string]any{"user_id": userUUID, "aud": "fastapi-users:auth", "exp": exp}, nil), "missing user claim sub"},
		{"HS512 token on the HS384 backend", "/hs384/", mintJose(t, jose.HS512, secret384+strings.Repeat("x", 16), std("bob"), nil), "algorithm not allowed"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := sendAuth(t, "GET", base+tt.path, bearer(tt.token))
			if resp.StatusCode != 401 {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error_description="`+tt.reason+`"`) {
				t.Errorf("WWW-Authenticate %q, want reason %q", resp.Header.Get("WWW-Authenticate"), tt.reason)
			}
		})
	}
}

func TestInteropLoginTokensVerifyWithGoJose(t *testing.T) {
	hash := bcryptHashForTest(t, "wonderland")
	base := startCaddy(t, `
	jwt {
		backend plain {
			secret `+testSecret+`
			user alice `+hash+` role=admin
		}
		backend fastapi {
			secret `+testSecret+`
			audience fastapi-users:auth
			issuer https://auth.example
			lifetime 15m
			user alice `+hash+` role=admin
		}
		backend strong {
			secret `+secret512+`
			algorithm HS512
			audience api web
			user_claim uid
			user alice `+hash+` role=admin
		}
	}`, `
	jwt_login /plain/login plain
	jwt_login /fastapi/login fastapi
	jwt_login /strong/login strong`)

	tests := []struct {
		name     string
		path     string
		alg      jose.SignatureAlgorithm
		secret   string
		issuer   string
		audience []string
		lifetime time.Duration
		extra    map[string]string // private claims the token must carry
	}{
		{"HS256 without issuer or audience", "/plain/login", jose.HS256, testSecret, "", nil, time.Hour,
			map[string]string{"role": "admin"}},
		{"HS256 with the fastapi-users audience as a string", "/fastapi/login", jose.HS256, testSecret, "https://auth.example",
			[]string{"fastapi-users:auth"}, 15 * time.Minute, map[string]string{"role": "admin"}},
		{"HS512 with two audiences as a list and a user claim", "/strong/login", jose.HS512, secret512, "", []string{"api", "web"}, time.Hour,
			map[string]string{"role": "admin", "uid": "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := loginSite{t, base + tt.path}
			resp, body := site.json("alice", "wonderland", nil)
			raw := site.tokenOf(resp, body)

			tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{tt.alg})
			if err != nil {
				t.Fatalf("go-jose cannot parse the token as %s: %v", tt.alg, err)
			}
			h := tok.Headers[0]
			if h.Algorithm != string(tt.alg) || h.ExtraHeaders["typ"] != "JWT" {
				t.Errorf("header alg %q typ %v, want %s JWT", h.Algorithm, h.ExtraHeaders["typ"], tt.alg)
			}
			if err := tok.Claims([]byte("wrong-secret-0123456789-0123456789-0123456789-0123456789-abcdefgh"), &josejwt.Claims{}); err == nil {
				t.Fatal("go-jose verified the token with a wrong secret")
			}
			var std josejwt.Claims
			var private map[string]any
			if err := tok.Claims([]byte(tt.secret), &std, &private); err != nil {
				t.Fatalf("go-jose rejects the signature: %v", err)
			}
			expected := josejwt.Expected{Subject: "alice", Issuer: tt.issuer, AnyAudience: tt.audience, Time: time.Now()}
			if err := std.ValidateWithLeeway(expected, 0); err != nil {
				t.Errorf("go-jose rejects the claims: %v", err)
			}
			if tt.audience == nil && len(std.Audience) != 0 || tt.audience != nil && !sameStrings(std.Audience, tt.audience) {
				t.Errorf("aud %v, want %v", std.Audience, tt.audience)
			}
			if len(tt.audience) == 1 {
				if _, isString := private["aud"].(string); !isString {
					t.Errorf("one audience is written as %T, want a string as PyJWT writes it", private["aud"])
				}
			}
			if std.IssuedAt == nil || std.Expiry == nil {
				t.Fatalf("iat %v exp %v", std.IssuedAt, std.Expiry)
			}
			if got := std.Expiry.Time().Sub(std.IssuedAt.Time()); got != tt.lifetime {
				t.Errorf("exp - iat = %s, want %s", got, tt.lifetime)
			}
			if d := time.Since(std.IssuedAt.Time()); d < -2*time.Second || d > time.Minute {
				t.Errorf("iat is %s off now", d)
			}
			if jti, err := base64.RawURLEncoding.DecodeString(std.ID); err != nil || len(jti) != 16 {
				t.Errorf("jti %q is not 128 random bits in base64url", std.ID)
			}
			for k, want := range tt.extra {
				if private[k] != want {
					t.Errorf("claim %s = %v, want %q", k, private[k], want)
				}
			}
			if jsonField(t, body, "access_token") != raw {
				t.Error("access_token differs from token")
			}
		})
	}
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
