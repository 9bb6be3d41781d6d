package caddyjwt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestSafeRedirect(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   string
	}{
		{"a local path passes", "/private/", "/private/"},
		{"a local path with a query passes", "/private/page.html?tab=2#top", "/private/page.html?tab=2#top"},
		{"the root passes", "/", "/"},
		{"an encoded but harmless path passes", "/files/a%20b", "/files/a%20b"},
		{"a path with a colon later on passes", "/wiki/Help:Contents", "/wiki/Help:Contents"},
		{"an empty target goes home", "", "/"},
		{"a protocol-relative URL goes home", "//evil.example", "/"},
		{"a protocol-relative URL with a path goes home", "//evil.example/private/", "/"},
		{"a backslash that browsers read as a slash goes home", `/\evil.example`, "/"},
		{"a backslash first goes home", `\\evil.example`, "/"},
		{"encoded slashes go home", "/%2F%2Fevil.example", "/"},
		{"one encoded slash after the first goes home", "/%2fevil.example", "/"},
		{"an encoded backslash goes home", "/%5Cevil.example", "/"},
		{"double-encoded slashes go home", "/%252F%252Fevil.example", "/"},
		{"triple-encoded slashes go home", "/%25252F%25252Fevil.example", "/"},
		{"an absolute URL goes home", "https://evil.example", "/"},
		{"an absolute URL on this host goes home too", "http://127.0.0.1/private/", "/"},
		{"a javascript URL goes home", "javascript:alert(1)", "/"},
		{"a data URL goes home", "data:text/html,<script>alert(1)</script>", "/"},
		{"a relative path goes home", "private/", "/"},
		{"a header injection goes home", "/ok%0d%0aSet-Cookie:x", "/"},
		{"a raw newline goes home", "/ok\r\nSet-Cookie: x", "/"},
		{"a tab that browsers drop goes home", "/\t/evil.example", "/"},
		{"an encoded tab goes home", "/%09/evil.example", "/"},
		{"a NUL goes home", "/ok\x00", "/"},
		{"DEL goes home", "/ok\x7f", "/"},
		{"a double slash later in the path goes home", "/a//b", "/"},
		{"malformed percent-encoding goes home", "/100%", "/"},
		{"a very long target goes home", "/" + strings.Repeat("a", maxRedirectBytes), "/"},
		{"user info goes home", "//user@evil.example", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := safeRedirect(tt.target); got != tt.want {
				t.Errorf("safeRedirect(%q) = %q, want %q", tt.target, got, tt.want)
			}
		})
	}
}

// FuzzSafeRedirect checks the property that matters, for any input: the
// result is the input or "/", and a browser resolving it against this site
// stays on this site.
func FuzzSafeRedirect(f *testing.F) {
	for _, seed := range []string{
		"/private/", "//evil.example", `/\evil.example`, "/%2F%2Fevil.example",
		"https://evil.example", "javascript:alert(1)", "/ok%0d%0aSet-Cookie:x",
		"/%252F%252Fevil.example", "/\t/evil.example", "/a?b=c#d",
	} {
		f.Add(seed)
	}
	base, _ := url.Parse("https://site.example/login")
	f.Fuzz(func(t *testing.T, target string) {
		got := safeRedirect(target)
		if got != "/" && got != target {
			t.Fatalf("safeRedirect(%q) = %q: neither the target nor /", target, got)
		}
		if got == "/" {
			return
		}
		// Do what a browser does before resolving a Location (WHATWG URL):
		// drop tabs and newlines, read backslashes as slashes; then decode
		// as a server behind a proxy might.
		s := got
		for range 4 {
			s = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(s)
			ref, err := url.Parse(s)
			if err != nil {
				t.Fatalf("safeRedirect(%q) passed something that does not parse: %v", target, err)
			}
			if dest := base.ResolveReference(ref); dest.Host != base.Host || dest.Scheme != base.Scheme {
				t.Fatalf("safeRedirect(%q) leads to %s", target, dest)
			}
			if strings.HasPrefix(s, "//") {
				t.Fatalf("safeRedirect(%q) passed a protocol-relative URL", target)
			}
			if d, err := url.PathUnescape(s); err == nil {
				s = d
			}
		}
	})
}

func TestFormAction(t *testing.T) {
	tests := []struct {
		name   string
		target string // the request-target, as it arrives on the wire
		seen   string // the path the handler sees after handle_path, if any
		want   string
	}{
		{"the login path is kept", "/login", "", "/login"},
		{"a query is left off", "/login?redirect=%2Fprivate%2F", "", "/login"},
		{"a trailing slash is kept", "/auth/login/", "", "/auth/login/"},
		{"a path stripped by handle_path is the original one", "/auth/login", "/login", "/auth/login"},
		{"an escaped path stays escaped", "/l%C3%B6gin", "", "/l%C3%B6gin"},
		{"another host with dot segments is cleaned to this host's path", "//evil.example/../login", "", "/login"},
		{"another host is cleaned to a path on this one", "//evil.example/login", "", "/evil.example/login"},
		{"a doubled slash inside is merged", "/auth//login", "", "/auth/login"},
		{"a doubled slash is merged in the original path behind handle_path", "//auth/login", "/login", "/auth/login"},
		{"dot segments alone leave a local path as it is", "/x/../login", "", "/x/../login"},
		{"a backslash leaves the action empty", `/\evil.example/login`, "", ""},
		{"encoded slashes leave the action empty", "/%2F%2Fevil.example/login", "", ""},
		{"an encoded backslash leaves the action empty", "/%5Cevil.example/login", "", ""},
		{"a path too long to be a local path leaves the action empty", "/" + strings.Repeat("a", maxRedirectBytes), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.seen != "" {
				// As Caddy's server does: the original request is kept in
				// the context, and handle_path changes only r.URL.
				ctx := context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, *r.Clone(r.Context()))
				r = r.WithContext(ctx)
				r.URL.Path, r.URL.RawPath = tt.seen, ""
			}
			got := formAction(r)
			if got != tt.want {
				t.Errorf("formAction = %q, want %q", got, tt.want)
			}
			if got != "" && !isLocalPath(got) {
				t.Errorf("formAction = %q is not a local path", got)
			}
		})
	}
}

// rawGet sends a GET for target byte for byte, over a new connection to
// base's host, so that nothing on the way cleans the path; it returns the
// response with its body read.
func rawGet(t *testing.T, base, target string) (*http.Response, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, u.Host); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestLoginPageFormStaysOnTheSite: a request path that a browser would read
// as another host, which Caddy's path matcher still routes to jwt_login,
// must not become the form's action, or the password is posted elsewhere.
func TestLoginPageFormStaysOnTheSite(t *testing.T) {
	hash := bcryptHashForTest(t, "alice-pw")
	for _, tt := range []struct {
		name   string
		site   string
		target string
		want   string
	}{
		{"another host and a dot segment", "jwt_login /login", "//evil.example/../login", `action="/login"`},
		{"another host behind handle_path", "handle_path /auth/* {\n\t\tjwt_login\n\t}", "//auth/login", `action="/auth/login"`},
		{"encoded slashes", "jwt_login", "/%2F%2Fevil.example/login", `action=""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := startCaddy(t, loginGlobals("\t\t\tuser alice "+hash), tt.site)
			resp, body := rawGet(t, base, tt.target)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<form") {
				t.Fatalf("GET %s: status %d, no login page: %s", tt.target, resp.StatusCode, body)
			}
			if !strings.Contains(body, tt.want) {
				i := strings.Index(body, "<form")
				t.Errorf("GET %s: the form is %.80s, want %s", tt.target, body[i:], tt.want)
			}
		})
	}
}
