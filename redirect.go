package caddyjwt

import (
	"net/url"
	"strings"
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
