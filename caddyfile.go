package caddyjwt

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("jwt", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("jwt_login", parseLogin)
	httpcaddyfile.RegisterHandlerDirective("jwt_logout", parseLogout)
	httpcaddyfile.RegisterHandlerDirective("jwt_auth", parseAuth)
	// Logging in and out must work on a path that jwt_auth protects, and
	// all three run before basic_auth, so no `order` line is needed. Each
	// lands right before basic_auth (Caddy only orders plugins relative to
	// standard directives), so registering them in this sequence gives
	// jwt_login, jwt_logout, jwt_auth, basic_auth.
	httpcaddyfile.RegisterDirectiveOrder("jwt_login", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_logout", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_auth", httpcaddyfile.Before, "basic_auth")
}

// parseGlobalOption sets up the jwt app from the global option. Syntax:
//
//	jwt {
//		hash_cpu <percent>|off
//		backend <name> {
//			secret     <value> [<kid>]
//			sign_key   <pem-file> [<kid>]
//			verify_key <pem-file> [<kid>]
//			jwks       <url>
//			algorithm  <alg...>
//			lifetime   <duration>
//			issuer     <string>
//			audience   <string...>
//			leeway     <duration>
//			user_claim <claim>
//			users      <file>
//			user       <name> <hash> [<claim>=<value>...]
//			cookie     [<name>] {
//				domain    <domain>
//				path      <path>
//				same_site lax|strict|none
//				insecure
//			}
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if prev, ok := existing.(httpcaddyfile.App); ok {
		if err := json.Unmarshal(prev.Value, app); err != nil {
			return nil, err
		}
	}
	if app.Backends == nil {
		app.Backends = make(map[string]*Backend)
	}
	d.Next() // consume option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "backend":
			var name string
			if !d.Args(&name) {
				return nil, d.Err("jwt: backend: missing name (backend <name> { ... })")
			}
			if d.NextArg() {
				return nil, d.Errf("jwt backend %q: unexpected argument %q after the name", name, d.Val())
			}
			if err := checkBackendName(name); err != nil {
				return nil, d.Errf("jwt: backend: %v", err)
			}
			if _, dup := app.Backends[name]; dup {
				return nil, d.Errf("jwt backend %q is defined twice", name)
			}
			b, err := parseBackend(d, name)
			if err != nil {
				return nil, err
			}
			app.Backends[name] = b
		case "hash_cpu":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, d.Err("jwt: hash_cpu: want one value: a percentage of the CPUs such as 5%, or off")
			}
			if _, err := parseHashCPU(v); err != nil {
				return nil, d.Errf("jwt: hash_cpu: %v", err)
			}
			app.HashCPU = v
		default:
			return nil, d.Errf("jwt: unrecognized option %q (expected backend or hash_cpu)", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "jwt", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseBackend reads the block of one backend. The dispenser is on the
// backend's name.
func parseBackend(d *caddyfile.Dispenser, name string) (*Backend, error) {
	b := new(Backend)
	here := func() string { return fmt.Sprintf("%s:%d", d.File(), d.Line()) }
	// Errors about the block as a whole point at its `backend` line.
	backendAt := here()
	errf := func(setting, format string, args ...any) error {
		return d.Errf("jwt backend %q: %s: %s", name, setting, fmt.Sprintf(format, args...))
	}
	// Secret lengths depend on the algorithm, which may come later in the
	// block, so literal secrets are checked at the end with their own line.
	type literal struct{ value, at string }
	var secrets []literal
	algorithmAt, secretAt, signKeyAt, jwksAt, verifyKeyAt := "", "", "", "", ""

	for nesting := d.Nesting(); d.NextBlock(nesting); {
		setting := d.Val()
		args := d.RemainingArgs()
		need := func(lo, hi int) error {
			if len(args) < lo || (hi >= 0 && len(args) > hi) {
				return errf(setting, "wrong number of arguments (%d)", len(args))
			}
			return nil
		}
		switch setting {
		case "secret":
			if err := need(1, 2); err != nil {
				return nil, err
			}
			s := Secret{Value: args[0]}
			if len(args) == 2 {
				s.KeyID = args[1]
				for _, other := range b.Secrets {
					if other.KeyID == s.KeyID {
						return nil, errf(setting, "key ID %q is used twice", s.KeyID)
					}
				}
			}
			b.Secrets = append(b.Secrets, s)
			if secretAt == "" {
				secretAt = here()
			}
			if !strings.Contains(s.Value, "{") {
				secrets = append(secrets, literal{s.Value, here()})
			}
		case "sign_key":
			if err := need(1, 2); err != nil {
				return nil, err
			}
			if b.SignKey != nil {
				return nil, errf(setting, "only one sign_key per backend; older keys go in verify_key")
			}
			b.SignKey = &KeyFile{File: args[0]}
			if len(args) == 2 {
				b.SignKey.KeyID = args[1]
			}
			signKeyAt = here()
		case "verify_key":
			if err := need(1, 2); err != nil {
				return nil, err
			}
			vk := KeyFile{File: args[0]}
			if len(args) == 2 {
				vk.KeyID = args[1]
			}
			b.VerifyKeys = append(b.VerifyKeys, vk)
			verifyKeyAt = here()
		case "jwks":
			if err := need(1, 1); err != nil {
				return nil, err
			}
			if b.JWKS != nil {
				return nil, errf(setting, "only one jwks URL per backend")
			}
			if !strings.Contains(args[0], "{") {
				if err := checkJWKSURL(args[0]); err != nil {
					return nil, errf(setting, "%v", err)
				}
			}
			b.JWKS, jwksAt = &JWKS{URL: args[0]}, here()
		case "algorithm":
			if err := need(1, -1); err != nil {
				return nil, err
			}
			if b.Algorithm != "" || b.Algorithms != nil {
				return nil, errf(setting, "set only once; list several algorithms on one line (jwks only)")
			}
			for _, alg := range args {
				if !isAlgorithm(alg) {
					return nil, errf(setting, "unknown algorithm %q; use one of %s", alg, strings.Join(algorithmNames, " "))
				}
			}
			if len(args) == 1 {
				b.Algorithm = args[0]
			} else {
				b.Algorithms = args
			}
			algorithmAt = here()
		case "lifetime", "leeway":
			if err := need(1, 1); err != nil {
				return nil, err
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil {
				return nil, errf(setting, "%v", err)
			}
			if setting == "lifetime" {
				if dur <= 0 {
					return nil, errf(setting, "must be positive, got %s", args[0])
				}
				b.Lifetime = caddy.Duration(dur)
			} else {
				if dur < 0 {
					return nil, errf(setting, "must not be negative, got %s", args[0])
				}
				leeway := caddy.Duration(dur)
				b.Leeway = &leeway
			}
		case "issuer":
			if err := need(1, 1); err != nil {
				return nil, err
			}
			b.Issuer = args[0]
		case "audience":
			if err := need(1, -1); err != nil {
				return nil, err
			}
			b.Audience = append(b.Audience, args...)
		case "user_claim":
			if err := need(1, 1); err != nil {
				return nil, err
			}
			b.UserClaim = args[0]
		case "users":
			if err := need(1, 1); err != nil {
				return nil, err
			}
			if b.UsersFile != "" {
				return nil, errf(setting, "only one users file per backend")
			}
			b.UsersFile = args[0]
		case "user":
			if err := need(2, -1); err != nil {
				return nil, err
			}
			u := User{Username: args[0], Password: args[1]}
			if _, err := comparerFor(u.Password); err != nil {
				return nil, errf(setting, "user %q: %v", u.Username, err)
			}
			for _, kv := range args[2:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, errf(setting, "user %q: claim %q is not <claim>=<value>", u.Username, kv)
				}
				if u.Claims == nil {
					u.Claims = make(map[string]any)
				}
				u.Claims[k] = v
			}
			if err := checkUserClaims(u.Claims); err != nil {
				return nil, errf(setting, "user %q: %v", u.Username, err)
			}
			for _, other := range b.Users {
				if other.Username == u.Username {
					return nil, errf(setting, "user %q is defined twice", u.Username)
				}
			}
			b.Users = append(b.Users, u)
		case "cookie":
			if err := need(0, 1); err != nil {
				return nil, err
			}
			if b.Cookie != nil {
				return nil, errf(setting, "only one cookie per backend")
			}
			c, err := parseCookie(d, name, args)
			if err != nil {
				return nil, err
			}
			b.Cookie = c
		default:
			return nil, errf(setting, "unrecognized subdirective")
		}
	}

	// Exactly one kind of key material; verify_key may join sign_key or
	// jwks, or stand alone.
	kinds := map[string]string{}
	if len(b.Secrets) > 0 {
		kinds["secret"] = secretAt
	}
	if signKeyAt != "" {
		kinds["sign_key"] = signKeyAt
	}
	if jwksAt != "" {
		kinds["jwks"] = jwksAt
	}
	switch {
	case len(kinds) > 1:
		var at []string
		for _, k := range []string{"secret", "sign_key", "jwks"} {
			if where, ok := kinds[k]; ok {
				at = append(at, k+" at "+where)
			}
		}
		return nil, fmt.Errorf("jwt backend %q: key material: use one of secret, sign_key or jwks, not %s", name, strings.Join(at, " and "))
	case len(kinds) == 0 && verifyKeyAt == "":
		return nil, fmt.Errorf("jwt backend %q: secret: no key material: set a secret of at least 32 random bytes, a sign_key, a jwks URL or verify_key, at %s", name, backendAt)
	case len(b.Secrets) > 0 && verifyKeyAt != "":
		return nil, fmt.Errorf("jwt backend %q: verify_key: public keys cannot verify HMAC tokens; rotate secrets by repeating secret, at %s", name, verifyKeyAt)
	case b.Algorithms != nil && jwksAt == "":
		return nil, fmt.Errorf("jwt backend %q: algorithm: several algorithms are allowed only with jwks, at %s", name, algorithmAt)
	}
	if len(b.Secrets) == 0 {
		material := "a JWK Set (jwks)"
		switch {
		case b.SignKey != nil:
			material = "the key file of sign_key " + b.SignKey.File
		case b.JWKS == nil:
			material = "the key file of verify_key " + b.VerifyKeys[0].File
		}
		for _, alg := range append([]string{b.Algorithm}, b.Algorithms...) {
			if isHMAC(alg) {
				return nil, fmt.Errorf("jwt backend %q: algorithm: %s is HMAC and needs a secret, not %s, at %s", name, alg, material, algorithmAt)
			}
		}
		return b, nil
	}
	alg := b.Algorithm
	if alg == "" {
		alg = defaultAlgorithm
	}
	if !isHMAC(alg) {
		return nil, fmt.Errorf("jwt backend %q: algorithm: %s does not fit an HMAC secret; use HS256, HS384 or HS512, at %s", name, alg, algorithmAt)
	}
	for _, s := range secrets {
		if err := checkSecret(alg, []byte(s.value)); err != nil {
			msg := fmt.Sprintf("jwt backend %q: secret: %v", name, err)
			if algorithmAt != "" {
				msg += " (algorithm set at " + algorithmAt + ")"
			}
			return nil, fmt.Errorf("%s, at %s", msg, s.at)
		}
	}
	return b, nil
}

// parseCookie reads the optional block of a backend's cookie. The
// dispenser is on the last token of the `cookie` line.
func parseCookie(d *caddyfile.Dispenser, backend string, args []string) (*CookieConfig, error) {
	errf := func(format string, args ...any) error {
		return d.Errf("jwt backend %q: cookie: %s", backend, fmt.Sprintf(format, args...))
	}
	cookieAt := fmt.Sprintf("%s:%d", d.File(), d.Line())
	c := new(CookieConfig)
	if len(args) == 1 {
		if err := checkCookieName(args[0]); err != nil {
			return nil, errf("%v", err)
		}
		c.Name = args[0]
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		setting := d.Val()
		args := d.RemainingArgs()
		want := 1
		if setting == "insecure" {
			want = 0
		}
		if len(args) != want {
			return nil, errf("%s: wrong number of arguments (%d)", setting, len(args))
		}
		var err error
		switch setting {
		case "domain":
			c.Domain, err = args[0], checkCookieDomain(args[0])
		case "path":
			c.Path, err = args[0], checkCookiePath(args[0])
		case "same_site":
			c.SameSite = strings.ToLower(args[0])
			_, err = parseSameSite(args[0])
		case "insecure":
			c.Insecure = true
		default:
			err = fmt.Errorf("unrecognized subdirective %q", setting)
		}
		if err != nil {
			return nil, errf("%v", err)
		}
	}
	// What depends on several settings (SameSite=None needs Secure, the
	// __Host- and __Secure- prefixes) is checked on a copy, so the JSON
	// keeps only what was written, and reported at the `cookie` line.
	check := *c
	if err := check.provision(backend); err != nil {
		return nil, fmt.Errorf("jwt backend %q: cookie: %v, at %s", backend, err, cookieAt)
	}
	return c, nil
}

// definedBackends reads back what the global option defined, so directives
// can check backend names while the Caddyfile is adapted.
func definedBackends(h httpcaddyfile.Helper, directive string) (map[string]*Backend, error) {
	opt, ok := h.Option("jwt").(httpcaddyfile.App)
	if !ok {
		return nil, h.Errf("%s: no jwt backends are defined; declare them in the global jwt option", directive)
	}
	var app App
	if err := json.Unmarshal(opt.Value, &app); err != nil {
		return nil, h.WrapErr(err)
	}
	return app.Backends, nil
}

// backendNames resolves the backend names given to a directive: each must
// be defined, and none given means the only one.
func backendNames(h httpcaddyfile.Helper, directive string, names []string) ([]string, map[string]*Backend, error) {
	defined, err := definedBackends(h, directive)
	if err != nil {
		return nil, nil, err
	}
	all := (&App{Backends: defined}).names()
	if len(all) == 0 {
		return nil, nil, h.Errf("%s: no jwt backends are defined; declare them in the global jwt option", directive)
	}
	if len(names) == 0 {
		if len(all) != 1 {
			return nil, nil, h.Errf("%s: name a backend; %d are defined (%s)", directive, len(all), strings.Join(all, ", "))
		}
		return all, defined, nil
	}
	for _, n := range names {
		if _, ok := defined[n]; !ok {
			return nil, nil, h.Errf("%s: unknown jwt backend %q (defined: %s)", directive, n, strings.Join(all, ", "))
		}
	}
	return names, defined, nil
}

// parseLogin sets up jwt_login. Syntax:
//
//	jwt_login [<matcher>] [<backend>] {
//		rate_limit <count> <window> | off
//		page <file>
//	}
func parseLogin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	args := h.RemainingArgs()
	if len(args) > 1 {
		return nil, h.Errf("jwt_login takes at most one backend, got %d", len(args))
	}
	names, defined, err := backendNames(h, "jwt_login", args)
	if err != nil {
		return nil, err
	}
	b := defined[names[0]]
	switch {
	case b.JWKS != nil:
		return nil, h.Errf("jwt_login: jwt backend %q verifies with a remote JWK Set (jwks) and cannot sign tokens", names[0])
	case len(b.Secrets) == 0 && b.SignKey == nil:
		return nil, h.Errf("jwt_login: jwt backend %q has only verify_key keys and cannot sign tokens; add a sign_key", names[0])
	}
	if len(b.Users) == 0 && b.UsersFile == "" {
		return nil, h.Errf("jwt_login: jwt backend %q has no users (set users or user), so it cannot log anyone in", names[0])
	}
	login := &Login{Backend: names[0]}

	for h.NextBlock(0) {
		setting := h.Val()
		switch setting {
		case "rate_limit":
			sub := h.RemainingArgs()
			switch {
			case len(sub) == 1 && sub[0] == "off":
				login.RateLimit = &RateLimit{Disabled: true}
			case len(sub) == 2:
				count, err := strconv.Atoi(sub[0])
				if err != nil || count <= 0 {
					return nil, h.Errf("jwt_login: rate_limit: count must be a positive whole number, got %q", sub[0])
				}
				window, err := caddy.ParseDuration(sub[1])
				if err != nil || window <= 0 {
					return nil, h.Errf("jwt_login: rate_limit: window must be a positive duration, got %q", sub[1])
				}
				login.RateLimit = &RateLimit{Count: count, Window: caddy.Duration(window)}
			default:
				return nil, h.Errf("jwt_login: rate_limit: expected <count> <window> or off")
			}
		case "page":
			var file string
			if !h.AllArgs(&file) {
				return nil, h.Errf("jwt_login: page: expected one file name")
			}
			// Parse it now when the name is literal, so a broken template
			// is reported with its Caddyfile line; provisioning parses it
			// again either way.
			if !strings.Contains(file, "{") {
				if _, err := loadLoginPage(file); err != nil {
					return nil, h.Errf("jwt_login: page: %v", err)
				}
			}
			login.Page = file
		default:
			return nil, h.Errf("jwt_login: unrecognized subdirective %q", setting)
		}
	}
	return login, nil
}

