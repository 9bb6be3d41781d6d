// Telling browsers from API clients: browsers get pages and redirects, API
// clients status codes and JSON.

package caddyjwt

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// isNavigation tells whether a request is a browser loading a page, which
// may be redirected to a login page: a GET or HEAD whose Sec-Fetch-Mode is
// navigate or, from a browser too old to send that header, whose Accept
// lists text/html. fetch() and XMLHttpRequest calls send another
// Sec-Fetch-Mode, so they get status codes, as API clients do.
func isNavigation(r *http.Request) bool {
	return navigates(r.Method, r.Header)
}

// navigates is isNavigation for a request with the given method and
// headers: a forwarded request's original method and the headers the proxy
// passed on.
func navigates(method string, h http.Header) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if mode := h.Get("Sec-Fetch-Mode"); mode != "" {
		return mode == "navigate"
	}
	return acceptsHTML(h)
}

// forwardedRequest is the request that a proxy asks jwt_auth about (forward
// auth), as the proxy describes it in X-Forwarded-Method, -Proto, -Host and
// -Uri. A field is "" when its header is missing, empty, or sent more than
// once: a proxy sets each once, so a second value is someone else's.
type forwardedRequest struct {
	method, proto, host, uri string
}

// readForwarded reads the forwarded request of a request from a trusted
// proxy, by Caddy's own judgement: the server's trusted_proxies. From any
// other client, which could write those headers itself, ok is false.
func readForwarded(r *http.Request) (f forwardedRequest, ok bool) {
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); !trusted {
		return f, false
	}
	return forwardedRequest{
		method: oneValue(r.Header, "X-Forwarded-Method"),
		proto:  strings.ToLower(oneValue(r.Header, "X-Forwarded-Proto")),
		host:   oneValue(r.Header, "X-Forwarded-Host"),
		uri:    oneValue(r.Header, "X-Forwarded-Uri"),
	}, true
}

// oneValue is the header's value when it has exactly one, else "".
func oneValue(h http.Header, name string) string {
	vs := h.Values(name)
	if len(vs) != 1 {
		return ""
	}
	return strings.TrimSpace(vs[0])
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
