package caddyjwt

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The result labels of the login and auth counters: every one has a series
// from the start, so a dashboard can rate it before it first happens.
var (
	loginResults = []string{"success", "bad_credentials", "rate_limited", "busy", "invalid_request"}
	authResults  = []string{"ok", "no_token", "invalid", "expired", "revoked", "forbidden", "bad_request"}
)

// scrapeJWTMetrics reads Caddy's metrics endpoint and returns the
// caddy_jwt_* samples, keyed as they are written:
// `caddy_jwt_logins_total{backend="api",result="success"}`.
func scrapeJWTMetrics(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scraping %s: status %d", url, resp.StatusCode)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_jwt_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return samples
}

func loginSeries(backend, result string) string {
	return `caddy_jwt_logins_total{backend="` + backend + `",result="` + result + `"}`
}

func cacheSeries(backend, result string) string {
	return `caddy_jwt_cache_lookups_total{backend="` + backend + `",result="` + result + `"}`
}

func authSeries(backend, result string) string {
	return `caddy_jwt_auth_total{backend="` + backend + `",result="` + result + `"}`
}

// otherSecret is the HS256 secret of a second backend.
const otherSecret = "other-secret-0123456789-abcdefghijklmnop"

const metricsGlobals = `
	jwt {
		backend api {
			secret ` + testSecret + `
			user alice %s
		}
		backend admin {
			secret ` + otherSecret + `
		}
	}`

const metricsSite = `
	metrics /metrics
	jwt_login /login api {
		rate_limit 3 1m
	}
	jwt_auth /api/* api admin {
		require role admin
	}
	respond /api/* "ok"
	jwt_auth /cors/* api {
		allow_preflight
	}
	respond /cors/* "ok"`

