// OpenID provider metadata: jwt_discovery tells verifiers where a
// backend's keys and token endpoint are.

package caddyjwt

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Discovery{})
}

// Discovery publishes OpenID provider metadata (OpenID Connect Discovery
// 1.0, RFC 8414) for one backend, usually at
// /.well-known/openid-configuration: GET and HEAD answer
// `application/json` with `issuer`, `jwks_uri`, `token_endpoint` (when
// known), `id_token_signing_alg_values_supported` (the backend's
// algorithms), `response_types_supported: ["id_token"]` and
// `subject_types_supported: ["public"]`. ETag, 304 and Cache-Control are
// as for jwt_jwks; other methods get 405. The backend's issuer must be set,
// as an http(s) URL: the document is about it.
type Discovery struct {
	// The backend the document describes. May be left empty when exactly
	// one backend is defined. Default: the only backend.
	Backend string `json:"backend,omitempty"`

	// The URL of the JWK Set that verifies the backend's tokens, as
	// jwt_jwks serves it. Default: the backend's issuer (without a trailing
	// slash) followed by /.well-known/jwks.json.
	JWKSURI string `json:"jwks_uri,omitempty"`

	// The URL of the token endpoint: the backend's jwt_login. The
	// Caddyfile adapter sets it to the issuer followed by the path of the
	// backend's jwt_login when that is one literal path (jwt_login
	// /auth/login). Default: none (left out of the document).
	TokenEndpoint string `json:"token_endpoint,omitempty"`

	published publishedDocument
	// lines are where the Caddyfile set each setting, for errors.
	lines *settingLines
}

// providerMetadata is the discovery document.
type providerMetadata struct {
	Issuer                 string   `json:"issuer"`
	JWKSURI                string   `json:"jwks_uri"`
	TokenEndpoint          string   `json:"token_endpoint,omitempty"`
	ResponseTypes          []string `json:"response_types_supported"`
	SubjectTypes           []string `json:"subject_types_supported"`
	IDTokenSigningAlgNames []string `json:"id_token_signing_alg_values_supported"`
}

// CaddyModule returns the Caddy module information.
func (Discovery) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_discovery",
		New: func() caddy.Module { return new(Discovery) },
	}
}

// Provision looks the backend up and builds the document once.
func (h *Discovery) Provision(ctx caddy.Context) error {
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	b, err := h.validate(app)
	if err != nil {
		return reportConfigError(ctx, err)
	}
	doc := providerMetadata{
		Issuer:                 b.Issuer,
		JWKSURI:                h.JWKSURI,
		TokenEndpoint:          h.TokenEndpoint,
		ResponseTypes:          []string{"id_token"},
		SubjectTypes:           []string{"public"},
		IDTokenSigningAlgNames: slices.Clone(b.keys.algs),
	}
	if doc.JWKSURI == "" {
		doc.JWKSURI = issuerURL(b.Issuer, "/.well-known/jwks.json")
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("jwt_discovery: %v", err)
	}
	h.published = newPublishedDocument("application/json", body)
	return nil
}

// validate checks the backend, its issuer and the URLs, names the backend
// when it was left to default, and returns it; the Caddyfile adapter runs
// it too.
func (h *Discovery) validate(app *App) (*Backend, error) {
	name, b, err := app.backend(h.Backend)
	if err != nil {
		return nil, fmt.Errorf("jwt_discovery: %v", err)
	}
	h.Backend = name
	if b.Issuer == "" {
		return nil, fmt.Errorf("jwt_discovery: jwt backend %q has no issuer; set one in its block, such as issuer https://auth.example.com: a discovery document is about its issuer", name)
	}
	if err := checkAbsoluteURL(b.Issuer); err != nil {
		return nil, fmt.Errorf("jwt_discovery: jwt backend %q: issuer %v; discovery needs an issuer such as https://auth.example.com", name, err)
	}
	for _, s := range []struct{ setting, value string }{{"jwks_uri", h.JWKSURI}, {"token_endpoint", h.TokenEndpoint}} {
		if s.value == "" {
			continue
		}
		if err := checkAbsoluteURL(s.value); err != nil {
			return nil, settingError("jwt_discovery", s.setting, "%v", err)
		}
	}
	return b, nil
}

// checkAbsoluteURL allows an http(s) URL with a host and without query or
// fragment, as OpenID Connect Discovery wants its issuer and endpoints.
func checkAbsoluteURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q does not parse as a URL", raw)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("%q has a query or fragment", raw)
	}
	return nil
}

// issuerURL is the issuer followed by path, without a doubled slash.
func issuerURL(issuer, path string) string {
	return strings.TrimSuffix(issuer, "/") + path
}

