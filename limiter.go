// The login limiter: failed logins per client in a sliding window. It is
// written here rather than taken from golang.org/x/time/rate or
// caddy-ratelimit because it must count failures only (known only after the
// hash check), say when the oldest one leaves the window for Retry-After,
// and live in Caddy's usage pool across reloads.

package caddyjwt

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// maxTrackedIPs bounds the memory of a login limiter: past it, the client
// (an IP, or an IPv6 /64) whose last attempt is oldest is forgotten first.
const maxTrackedIPs = 100_000

// limiter counts failed logins per client (see clientKey) in a sliding
// window. Once a client has max failures in the window, every login from it
// is refused, without a hash check, until its oldest counted failure leaves
// the window. Times are passed in, so tests drive it with their own clock.
//
// One limiter serves every jwt_login of a backend that has the same limit,
// in every loaded config: handlers take it from the limiters pool, so that
// neither a reload nor a second login route gives a client fresh attempts.
type limiter struct {
	max      int
	window   time.Duration
	capacity int

	mu      sync.Mutex
	entries map[string]*list.Element // of *limitEntry
	order   *list.List               // front: least recently attempted
}

type limitEntry struct {
	client  string
	fails   []time.Time // ascending; at most max of them
	refused time.Time   // the last refusal, if any
}

// limiters holds the limiter of each backend and limit while a loaded
// config uses it. A reload provisions the new config before it cleans up
// the old one, so the limiter, and its counts, pass from one to the other.
var limiters = caddy.NewUsagePool()

// limiterKey names a limiter in the limiters pool: a changed limit gets a
// limiter of its own, with empty counts. scope tells what it counts (see
// loginLimits).
type limiterKey struct {
	backend, scope string
	max            int
	window         time.Duration
}

// loadLimiter takes the limiter of key from the pool, made now if no
// loaded config uses it yet. Every call must be matched by one
// limiters.Delete(key) when the config is unloaded.
func loadLimiter(key limiterKey) *limiter {
	v, _, _ := limiters.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newLimiter(key.max, key.window), nil
	})
	return v.(*limiter)
}

// clientKey is what the limiter counts a client IP under. An IPv4 address
// counts on its own; an IPv6 one by its /64, since one host usually has a
// whole /64 to pick addresses from (an attacker would otherwise get fresh
// attempts with every address of it). An IPv4-mapped IPv6 address counts
// as its IPv4 address, and a zone is ignored. What does not parse as an
// IP address is its own key. Logs keep the client IP itself.
func clientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Is4() {
		return ip // an IPv4 address parses only in its canonical form
	}
	addr = addr.WithZone("")
	if addr.Is4In6() {
		return addr.Unmap().String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
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

// attempt starts a login attempt from client, a clientKey. When client
// already has max failures in the window, it returns how long until the
// oldest of them leaves it, and the attempt must be refused without a
// password check. Otherwise it returns zero and counts the attempt as a
// failure at once, so that concurrent attempts cannot check more passwords
// than the limit allows; the caller takes it back with undo if it turns out
// not to be a failed login.
func (l *limiter) attempt(client string, now time.Time) (wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[client]
	if ok {
		e := el.Value.(*limitEntry)
		l.prune(e, now)
		if len(e.fails) >= l.max {
			return e.fails[len(e.fails)-l.max].Add(l.window).Sub(now)
		}
		l.order.MoveToBack(el)
	} else {
		el = l.order.PushBack(&limitEntry{client: client, fails: make([]time.Time, 0, min(l.max, 16))})
		l.entries[client] = el
		if l.order.Len() > l.capacity {
			oldest := l.order.Front()
			l.order.Remove(oldest)
			delete(l.entries, oldest.Value.(*limitEntry).client)
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

// wait tells how long until client is below max again, counting nothing.
func (l *limiter) wait(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[client]
	if !ok {
		return 0
	}
	e := el.Value.(*limitEntry)
	l.prune(e, now)
	if len(e.fails) < l.max {
		return 0
	}
	return e.fails[len(e.fails)-l.max].Add(l.window).Sub(now)
}

// refused records that attempt refused client now, and tells whether it
// had refused it within `within` of now already: a client that keeps
// asking after a 429 instead of waiting, as a flood does. Such a client is
// answered within later, so that is when its refusal counts from.
func (l *limiter) refused(client string, now time.Time, within time.Duration) (again bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[client]
	if !ok {
		return false
	}
	e := el.Value.(*limitEntry)
	again = !e.refused.IsZero() && now.Sub(e.refused) < within
	e.refused = now
	if again {
		e.refused = now.Add(within)
	}
	return again
}

// undo takes back the attempt that attempt counted at the given time: the
// login succeeded, or never got to a password check. A client left without
// failures is forgotten, so successful logins do not push the failures of
// others out of the limiter.
func (l *limiter) undo(client string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[client]
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
		delete(l.entries, client)
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

// Destruct lets the limiters pool hold a limiter; there is nothing to free.
func (l *limiter) Destruct() error { return nil }

// tracked tells how many clients the limiter remembers.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// Interface guards
var _ caddy.Destructor = (*limiter)(nil)
