package caddyjwt

import (
	"context"
	"math"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// fillHashSlots takes every hash slot without spending hashing time, as
// checks in progress would; the returned func frees them.
func fillHashSlots(app *App) (free func()) {
	n := 0
	for len(app.hashSlots) < cap(app.hashSlots) {
		app.hashSlots <- struct{}{}
		n++
	}
	return func() {
		for ; n > 0; n-- {
			<-app.hashSlots
		}
	}
}

// spend charges hashing time outside any check: a flood that spent it.
func (b *hashBudget) spend(d time.Duration) { b.settle(time.Now(), 0, d) }

func TestHashBudgetAllowsABurstThenOnlyItsShareOfTime(t *testing.T) {
	start := time.Now()
	b := newHashBudget(defaultHashShare, 2, start)
	burst := 2 * hashBurst       // two CPUs
	rate := 2 * defaultHashShare // seconds of hashing per second
	near := func(got, want time.Duration) bool {
		return got >= want-time.Millisecond && got <= want+time.Millisecond
	}

	if w := b.take(start, burst-time.Second); w != 0 {
		t.Fatalf("a fresh budget makes the first check wait %s", w)
	}
	if w := b.take(start, time.Second); w != 0 {
		t.Fatalf("the last second of the burst: wait %s", w)
	}
	want := time.Duration(float64(time.Second) / rate)
	if w := b.take(start, time.Second); !near(w, want) {
		t.Fatalf("a check on a spent budget: wait %s, want %s", w, want)
	}
	half := start.Add(want / 2)
	if w := b.take(half, time.Second); !near(w, want/2) {
		t.Errorf("halfway: wait %s, want %s", w, want/2)
	}
	// A check is settled with what it really took: one that gave its
	// estimate back, then one that took a second more than estimated.
	b.settle(half, time.Second, 0)
	if w := b.take(half, time.Second); w != 0 {
		t.Errorf("after a check gave back its estimate: wait %s, want none", w)
	}
	b.settle(half, 0, time.Second)
	if w := b.take(half, 0); !near(w, want/2) {
		t.Errorf("in debt by half a second: wait %s, want %s", w, want/2)
	}
	// A check costlier than the whole budget waits for a full one.
	if w := b.take(half, time.Hour); !near(w, time.Duration(float64(burst+time.Second/2)/rate)) {
		t.Errorf("a check costlier than the budget: wait %s, want the time to refill it", w)
	}
	// An earlier clock reading earns nothing.
	if w := b.take(start, 0); !near(w, want/2) {
		t.Errorf("at an earlier time: wait %s, want %s", w, want/2)
	}
	// Idle time refills no more than the burst.
	b.take(start.Add(time.Hour), 0)
	if b.level != burst.Seconds() {
		t.Errorf("after an hour idle: %.2f s, want the burst %.2f s", b.level, burst.Seconds())
	}
}

func TestCPUTimeOfSharedChecks(t *testing.T) {
	for _, tt := range []struct {
		running int32
		procs   int
		want    time.Duration
	}{{1, 2, 100}, {2, 2, 100}, {4, 2, 50}, {8, 1, 12}} {
		if got := cpuTime(100, tt.running, tt.procs); got != tt.want {
			t.Errorf("cpuTime(100, %d running, %d procs) = %d, want %d", tt.running, tt.procs, got, tt.want)
		}
	}
}

// TestTrustedLoginsHaveABudgetOfTheirOwn: a flood spends the budget of
// untrusted logins; one with its user's device cookie still gets in.
func TestTrustedLoginsHaveABudgetOfTheirOwn(t *testing.T) {
	site := startAliceLogin(t, "", "")
	resp, body := site.json("alice", "alice-pw", nil)
	site.tokenOf(resp, body)
	device := deviceCookieOf(t, resp)
	runningJWTApp(t).hashBudget.spend(time.Hour) // a flood spent it

	if resp, body := site.json("alice", "alice-pw", withCookie(nil, device)); resp.StatusCode != 200 {
		t.Fatalf("with the device cookie: status %d, want 200: %s", resp.StatusCode, body)
	}
	if resp, body := site.json("alice", "alice-pw", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("without: status %d, want 503: %s", resp.StatusCode, body)
	}
}

func TestLoginRefusedSlowlyWhenHashingTimeIsSpent(t *testing.T) {
	site := startAliceLogin(t, "rate_limit off", "")
	app := runningJWTApp(t)
	app.hashBudget.spend(time.Hour) // a flood spent it

	start := time.Now()
	resp, body := site.form("alice", "alice-pw", nil)
	waited := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
	}
	// Refused only after the whole wait, so a flooding client cannot come
	// back at once.
	if waited < hashSlotWait {
		t.Errorf("refused after %s, want after %s", waited, hashSlotWait)
	}

	app.hashBudget = newHashBudget(defaultHashShare, 1, time.Now())
	if resp, body := site.form("alice", "alice-pw", nil); resp.StatusCode != 200 {
		t.Fatalf("with hashing time again: status %d, want 200: %s", resp.StatusCode, body)
	}
}

