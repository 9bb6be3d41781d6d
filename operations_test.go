package caddyjwt

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// These tests keep the README's Operations and Security advice true: the
// fail2ban filter docs/fail2ban/caddy-jwt.conf is checked against the log
// lines a real Caddy writes, with its regular expression translated to Go,
// and with fail2ban-regex itself where fail2ban is installed; the README's
// log and metrics Caddyfiles run and do what it says.

const fail2banFilter = "docs/fail2ban/caddy-jwt.conf"

// fail2banHost is what fail2ban's <HOST> becomes in Go: an IPv4 or IPv6
// address. fail2ban's own expression also takes host names and uses
// look-behind, which Go's regexp lacks; Caddy's client_ip is always an
// address.
const fail2banHost = `(?P<host>[0-9A-Fa-f.:]+)`

// fail2banFailRegexp reads the filter's failregex (one line, one <HOST>)
// and translates it to Go.
func fail2banFailRegexp(t *testing.T, conf string) *regexp.Regexp {
	t.Helper()
	var found []string
	for _, line := range strings.Split(conf, "\n") {
		if v, ok := strings.CutPrefix(line, "failregex = "); ok {
			found = append(found, v)
		} else if strings.HasPrefix(line, "failregex") {
			t.Fatalf("failregex line %q is not `failregex = <regex>`", line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d failregex lines, want 1", fail2banFilter, len(found))
	}
	if strings.Count(found[0], "<HOST>") != 1 {
		t.Fatalf("failregex %q should have exactly one <HOST>", found[0])
	}
	re, err := regexp.Compile(strings.Replace(found[0], "<HOST>", fail2banHost, 1))
	if err != nil {
		t.Fatalf("failregex does not translate to Go: %v", err)
	}
	return re
}

func TestFail2banFilterMatchesEachFailedLoginWithItsClientIP(t *testing.T) {
	conf := readFile(t, fail2banFilter)
	re := fail2banFailRegexp(t, conf)

	dir := t.TempDir()
	logFile := filepath.Join(dir, "caddy.log")
	accessLog := filepath.Join(dir, "access.log")
	// Text a client controls, shaped like the line the filter looks for:
	// JSON escaping must keep it from matching wherever it is logged.
	const forged = `","logger":"http.handlers.jwt_login","msg":"login failed","client_ip":"6.6.6.6"`
	base := startCaddy(t, `
	log {
		output file `+logFile+`
		format json
		level DEBUG
	}
	servers {
		trusted_proxies static 127.0.0.1/32
	}`+loginGlobals("\t\t\tuser alice "+bcryptHashForTest(t, "alice-pw")), `
	log {
		output file `+accessLog+`
		format json
	}
	jwt_login /login {
		rate_limit 2 1m
	}`)
	site := loginSite{t, base + "/login"}

	from := func(ip string) map[string]string {
		return map[string]string{"X-Forwarded-For": ip, "User-Agent": forged}
	}
	attempts := []struct {
		name, ip, user, pw string
		status             int
	}{
		{"wrong password", "203.0.113.7", "alice", "wrong", 400},
		{"unknown user", "2001:db8::7", "mallory" + forged, "wrong", 400},
		{"success is no failure", "203.0.113.8", "alice", "alice-pw", 200},
		{"bad request is no failure", "203.0.113.9", "alice", "", 400},
		{"second failure of one client", "203.0.113.7", "alice", "wrong", 400},
		{"rate limited", "203.0.113.7", "alice", "alice-pw", 429},
	}
	var wantIPs []string
	for _, a := range attempts {
		resp, body := site.form(a.user, a.pw, from(a.ip))
		if resp.StatusCode != a.status {
			t.Fatalf("%s: status %d, want %d: %s", a.name, resp.StatusCode, a.status, body)
		}
		if a.status != 200 && a.pw != "" {
			wantIPs = append(wantIPs, a.ip)
		}
	}

	raw, _ := readLogLines(t, logFile, "login failed", len(wantIPs))
	access, err := os.ReadFile(accessLog)
	if err != nil || !strings.Contains(string(access), `handled request`) {
		t.Fatalf("no access log to check (%v)", err)
	}
	var gotIPs []string
	for _, line := range strings.Split(raw+string(access), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !strings.Contains(line, `"msg":"login failed"`) {
			t.Errorf("the filter matches a line that is no failed login: %s", line)
		}
		gotIPs = append(gotIPs, m[re.SubexpIndex("host")])
	}
	if strings.Join(gotIPs, " ") != strings.Join(wantIPs, " ") {
		t.Errorf("the filter found client IPs %v, want %v, one per failed login; log:\n%s", gotIPs, wantIPs, raw)
	}

	t.Run("fail2ban-regex agrees", func(t *testing.T) {
		bin, err := exec.LookPath("fail2ban-regex")
		if err != nil {
			t.Skip("fail2ban is not installed")
		}
		both := filepath.Join(dir, "both.log")
		if err := os.WriteFile(both, []byte(raw+string(access)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-v", both, fail2banFilter).CombinedOutput()
		if err != nil {
			t.Fatalf("fail2ban-regex: %v\n%s", err, out)
		}
		want := "Failregex: " + strconv.Itoa(len(wantIPs)) + " total"
		if !strings.Contains(string(out), want) {
			t.Errorf("fail2ban-regex does not report %q:\n%s", want, out)
		}
		for _, ip := range wantIPs {
			if !strings.Contains(string(out), "|      "+ip+"  ") {
				t.Errorf("fail2ban-regex did not find host %s:\n%s", ip, out)
			}
		}
	})
}

// TestREADMEShowsTheFail2banFilter keeps the filter printed in the README
// the same as the file.
func TestREADMEShowsTheFail2banFilter(t *testing.T) {
	conf := readFile(t, fail2banFilter)
	var definition string
	if i := strings.Index(conf, "[Definition]"); i >= 0 {
		definition = conf[i:]
	}
	for _, b := range fencedBlocks(readFile(t, "docs/operations.md"), "ini") {
		if strings.HasPrefix(b, "[Definition]") {
			if b != definition {
				t.Errorf("the README's filter differs from %s; the file has:\n%s", fail2banFilter, definition)
			}
			return
		}
	}
	t.Errorf("the README shows no [Definition] block of the fail2ban filter")
}

func TestREADMEAuditLogFeedsTheFail2banFilter(t *testing.T) {
	re := fail2banFailRegexp(t, readFile(t, fail2banFilter))
	recipe := docRecipe(t, "docs/operations.md", "## A log file for logins")
	const readmePath = "/var/log/caddy/jwt-audit.log"
	if !strings.Contains(recipe, readmePath) {
		t.Fatalf("the Logs recipe does not write %s:\n%s", readmePath, recipe)
	}
	audit := filepath.Join(t.TempDir(), "jwt-audit.log")
	t.Setenv("JWT_SECRET", testSecret)
	users := tempFile(t, "users", "alice:"+bcryptHashForTest(t, "alice-pw")+"\n")
	base := runREADMECaddyfile(t, strings.Replace(recipe, readmePath, audit, 1), "127.0.0.1:9", users)
	site := loginSite{t, base + "/auth/login"}

	if resp, body := site.form("alice", "wrong", nil); resp.StatusCode != 400 {
		t.Fatalf("failed login: %d %s", resp.StatusCode, body)
	}
	if resp, body := site.form("alice", "alice-pw", nil); resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", base+"/api/x", nil, ""); resp.StatusCode != 401 {
		t.Fatalf("api without a token: %d", resp.StatusCode)
	}
	raw, lines := readLogLines(t, audit, "login succeeded", 1)
	for _, l := range lines {
		if l["logger"] != "http.handlers.jwt_login" {
			t.Errorf("the audit log has a line of logger %v: %v", l["logger"], l)
		}
	}
	var hosts []string
	for _, line := range strings.Split(raw, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			hosts = append(hosts, m[re.SubexpIndex("host")])
		}
	}
	if len(lines) != 2 || len(hosts) != 1 || hosts[0] != "127.0.0.1" {
		t.Errorf("want a success line and one failure the filter reads as 127.0.0.1; filter found %v in:\n%s", hosts, raw)
	}
}

func TestREADMEAccessLogFilterKeepsTokensOut(t *testing.T) {
	recipe := docRecipe(t, "SECURITY.md", "## What you still own")
	const filterStart, filterEnd = "\t\tformat filter {\n", "\n\t\t}\n"
	i := strings.Index(recipe, filterStart)
	j := strings.Index(recipe[i+1:], filterEnd)
	if i < 0 || j < 0 || !strings.Contains(recipe, "\tlog {\n") {
		t.Fatalf("the recipe has no `log { format filter { ... } }`:\n%s", recipe)
	}
	unfiltered := recipe[:i] + recipe[i+1+j+len(filterEnd):]
	t.Setenv("JWT_SECRET", testSecret)
	good := hs256(t, testSecret, validClaims("alice", nil))
	const forged = "MARKERTOKEN.MARKERTOKEN.MARKERTOKEN"

	// run serves the Caddyfile with its access log in a file, sends tokens
	// in the header and the query the recipe names, and returns the log.
	run := func(t *testing.T, caddyfile string) string {
		accessLog := filepath.Join(t.TempDir(), "access.log")
		caddyfile = strings.Replace(caddyfile, "\tlog {\n", "\tlog {\n\t\toutput file "+accessLog+"\n", 1)
		base := runREADMECaddyfile(t, caddyfile, "127.0.0.1:9", "")
		for _, r := range []struct {
			path, header string
			status       int
		}{
			{"/api/a", good, 502}, // accepted; the upstream is not there
			{"/api/b?access_token=" + good, "", 502},
			{"/api/c", forged, 401},
			{"/api/d?x=1&access_token=" + forged, "", 401},
		} {
			h := http.Header{}
			if r.header != "" {
				h.Set("X-Api-Token", r.header)
			}
			if resp, body := sendAuth(t, "GET", base+r.path, h); resp.StatusCode != r.status {
				t.Fatalf("%s: status %d, want %d: %s", r.path, resp.StatusCode, r.status, body)
			}
		}
		_ = caddy.Stop()
		data, err := os.ReadFile(accessLog)
		if err != nil || strings.Count(string(data), "handled request") != 4 {
			t.Fatalf("want 4 access log lines (%v):\n%s", err, data)
		}
		return string(data)
	}

	t.Run("without the filter, Caddy logs the tokens", func(t *testing.T) {
		log := run(t, unfiltered)
		if !strings.Contains(log, good) || !strings.Contains(log, "MARKERTOKEN") {
			t.Errorf("the unfiltered access log lacks the tokens; the README's warning would be wrong:\n%s", log)
		}
	})
	t.Run("with the filter, it does not", func(t *testing.T) {
		log := run(t, recipe)
		sig := good[strings.LastIndex(good, ".")+1:]
		if strings.Contains(log, sig) || strings.Contains(log, "MARKERTOKEN") {
			t.Errorf("the filtered access log has a token:\n%s", log)
		}
		if !strings.Contains(log, `x=1`) {
			t.Errorf("the filter dropped more of the query than the token:\n%s", log)
		}
	})
}

func TestREADMEMetricsSite(t *testing.T) {
	recipe := docRecipe(t, "docs/operations.md", "## Metrics")
	const readmeAddr = "http://127.0.0.1:9180"
	if !strings.Contains(recipe, readmeAddr+" {") {
		t.Fatalf("the Metrics recipe has no %s site:\n%s", readmeAddr, recipe)
	}
	t.Setenv("JWT_SECRET", testSecret)
	users := tempFile(t, "users", "alice:"+bcryptHashForTest(t, "alice-pw")+"\n")
	ports := runOnFreePorts(t, 2, func(ports []string) string {
		return readmeCaddyfile(t, strings.Replace(recipe, readmeAddr, "http://127.0.0.1:"+ports[1], 1), ports[0], "127.0.0.1:9", users)
	})
	base, metricsURL := "http://127.0.0.1:"+ports[0], "http://127.0.0.1:"+ports[1]
	waitForPort(t, strings.TrimPrefix(metricsURL, "http://"), nil)

	if resp, _ := (loginSite{t, base + "/auth/login"}).form("alice", "wrong", nil); resp.StatusCode != 400 {
		t.Fatalf("failed login: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", base+"/api/x", nil, ""); resp.StatusCode != 401 {
		t.Fatalf("api without a token: %d", resp.StatusCode)
	}
	got := scrapeJWTMetrics(t, metricsURL+"/metrics")
	for series, want := range map[string]float64{
		loginSeries("api", "bad_credentials"): 1,
		loginSeries("api", "success"):         0,
		authSeries("api", "no_token"):         1,
		authSeries("api", "ok"):               0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present: %v), want %v", series, v, ok, want)
		}
	}
}
