package caddyjwt

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// floodGlobals is a backend api whose one user alice has a bcrypt hash of
// cost 8, so that a flood spends the hashing budget within a second, behind
// a trusted proxy at 127.0.0.1 that says who each client is.
func floodGlobals(t testing.TB) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), 8)
	if err != nil {
		t.Fatal(err)
	}
	return loginGlobals("\t\t\tuser alice "+string(hash)) + `
	servers {
		trusted_proxies static 127.0.0.1/32
	}`
}

// floodLogin posts one login as client ip and returns its status, 0 when
// the request itself failed.
func floodLogin(c *http.Client, loginURL, ip, user, password string, cookie *http.Cookie) int {
	req, err := http.NewRequest("POST", loginURL, strings.NewReader(url.Values{"username": {user}, "password": {password}}.Encode()))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", formType)
	req.Header.Set("X-Forwarded-For", ip)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// statusCounts counts answers by status, safely from many goroutines.
type statusCounts struct {
	mu sync.Mutex
	n  map[int]int
}

func (s *statusCounts) add(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[int]int{}
	}
	s.n[status]++
}

func (s *statusCounts) get(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[status]
}

// floodAddresses are n client addresses, half IPv4 and half IPv6 /64s,
// each /64 in a /48 of its own.
func floodAddresses(n int) []string {
	ips := make([]string, 0, n)
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			ips = append(ips, "10."+strconv.Itoa(i>>16&255)+"."+strconv.Itoa(i>>8&255)+"."+strconv.Itoa(i&255))
		} else {
			ips = append(ips, "2001:db8:"+strconv.FormatInt(int64(i), 16)+":1::7")
		}
	}
	return ips
}

// TestDistributedFloodKeepsReturningClientsIn: while hundreds of addresses
// send wrong passwords, each under its limit, a client that signed in
// before (it has a device cookie) still gets in at once.
func TestDistributedFloodKeepsReturningClientsIn(t *testing.T) {
	loginURL := startCaddy(t, floodGlobals(t), "jwt_login /login") + "/login"
	site := loginSite{t, loginURL}
	resp, body := site.form("alice", "alice-pw", map[string]string{"X-Forwarded-For": "192.0.2.10"})
	if resp.StatusCode != 200 {
		t.Fatalf("first login: status %d: %s", resp.StatusCode, body)
	}
	device := deviceCookieOf(t, resp)

	// 500 addresses, 9 wrong passwords each (the limit is 10), from 32
	// connections at once; it stops when the test is done.
	ctx, stop := context.WithCancel(context.Background())
	var flood statusCounts
	var wg sync.WaitGroup
	var next atomic.Int64
	addrs := floodAddresses(500)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= 9*len(addrs) {
					return
				}
				flood.add(floodLogin(c, loginURL, addrs[i%len(addrs)], "alice", "wrong", nil))
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	// The flood must have spent the untrusted budget: a brand-new client
	// waits for hashing time with it, and some of its logins get 503.
	deadline := time.Now().Add(20 * time.Second)
	for flood.get(http.StatusServiceUnavailable) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the flood never filled the hashing budget: answers %v", flood.n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A login is in time when it is answered within 2 s; under the race
	// detector, which slows every request of the flood too, within the
	// slack of any timed wait. The 200 is what a client without the device
	// cookie would not get.
	inTime := 2 * time.Second
	if raceDetector {
		inTime = lateSlack
	}
	ok := 0
	var took []time.Duration
	for i := 0; i < 10; i++ {
		start := time.Now()
		status := floodLogin(c, loginURL, "192.0.2.10", "alice", "alice-pw", device)
		d := time.Since(start)
		took = append(took, d.Round(time.Millisecond))
		if status == 200 && d <= inTime {
			ok++
		}
	}
	t.Logf("returning client: %d of 10 logins in time %v; flood answers so far: 400=%d 503=%d 429=%d",
		ok, took, flood.get(400), flood.get(503), flood.get(429))
	if ok < 9 {
		t.Errorf("the returning client got %d of 10 logins within %s during the flood, want at least 9", ok, inTime)
	}
}

// TestCorrectPasswordFloodIsBounded: successful logins are limited per
// client too, so one client with a valid password cannot keep the hash
// checks busy. (Every check is also charged to the hashing budget:
// TestEveryCheckSpendsHashingTime.) The budget is off here, so that the
// limit alone is seen.
func TestCorrectPasswordFloodIsBounded(t *testing.T) {
	globals := "\n\tjwt {\n\t\thash_cpu off\n\t\tbackend api {\n\t\t\tsecret " + testSecret +
		"\n\t\t\tuser alice " + bcryptHashForTest(t, "alice-pw") + "\n\t\t}\n\t}\n" + `
	servers {
		trusted_proxies static 127.0.0.1/32
	}`
	const workers = 8
	for _, tt := range []struct {
		name   string
		device bool
		many   bool // from many addresses, limited per user
	}{{"without cookies", false, false}, {"showing its device cookie", true, false}, {"from many addresses", false, true}} {
		t.Run(tt.name, func(t *testing.T) {
			loginURL := startCaddy(t, globals, "jwt_login /login") + "/login"
			ip := "192.0.2.20"
			var cookie *http.Cookie
			if tt.device {
				resp, body := loginSite{t, loginURL}.form("alice", "alice-pw", map[string]string{"X-Forwarded-For": ip})
				if resp.StatusCode != 200 {
					t.Fatalf("first login: status %d: %s", resp.StatusCode, body)
				}
				cookie = deviceCookieOf(t, resp)
			}
			var counts statusCounts
			var wg sync.WaitGroup
			c := &http.Client{Timeout: 10 * time.Second}
			var refused atomic.Bool
			var next atomic.Int64
			stopAt := time.Now().Add(20 * time.Second)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Until the limit is reached, and a little beyond.
					for n := 0; n < 20 && time.Now().Before(stopAt); {
						from := ip
						if tt.many {
							from = "198.51.100." + strconv.Itoa(int(next.Add(1)%200))
						}
						status := floodLogin(c, loginURL, from, "alice", "alice-pw", cookie)
						counts.add(status)
						if status == http.StatusTooManyRequests {
							refused.Store(true)
						}
						if refused.Load() {
							n++
						}
					}
				}()
			}
			wg.Wait()
			// A device counts apart from its address.
			max := clientSuccessFactor * defaultRateLimitCount
			if tt.many {
				max = userSuccessFactor * defaultRateLimitCount
				// A user's successes are counted as they happen (so
				// that failures cannot use them up): those already
				// being checked when the limit is reached go through.
				max += workers
			}
			t.Logf("answers: %v", counts.n)
			if got := counts.get(200); got > max {
				t.Errorf("%d logins succeeded, want at most %d", got, max)
			}
			if counts.get(429) == 0 {
				t.Errorf("no login was refused within 20 s: %v", counts.n)
			}
		})
	}
}
