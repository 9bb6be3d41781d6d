package caddyjwt

import (
	"container/list"
	"sync"
	"time"
)

// maxTrackedIPs bounds the memory of a login limiter: past it, the client IP
// whose last failure is oldest is forgotten first.
const maxTrackedIPs = 100_000

// limiter counts failed logins per client IP in a sliding window. Once an IP
// has max failures in the window, every login from it is refused, without a
// hash check, until its oldest counted failure leaves the window.
type limiter struct {
	max      int
	window   time.Duration
	capacity int

	mu      sync.Mutex
	entries map[string]*list.Element // of *limitEntry
	order   *list.List               // front: least recently failed
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

// retryAfter tells how long ip must wait before its next login attempt; zero
// when it may try now.
func (l *limiter) retryAfter(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[ip]
	if !ok {
		return 0
	}
	e := el.Value.(*limitEntry)
	l.prune(e, now)
	if len(e.fails) == 0 {
		l.order.Remove(el)
		delete(l.entries, ip)
		return 0
	}
	if len(e.fails) < l.max {
		return 0
	}
	return e.fails[len(e.fails)-l.max].Add(l.window).Sub(now)
}

// fail records a failed login from ip.
func (l *limiter) fail(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[ip]
	if !ok {
		el = l.order.PushBack(&limitEntry{ip: ip, fails: make([]time.Time, 0, min(l.max, 16))})
		l.entries[ip] = el
		if l.order.Len() > l.capacity {
			oldest := l.order.Front()
			l.order.Remove(oldest)
			delete(l.entries, oldest.Value.(*limitEntry).ip)
		}
	} else {
		l.order.MoveToBack(el)
	}
	e := el.Value.(*limitEntry)
	l.prune(e, now)
	if len(e.fails) == l.max {
		e.fails = append(e.fails[:0], e.fails[1:]...)
	}
	e.fails = append(e.fails, now)
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
