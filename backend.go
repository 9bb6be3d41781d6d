package caddyjwt

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
)

// Defaults of a backend, chosen to match fastapi-users' JWT backend where it
// has one (lifetime_seconds=3600, HS256, sub).
const (
	defaultAlgorithm = "HS256"
	defaultLifetime  = time.Hour
	defaultLeeway    = 30 * time.Second
	defaultUserClaim = "sub"

	// maxTokenBytes bounds what jwt_auth will even try to parse.
	maxTokenBytes = 8 << 10
)

// Backend says what a token is for one name: the keys that sign and verify
// it, the claims it must carry, and who may log in to get one. Backends are
// declared once in the `jwt` app and referred to by name from the
// `jwt_login` and `jwt_auth` handlers.
type Backend struct {
	// HMAC secrets. The first one signs new tokens; all of them verify, so
	// a secret is rotated by adding the new one first and removing the old
	// one once its tokens have expired. Each must be at least as long as
	// the hash: 32 bytes for HS256, 48 for HS384, 64 for HS512. Required.
	Secrets []Secret `json:"secrets,omitempty"`

	// The signing algorithm. Only this exact algorithm is accepted on
	// verification. One of HS256, HS384, HS512. Default: HS256.
	Algorithm string `json:"algorithm,omitempty"`

	// How long an issued token is valid. Default: 1h.
	Lifetime caddy.Duration `json:"lifetime,omitempty"`

	// Written as `iss` into issued tokens; when set, a token must carry
	// exactly this issuer to be accepted. Default: none (not written, not
	// checked).
	Issuer string `json:"issuer,omitempty"`

	// Written as `aud` into issued tokens (a string when there is one, a
	// list otherwise); when set, a token's `aud` (a string or a list) must
	// contain at least one of them. Default: none (not written, not
	// checked).
	Audience []string `json:"audience,omitempty"`

	// Clock skew tolerated when checking `exp`, `nbf` and `iat`.
	// Default: 30s.
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// The claim that holds the user ID; it must be present and non-empty.
	// Tokens issued by jwt_login carry the username in `sub` and, when this
	// names another claim, in that claim too. Default: sub.
	UserClaim string `json:"user_claim,omitempty"`

	// Path of a users file: htpasswd style (`name:hash` lines) or a JSON
	// list of users. It is read again when its modification time changes.
	// Placeholders such as {env.USERS_FILE} are resolved. Default: none.
	UsersFile string `json:"users_file,omitempty"`

	// Users defined inline, beside those of the users file. Default: none;
	// a backend without users can verify tokens but not issue them.
	Users []User `json:"users,omitempty"`

	// Also carry the token in a cookie, for browsers: jwt_login sets it,
	// jwt_auth reads it when no Authorization header is sent, jwt_logout
	// clears it. Default: no cookie (Bearer tokens only).
	Cookie *CookieConfig `json:"cookie,omitempty"`

	name     string
	keys     *keySet
	parser   *jwt.Parser
	users    *userStore
	lifetime time.Duration
	logger   *zap.Logger
	metrics  *backendMetrics

	// Reasons about the user claim, built once since they name it.
	userClaimMissing, userClaimWrongType tokenError
}

