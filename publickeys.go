// Publishing keys: jwt_jwks serves the public keys of backends as a JWK Set
// (RFC 7517), and jwt_discovery the OpenID provider metadata that points to
// it, so that other services verify this Caddy's tokens without a copy of
// its key files.

package caddyjwt

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(PublicKeys{})
}

// publishedCacheControl lets verifiers and shared caches keep a published
// document for 5 minutes: a key added as verify_key reaches them within
// that time, plus their own refresh interval.
const publishedCacheControl = "public, max-age=300"

// PublicKeys publishes the public keys of its backends as a JWK Set (RFC
// 7517), for other services to verify the tokens they sign: GET and HEAD
// answer `application/jwk-set+json` `{"keys":[...]}`. Each key has `kty`,
// `kid` (the kid its tokens carry), `alg`, `use: "sig"` and its public
// parameters, never a private one. The answer has a strong ETag (a request
// whose If-None-Match names it gets 304) and `Cache-Control: public,
// max-age=300`; other methods get 405. The set is built when the config
// loads: keys change only with a reload.
//
// A backend with HMAC secrets has nothing that may be published, and a
// jwks backend's keys are published by its provider: either is a
// configuration error.
type PublicKeys struct {
	// The backends whose keys are published: for each, in this order, its
	// sign_key and then its verify_keys (by kid). May be left empty when
	// exactly one backend is defined. Default: the only backend.
	Backends []string `json:"backends,omitempty"`

	published publishedDocument
	// lines are where the Caddyfile set each setting, for errors.
	lines *settingLines
}

// CaddyModule returns the Caddy module information.
func (PublicKeys) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.jwt_jwks",
		New: func() caddy.Module { return new(PublicKeys) },
	}
}

// Provision looks the backends up and builds the JWK Set once.
func (h *PublicKeys) Provision(ctx caddy.Context) error {
	app, err := loadApp(ctx)
	if err != nil {
		return err
	}
	backends, err := h.validate(app)
	if err != nil {
		return reportConfigError(ctx, err)
	}
	set, err := publicJWKs(backends)
	if err != nil {
		return reportConfigError(ctx, fmt.Errorf("jwt_jwks: %v", err))
	}
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: set})
	if err != nil {
		return fmt.Errorf("jwt_jwks: %v", err)
	}
	h.published = newPublishedDocument("application/jwk-set+json", body)
	return nil
}

// validate checks that every backend exists and has keys of its own to
// publish, names the backends left to default, and returns them; the
// Caddyfile adapter runs it too.
func (h *PublicKeys) validate(app *App) ([]*Backend, error) {
	resolved, backends, err := app.backendList("jwt_jwks", h.Backends)
	if err != nil {
		return nil, err
	}
	for i, b := range backends {
		name := resolved[i]
		switch {
		case len(b.Secrets) > 0:
			return nil, fmt.Errorf("jwt_jwks: jwt backend %q signs with HMAC secrets, which must never be published; publish keys of a backend with sign_key (a key pair)", name)
		case b.JWKS != nil:
			return nil, fmt.Errorf("jwt_jwks: jwt backend %q verifies with a remote JWK Set (jwks) and has no keys of its own to publish; give verifiers that set's URL", name)
		}
	}
	h.Backends = resolved
	return backends, nil
}

// publicJWKs lists the public keys of provisioned backends as JWKs: each
// backend's signing key first, then its other keys by kid. A key that two
// backends share is listed once; one kid for two different keys is an
// error, since a verifier could not tell which one a token means.
func publicJWKs(backends []*Backend) ([]jose.JSONWebKey, error) {
	var set []jose.JSONWebKey
	owner := make(map[string]string) // kid → the backend that published it
	for _, b := range backends {
		kids := make([]string, 0, len(b.keys.byKID))
		for kid := range b.keys.byKID {
			if kid != b.keys.signKID {
				kids = append(kids, kid)
			}
		}
		slices.Sort(kids)
		if _, ok := b.keys.byKID[b.keys.signKID]; ok {
			kids = slices.Insert(kids, 0, b.keys.signKID)
		}
		for _, kid := range kids {
			k := b.keys.byKID[kid]
			jwk := jose.JSONWebKey{Key: k.key, KeyID: kid, Algorithm: k.algs[0], Use: "sig"}
			// Only key pairs reach here (validate refused secrets); a
			// key that is not public would be a bug, and is never written.
			if !jwk.IsPublic() {
				return nil, fmt.Errorf("jwt backend %q: key %q is not a public key", b.name, kid)
			}
			if i := slices.IndexFunc(set, func(o jose.JSONWebKey) bool { return o.KeyID == kid }); i >= 0 {
				if sameJWK(set[i], jwk) {
					continue
				}
				return nil, fmt.Errorf("jwt backends %q and %q have different keys under the key ID %q; give one of them another kid", owner[kid], b.name, kid)
			}
			owner[kid] = b.name
			set = append(set, jwk)
		}
	}
	return set, nil
}

// sameJWK tells whether two JWKs publish the same key for the same
// algorithm.
func sameJWK(a, b jose.JSONWebKey) bool {
	ja, errA := a.MarshalJSON()
	jb, errB := b.MarshalJSON()
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// ServeHTTP answers with the JWK Set.
func (h *PublicKeys) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return h.published.serve(w, r)
}

// publishedDocument is a response built once: its body, type and ETag.
type publishedDocument struct {
	contentType string
	body        []byte
	etag        string
}

// newPublishedDocument computes the strong ETag of body.
func newPublishedDocument(contentType string, body []byte) publishedDocument {
	sum := sha256.Sum256(body)
	return publishedDocument{
		contentType: contentType,
		body:        body,
		etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
	}
}

// serve answers GET and HEAD with the document, or 304 when If-None-Match
// names its ETag, as net/http's ServeContent decides; other methods get
// 405, as Caddy's file_server answers them.
func (d *publishedDocument) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", r.Method))
	}
	h := w.Header()
	h.Set("Content-Type", d.contentType)
	h.Set("ETag", d.etag)
	h.Set("Cache-Control", publishedCacheControl)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(d.body))
	return nil
}

// parsePublicKeys sets up jwt_jwks. Syntax:
//
//	jwt_jwks [<matcher>] [<backend>...]
func parsePublicKeys(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	pk := new(PublicKeys)
	if err := pk.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if _, err := pk.validate(definedBackends(h)); err != nil {
		return nil, pk.lines.locate(err)
	}
	return pk, nil
}

// UnmarshalCaddyfile reads jwt_jwks's syntax; see parsePublicKeys.
func (h *PublicKeys) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	h.lines = newSettingLines(d)
	h.Backends = d.RemainingArgs()
	if d.NextBlock(0) {
		return d.Errf("jwt_jwks: unrecognized subdirective %q (jwt_jwks has none)", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*PublicKeys)(nil)
	_ caddyhttp.MiddlewareHandler = (*PublicKeys)(nil)
	_ caddyfile.Unmarshaler       = (*PublicKeys)(nil)
)
