package caddyjwt

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestCORSRecipe runs the README's recipe for an API that a page of another
// origin calls with a Bearer token against a real Caddy and an app behind
// it. Caddy answers the preflights itself, before jwt_auth, and only for
// that origin: the app's origin gets its preflights answered without a
// token and its calls through with one; nothing reaches the app without a
// token.
func TestCORSRecipe(t *testing.T) {
	t.Setenv("JWT_SECRET", testSecret)
	var reached sync.Map
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Store(r.Method+" "+r.URL.Path, true)
		fmt.Fprint(w, "orders")
	}))
	t.Cleanup(app.Close)
	base := runREADMECaddyfile(t, docRecipe(t, "docs/recipes.md", "## Call the API from another origin (CORS)"), strings.TrimPrefix(app.URL, "http://"), "")

	const appOrigin = "https://app.example.com"
	preflight := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization,content-type"}}
	}
	token := hs256(t, testSecret, validClaims("alice", nil))
	for _, tt := range []struct {
		name      string
		method    string
		path      string
		header    http.Header
		status    int
		allowed   bool // the answer carries the app's Access-Control-Allow-Origin
		reachesUp bool
	}{
		{"the app's preflight is answered by Caddy, without a token", "OPTIONS", "/orders/1", preflight(appOrigin), 204, true, false},
		{"the app's call with a token reaches the app", "POST", "/orders/2", withHeader(http.Header{"Origin": {appOrigin}}, "Authorization", "Bearer "+token), 200, true, true},
		{"the app's call without a token gets a 401 the page can read", "POST", "/orders/3", http.Header{"Origin": {appOrigin}}, 401, true, false},
		{"another origin's preflight needs a token", "OPTIONS", "/orders/4", preflight("https://evil.example"), 401, true, false},
		{"an OPTIONS that is no preflight needs a token", "OPTIONS", "/orders/5", nil, 401, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sendAuth(t, tt.method, base+tt.path, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); (got == appOrigin) != tt.allowed {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			if _, ok := reached.Load(tt.method + " " + tt.path); ok != tt.reachesUp {
				t.Errorf("reached the app: %v, want %v", ok, tt.reachesUp)
			}
			switch tt.status {
			case 204:
				if h := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Authorization") {
					t.Errorf("Access-Control-Allow-Headers %q does not allow Authorization", h)
				}
			case 401:
				if resp.Header.Get("WWW-Authenticate") != `Bearer realm="api"` {
					t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}