func TestMetricsCountEveryLoginAndAuthResult(t *testing.T) {
	base := startCaddy(t, strings.Replace(metricsGlobals, "%s", bcryptHashForTest(t, "alice-pw"), 1), metricsSite)
	site := loginSite{t, base + "/login"}

	before := scrapeJWTMetrics(t, base+"/metrics")
	t.Run("every series exists at 0 before anything happened", func(t *testing.T) {
		want := 0
		for _, b := range []string{"api", "admin"} {
			for _, r := range loginResults {
				want++
				if v, ok := before[loginSeries(b, r)]; !ok || v != 0 {
					t.Errorf("%s = %v (present: %v), want 0", loginSeries(b, r), v, ok)
				}
			}
			for _, r := range authResults {
				want++
				if v, ok := before[authSeries(b, r)]; !ok || v != 0 {
					t.Errorf("%s = %v (present: %v), want 0", authSeries(b, r), v, ok)
				}
			}
			for _, r := range []string{"hit", "miss"} {
				want++
				if v, ok := before[cacheSeries(b, r)]; !ok || v != 0 {
					t.Errorf("%s = %v (present: %v), want 0", cacheSeries(b, r), v, ok)
				}
			}
		}
		// The store's gauge: the default memory store is always up.
		want++
		if v, ok := before[`caddy_jwt_store_up{store="memory"}`]; !ok || v != 1 {
			t.Errorf(`caddy_jwt_store_up{store="memory"} = %v (present: %v), want 1`, v, ok)
		}
		if len(before) != want {
			t.Errorf("%d caddy_jwt_ samples, want %d: %v", len(before), want, before)
		}
	})

	expired := hs256(t, testSecret, validClaims("alice", map[string]any{
		"iat": time.Now().Add(-3 * time.Hour).Unix(), "exp": time.Now().Add(-2 * time.Hour).Unix()}))
	adminToken := hs256(t, testSecret, validClaims("alice", map[string]any{"role": "admin"}))
	// A token jwt_auth checks is looked up in each backend's cache it is
	// tried with: found (a hit) once a backend verified it, else a miss.
	bothMiss := []string{cacheSeries("api", "miss"), cacheSeries("admin", "miss")}
	steps := []struct {
		name   string
		send   func() *http.Response
		status int
		counts []string // the series this step adds 1 to
	}{
		{"a login succeeds", func() *http.Response { r, _ := site.form("alice", "alice-pw", nil); return r },
			200, []string{loginSeries("api", "success")}},
		{"a login with a JSON body succeeds", func() *http.Response {
			r, _ := site.post(jsonType, `{"username":"alice","password":"alice-pw"}`, nil)
			return r
		}, 200, []string{loginSeries("api", "success")}},
		{"the login page is no login", func() *http.Response { r, _ := do(t, "GET", site.url, nil, ""); return r },
			200, nil},
		{"a login without a password is an invalid request", func() *http.Response { r, _ := site.form("alice", "", nil); return r },
			400, []string{loginSeries("api", "invalid_request")}},
		{"a login of another content type is an invalid request", func() *http.Response {
			r, _ := site.post("text/plain", "username=alice&password=alice-pw", nil)
			return r
		}, 415, []string{loginSeries("api", "invalid_request")}},
		{"a login with another method is an invalid request", func() *http.Response { r, _ := do(t, "PUT", site.url, nil, ""); return r },
			405, []string{loginSeries("api", "invalid_request")}},
		{"a login while every hash slot is taken is busy", func() *http.Response {
			defer fillHashSlots(runningJWTApp(t))()
			r, _ := site.form("alice", "alice-pw", nil)
			return r
		}, 503, []string{loginSeries("api", "busy")}},
		{"a wrong password is bad credentials", func() *http.Response { r, _ := site.form("alice", "wrong", nil); return r },
			400, []string{loginSeries("api", "bad_credentials")}},
		{"an unknown user is bad credentials", func() *http.Response { r, _ := site.form("mallory", "wrong", nil); return r },
			400, []string{loginSeries("api", "bad_credentials")}},
		{"a third failure is bad credentials too", func() *http.Response { r, _ := site.form("alice", "wrong", nil); return r },
			400, []string{loginSeries("api", "bad_credentials")}},
		{"a login over the limit is rate limited", func() *http.Response { r, _ := site.form("alice", "alice-pw", nil); return r },
			429, []string{loginSeries("api", "rate_limited")}},

		{"a token of the first backend is ok for it, a cache miss", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", bearer(adminToken))
			return r
		}, 200, []string{authSeries("api", "ok"), cacheSeries("api", "miss")}},
		{"the same token again is ok, a cache miss that caches it", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", bearer(adminToken))
			return r
		}, 200, []string{authSeries("api", "ok"), cacheSeries("api", "miss")}},
		{"the same token a third time is ok, a cache hit", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", bearer(adminToken))
			return r
		}, 200, []string{authSeries("api", "ok"), cacheSeries("api", "hit")}},
		{"a good token that fails a require line is forbidden, not ok", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", bearer(hs256(t, testSecret, validClaims("alice", map[string]any{"role": "user"}))))
			return r
		}, 403, []string{authSeries("api", "forbidden"), cacheSeries("api", "miss")}},
		{"a token of the second backend is ok for it", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", bearer(hs256(t, otherSecret, validClaims("root", map[string]any{"role": "admin"}))))
			return r
		}, 200, append([]string{authSeries("admin", "ok")}, bothMiss...)},
		{"no token", func() *http.Response { r, _ := sendAuth(t, "GET", base+"/api/x", nil); return r },
			401, []string{authSeries("api", "no_token")}},
		{"another scheme is no token", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", http.Header{"Authorization": {"Basic YTpi"}})
			return r
		}, 401, []string{authSeries("api", "no_token")}},
		{"a bad signature is invalid", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", bearer(hs256(t, strings.Repeat("x", 40), validClaims("alice", nil))))
			return r
		}, 401, append([]string{authSeries("api", "invalid")}, bothMiss...)},
		{"garbage is invalid", func() *http.Response { r, _ := sendAuth(t, "GET", base+"/api/x", bearer("a.b.c")); return r },
			401, append([]string{authSeries("api", "invalid")}, bothMiss...)},
		{"an expired token is expired", func() *http.Response { r, _ := sendAuth(t, "GET", base+"/api/x", bearer(expired)); return r },
			401, append([]string{authSeries("api", "expired")}, bothMiss...)},
		{"two Authorization headers are a bad request", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", http.Header{"Authorization": {"Bearer a.b.c", "Bearer d.e.f"}})
			return r
		}, 400, []string{authSeries("api", "bad_request")}},
		{"a malformed Authorization header is a bad request", func() *http.Response {
			r, _ := sendAuth(t, "GET", base+"/api/x", http.Header{"Authorization": {"Bearer a b"}})
			return r
		}, 400, []string{authSeries("api", "bad_request")}},
		{"a CORS preflight without a token is no token", func() *http.Response {
			r, _ := sendAuth(t, "OPTIONS", base+"/api/x", http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"GET"}})
			return r
		}, 401, []string{authSeries("api", "no_token")}},
		{"a CORS preflight that allow_preflight lets through is not counted: nothing was decided", func() *http.Response {
			r, _ := sendAuth(t, "OPTIONS", base+"/cors/x", http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"GET"}})
			return r
		}, 200, nil},
		{"an OPTIONS that is no preflight is counted where allow_preflight is set", func() *http.Response {
			r, _ := sendAuth(t, "OPTIONS", base+"/cors/x", nil)
			return r
		}, 401, []string{authSeries("api", "no_token")}},
	}

	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			prev := scrapeJWTMetrics(t, base+"/metrics")
			if resp := s.send(); resp.StatusCode != s.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, s.status)
			}
			want := map[string]float64{}
			for k, v := range prev {
				want[k] = v
			}
			for _, series := range s.counts {
				want[series]++
			}
			got := scrapeJWTMetrics(t, base+"/metrics")
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d series after, %d before: %v", len(got), len(want), got)
			}
		})
	}
}

