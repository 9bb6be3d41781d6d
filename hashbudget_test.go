package caddyjwt

import (
	"net/http"
	"testing"
	"time"
)

func init() {
	// Most tests see many 429s; the delay has its own test.
	rateLimitedDelay = 0
}

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

func TestHashBudgetAllowsABurstThenOnlyItsShareOfTime(t *testing.T) {
	start := time.Now()
	b := newHashBudget(2, start)
	burst := 2 * hashBurst // two CPUs
	rate := 2 * hashShare  // seconds of hashing per second

	if d := b.debt(start); d != 0 {
		t.Fatalf("a fresh budget is in debt for %s", d)
	}
	b.mu.Lock()
	b.level -= (burst + time.Second).Seconds() // the burst and one second more
	b.mu.Unlock()
	want := time.Duration(float64(time.Second) / rate)
	if d := b.debt(start); d < want-time.Millisecond || d > want+time.Millisecond {
		t.Fatalf("after the burst and 1 s more: debt %s, want %s", d, want)
	}
	if d := b.debt(start.Add(want / 2)); d < want/2-time.Millisecond || d > want/2+time.Millisecond {
		t.Errorf("halfway: debt %s, want %s", d, want/2)
	}
	if d := b.debt(start.Add(want)); d != 0 {
		t.Errorf("after the debt was earned back: debt %s, want none", d)
	}
	// Idle time refills no more than the burst.
	b.debt(start.Add(time.Hour))
	if b.level != burst.Seconds() {
		t.Errorf("after an hour idle: %.2f s, want the burst %.2f s", b.level, burst.Seconds())
	}
}

func TestLoginRefusedSlowlyWhenHashingTimeIsSpent(t *testing.T) {
	base := startCaddy(t, loginGlobals("\t\t\tuser alice "+bcryptHashForTest(t, "alice-pw")), `
	jwt_login /login {
		rate_limit off
	}`)
	site := loginSite{t, base + "/login"}
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

	app.hashBudget = newHashBudget(1, time.Now())
	if resp, body := site.form("alice", "alice-pw", nil); resp.StatusCode != 200 {
		t.Fatalf("with hashing time again: status %d, want 200: %s", resp.StatusCode, body)
	}
}

func TestRateLimitedLoginAnsweredNoSoonerThanABusyOne(t *testing.T) {
	base := startCaddy(t, loginGlobals("\t\t\tuser alice "+bcryptHashForTest(t, "alice-pw")), `
	jwt_login /login {
		rate_limit 1 1m
	}`)
	site := loginSite{t, base + "/login"}
	rateLimitedDelay = hashSlotWait
	t.Cleanup(func() { rateLimitedDelay = 0 })
	if resp, body := site.form("alice", "wrong", nil); resp.StatusCode != 400 {
		t.Fatalf("first failure: status %d, want 400: %s", resp.StatusCode, body)
	}
	start := time.Now()
	resp, body := site.form("alice", "wrong", nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", resp.StatusCode, body)
	}
	if waited := time.Since(start); waited < hashSlotWait {
		t.Errorf("429 after %s, want after %s", waited, hashSlotWait)
	}
}
