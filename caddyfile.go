// The Caddyfile syntax of the global option and of jwt_login, jwt_logout
// and jwt_auth, and the registration and order of every directive. Their
// parse functions sit in this one file, as in Caddy's own modules, which is
// why it runs past the usual length; jwt_jwks and jwt_discovery, which
// share nothing with them, keep theirs beside their handlers.

package caddyjwt

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("jwt", parseGlobalOption)
	httpcaddyfile.RegisterDirective("jwt_login", parseLoginRoute)
	httpcaddyfile.RegisterHandlerDirective("jwt_jwks", parsePublicKeys)
	httpcaddyfile.RegisterDirective("jwt_discovery", parseDiscoveryRoute)
	httpcaddyfile.RegisterHandlerDirective("jwt_logout", parseLogout)
	httpcaddyfile.RegisterHandlerDirective("jwt_auth", parseAuth)
	// Logging in and out, and the published keys, must work on a path
	// that jwt_auth protects, and all run before basic_auth, so no `order`
	// line is needed. Each lands right before basic_auth (Caddy only
	// orders plugins relative to standard directives), so registering them
	// in this sequence gives jwt_login, jwt_jwks, jwt_discovery,
	// jwt_logout, jwt_auth, basic_auth.
	httpcaddyfile.RegisterDirectiveOrder("jwt_login", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_jwks", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_discovery", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_logout", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("jwt_auth", httpcaddyfile.Before, "basic_auth")
}