// ServeHTTP answers with the discovery document.
func (h *Discovery) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return h.published.serve(w, r)
}

// parseDiscoveryRoute sets up jwt_discovery and its route, as
// RegisterHandlerDirective would, and keeps a hold of the handler's JSON in
// the route, so that a jwt_login read later can still give it its
// token_endpoint (see noteLoginPath). Syntax:
//
//	jwt_discovery [<matcher>] [<backend>] {
//		jwks_uri       <url>
//		token_endpoint <url>
//	}
func parseDiscoveryRoute(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	disc := new(Discovery)
	if err := disc.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	b, err := disc.validate(definedBackends(h))
	if err != nil {
		return nil, disc.lines.locate(err)
	}
	explicit := disc.TokenEndpoint != ""
	paths := loginPathsOf(h)
	if path, ok := paths.path[disc.Backend]; ok && !explicit {
		disc.TokenEndpoint = issuerURL(b.Issuer, path)
	}
	values := h.NewRoute(matcherSet, disc)
	if !explicit && disc.TokenEndpoint == "" && len(values) == 1 {
		if route, ok := values[0].Value.(caddyhttp.Route); ok {
			// route shares its HandlersRaw with the value the adapter keeps.
			paths.waiting[disc.Backend] = append(paths.waiting[disc.Backend],
				waitingDiscovery{disc, b.Issuer, &route.HandlersRaw[0]})
		}
	}
	return values, nil
}

// UnmarshalCaddyfile reads jwt_discovery's syntax; see parseDiscoveryRoute.
func (h *Discovery) UnmarshalCaddyfile(d *caddyfile.Dispenser) (err error) {
	if h.Backend, h.lines, err = oneBackend(d); err != nil {
		return err
	}
	for d.NextBlock(0) {
		setting := d.Val()
		h.lines.add(setting, d)
		var target *string
		switch setting {
		case "jwks_uri":
			target = &h.JWKSURI
		case "token_endpoint":
			target = &h.TokenEndpoint
		default:
			return d.Errf("jwt_discovery: unrecognized subdirective %q", setting)
		}
		if *target != "" {
			return d.Errf("jwt_discovery: %s: set only once", setting)
		}
		if !d.AllArgs(target) {
			return d.Errf("jwt_discovery: %s: expected one URL", setting)
		}
	}
	return nil
}

// loginPathsState is the key, in the Caddyfile adapter's State, of the
// loginPaths of the Caddyfile being adapted.
const loginPathsState = "jwt.login_paths"

// loginPaths is what the adapter learned about token endpoints so far:
// each backend's first jwt_login on one literal path, and the
// jwt_discovery handlers read before it, which wait for it.
type loginPaths struct {
	path    map[string]string
	waiting map[string][]waitingDiscovery
}

// waitingDiscovery is a jwt_discovery handler whose backend's login path
// is not known yet, with its JSON inside its route.
type waitingDiscovery struct {
	handler *Discovery
	issuer  string
	raw     *json.RawMessage
}

// loginPathsOf is the loginPaths of the Caddyfile being adapted.
func loginPathsOf(h httpcaddyfile.Helper) *loginPaths {
	if lp, ok := h.State[loginPathsState].(*loginPaths); ok {
		return lp
	}
	lp := &loginPaths{path: make(map[string]string), waiting: make(map[string][]waitingDiscovery)}
	if h.State != nil {
		h.State[loginPathsState] = lp
	}
	return lp
}

// noteLoginPath tells the adapter that backend's jwt_login is at path (""
// when it is not on one literal path), for the token_endpoint of the
// backend's jwt_discovery. The Caddyfile's first such login counts. A
// jwt_discovery read earlier gets it too, by rewriting its JSON in its
// route; that works for routes of the site block itself, which Caddy
// encodes when every block has been read, but not inside a handle or
// route block, which is encoded at once: there, jwt_discovery must come
// after jwt_login, or set token_endpoint.
func noteLoginPath(h httpcaddyfile.Helper, backend, path string) {
	lp := loginPathsOf(h)
	if _, known := lp.path[backend]; known || path == "" {
		return
	}
	lp.path[backend] = path
	for _, w := range lp.waiting[backend] {
		w.handler.TokenEndpoint = issuerURL(w.issuer, path)
		*w.raw = caddyconfig.JSONModuleObject(w.handler, "handler", w.handler.CaddyModule().ID.Name(), nil)
	}
	delete(lp.waiting, backend)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Discovery)(nil)
	_ caddyhttp.MiddlewareHandler = (*Discovery)(nil)
	_ caddyfile.Unmarshaler       = (*Discovery)(nil)
)