func TestMetricsStartAgainAfterAConfigReload(t *testing.T) {
	globals := strings.Replace(metricsGlobals, "%s", bcryptHashForTest(t, "alice-pw"), 1)
	base := startCaddy(t, globals, metricsSite)
	if resp, body := (loginSite{t, base + "/login"}).form("alice", "alice-pw", nil); resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	if got := scrapeJWTMetrics(t, base+"/metrics")[loginSeries("api", "success")]; got != 1 {
		t.Fatalf("success = %v before the reload, want 1", got)
	}

	// A reload gets a new metrics registry, as Caddy's own metrics do; the
	// new config must register its counters without a clash and count.
	base = startCaddy(t, globals, metricsSite)
	samples := scrapeJWTMetrics(t, base+"/metrics")
	if got, ok := samples[loginSeries("api", "success")]; !ok || got != 0 {
		t.Fatalf("success = %v (present: %v) after the reload, want 0", got, ok)
	}
	if resp, body := (loginSite{t, base + "/login"}).form("alice", "alice-pw", nil); resp.StatusCode != 200 {
		t.Fatalf("login after the reload: %d %s", resp.StatusCode, body)
	}
	if got := scrapeJWTMetrics(t, base+"/metrics")[loginSeries("api", "success")]; got != 1 {
		t.Fatalf("success = %v after a login after the reload, want 1", got)
	}
}

func TestMetricsRegisteringTwiceInOneRegistryReusesTheCounters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	first, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := newMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	first.forBackend("api", false).loginSuccess.Inc()
	second.forBackend("api", false).loginSuccess.Inc()
	if got := testutil.ToFloat64(first.logins.WithLabelValues("api", "success")); got != 2 {
		t.Errorf("success = %v, want 2: the second registration must count into the registered counter", got)
	}
	// One series per result, each once: the registry has one collector.
	if n, err := testutil.GatherAndCount(reg, "caddy_jwt_logins_total"); err != nil || n != len(loginResults) {
		t.Errorf("gathered %d series (%v), want %d", n, err, len(loginResults))
	}

	t.Run("another collector under the same name is an error", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "caddy_jwt_auth_total", Help: "x"}))
		if _, err := newMetrics(reg); err == nil {
			t.Fatal("no error for a clashing collector")
		}
	})

	t.Run("a nil registry still gives working counters", func(t *testing.T) {
		m, err := newMetrics(nil)
		if err != nil {
			t.Fatal(err)
		}
		m.forBackend("api", false).authExpired.Inc()
		if got := testutil.ToFloat64(m.auths.WithLabelValues("api", "expired")); got != 1 {
			t.Errorf("expired = %v, want 1", got)
		}
	})
}