// provision resolves placeholders, loads users and keys, and prepares the
// parser. Errors name the backend and the setting.
func (b *Backend) provision(ctx caddy.Context, name string) error {
	b.name = name
	b.logger = ctx.Logger().With(zap.String("backend", name))

	if b.Algorithm == "" {
		b.Algorithm = defaultAlgorithm
	}
	if b.Lifetime < 0 {
		return b.errorf("lifetime", "must be positive, got %s", time.Duration(b.Lifetime))
	}
	b.lifetime = time.Duration(b.Lifetime)
	if b.lifetime == 0 {
		b.lifetime = defaultLifetime
	}
	leeway := defaultLeeway
	if b.Leeway != nil {
		if *b.Leeway < 0 {
			return b.errorf("leeway", "must not be negative, got %s", time.Duration(*b.Leeway))
		}
		leeway = time.Duration(*b.Leeway)
	}
	if b.UserClaim == "" {
		b.UserClaim = defaultUserClaim
	}
	b.userClaimMissing = tokenError("missing user claim " + b.UserClaim)
	b.userClaimWrongType = tokenError("user claim " + b.UserClaim + " is not a string or number")

	if err := b.provisionKeys(); err != nil {
		return err
	}

	if b.Cookie != nil {
		if err := b.Cookie.provision(name); err != nil {
			return b.errorf("cookie", "%v", err)
		}
	}

	if b.UsersFile != "" || len(b.Users) > 0 {
		repl := caddy.NewReplacer()
		file, err := repl.ReplaceOrErr(b.UsersFile, true, true)
		if err != nil && b.UsersFile != "" {
			return b.errorf("users", "%v", err)
		}
		// Inline users are checked alone first, so their errors name the
		// `user` setting rather than the users file.
		if _, err := newUserTable(b.Users, "", nil); err != nil {
			return b.errorf("user", "%v", err)
		}
		users, err := newUserStore(file, b.Users, b.logger)
		if err != nil {
			return b.errorf("users", "%v", err)
		}
		b.users = users
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{b.keys.method.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithJSONNumber(),
	}
	if b.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(b.Issuer))
	}
	if len(b.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(b.Audience...))
	}
	b.parser = jwt.NewParser(opts...)
	return nil
}

// provisionKeys builds the key set from whichever key material is set.
func (b *Backend) provisionKeys() error {
	if len(b.Secrets) == 0 {
		return b.errorf("secret", "no key material: set a secret of at least 32 random bytes")
	}
	if _, ok := hmacMinKeyBytes[b.Algorithm]; !ok {
		if jwt.GetSigningMethod(b.Algorithm) != nil && b.Algorithm != "none" {
			return b.errorf("algorithm", "%s does not fit an HMAC secret; use HS256, HS384 or HS512", b.Algorithm)
		}
		return b.errorf("algorithm", "unknown algorithm %q; use HS256, HS384 or HS512", b.Algorithm)
	}
	repl := caddy.NewReplacer()
	resolved := make([]Secret, len(b.Secrets))
	for i, s := range b.Secrets {
		v, err := repl.ReplaceOrErr(s.Value, true, true)
		if err != nil {
			// The error quotes the placeholder. Name it when it is an env
			// or file placeholder; otherwise the braces may be part of a
			// literal secret, which must not reach the log.
			if msg := err.Error(); strings.Contains(msg, "{env.") || strings.Contains(msg, "{file.") {
				return b.errorf("secret", "%v", err)
			}
			return b.errorf("secret", "it contains an unknown placeholder; use {env.NAME} or {file./path}")
		}
		resolved[i] = Secret{Value: v, KeyID: s.KeyID}
	}
	ks, err := newHMACKeySet(b.Algorithm, resolved)
	if err != nil {
		return b.errorf("secret", "%v", err)
	}
	b.keys = ks
	return nil
}

func (b *Backend) errorf(setting, format string, args ...any) error {
	return fmt.Errorf("jwt backend %q: %s: %s", b.name, setting, fmt.Sprintf(format, args...))
}

// canLogin tells why jwt_login cannot use this backend, if it cannot.
func (b *Backend) canLogin() error {
	if b.keys == nil || b.keys.signKey == nil {
		return fmt.Errorf("jwt backend %q has no key to sign with, so jwt_login cannot use it", b.name)
	}
	if b.users == nil {
		return fmt.Errorf("jwt backend %q has no users (set users or user), so jwt_login cannot use it", b.name)
	}
	return nil
}

// identity is what a verified token says about its bearer.
type identity struct {
	backend string
	userID  string
	claims  jwt.MapClaims
}

// tokenError is a reason a token was refused; its text goes into the
// error_description of a 401, so it never contains the token itself.
type tokenError string

func (e tokenError) Error() string { return string(e) }

// errTokenExpired is the one reason metrics count apart, as "expired".
const errTokenExpired tokenError = "token expired"

