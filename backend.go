package caddyjwt

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
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
	// the hash: 32 bytes for HS256, 48 for HS384, 64 for HS512.
	// Default: none; a backend has one kind of key material: secrets,
	// sign_key or jwks (or verify_keys alone).
	Secrets []Secret `json:"secrets,omitempty"`

	// A PEM private key that signs new tokens: RSA (2048 bits or more),
	// ECDSA (P-256, P-384, P-521) or Ed25519. Its public half verifies.
	// Tokens it signs carry its key ID as `kid`. Default: none; a backend
	// has one of secrets, sign_key or jwks.
	SignKey *KeyFile `json:"sign_key,omitempty"`

	// PEM public keys (or private keys, of which only the public half is
	// used) that verify tokens but sign none: the previous key while a
	// sign_key is rotated, or the keys of another issuer. A token's `kid`
	// picks exactly one key; a token without `kid` is tried against each.
	// Default: none.
	VerifyKeys []KeyFile `json:"verify_keys,omitempty"`

	// A remote JWK Set to verify tokens with, such as an OpenID Connect
	// provider's `jwks_uri`. A backend with jwks is verify-only. Default:
	// none.
	JWKS *JWKS `json:"jwks,omitempty"`

	// The signing algorithm. Only this exact algorithm is accepted on
	// verification. One of HS256, HS384, HS512 (with secrets), RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA (with
	// keys; it must fit the key). Default: HS256 with secrets, else from
	// the key: RSA RS256, P-256 ES256, P-384 ES384, P-521 ES512, Ed25519
	// EdDSA. With jwks and without algorithm(s), each key's own `alg`
	// decides.
	Algorithm string `json:"algorithm,omitempty"`

	// Several accepted algorithms, for a jwks backend only (its keys may
	// use different ones). Each key is still used only with its own `alg`
	// or, when it has none, with those of these that fit it. Default:
	// none; see algorithm.
	Algorithms []string `json:"algorithms,omitempty"`

	// How long an issued token is valid; it must be positive. Default: 1h.
	Lifetime *caddy.Duration `json:"lifetime,omitempty"`

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

	// Refresh tokens, so that a login stays signed in beyond the access
	// token's lifetime: rotated at every use, kept in the app's store as
	// hashes. It needs a backend that signs and has users. Default: none.
	Refresh *Refresh `json:"refresh,omitempty"`

	// The cache of verified tokens: a token seen again is not verified
	// again, only its exp, nbf and iat are checked. Default: 100000 tokens
	// and 128 MiB, enough for 50,000 active users.
	Cache *CacheConfig `json:"cache,omitempty"`

	name     string
	keys     *keySet
	parser   *jwt.Parser
	users    *userStore
	lifetime time.Duration
	leeway   time.Duration
	logger   *zap.Logger
	metrics  *backendMetrics

	// claimsValidator checks a token's claims once its signature holds;
	// timeValidator checks a cached token's exp, nbf and iat again, with
	// the same options, so that both decide alike.
	claimsValidator, timeValidator *jwt.Validator
	// revs are the revocations of the app's store, which every token
	// this backend verifies is checked against.
	revs *revocations
	// store is the app's store, for revoking and refresh families.
	store store
	// refresh is nil without refresh tokens.
	refresh *refreshState
	// refreshOffset moves the clock of the refresh rule, in nanoseconds;
	// tests set it.
	refreshOffset atomic.Int64
	// cache holds the tokens this backend verified; it lives and dies with
	// this provisioned backend, so a config reload starts it empty.
	cache *tokenCache
	// claimsUsed is set once a rule or placeholder has asked a verified
	// token for its claims; from then on they stay decoded in the cache
	// (identity.claims).
	claimsUsed atomic.Bool
	// now is the clock tokens are checked against; tests replace it.
	now func() time.Time
	// nameValue is the name as a placeholder value, boxed once.
	nameValue any

	// Reasons about the user claim, built once since they name it.
	userClaimMissing, userClaimWrongType tokenError
}

