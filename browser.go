// Telling browsers from API clients: browsers get pages and redirects, API
// clients status codes and JSON.

package caddyjwt

import (
	"net/http"
	"strconv"
	"strings"
)

// isNavigation tells whether a request is a browser loading a page, which
// may be redirected to a login page: a GET or HEAD whose Sec-Fetch-Mode is
// navigate or, from a browser too old to send that header, whose Accept
// lists text/html. fetch() and XMLHttpRequest calls send another
// Sec-Fetch-Mode, so they get status codes, as API clients do.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return acceptsHTML(r.Header)
}

// expectsPage tells whether a login or logout request comes from a browser
// form or link, which gets pages and redirects rather than JSON and bare
// status codes: its Accept lists text/html, or it is a navigation.
func expectsPage(r *http.Request) bool {
	return acceptsHTML(r.Header) || r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

// acceptsHTML tells whether the Accept header lists text/html (with a
// non-zero quality). A wildcard does not count: curl sends */*.
func acceptsHTML(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mediaType, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(mediaType), "text/html") {
				continue
			}
			for param := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(param, "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q == 0 {
						return false
					}
				}
			}
			return true
		}
	}
	return false
}

// isPreflight tells a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}