// Verify checks a compact JWS against this backend and returns who it
// identifies.
func (b *Backend) Verify(raw string) (*identity, error) {
	if len(raw) > maxTokenBytes {
		return nil, tokenError("token too large")
	}
	claims := jwt.MapClaims{}
	tok, err := b.parser.ParseWithClaims(raw, claims, b.keys.keyfunc)
	if err != nil {
		return nil, b.reason(tok, claims, err)
	}
	var id string
	switch v := claims[b.UserClaim].(type) {
	case string:
		id = v
	case json.Number:
		id = v.String()
	case nil:
	default:
		return nil, b.userClaimWrongType
	}
	if id == "" {
		return nil, b.userClaimMissing
	}
	return &identity{backend: b.name, userID: id, claims: claims}, nil
}

// reason turns golang-jwt's error into a short, stable description.
func (b *Backend) reason(tok *jwt.Token, claims jwt.MapClaims, err error) tokenError {
	switch {
	case errors.Is(err, errCrit):
		return tokenError(errCrit.Error())
	case errors.Is(err, errUnknownKI):
		return tokenError(errUnknownKI.Error())
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, errAlgorithm),
		tok != nil && (tok.Method == nil || tok.Method.Alg() != b.keys.method.Alg()):
		return tokenError(errAlgorithm.Error())
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "signature invalid"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// exp is always required, iss and aud when configured.
		if _, ok := claims["exp"]; !ok {
			return "token has no exp"
		}
		if iss, _ := claims.GetIssuer(); b.Issuer != "" && iss == "" {
			return "token has no iss"
		}
		return "token has no aud"
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "issuer mismatch"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "audience mismatch"
	default:
		return "invalid token"
	}
}

// Issue signs a new token for a user; it returns the token and its lifetime
// in whole seconds.
func (b *Backend) Issue(a *account) (string, int64, error) {
	now := time.Now()
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", 0, err
	}
	claims := make(jwt.MapClaims, len(a.claims)+7)
	for k, v := range a.claims {
		claims[k] = v
	}
	if _, set := claims[b.UserClaim]; !set {
		claims[b.UserClaim] = a.name
	}
	claims["sub"] = a.name
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(b.lifetime).Unix()
	claims["jti"] = base64.RawURLEncoding.EncodeToString(jti[:])
	if b.Issuer != "" {
		claims["iss"] = b.Issuer
	}
	switch len(b.Audience) {
	case 0:
	case 1:
		claims["aud"] = b.Audience[0]
	default:
		claims["aud"] = b.Audience
	}
	tok := jwt.NewWithClaims(b.keys.method, claims)
	if b.keys.signKID != "" {
		tok.Header["kid"] = b.keys.signKID
	}
	signed, err := tok.SignedString(b.keys.signKey)
	if err != nil {
		return "", 0, fmt.Errorf("signing token: %v", err)
	}
	return signed, int64(b.lifetime / time.Second), nil
}

// errNoSuchUser marks a failed login for a name that does not exist, so the
// log line leaves the name out (people type passwords into that field).
var errNoSuchUser = errors.New("no such user")

// Authenticate checks a username and password. Unknown users cost the same
// hash check as known ones. The error is nil only on success; it is
// errNoSuchUser, or says why a known user was refused.
func (b *Backend) Authenticate(username, password string) (*account, error) {
	t := b.users.current()
	a, known := t.accounts[username]
	target := a
	if !known {
		target = t.dummy
	}
	if target == nil {
		return nil, errNoSuchUser
	}
	ok, err := target.cmp.Compare(target.hash, []byte(password))
	switch {
	case !known:
		return nil, errNoSuchUser
	case err != nil:
		return nil, fmt.Errorf("checking password: %v", err)
	case !ok:
		return nil, errors.New("wrong password")
	case a.disabled:
		return nil, errors.New("user disabled")
	}
	return a, nil
}

// claimString renders claim values for placeholders: strings as they are,
// numbers without exponent, lists of strings joined with commas, anything
// else as compact JSON.
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		s := v.String()
		if strings.ContainsAny(s, "eE") {
			if f, err := v.Float64(); err == nil {
				return formatFloat(f)
			}
		}
		return s
	case bool:
		if v {
			return "true"
		}
		return "false"
	case nil:
		return ""
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return compactJSON(v)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ",")
	default:
		return compactJSON(v)
	}
}

func compactJSON(v any) string {
	out, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(out)
}
