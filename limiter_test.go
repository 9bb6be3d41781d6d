package caddyjwt

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// The limiter takes the time from its caller, so these tests run on a clock
// of their own: limiterEpoch plus whatever offset a step names.
var limiterEpoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func limiterTime(offset time.Duration) time.Time { return limiterEpoch.Add(offset) }

func TestLimiterSlidingWindow(t *testing.T) {
	// One script per behaviour: each step is an attempt at an offset from
	// limiterEpoch, whether it turns out to be a failed login, and the wait
	// the limiter must answer (0: let through).
	type step struct {
		at     time.Duration
		failed bool
		wait   time.Duration
	}
	const s = time.Second
	tests := []struct {
		name   string
		max    int
		window time.Duration
		steps  []step
	}{
		{"max failures are let through, the next attempt waits for the oldest to leave", 3, time.Minute, []step{
			{0, true, 0},
			{10 * s, true, 0},
			{20 * s, true, 0},
			{30 * s, false, 30 * s},
			{59 * s, false, 1 * s},
		}},
		{"once the oldest failure leaves the window one more attempt is allowed", 3, time.Minute, []step{
			{0, true, 0},
			{10 * s, true, 0},
			{20 * s, true, 0},
			{60 * s, true, 0}, // the failure at 0 has just left
			// Now 10s, 20s and 60s count: the oldest leaves at 70s.
			{61 * s, false, 9 * s},
			{69*s + 999*time.Millisecond, false, time.Millisecond},
			{70 * s, true, 0},
		}},
		{"refused attempts are not counted and do not extend the wait", 2, time.Minute, []step{
			{0, true, 0},
			{1 * s, true, 0},
			{2 * s, false, 58 * s},
			{30 * s, false, 30 * s},
			{59 * s, false, 1 * s},
			{60 * s, true, 0},
			{61 * s, true, 0},
			{62 * s, false, 58 * s},
		}},
		{"successful logins are not counted", 2, time.Minute, []step{
			{0, true, 0},
			{1 * s, false, 0},
			{2 * s, false, 0},
			{3 * s, false, 0},
			{4 * s, true, 0},
			{5 * s, false, 55 * s},
		}},
		{"failures spread wider than the window never limit", 2, 10 * s, []step{
			{0, true, 0},
			{10 * s, true, 0},
			{20 * s, true, 0},
			{30 * s, true, 0},
			{35 * s, true, 0},
			{36 * s, false, 4 * s},
		}},
		{"a limit of one refuses right after a failure", 1, 5 * time.Minute, []step{
			{0, true, 0},
			{1 * s, false, 299 * s},
			{300 * s, false, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.max, tt.window)
			for i, st := range tt.steps {
				wait := l.attempt("192.0.2.1", limiterTime(st.at))
				if wait != st.wait {
					t.Fatalf("step %d (at +%s): wait %s, want %s", i, st.at, wait, st.wait)
				}
				if wait == 0 && !st.failed {
					l.undo("192.0.2.1", limiterTime(st.at))
				}
			}
		})
	}
}

func TestLimiterCountsEachIPApart(t *testing.T) {
	l := newLimiter(2, time.Minute)
	for _, ip := range []string{"192.0.2.1", "192.0.2.1"} {
		if w := l.attempt(ip, limiterEpoch); w != 0 {
			t.Fatalf("failure of %s refused: %s", ip, w)
		}
	}
	if w := l.attempt("192.0.2.1", limiterEpoch); w != time.Minute {
		t.Fatalf("192.0.2.1 after 2 failures: wait %s, want 1m", w)
	}
	for _, ip := range []string{"192.0.2.2", "2001:db8::1", "2001:db8::2"} {
		if w := l.attempt(ip, limiterEpoch); w != 0 {
			t.Errorf("%s is limited by another IP's failures: wait %s", ip, w)
		}
	}
}

