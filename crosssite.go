package caddyjwt

import (
	"net/http"
	"net/url"
	"strings"
)

// crossSite tells whether a browser sent r on behalf of a page of another
// origin, which jwt_login and jwt_logout refuse: otherwise any page could
// sign its visitors in as a user of its choosing, or out. Clients that are
// not browsers send none of the headers looked at, and pass.
//
// "Another origin" is judged by host and port against the request's Host,
// which is all the server knows of its own origin; the scheme is not
// compared, since TLS may end at a proxy in front. A sibling subdomain is
// another origin too, even though browsers call it the same site.
//
// The first of these headers that is present decides:
//
//   - Sec-Fetch-Site, which pages cannot set: only same-origin and none (an
//     address typed in, a bookmark) pass. It is trusted over Origin, so a
//     proxy in front that rewrites Host does not lock out current browsers;
//   - Origin: its host and port must be the request's. `Origin: null`, sent
//     from sandboxed frames, data: URLs and some redirects, is another
//     origin;
//   - Referer, for browsers too old to send Origin on every POST, and for
//     a GET, which carries no Origin: its host and port must be the
//     request's.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
	default:
		// cross-site, same-site, or a value from a later browser, which
		// cannot be assumed to be safe.
		return true
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		return !sameHost(origin, r.Host)
	}
	if referer := r.Header.Get("Referer"); referer != "" {
		return !sameHost(referer, r.Host)
	}
	return false
}

// sameHost tells whether the http(s) URL source names the host and port of
// hostport, a request's Host. Host names compare case-insensitively, IPv6
// addresses without their brackets, and a port left out is the default one
// of source's scheme. A source that is not an absolute http(s) URL, such as
// "null", names no host.
func sameHost(source, hostport string) bool {
	u, err := url.Parse(source)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	defaultPort := "80"
	if u.Scheme == "https" {
		defaultPort = "443"
	}
	req := url.URL{Host: hostport}
	return strings.EqualFold(u.Hostname(), req.Hostname()) &&
		portOr(u.Port(), defaultPort) == portOr(req.Port(), defaultPort)
}

// portOr is port, or def when port is empty.
func portOr(port, def string) string {
	if port == "" {
		return def
	}
	return port
}