// parseLogout sets up jwt_logout. Syntax:
//
//	jwt_logout [<matcher>] [<backend>] {
//		redirect <path>
//	}
func parseLogout(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	args := h.RemainingArgs()
	if len(args) > 1 {
		return nil, h.Errf("jwt_logout takes at most one backend, got %d", len(args))
	}
	names, _, err := backendNames(h, "jwt_logout", args)
	if err != nil {
		return nil, err
	}
	logout := &Logout{Backend: names[0]}
	for h.NextBlock(0) {
		switch h.Val() {
		case "redirect":
			if !h.AllArgs(&logout.Redirect) {
				return nil, h.Errf("jwt_logout: redirect: expected one local path")
			}
			if safeRedirect(logout.Redirect) != logout.Redirect {
				return nil, h.Errf("jwt_logout: redirect: %q must be a local path such as /login", logout.Redirect)
			}
		default:
			return nil, h.Errf("jwt_logout: unrecognized subdirective %q", h.Val())
		}
	}
	return logout, nil
}

// parseAuth sets up jwt_auth. Syntax:
//
//	jwt_auth [<matcher>] [<backend>...] {
//		redirect <login-url>
//		cache_control off
//		from_header <Header-Name>
//		from_query  <param>
//		require     <claim> <value...>
//		allow_preflight
//	}
func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	names, _, err := backendNames(h, "jwt_auth", h.RemainingArgs())
	if err != nil {
		return nil, err
	}
	auth := &Auth{Backends: names}
	for h.NextBlock(0) {
		setting := h.Val()
		args := h.RemainingArgs()
		switch setting {
		case "from_header", "from_query":
			if len(args) != 1 || args[0] == "" {
				return nil, h.Errf("jwt_auth: %s: expected one %s name", setting, strings.TrimPrefix(setting, "from_"))
			}
			// A name no request can carry would silently never match.
			if setting == "from_header" && !httpguts.ValidHeaderFieldName(args[0]) {
				return nil, h.Errf("jwt_auth: from_header: %q is not a valid header name", args[0])
			}
			target := &auth.FromHeader
			if setting == "from_query" {
				target = &auth.FromQuery
			}
			if *target != "" {
				return nil, h.Errf("jwt_auth: %s: set only once", setting)
			}
			if setting == "from_header" && strings.EqualFold(args[0], "Authorization") {
				return nil, h.Errf("jwt_auth: from_header: Authorization is always read; name another header")
			}
			*target = args[0]
		case "require":
			if len(args) < 2 || args[0] == "" {
				return nil, h.Errf("jwt_auth: require: expected <claim> <value...>")
			}
			auth.Require = append(auth.Require, Rule{Claim: args[0], Values: args[1:]})
		case "redirect":
			if len(args) != 1 {
				return nil, h.Errf("jwt_auth: redirect: expected one login URL")
			}
			auth.Redirect = args[0]
			if _, err := loginRedirectPrefix(auth.Redirect); err != nil {
				return nil, h.Errf("jwt_auth: redirect: %v", err)
			}
		case "cache_control":
			if len(args) != 1 || (args[0] != "off" && args[0] != "on") {
				return nil, h.Errf("jwt_auth: cache_control: expected off (or on, the default)")
			}
			auth.DisableCacheControl = args[0] == "off"
		case "allow_preflight":
			if len(args) != 0 {
				return nil, h.Errf("jwt_auth: allow_preflight: takes no arguments, got %d", len(args))
			}
			auth.AllowPreflight = true
		default:
			return nil, h.Errf("jwt_auth: unrecognized subdirective %q", setting)
		}
	}
	return auth, nil
}
