package caddyjwt

import (
	"container/list"
	"sync"
	"time"
)

// maxTrackedIPs bounds the memory of a login limiter: past it, the client IP
// whose last attempt is oldest is forgotten first.
const maxTrackedIPs = 100_000

// limiter counts failed logins per client IP in a sliding window. Once an IP
// has max failures in the window, every login from it is refused, without a
// hash check, until its oldest counted failure leaves the window. Times are
// passed in, so tests drive it with their own clock.
type limiter struct {
	max      int
	window   time.Duration
	capacity int

	mu      sync.Mutex
	entries map[string]*list.Element // of *limitEntry
	order   *list.List               // front: least recently attempted
}

type limitEntry struct {
	ip    string
	fails []time.Time // ascending; at most max of them
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{
		max:      max,
		window:   window,
		capacity: maxTrackedIPs,
		entries:  make(map[string]*list.Element),
		order:    list.New(),
	}
}

// attempt starts a login attempt from ip. When ip already has max failures
// in the window, it returns how long until the oldest of them leaves it, and
// the attempt must be refused without a password check. Otherwise it returns
// zero and counts the attempt as a failure at once, so that concurrent
// attempts cannot check more passwords than the limit allows; the caller
// takes it back with undo if it turns out not to be a failed login.
func (l *limiter) attempt(ip string, now time.Time) (wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[ip]
	if ok {
		e := el.Value.(*limitEntry)
		l.prune(e, now)
		if len(e.fails) >= l.max {
			return e.fails[len(e.fails)-l.max].Add(l.window).Sub(now)
		}
		l.order.MoveToBack(el)
	} else {
		el = l.order.PushBack(&limitEntry{ip: ip, fails: make([]time.Time, 0, min(l.max, 16))})
		l.entries[ip] = el
		if l.order.Len() > l.capacity {
			oldest := l.order.Front()
			l.order.Remove(oldest)
			delete(l.entries, oldest.Value.(*limitEntry).ip)
		}
	}
	// Concurrent attempts may arrive out of order; keep the times sorted,
	// as prune and the wait rely on it.
	e := el.Value.(*limitEntry)
	i := len(e.fails)
	for i > 0 && e.fails[i-1].After(now) {
		i--
	}
	e.fails = append(e.fails, time.Time{})
	copy(e.fails[i+1:], e.fails[i:])
	e.fails[i] = now
	return 0
}

// undo takes back the attempt that attempt counted at the given time: the
// login succeeded, or never got to a password check. An IP left without
// failures is forgotten, so successful logins do not push the failures of
// others out of the limiter.
func (l *limiter) undo(ip string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[ip]
	if !ok {
		return // evicted meanwhile
	}
	e := el.Value.(*limitEntry)
	for i := len(e.fails) - 1; i >= 0; i-- {
		if e.fails[i].Equal(at) {
			e.fails = append(e.fails[:i], e.fails[i+1:]...)
			break
		}
	}
	if len(e.fails) == 0 {
		l.order.Remove(el)
		delete(l.entries, ip)
	}
}

// prune drops the failures that have left the window.
func (l *limiter) prune(e *limitEntry, now time.Time) {
	cutoff := now.Add(-l.window)
	i := 0
	for i < len(e.fails) && !e.fails[i].After(cutoff) {
		i++
	}
	if i > 0 {
		e.fails = append(e.fails[:0], e.fails[i:]...)
	}
}

// tracked tells how many client IPs the limiter remembers.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
