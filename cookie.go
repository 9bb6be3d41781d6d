package caddyjwt

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CookieConfig makes a backend carry its token in a cookie as well, for
// browsers: jwt_login sets it on every successful login, jwt_auth reads it
// when a request has no Authorization header, and jwt_logout clears it. The
// cookie is always HttpOnly, so page scripts cannot read the token.
type CookieConfig struct {
	// The cookie's name. Default: jwt_<backend>.
	Name string `json:"name,omitempty"`

	// The cookie's Domain attribute. Default: none, so the cookie goes back
	// only to the host that set it (the safest choice).
	Domain string `json:"domain,omitempty"`

	// The cookie's Path attribute. Default: /.
	Path string `json:"path,omitempty"`

	// The cookie's SameSite attribute: lax, strict or none. `none` needs
	// the Secure attribute, so it cannot be combined with `insecure`.
	// Default: lax.
	SameSite string `json:"same_site,omitempty"`

	// Leaves the Secure attribute off, so the cookie is also sent over
	// plain HTTP. For development on http://localhost only. Default: false.
	Insecure bool `json:"insecure,omitempty"`

	// The Path of the refresh cookie, `<name>_refresh`, which a backend
	// with refresh sets beside the token cookie (always HttpOnly and
	// SameSite=Strict, never with a Domain). It should cover jwt_login
	// and jwt_logout but not the app, so that the refresh token never
	// reaches it. Default: the path of the backend's jwt_login when the
	// Caddyfile gives it as one literal path; required otherwise.
	RefreshPath string `json:"refresh_path,omitempty"`

	sameSite http.SameSite
}

// defaultCookieName is the cookie name of a backend that does not set one.
func defaultCookieName(backend string) string { return "jwt_" + backend }

// provision fills the defaults and refuses attributes a browser would drop
// or that would put the cookie somewhere else than intended. sub names the
// setting of the cookie block an error is about, if it is about one.
func (c *CookieConfig) provision(backend string) (sub string, err error) {
	if c.Name == "" {
		c.Name = defaultCookieName(backend)
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if err := checkCookieName(c.Name); err != nil {
		return "", err
	}
	if err := checkCookiePath(c.Path); err != nil {
		return "path", err
	}
	if c.RefreshPath != "" {
		if err := checkCookiePath(c.RefreshPath); err != nil {
			return "refresh_path", fmt.Errorf("refresh_path: %v", err)
		}
	}
	if err := checkCookieDomain(c.Domain); err != nil {
		return "domain", err
	}
	ss, err := parseSameSite(c.SameSite)
	if err != nil {
		return "same_site", err
	}
	c.sameSite = ss
	if ss == http.SameSiteNoneMode && c.Insecure {
		return "", fmt.Errorf("same_site none needs the Secure attribute, which insecure removes; browsers drop such cookies")
	}
	// RFC 6265bis cookie prefixes: browsers refuse a cookie that breaks
	// its prefix's rules, so a login would seem to work and then not.
	switch {
	case strings.HasPrefix(c.Name, "__Host-"):
		if c.Insecure || c.Domain != "" || c.Path != "/" {
			return "", fmt.Errorf("a __Host- cookie must be Secure, have path / and no domain")
		}
	case strings.HasPrefix(c.Name, "__Secure-"):
		if c.Insecure {
			return "", fmt.Errorf("a __Secure- cookie must be Secure, so it cannot be insecure")
		}
	}
	return "", nil
}

// checkCookieName, checkCookiePath and checkCookieDomain refuse what
// net/http would not write into a Set-Cookie header (RFC 6265).
func checkCookieName(name string) error {
	if err := (&http.Cookie{Name: name, Value: "x"}).Valid(); err != nil {
		return fmt.Errorf("name %q: %v", name, err)
	}
	return nil
}

func checkCookiePath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path %q must start with /", path)
	}
	if err := (&http.Cookie{Name: "x", Path: path}).Valid(); err != nil {
		return fmt.Errorf("path %q: %v", path, err)
	}
	return nil
}

func checkCookieDomain(domain string) error {
	if err := (&http.Cookie{Name: "x", Domain: domain}).Valid(); err != nil {
		return fmt.Errorf("domain %q: %v", domain, err)
	}
	return nil
}

// parseSameSite reads a same_site value; empty means lax.
func parseSameSite(v string) (http.SameSite, error) {
	switch strings.ToLower(v) {
	case "", "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("same_site must be lax, strict or none, got %q", v)
}

// issue is the cookie that carries a new token for its whole lifetime.
func (c *CookieConfig) issue(token string, lifetime time.Duration) *http.Cookie {
	ck := c.base()
	ck.Value = token
	ck.MaxAge = int(lifetime / time.Second)
	return ck
}

// clear is the cookie that removes the token cookie: the same name, path
// and domain, so the browser replaces it, and Max-Age=0.
func (c *CookieConfig) clear() *http.Cookie {
	ck := c.base()
	ck.MaxAge = -1 // net/http writes Max-Age=0
	ck.Expires = time.Unix(0, 0)
	return ck
}

func (c *CookieConfig) base() *http.Cookie {
	return &http.Cookie{
		Name:     c.Name,
		Path:     c.Path,
		Domain:   c.Domain,
		Secure:   !c.Insecure,
		HttpOnly: true,
		SameSite: c.sameSite,
	}
}

// refreshName is the name of the refresh cookie. A __Host- cookie's
// refresh cookie cannot keep that prefix, which demands Path=/.
func (c *CookieConfig) refreshName() string {
	if rest, ok := strings.CutPrefix(c.Name, "__Host-"); ok {
		return "__Secure-" + rest + "_refresh"
	}
	return c.Name + "_refresh"
}

// refreshCookie is the cookie that carries a refresh token for lifetime,
// at path; a lifetime of 0 clears it.
func (c *CookieConfig) refreshCookie(token, path string, lifetime time.Duration) *http.Cookie {
	ck := &http.Cookie{
		Name:     c.refreshName(),
		Value:    token,
		Path:     path,
		Secure:   !c.Insecure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		MaxAge:   int(lifetime / time.Second),
	}
	if lifetime <= 0 {
		ck.MaxAge, ck.Expires = -1, time.Unix(0, 0)
	}
	return ck
}