// parseGlobalOption sets up the jwt app from the global option. Syntax:
//
//	jwt {
//		hash_cpu <percent>|off
//		store memory | redis <url>
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
//			user       <name> <hash> [id=<id>] [<claim>=<value>...]
//			refresh    <lifetime> [idle <duration>]
//			cache      off | {
//				entries <count>
//				size    <bytes>
//			}
//			cookie     [<name>] {
//				domain       <domain>
//				path         <path>
//				same_site    lax|strict|none
//				insecure
//				refresh_path <path>
//			}
//		}
//	}
//
// The parser reads syntax only; what the settings mean is checked by the
// same validate code that provisioning runs, and reported with the line
// each setting was read from.
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
	lines := newSettingLines(d)
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
			if _, dup := app.Backends[name]; dup {
				return nil, d.Errf("jwt backend %q is defined twice", name)
			}
			b, backendLines, err := parseBackend(d, name)
			if err != nil {
				return nil, err
			}
			if err := b.validate(name); err != nil {
				return nil, backendLines.locate(err)
			}
			app.Backends[name] = b
		case "hash_cpu":
			lines.add("hash_cpu", d)
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, d.Err("jwt: hash_cpu: want one value: a percentage of the CPUs such as 5%, or off")
			}
			app.HashCPU = v
		case "store":
			lines.add("store", d)
			args := d.RemainingArgs()
			switch {
			case app.Store != nil:
				return nil, d.Err("jwt: store: set only once")
			case len(args) == 1 && args[0] == "memory":
				app.Store = &Store{Type: "memory"}
			case len(args) == 2 && args[0] == "redis":
				app.Store = &Store{Type: "redis", URL: args[1]}
			case len(args) == 1 && args[0] == "redis":
				return nil, d.Err("jwt: store: redis needs a URL; if it is written as {$NAME}, that environment variable is empty or unset")
			default:
				return nil, d.Err("jwt: store: want memory, or redis <url>")
			}
		default:
			return nil, d.Errf("jwt: unrecognized option %q (expected backend, hash_cpu or store)", d.Val())
		}
	}
	if err := app.validate(); err != nil {
		return nil, lines.locate(err)
	}
	return httpcaddyfile.App{Name: "jwt", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseBackend reads the block of one backend, and where each setting is.
// The dispenser is on the backend's name.
func parseBackend(d *caddyfile.Dispenser, name string) (*Backend, *settingLines, error) {
	b := new(Backend)
	lines := newSettingLines(d)
	errf := func(setting, format string, args ...any) error {
		return d.Errf("jwt backend %q: %s: %s", name, setting, fmt.Sprintf(format, args...))
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		setting := d.Val()
		lines.add(setting, d)
		args := d.RemainingArgs()
		need := func(lo, hi int) error {
			if len(args) < lo || (hi >= 0 && len(args) > hi) {
				return errf(setting, "%s", argCountError(len(args)))
			}
			return nil
		}
		var err error
		switch setting {
		case "secret":
			if err = need(1, 2); err == nil {
				b.Secrets = append(b.Secrets, Secret{Value: args[0], KeyID: optional(args, 1)})
			}
		case "sign_key":
			if err = need(1, 2); err == nil {
				if b.SignKey != nil {
					return nil, nil, errf(setting, "only one sign_key per backend; older keys go in verify_key")
				}
				b.SignKey = &KeyFile{File: args[0], KeyID: optional(args, 1)}
			}
		case "verify_key":
			if err = need(1, 2); err == nil {
				b.VerifyKeys = append(b.VerifyKeys, KeyFile{File: args[0], KeyID: optional(args, 1)})
			}
		case "jwks":
			if err = need(1, 1); err == nil {
				if b.JWKS != nil {
					return nil, nil, errf(setting, "only one jwks URL per backend")
				}
				b.JWKS = &JWKS{URL: args[0]}
			}
		case "algorithm":
			if err = need(1, -1); err == nil {
				if b.Algorithm != "" || b.Algorithms != nil {
					return nil, nil, errf(setting, "set only once; list several algorithms on one line (jwks only)")
				}
				if len(args) == 1 {
					b.Algorithm = args[0]
				} else {
					b.Algorithms = args
				}
			}
		case "lifetime", "leeway":
			if err = need(1, 1); err == nil {
				dur, perr := parseDurationArg(args[0])
				if perr != nil {
					return nil, nil, errf(setting, "%v", perr)
				}
				value := caddy.Duration(dur)
				if setting == "lifetime" {
					b.Lifetime = &value
				} else {
					b.Leeway = &value
				}
			}
		case "issuer":
			if err = need(1, 1); err == nil {
				b.Issuer = args[0]
			}
		case "audience":
			if err = need(1, -1); err == nil {
				b.Audience = append(b.Audience, args...)
			}
		case "user_claim":
			if err = need(1, 1); err == nil {
				b.UserClaim = args[0]
			}
		case "users":
			if err = need(1, 1); err == nil {
				if b.UsersFile != "" {
					return nil, nil, errf(setting, "only one users file per backend")
				}
				b.UsersFile = args[0]
			}
		case "user":
			if err = need(2, -1); err != nil {
				break
			}
			u := User{Username: args[0], Password: args[1]}
			for _, kv := range args[2:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, nil, errf(setting, "user %q: claim %q is not <claim>=<value>", u.Username, kv)
				}
				if k == "id" {
					// The user's id, not a claim: a claim named id
					// needs a JSON users file.
					u.ID = v
					continue
				}
				if u.Claims == nil {
					u.Claims = make(map[string]any)
				}
				u.Claims[k] = v
			}
			b.Users = append(b.Users, u)
		case "refresh":
			if len(args) == 3 && args[1] != "idle" {
				return nil, nil, errf(setting, "unknown option %q; want refresh <lifetime> [idle <duration>], such as refresh 30d idle 7d", args[1])
			}
			if len(args) != 1 && len(args) != 3 {
				return nil, nil, errf(setting, "want refresh <lifetime> [idle <duration>], such as refresh 30d idle 7d")
			}
			if b.Refresh != nil {
				return nil, nil, errf(setting, "set only once")
			}
			b.Refresh = new(Refresh)
			for i, v := range []*caddy.Duration{&b.Refresh.Lifetime, &b.Refresh.Idle}[:len(args)/2+1] {
				dur, perr := parseDurationArg(args[2*i])
				if perr != nil {
					return nil, nil, errf(setting, "%v", perr)
				}
				*v = caddy.Duration(dur)
			}
		case "cache":
			if b.Cache != nil {
				return nil, nil, errf(setting, "set only once")
			}
			b.Cache = new(CacheConfig)
			switch {
			case len(args) == 1 && args[0] == "off":
				b.Cache.Disabled = true
			case len(args) > 0:
				return nil, nil, errf(setting, "want cache off, or a block with entries <count> and size <bytes>")
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				sub := d.Val()
				lines.add("cache "+sub, d)
				vals := d.RemainingArgs()
				if len(vals) != 1 {
					return nil, nil, errf(setting, "%s: %s", sub, argCountError(len(vals)))
				}
				switch sub {
				case "entries":
					// 0 would read as the default in JSON.
					n, perr := strconv.Atoi(vals[0])
					if perr != nil || n == 0 {
						return nil, nil, errf(setting, "entries: want a number of tokens such as 100000, got %q; to turn the cache off, write cache off", vals[0])
					}
					b.Cache.Entries = n
				case "size":
					n, perr := humanize.ParseBytes(vals[0])
					if perr != nil || n == 0 || n > math.MaxInt64 {
						return nil, nil, errf(setting, "size: want a size such as 64MiB, got %q", vals[0])
					}
					b.Cache.Size = int64(n)
				default:
					return nil, nil, errf(setting, "unrecognized subdirective %q", sub)
				}
			}
		case "cookie":
			if err = need(0, 1); err != nil {
				break
			}
			if b.Cookie != nil {
				return nil, nil, errf(setting, "only one cookie per backend")
			}
			if b.Cookie, err = parseCookie(d, name, args, lines); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, errf(setting, "unrecognized subdirective")
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return b, lines, nil
}

// optional is args[i], or "" when there are fewer arguments.
func optional(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

// parseCookie reads the optional block of a backend's cookie. The
// dispenser is on the last token of the `cookie` line.
func parseCookie(d *caddyfile.Dispenser, backend string, args []string, lines *settingLines) (*CookieConfig, error) {
	c := &CookieConfig{Name: optional(args, 0)}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		setting := d.Val()
		lines.add("cookie "+setting, d)
		args := d.RemainingArgs()
		want := 1
		if setting == "insecure" {
			want = 0
		}
		if len(args) != want {
			return nil, d.Errf("jwt backend %q: cookie: %s: %s", backend, setting, argCountError(len(args)))
		}
		switch setting {
		case "domain":
			c.Domain = args[0]
		case "path":
			c.Path = args[0]
		case "same_site":
			c.SameSite = strings.ToLower(args[0])
		case "insecure":
			c.Insecure = true
		case "refresh_path":
			c.RefreshPath = args[0]
		default:
			return nil, d.Errf("jwt backend %q: cookie: unrecognized subdirective %q", backend, setting)
		}
	}
	return c, nil
}

// definedBackends reads back what the global option defined, so that the
// handlers' settings are checked against it while the Caddyfile is adapted.
func definedBackends(h httpcaddyfile.Helper) *App {
	app := new(App)
	if opt, ok := h.Option("jwt").(httpcaddyfile.App); ok {
		// The option's own JSON: it cannot fail to decode.
		_ = json.Unmarshal(opt.Value, app)
	}
	return app
}

// parseLoginRoute is RegisterHandlerDirective's wrapper for jwt_login, which
// also keeps the matcher when it is one literal path: the login's Path,
// the default path of the refresh cookie.
func parseLoginRoute(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	path := ""
	if h.NextArg() && isLocalPath(h.Val()) && !strings.ContainsAny(h.Val(), "*{") {
		path = h.Val()
	}
	h.Reset()
	h.Next()
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	login, err := parseLogin(h, path)
	if err != nil {
		return nil, err
	}
	// The backend's jwt_discovery names this login as its token_endpoint.
	noteLoginPath(h, login.(*Login).Backend, path)
	return h.NewRoute(matcherSet, login), nil
}

// parseLogin sets up jwt_login, at path when its matcher is one literal
// path. Syntax:
//
//	jwt_login [<matcher>] [<backend>] {
//		rate_limit <count> <window> | off
//		page <file>
//		redirect_hosts <host...>
//	}
func parseLogin(h httpcaddyfile.Helper, path string) (caddyhttp.MiddlewareHandler, error) {
	login := new(Login)
	if err := login.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	// The path goes into the JSON only where a refresh cookie may use it.
	if _, b, err := definedBackends(h).backend(login.Backend); err == nil && b.Refresh != nil && b.Cookie != nil {
		login.Path = path
	}
	if _, err := login.validate(definedBackends(h)); err != nil {
		return nil, login.lines.locate(err)
	}
	// Parse a literal page now, so that a broken template is reported with
	// its line; provisioning parses it again either way.
	if !strings.Contains(login.Page, "{") && login.Page != "" {
		if _, err := loadLoginPage(login.Page); err != nil {
			return nil, login.lines.locate(settingError("jwt_login", "page", "%v", err))
		}
	}
	return login, nil
}

// oneBackend reads the arguments of a directive that takes at most one
// backend, and starts the record of its lines.
func oneBackend(d *caddyfile.Dispenser) (string, *settingLines, error) {
	d.Next() // consume directive name
	directive := d.Val()
	lines := newSettingLines(d)
	args := d.RemainingArgs()
	if len(args) > 1 {
		return "", nil, d.Errf("%s takes at most one backend, got %d", directive, len(args))
	}
	return optional(args, 0), lines, nil
}

// UnmarshalCaddyfile reads jwt_login's syntax; see parseLogin.
func (h *Login) UnmarshalCaddyfile(d *caddyfile.Dispenser) (err error) {
	if h.Backend, h.lines, err = oneBackend(d); err != nil {
		return err
	}
	for d.NextBlock(0) {
		setting := d.Val()
		h.lines.add(setting, d)
		switch setting {
		case "rate_limit":
			sub := d.RemainingArgs()
			switch {
			case len(sub) == 1 && sub[0] == "off":
				h.RateLimit = &RateLimit{Disabled: true}
			case len(sub) == 2:
				count, err := strconv.Atoi(sub[0])
				if err != nil || count <= 0 {
					return d.Errf("jwt_login: rate_limit: count must be a positive whole number, got %q", sub[0])
				}
				// Zero would mean the default in JSON, so it is refused.
				window, err := parseDurationArg(sub[1])
				if err != nil || window <= 0 {
					why := "must be a positive duration"
					if err != nil {
						why = err.Error()
					}
					return d.Errf("jwt_login: rate_limit: window %s, got %q", why, sub[1])
				}
				h.RateLimit = &RateLimit{Count: count, Window: caddy.Duration(window)}
			default:
				return d.Errf("jwt_login: rate_limit: expected <count> <window> or off")
			}
		case "page":
			if !d.AllArgs(&h.Page) {
				return d.Errf("jwt_login: page: expected one file name")
			}
		case "redirect_hosts":
			hosts := d.RemainingArgs()
			if len(hosts) == 0 {
				return d.Errf("jwt_login: redirect_hosts: expected one or more hosts, such as app.example.com or *.example.com")
			}
			h.RedirectHosts = append(h.RedirectHosts, hosts...)
		default:
			return d.Errf("jwt_login: unrecognized subdirective %q", setting)
		}
	}
	return nil
}

// parseLogout sets up jwt_logout. Syntax:
//
//	jwt_logout [<matcher>] [<backend>] {
//		redirect <path>
//	}
func parseLogout(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	logout := new(Logout)
	if err := logout.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if _, err := logout.validate(definedBackends(h)); err != nil {
		return nil, logout.lines.locate(err)
	}
	return logout, nil
}

// UnmarshalCaddyfile reads jwt_logout's syntax; see parseLogout.
func (h *Logout) UnmarshalCaddyfile(d *caddyfile.Dispenser) (err error) {
	if h.Backend, h.lines, err = oneBackend(d); err != nil {
		return err
	}
	for d.NextBlock(0) {
		h.lines.add(d.Val(), d)
		switch d.Val() {
		case "redirect":
			if !d.AllArgs(&h.Redirect) {
				return d.Errf("jwt_logout: redirect: expected one local path")
			}
		default:
			return d.Errf("jwt_logout: unrecognized subdirective %q", d.Val())
		}
	}
	return nil
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
//		forwarded
//		redirect_hosts  <host...>
//		identity_header <Header-Name> [<claim>]
//	}
func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	auth := new(Auth)
	if err := auth.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if _, err := auth.validate(definedBackends(h)); err != nil {
		return nil, auth.lines.locate(err)
	}
	return auth, nil
}

// UnmarshalCaddyfile reads jwt_auth's syntax; see parseAuth.
func (h *Auth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	h.lines = newSettingLines(d)
	h.Backends = d.RemainingArgs()
	for d.NextBlock(0) {
		setting := d.Val()
		h.lines.add(setting, d)
		args := d.RemainingArgs()
		switch setting {
		case "from_header", "from_query":
			if len(args) != 1 || args[0] == "" {
				return d.Errf("jwt_auth: %s: expected one %s name", setting, strings.TrimPrefix(setting, "from_"))
			}
			target := &h.FromHeader
			if setting == "from_query" {
				target = &h.FromQuery
			}
			if *target != "" {
				return d.Errf("jwt_auth: %s: set only once", setting)
			}
			*target = args[0]
		case "require":
			if len(args) < 2 || args[0] == "" {
				return d.Errf("jwt_auth: require: expected <claim> <value...>")
			}
			h.Require = append(h.Require, Rule{Claim: args[0], Values: args[1:]})
		case "redirect":
			if len(args) != 1 {
				return d.Errf("jwt_auth: redirect: expected one login URL")
			}
			h.Redirect = args[0]
		case "cache_control":
			if len(args) != 1 || (args[0] != "off" && args[0] != "on") {
				return d.Errf("jwt_auth: cache_control: expected off (or on, the default)")
			}
			h.DisableCacheControl = args[0] == "off"
		case "allow_preflight":
			if len(args) != 0 {
				return d.Errf("jwt_auth: allow_preflight: takes no arguments, got %d", len(args))
			}
			h.AllowPreflight = true
		case "forwarded":
			if len(args) != 0 {
				return d.Errf("jwt_auth: forwarded: takes no arguments, got %d", len(args))
			}
			h.Forwarded = true
		case "redirect_hosts":
			if len(args) == 0 {
				return d.Errf("jwt_auth: redirect_hosts: expected one or more hosts, such as app.example.com or *.example.com")
			}
			h.RedirectHosts = append(h.RedirectHosts, args...)
		case "identity_header":
			if len(args) < 1 || len(args) > 2 || args[0] == "" {
				return d.Errf("jwt_auth: identity_header: expected <Header-Name> [<claim>], such as identity_header X-User or identity_header X-Role role")
			}
			h.IdentityHeaders = append(h.IdentityHeaders, IdentityHeader{Header: args[0], Claim: optional(args, 1)})
		default:
			return d.Errf("jwt_auth: unrecognized subdirective %q", setting)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Login)(nil)
	_ caddyfile.Unmarshaler = (*Logout)(nil)
	_ caddyfile.Unmarshaler = (*Auth)(nil)
)
