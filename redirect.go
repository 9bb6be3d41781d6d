package caddyjwt

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// maxRedirectBytes bounds a redirect target; a longer one is not a path a
// person was on.
const maxRedirectBytes = 2048

// safeRedirect is the one place that decides where a browser may be sent
// after logging in or out. Only a local path passes: it starts with a single
// `/`, and neither it nor any percent-decoding of it contains `//`, `\`, a
// scheme, or a control character. Anything else becomes "/", so the login
// page cannot be used as an open redirect (CWE-601).
func safeRedirect(target string) string {
	if isLocalPath(target) {
		return target
	}
	return "/"
}

// formAction is where the login page's form posts: the path the browser
// asked for, before any handle_path or uri rewrite, so the post reaches the
// same jwt_login. That path is the client's to choose, and one such as
// `//evil.example/../login` would make the form post to another host; it
// is cleaned as Caddy's path matcher cleans it (which is how the request
// got here), and if even that is not a local path the action is empty,
// which posts to the page's own URL.
func formAction(r *http.Request) string {
	p := originalURL(r).EscapedPath()
	if isLocalPath(p) {
		return p
	}
	if p = caddyhttp.CleanPath(p, true); isLocalPath(p) {
		return p
	}
	return ""
}

// isLocalPath tells whether target is a path on this site that no browser
// would read as another host, however many times it is percent-decoded.
func isLocalPath(target string) bool {
	if target == "" || len(target) > maxRedirectBytes {
		return false
	}
	s := target
	// Each round decodes one level of percent-encoding; a target that is
	// still changing after this many rounds is not an honest path.
	for range 8 {
		if !isPlainLocalPath(s) {
			return false
		}
		decoded, err := url.PathUnescape(s)
		if err != nil {
			return false
		}
		if decoded == s {
			return true
		}
		s = decoded
	}
	return false
}

// isPlainLocalPath checks one spelling of a target, without decoding it.
func isPlainLocalPath(s string) bool {
	// Browsers read `//host` and `/\host` as another host, and drop tabs
	// and newlines before parsing, so `/\t/host` is `//host` too.
	if len(s) == 0 || s[0] != '/' || strings.Contains(s, "//") || strings.ContainsRune(s, '\\') {
		return false
	}
	if hasControl(s) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Opaque == "" && u.User == nil
}

// hasControl tells whether s holds an ASCII control character.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