func TestRepeatedRateLimitedLoginAnsweredNoSoonerThanABusyOne(t *testing.T) {
	site := startAliceLogin(t, "rate_limit 1 1m", "")
	runningJWTApp(t).rateLimitedDelay = hashSlotWait
	if resp, body := site.form("alice", "wrong", nil); resp.StatusCode != 400 {
		t.Fatalf("first failure: status %d, want 400: %s", resp.StatusCode, body)
	}
	// The first 429 comes without the delay (a delayed one takes longer
	// than hashSlotWait, as timers never fire early); asking again within
	// the delay, as a flood does, gets the next one only after it.
	for i, want := range []struct{ min, max time.Duration }{{0, hashSlotWait}, {hashSlotWait, time.Hour}, {hashSlotWait, time.Hour}} {
		start := time.Now()
		resp, body := site.form("alice", "wrong", nil)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("attempt %d: status %d, want 429: %s", i+2, resp.StatusCode, body)
		}
		if waited := time.Since(start); waited < want.min || waited > want.max {
			t.Errorf("attempt %d: 429 after %s, want between %s and %s", i+2, waited, want.min, want.max)
		}
	}
}

func TestHashCPUSetting(t *testing.T) {
	hash := bcryptHashForTest(t, "alice-pw")
	globals := func(setting string) string {
		return "\n\tjwt {\n\t\t" + setting + "\n\t\tbackend api {\n\t\t\tsecret " + testSecret +
			"\n\t\t\tuser alice " + hash + "\n\t\t}\n\t}\n"
	}
	for _, tt := range []struct {
		setting string
		share   float64 // 0: no budget
	}{
		{"", defaultHashShare},
		{"hash_cpu 20%", 0.20},
		{"hash_cpu 2.5", 0.025},
		{"hash_cpu 100%", 1},
		{"hash_cpu off", 0},
	} {
		t.Run(tt.setting, func(t *testing.T) {
			startCaddy(t, globals(tt.setting), "\tjwt_login /login\n")
			app := runningJWTApp(t)
			if tt.share == 0 {
				if app.hashBudget != nil {
					t.Fatalf("hash_cpu off still has a budget of %.3f CPU-s/s", app.hashBudget.rate)
				}
				return
			}
			procs := float64(runtime.GOMAXPROCS(0))
			if app.hashBudget == nil || math.Abs(app.hashBudget.rate-tt.share*procs) > 1e-9 {
				t.Fatalf("budget %+v, want a rate of %.3f CPU-s/s", app.hashBudget, tt.share*procs)
			}
		})
	}
}

func TestHashCPUSettingErrorsNameTheSettingAndLine(t *testing.T) {
	for _, setting := range []string{
		"hash_cpu", "hash_cpu 0", "hash_cpu 0%", "hash_cpu -5%", "hash_cpu 101%",
		"hash_cpu five", "hash_cpu NaN", "hash_cpu 0.09%", "hash_cpu 1e-300", "hash_cpu 5% 10%", "hash_cpu 5%%",
	} {
		t.Run(setting, func(t *testing.T) {
			globals, site := "\n\tjwt {\n\t\t"+setting+"\n\t}\n", "\trespond ok\n"
			err := wantLoadError(t, globals, site, "jwt: hash_cpu")
			wantErrorAt(t, err, globals, site, setting)
		})
	}
}

func TestHashCPUFromJSONCheckedAtProvision(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	app := &App{HashCPU: "0.5%x"}
	err := app.Provision(ctx)
	if err == nil || !strings.Contains(err.Error(), "jwt: hash_cpu") {
		t.Fatalf("error %v, want one naming jwt: hash_cpu", err)
	}
}

// FuzzParseHashCPU: any value is refused or gives a share in [0.001, 1], or 0
// for off, and what the Caddyfile accepts provisions alike.
func FuzzParseHashCPU(f *testing.F) {
	for _, s := range []string{"", "off", "5%", "5", "0.5%", "100%", "1e2", "0x10", "Inf", "-0", "5%%", "1e-300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		share, err := parseHashCPU(s)
		if err != nil {
			return
		}
		if s == "off" {
			if share != 0 {
				t.Fatalf("off gives %v", share)
			}
			return
		}
		if !(share >= 0.001 && share <= 1) {
			t.Fatalf("%q gives share %v, want [0.001, 1]", s, share)
		}
		now := time.Now()
		b := newHashBudget(share, 1, now)
		b.spend(time.Hour)
		if d := b.take(now, 0); d <= 0 || d > maxDebt {
			t.Fatalf("%q: after an hour of hashing the wait is %s, want (0, %s]", s, d, maxDebt)
		}
	})
}

// TestOnlyFailedChecksSpendHashingTime: people who sign in mostly succeed,
// a flood of guesses all fails; only failures are charged, so logins keep
// the whole capacity of the cap outside a flood.
func TestOnlyFailedChecksSpendHashingTime(t *testing.T) {
	site := startAliceLogin(t, "rate_limit off", "")
	// A slow refill, so that what a failed check spends shows whatever
	// the machine's speed and core count.
	app := runningJWTApp(t)
	b := newHashBudget(0.001, 1, time.Now())
	app.hashBudget = b
	level := func() float64 {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.refill(time.Now())
		return b.level
	}
	for i := 0; i < 5; i++ {
		site.tokenOf(site.json("alice", "alice-pw", nil))
	}
	if l := level(); l != b.burst {
		t.Fatalf("after 5 successful logins the budget is %.4f s, want it full (%.1f s)", l, b.burst)
	}
	for _, user := range []string{"alice", "nobody"} { // wrong password, unknown user
		before := level()
		if resp, body := site.json(user, "wrong", nil); resp.StatusCode != 400 {
			t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
		}
		if after := level(); after >= before {
			t.Errorf("a failed check for %s spent nothing: %.4f s before, %.4f s after", user, before, after)
		}
	}
}
