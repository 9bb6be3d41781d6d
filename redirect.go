package caddyjwt

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// maxRedirectBytes bounds a redirect target; a longer one is not a path a
// person was on.
const maxRedirectBytes = 2048

// safeRedirect decides where a browser may be sent after logging in or
// out. Only a local path passes: it starts with a single `/`, and neither
// it nor any percent-decoding of it contains `//`, `\`, a scheme, or a
// control character. Anything else becomes "/", so the login page cannot be
// used as an open redirect (CWE-601). A jwt_login with redirect_hosts lets
// absolute URLs on those hosts through as well, and nothing else
// (hostList.target).
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

// hostList is a checked redirect_hosts list: the hosts, besides this site,
// that a browser may be sent to. An entry is a host name or an IPv4
// address, matched exactly (case-insensitively, on any port), or
// `*.example.com`, which matches every name under example.com at any depth
// but not example.com itself, as a CSP source does.
type hostList struct {
	exact []string
	// suffixes are the wildcard entries without their `*`: ".example.com".
	suffixes []string
}

// newHostList checks the entries of a redirect_hosts list. An entry is a
// bare host: no scheme, port, path or trailing dot, so that the list means
// exactly what it says.
func newHostList(hosts []string) (hostList, error) {
	var l hostList
	for _, h := range hosts {
		name := strings.ToLower(h)
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			// A pattern for a whole top-level domain would allow
			// everybody's sites.
			if !isHostName(rest) || !strings.Contains(rest, ".") {
				return hostList{}, fmt.Errorf("%q is not a pattern such as *.example.com", h)
			}
			l.suffixes = append(l.suffixes, name[1:])
			continue
		}
		if addr, err := netip.ParseAddr(name); err == nil {
			if !addr.Is4() {
				return hostList{}, fmt.Errorf("%q: only host names and IPv4 addresses can be listed", h)
			}
			l.exact = append(l.exact, addr.String())
			continue
		}
		if !isHostName(name) {
			return hostList{}, fmt.Errorf("%q is not a host name such as app.example.com or *.example.com (no scheme, port or path)", h)
		}
		l.exact = append(l.exact, name)
	}
	return l, nil
}

// isHostName tells whether s is a DNS name in lower case: dot-separated
// labels of letters, digits and inner hyphens, without a trailing dot.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// allows tells whether host, a URL's host name without its port, is on the
// list.
func (l hostList) allows(host string) bool {
	host = strings.ToLower(host)
	if slices.Contains(l.exact, host) {
		return true
	}
	for _, suffix := range l.suffixes {
		if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// empty tells whether the list allows no host at all.
func (l hostList) empty() bool { return len(l.exact) == 0 && len(l.suffixes) == 0 }

// target is where a browser is sent after logging in: target itself when
// it is an absolute URL on one of the hosts, else what safeRedirect makes
// of it.
func (l hostList) target(target string) string {
	if l.allowsURL(target) {
		return target
	}
	return safeRedirect(target)
}

// allowsURL tells whether target is an absolute http(s) URL on one of the
// hosts, spelled so that every browser reads the same host: its authority
// is a host name or IPv4 address with an optional port, and nothing else
// (no userinfo, no percent-encoding), and the URL has no backslash, space
// or control character anywhere, which browsers would drop or read as `/`.
func (l hostList) allowsURL(target string) bool {
	if l.empty() || len(target) > maxRedirectBytes || hasControl(target) || strings.ContainsAny(target, `\ `) {
		return false
	}
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || !(strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
		return false
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	host, port, hasPort := strings.Cut(authority, ":")
	if hasPort && (port == "" || strings.Trim(port, "0123456789") != "") {
		return false
	}
	if !isHostName(strings.ToLower(host)) && !isIPv4(host) {
		return false
	}
	if !l.allows(host) {
		return false
	}
	// Go's parser must see the same host, so nothing above missed a way
	// of spelling another one.
	u, err := url.Parse(target)
	return err == nil && u.User == nil && u.Opaque == "" && strings.EqualFold(u.Host, authority)
}

// isIPv4 tells whether s is an IPv4 address in dotted-decimal form.
func isIPv4(s string) bool {
	addr, err := netip.ParseAddr(s)
	return err == nil && addr.Is4() && addr.String() == s
}

// cspSources are the hosts as CSP host sources on any port, for the login
// page's form-action: a browser enforces it on the redirect that follows
// the form's post too.
func (l hostList) cspSources() string {
	var b strings.Builder
	for _, h := range l.exact {
		b.WriteString(" " + h + ":*")
	}
	for _, s := range l.suffixes {
		b.WriteString(" *" + s + ":*")
	}
	return b.String()
}