// validate checks what the configuration alone decides, without reading
// files or the environment and without changing b: the Caddyfile adapter
// runs it to report a mistake with its line, and provision runs it first.
// Errors are configErrors naming the backend and the setting.
func (b *Backend) validate(name string) error {
	if err := checkBackendName(name); err != nil {
		return settingError("jwt", "backend", "%v", err)
	}
	scope := backendScope(name)
	fail := func(setting string, index int, format string, args ...any) error {
		return &configError{scope: scope, setting: setting, index: index, msg: fmt.Sprintf(format, args...)}
	}

	// Exactly one kind of key material; verify_key may join sign_key or
	// jwks, or stand alone.
	var kinds []string
	if len(b.Secrets) > 0 {
		kinds = append(kinds, "secret")
	}
	if b.SignKey != nil {
		kinds = append(kinds, "sign_key")
	}
	if b.JWKS != nil {
		kinds = append(kinds, "jwks")
	}
	switch {
	case len(kinds) > 1:
		return &configError{scope: scope, setting: "key material", msg: "use one of secret, sign_key or jwks,", conflict: kinds}
	case len(kinds) == 0 && len(b.VerifyKeys) == 0:
		return fail("secret", 0, "no key material: set a secret of at least 32 random bytes, a sign_key, a jwks URL or verify_key")
	case len(b.Secrets) > 0 && len(b.VerifyKeys) > 0:
		return fail("verify_key", 0, "public keys cannot verify HMAC tokens; rotate secrets by repeating secret")
	}

	algs := b.Algorithms
	if b.Algorithm != "" {
		if len(algs) > 0 {
			return fail("algorithm", 0, "set algorithm or algorithms, not both")
		}
		algs = []string{b.Algorithm}
	}
	if len(b.Algorithms) > 0 && b.JWKS == nil {
		return fail("algorithm", 0, "several algorithms are allowed only with jwks")
	}
	for _, alg := range algs {
		if !isAlgorithm(alg) {
			return fail("algorithm", 0, "unknown algorithm %q; use one of %s", alg, strings.Join(algorithmNames, " "))
		}
	}
	if len(b.Secrets) > 0 {
		alg := b.Algorithm
		if alg == "" {
			alg = defaultAlgorithm
		}
		if !isHMAC(alg) {
			return fail("algorithm", 0, "%s does not fit an HMAC secret; use HS256, HS384 or HS512", alg)
		}
		for i, s := range b.Secrets {
			if s.KeyID != "" && slices.ContainsFunc(b.Secrets[:i], func(o Secret) bool { return o.KeyID == s.KeyID }) {
				return fail("secret", i, "key ID %q is used twice", s.KeyID)
			}
			// A secret from a placeholder is checked once it is resolved.
			if !strings.Contains(s.Value, "{") {
				if err := checkSecret(alg, []byte(s.Value)); err != nil {
					return &configError{scope: scope, setting: "secret", index: i, msg: err.Error(), see: "algorithm"}
				}
			}
		}
	} else {
		material := "a JWK Set (jwks)"
		switch {
		case b.SignKey != nil:
			material = "the key file of sign_key " + b.SignKey.File
		case b.JWKS == nil:
			material = "the key file of verify_key " + b.VerifyKeys[0].File
		}
		for _, alg := range algs {
			if isHMAC(alg) {
				return fail("algorithm", 0, "%s is HMAC and needs a secret, not %s", alg, material)
			}
		}
	}
	if b.JWKS != nil {
		if b.JWKS.URL == "" {
			return fail("jwks", 0, "the URL is missing")
		}
		if !strings.Contains(b.JWKS.URL, "{") {
			if err := checkJWKSURL(b.JWKS.URL); err != nil {
				return fail("jwks", 0, "%v", err)
			}
		}
	}

	if b.Lifetime != nil && *b.Lifetime <= 0 {
		return fail("lifetime", 0, "must be positive, got %s", time.Duration(*b.Lifetime))
	}
	if b.Leeway != nil && *b.Leeway < 0 {
		return fail("leeway", 0, "must not be negative, got %s", time.Duration(*b.Leeway))
	}
	ids := userIDs{}
	for i, u := range b.Users {
		if _, err := comparerFor(u.Password); err != nil {
			return fail("user", i, "user %q: %v", u.Username, err)
		}
		if err := checkUserClaims(u.Claims); err != nil {
			return fail("user", i, "user %q: %v", u.Username, err)
		}
		if slices.ContainsFunc(b.Users[:i], func(o User) bool { return o.Username == u.Username }) {
			return fail("user", i, "user %q is defined twice", u.Username)
		}
		if err := ids.add(u); err != nil {
			return fail("user", i, "%v", err)
		}
		if err := checkIDClaim(u, b.UserClaim); err != nil {
			return fail("user", i, "%v", err)
		}
	}
	if b.Cookie != nil {
		// Checked on a copy, so that the config keeps what was written.
		check := *b.Cookie
		if sub, err := check.provision(name); err != nil {
			return &configError{scope: scope, setting: "cookie", sub: sub, msg: err.Error()}
		}
		if b.Cookie.RefreshPath != "" && b.Refresh == nil {
			return &configError{scope: scope, setting: "cookie", sub: "refresh_path", msg: "there are no refresh tokens: add refresh to the backend, or remove refresh_path"}
		}
	}
	if c := b.Cache; c != nil {
		cacheFail := func(sub, format string, args ...any) error {
			return &configError{scope: scope, setting: "cache", sub: sub, msg: sub + ": " + fmt.Sprintf(format, args...)}
		}
		switch {
		case c.Disabled && (c.Entries != 0 || c.Size != 0):
			return fail("cache", 0, "a cache that is off has no entries or size")
		case c.Entries < 0 || c.Entries > maxCacheEntries:
			return cacheFail("entries", "must be between 1 and %d, got %d", maxCacheEntries, c.Entries)
		case c.Size < 0 || (c.Size > 0 && c.Size < minCacheBytes):
			return cacheFail("size", "must be at least 64KiB, got %d bytes", c.Size)
		}
	}
	if r := b.Refresh; r != nil {
		switch {
		case r.Lifetime <= 0:
			return fail("refresh", 0, "the lifetime must be positive, got %s", time.Duration(r.Lifetime))
		case r.Idle < 0:
			return fail("refresh", 0, "idle must not be negative, got %s", time.Duration(r.Idle))
		case r.Idle >= r.Lifetime:
			return fail("refresh", 0, "idle (%s) must be shorter than the lifetime (%s)", time.Duration(r.Idle), time.Duration(r.Lifetime))
		}
		switch {
		case b.JWKS != nil || (len(b.Secrets) == 0 && b.SignKey == nil):
			return fail("refresh", 0, "refresh tokens need a key that signs: a secret or a sign_key")
		case len(b.Users) == 0 && b.UsersFile == "":
			return fail("refresh", 0, "refresh tokens need users, and the backend has no users (set users or user)")
		}
	}
	return nil
}

