package caddyjwt

import (
	"net/url"
	"strings"
	"testing"
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