func TestLimiterUndoForgetsIPsWithoutFailures(t *testing.T) {
	l := newLimiter(3, time.Minute)
	l.attempt("192.0.2.1", limiterEpoch)
	l.undo("192.0.2.1", limiterEpoch)
	if n := l.tracked(); n != 0 {
		t.Fatalf("a successful login left %d IPs tracked, want 0", n)
	}
	// Undoing what was never counted, or was evicted, is harmless.
	l.undo("192.0.2.9", limiterEpoch)
	l.attempt("192.0.2.1", limiterTime(time.Second))
	l.undo("192.0.2.1", limiterEpoch)
	if n := l.tracked(); n != 1 {
		t.Fatalf("undo of another time took back a failure: %d IPs tracked, want 1", n)
	}
}

func TestLimiterTracksAtMost100000IPsOldestFirst(t *testing.T) {
	if maxTrackedIPs != 100_000 {
		t.Fatalf("maxTrackedIPs = %d, want 100000", maxTrackedIPs)
	}
	l := newLimiter(1, time.Hour)
	ip := func(i int) string {
		return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}
	for i := 0; i <= maxTrackedIPs; i++ { // 100,001 IPs
		if w := l.attempt(ip(i), limiterTime(time.Duration(i)*time.Millisecond)); w != 0 {
			t.Fatalf("first failure of IP %d refused", i)
		}
	}
	if n := l.tracked(); n != maxTrackedIPs {
		t.Fatalf("tracking %d IPs, want %d", n, maxTrackedIPs)
	}
	now := limiterTime(maxTrackedIPs * time.Millisecond)
	if w := l.attempt(ip(0), now); w != 0 {
		t.Errorf("the first IP is still remembered (wait %s); it should have been evicted", w)
	}
	// Remembering the first IP again evicted the next oldest, the second.
	if w := l.attempt(ip(1), now); w != 0 {
		t.Errorf("the second IP is still remembered (wait %s)", w)
	}
	// The newest are still limited.
	if w := l.attempt(ip(maxTrackedIPs), now); w <= 0 {
		t.Errorf("the newest IP was forgotten")
	}
	if n := l.tracked(); n != maxTrackedIPs {
		t.Errorf("tracking %d IPs, want %d", n, maxTrackedIPs)
	}
}

func TestLimiterEvictsTheLeastRecentlyAttemptedIP(t *testing.T) {
	l := newLimiter(5, time.Hour)
	l.capacity = 3
	l.attempt("a", limiterTime(0))
	l.attempt("b", limiterTime(1))
	l.attempt("c", limiterTime(2))
	l.attempt("a", limiterTime(3)) // a is now the most recent
	l.attempt("d", limiterTime(4)) // evicts b
	for ip, want := range map[string]int{"a": 2, "b": 0, "c": 1, "d": 1} {
		got := 0
		if el, ok := l.entries[ip]; ok {
			got = len(el.Value.(*limitEntry).fails)
		}
		if got != want {
			t.Errorf("%s: %d failures remembered, want %d", ip, got, want)
		}
	}
}

func TestLimiterConcurrentAttemptsNeverExceedTheLimit(t *testing.T) {
	const limit, goroutines = 5, 64
	l := newLimiter(limit, time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Out-of-order times, as concurrent requests take them.
			if l.attempt("192.0.2.1", limiterTime(time.Duration(goroutines-i)*time.Millisecond)) == 0 {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if allowed != limit {
		t.Fatalf("%d of %d concurrent attempts let through, want %d", allowed, goroutines, limit)
	}
	fails := l.entries["192.0.2.1"].Value.(*limitEntry).fails
	for i := 1; i < len(fails); i++ {
		if fails[i].Before(fails[i-1]) {
			t.Fatalf("failure times out of order: %v", fails)
		}
	}
}

func BenchmarkLimiterAttempt(b *testing.B) {
	l := newLimiter(10, time.Minute)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now := limiterTime(time.Duration(i))
		l.attempt("192.0.2.1", now)
		l.undo("192.0.2.1", now)
	}
}