// provision resolves placeholders, loads users and keys, and prepares the
// parser. Errors name the backend and the setting.
func (b *Backend) provision(ctx caddy.Context, name string) error {
	if err := b.validate(name); err != nil {
		return err
	}
	b.name = name
	b.nameValue = name
	b.now = time.Now
	b.logger = ctx.Logger().With(zap.String("backend", name))

	b.lifetime = defaultLifetime
	if b.Lifetime != nil {
		b.lifetime = time.Duration(*b.Lifetime)
	}
	b.leeway = defaultLeeway
	if b.Leeway != nil {
		b.leeway = time.Duration(*b.Leeway)
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
		if _, err := b.Cookie.provision(name); err != nil {
			return b.errorf("cookie", "%v", err)
		}
	}
	if b.Refresh != nil {
		path := ""
		if b.Cookie != nil {
			path = b.Cookie.RefreshPath
		}
		rs, err := newRefreshState(b.Refresh, b.keys.signKey, path)
		if err != nil {
			return b.errorf("refresh", "%v", err)
		}
		b.refresh = rs
	}

	if b.UsersFile != "" || len(b.Users) > 0 {
		repl := caddy.NewReplacer()
		file, err := repl.ReplaceOrErr(b.UsersFile, true, true)
		if err != nil && b.UsersFile != "" {
			return b.errorf("users", "%v", err)
		}
		users, err := newUserStore(file, b.Users, b.UserClaim, b.logger)
		if err != nil {
			return b.errorf("users", "%v", err)
		}
		b.users = users
	}

	// The parser checks the token's form and signature; its claims are
	// checked apart (verify), so that exp, nbf and iat are read once, for
	// the claims check and for the cache. The checks that depend on the
	// clock are the ones a cached token has to pass again on every request.
	// Strict decoding refuses base64url whose unused bits are set, so that
	// one token has one spelling (RFC 7515 §2 wants the canonical one).
	b.parser = jwt.NewParser(jwt.WithValidMethods(b.keys.algs), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation(),
		jwt.WithStrictDecoding())
	timeOpts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(b.leeway),
		jwt.WithTimeFunc(b.clock),
	}
	claimsOpts := slices.Clip(timeOpts)
	if b.Issuer != "" {
		claimsOpts = append(claimsOpts, jwt.WithIssuer(b.Issuer))
	}
	if len(b.Audience) > 0 {
		claimsOpts = append(claimsOpts, jwt.WithAudience(b.Audience...))
	}
	b.claimsValidator = jwt.NewValidator(claimsOpts...)
	b.timeValidator = jwt.NewValidator(timeOpts...)
	cache, err := newBackendCache(b.Cache, name, ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("jwt backend %q: registering metrics: %v", name, err)
	}
	b.cache = cache
	return nil
}

// clock is the time tokens are checked against.
func (b *Backend) clock() time.Time { return b.now() }

// errorf makes a configError about one of the backend's settings, found
// while provisioning.
func (b *Backend) errorf(setting, format string, args ...any) error {
	return settingError(backendScope(b.name), setting, format, args...)
}

// canLogin tells why jwt_login cannot use the backend called name, if it
// cannot; it reads the configuration only.
func (b *Backend) canLogin(name string) error {
	switch {
	case b.JWKS != nil:
		return fmt.Errorf("jwt backend %q verifies with a remote JWK Set (jwks) and cannot sign tokens", name)
	case len(b.Secrets) == 0 && b.SignKey == nil:
		return fmt.Errorf("jwt backend %q has only verify_key keys and cannot sign tokens; add a sign_key", name)
	case len(b.Users) == 0 && b.UsersFile == "":
		return fmt.Errorf("jwt backend %q has no users (set users or user), so it cannot log anyone in", name)
	}
	return nil
}
