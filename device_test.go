package caddyjwt

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// deviceCookieOf is the device cookie a successful login set.
func deviceCookieOf(t testing.TB, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "jwt_device_") {
			return c
		}
	}
	t.Fatalf("no device cookie in %q", resp.Header.Values("Set-Cookie"))
	return nil
}

func withCookie(headers map[string]string, c *http.Cookie) map[string]string {
	h := map[string]string{"Cookie": c.Name + "=" + c.Value}
	for k, v := range headers {
		h[k] = v
	}
	return h
}

func TestDeviceCookie(t *testing.T) {
	hash := bcryptHashForTest(t, "alice-pw")
	globals := loginGlobals("\t\t\tuser alice "+hash+"\n\t\t\tuser bob "+hash) + `
	servers {
		trusted_proxies static 127.0.0.1/32
	}`
	site := loginSite{t, startCaddy(t, globals, "jwt_login /login {\n\t\trate_limit 3 1m\n\t}") + "/login"}
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

	resp, body := site.json("alice", "alice-pw", from("203.0.113.1"))
	site.tokenOf(resp, body)
	device := deviceCookieOf(t, resp)
	if !device.HttpOnly || device.SameSite != http.SameSiteStrictMode || device.Path != "/login" ||
		device.MaxAge != int(deviceLifetime/time.Second) {
		t.Errorf("device cookie attributes: %+v", device)
	}
	if strings.Contains(device.Value, "alice-pw") || strings.Count(device.Value, ".") != 3 {
		t.Errorf("device cookie value %q", device.Value)
	}

	// Address 203.0.113.9 has used up its failures.
	site.failLogins("alice", 3, from("203.0.113.9"))
	resp, body = site.form("alice", "alice-pw", from("203.0.113.9"))
	wantRateLimited(t, resp, body, 60)

	t.Run("lets its user past the address's limit", func(t *testing.T) {
		resp, body := site.form("alice", "alice-pw", withCookie(from("203.0.113.9"), device))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
		}
		// The device keeps its id, and with it its counts.
		id := func(c *http.Cookie) string { return strings.Split(c.Value, ".")[1] }
		if again := deviceCookieOf(t, resp); id(again) != id(device) {
			t.Errorf("device id %q after a trusted login, want %q", id(again), id(device))
		}
	})
	t.Run("does nothing for another user", func(t *testing.T) {
		resp, body := site.form("bob", "alice-pw", withCookie(from("203.0.113.9"), device))
		wantRateLimited(t, resp, body, 60)
	})
	t.Run("tampered, it does nothing", func(t *testing.T) {
		forged := *device
		payload, sig, _ := cutLast(forged.Value, '.')
		forged.Value = payload + "." + strings.ToUpper(sig[:1]) + strings.ToLower(sig[1:])
		if forged.Value == device.Value {
			forged.Value = payload + ".x" + sig[1:]
		}
		resp, body := site.form("alice", "alice-pw", withCookie(from("203.0.113.9"), &forged))
		wantRateLimited(t, resp, body, 60)
	})
	t.Run("too many failures with it, and it is trusted no more", func(t *testing.T) {
		// Counted per device: three failures from a fresh address each,
		// which those addresses' own counts would allow.
		for i, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			if resp, body := site.form("alice", "wrong", withCookie(from(ip), device)); resp.StatusCode != 400 {
				t.Fatalf("failure %d: status %d, want 400: %s", i+1, resp.StatusCode, body)
			}
		}
		resp, body := site.form("alice", "alice-pw", withCookie(from("203.0.113.9"), device))
		wantRateLimited(t, resp, body, 60)
		// From an address with failures to spare, the login goes on as an
		// untrusted one.
		if resp, body := site.form("alice", "alice-pw", withCookie(from("198.51.100.50"), device)); resp.StatusCode != 200 {
			t.Fatalf("from a fresh address: status %d, want 200: %s", resp.StatusCode, body)
		}
	})
}

// TestIPv6NetworkLimit: the /64s of one /48 share an allowance of
// networkFactor times rate_limit's count.
func TestIPv6NetworkLimit(t *testing.T) {
	site := startAliceLogin(t, "rate_limit 1 1m", `
	servers {
		trusted_proxies static 127.0.0.1/32
	}`)
	for i := 0; i < networkFactor; i++ {
		ip := map[string]string{"X-Forwarded-For": "2001:db8:7:" + strconv.FormatInt(int64(i), 16) + "::1"}
		if resp, body := site.form("alice", "wrong", ip); resp.StatusCode != 400 {
			t.Fatalf("failure from /64 number %d: status %d, want 400: %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := site.form("alice", "alice-pw", map[string]string{"X-Forwarded-For": "2001:db8:7:ffff::1"})
	wantRateLimited(t, resp, body, 60)
	if resp, body := site.form("alice", "alice-pw", map[string]string{"X-Forwarded-For": "2001:db8:8::1"}); resp.StatusCode != 200 {
		t.Fatalf("another /48: status %d, want 200: %s", resp.StatusCode, body)
	}
}

func TestNetworkKey(t *testing.T) {
	for ip, want := range map[string]string{
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1::/48",
		"2001:DB8:1:ffff::1%eth0": "2001:db8:1::/48",
		"192.0.2.1":               "",
		"::ffff:192.0.2.1":        "",
		"not an ip":               "",
	} {
		got, ok := networkKey(ip)
		if got != want || ok != (want != "") {
			t.Errorf("networkKey(%q) = %q, %v; want %q", ip, got, ok, want)
		}
	}
}
