package caddyjwt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Password hash checks are the one costly thing a client can make Caddy do
// without credentials, so they are bounded twice, across every login
// endpoint of the config:
//
//   - at most 2×GOMAXPROCS run at once (hashSlots), which bounds goroutines
//     and memory (Argon2id takes tens of MiB a check);
//   - checks that fail (a wrong password, an unknown user) take at most a
//     share of the CPUs' time together (hashBudget, the global `hash_cpu`
//     setting, 5% by default), in bursts of up to hashBurst per CPU. Only
//     failures are charged: a flood of guesses is all failures, while
//     people who sign in mostly succeed, so they keep the whole capacity
//     of the cap outside a flood, even with costly hashes (Caddy's default
//     bcrypt cost of 14 takes about a second). Successes are bounded by the
//     login limits instead (loginlimits.go).
//
// The cap alone does not protect the rest of the server: a bcrypt check
// keeps its CPU for whole scheduler slices, and every request that arrives
// meanwhile waits behind it. Bounding the time share keeps the other routes
// at about 90% of their throughput under a flood.
//
// A flood would then spend the budget for everyone, so trusted logins,
// those that show a device cookie of the user they name (device.go), have a
// budget of their own, and slots of their own besides the common ones. A
// client that signed in before thus still gets in during a flood from any
// number of addresses; a brand-new client waits with the flood. Trusted
// failures are few (each device is limited), so the two budgets together
// take about hash_cpu, and twice it when both are flooded.

// errBusy says no hash slot, or no hashing time, was free for the whole wait.
var errBusy = errors.New("too many concurrent logins")

// hashSlotWait is how long a login waits for a hash slot and hashing time
// before a 503.
const hashSlotWait = time.Second

const (
	defaultHashShare = 0.05
	hashBurst        = 2 * time.Second
)

// parseHashCPU reads the `hash_cpu` setting: a percentage of the CPUs
// (GOMAXPROCS) in [0.1, 100], with or without the `%`, or `off`. It gives the
// share as a fraction, 0 for off; "" is the default.
func parseHashCPU(s string) (float64, error) {
	switch s {
	case "":
		return defaultHashShare, nil
	case "off":
		return 0, nil
	}
	p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || math.IsNaN(p) || p < 0.1 || p > 100 {
		return 0, fmt.Errorf("want a percentage of the CPUs from 0.1%% to 100%% (e.g. 5%%), or off; got %q", s)
	}
	return p / 100, nil
}

// acquireHashSlot waits up to hashSlotWait for a free hash slot and for
// hashing time for a check estimated to take cost; trusted checks may also
// use the reserved slots and budget. On success the caller must call the
// returned release once the check is done, saying whether it failed: a
// failed check is charged its time, a successful one gives its estimate
// back.
func (a *App) acquireHashSlot(ctx context.Context, trusted bool, cost time.Duration) (release func(failed bool), err error) {
	deadline := time.Now().Add(hashSlotWait)
	slots, err := a.takeHashSlot(ctx, trusted, deadline)
	if err != nil {
		return nil, err
	}
	free := func() { <-slots }
	budget := a.hashBudget
	if trusted {
		budget = a.trustedBudget
	}
	if budget == nil {
		return func(bool) { free() }, nil
	}
	if err := budget.await(ctx, deadline, cost); err != nil {
		free()
		return nil, err
	}
	start := time.Now()
	a.checking.Add(1)
	return func(failed bool) {
		took := time.Duration(0)
		if failed {
			took = cpuTime(time.Since(start), a.checking.Load(), cap(a.reservedSlots))
		}
		budget.settle(time.Now(), cost, took)
		a.checking.Add(-1)
		free()
	}, nil
}

// cpuTime estimates the CPU time of a check that took took while running
// checks were running at once on procs CPUs: they shared the CPUs when
// there were more of them, so the check had only a share.
func cpuTime(took time.Duration, running int32, procs int) time.Duration {
	if int(running) <= procs {
		return took
	}
	return took * time.Duration(procs) / time.Duration(running)
}

// takeHashSlot takes a slot and tells which pool it came from: a trusted
// check takes a reserved slot when the common ones are all taken.
func (a *App) takeHashSlot(ctx context.Context, trusted bool, deadline time.Time) (chan struct{}, error) {
	reserved := a.reservedSlots
	if !trusted {
		reserved = nil // never ready
	}
	select {
	case a.hashSlots <- struct{}{}:
		return a.hashSlots, nil
	case reserved <- struct{}{}:
		return reserved, nil
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case a.hashSlots <- struct{}{}:
		return a.hashSlots, nil
	case reserved <- struct{}{}:
		return reserved, nil
	case <-timer.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hashBudget is a token bucket of hashing time, in seconds: it refills at
// rate per second up to burst, and every failed check takes its time out of
// it. A check is admitted with its estimated cost taken at once, so that
// concurrent checks cannot all pass on the same balance, and settled when
// done; the budget goes into debt when checks take longer than estimated.
type hashBudget struct {
	mu          sync.Mutex
	rate, burst float64
	level       float64
	last        time.Time
}

// newHashBudget gives a full budget of share of procs CPUs.
func newHashBudget(share float64, procs int, now time.Time) *hashBudget {
	p := float64(procs)
	burst := hashBurst.Seconds() * p
	return &hashBudget{rate: share * p, burst: burst, level: burst, last: now}
}

// refill adds the time earned since the last call; b.mu must be held.
func (b *hashBudget) refill(now time.Time) {
	if now.After(b.last) { // a caller's earlier clock reading earns nothing
		b.level = min(b.burst, b.level+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// take admits a check of cost when the budget allows it, and otherwise
// tells how long until it will.
func (b *hashBudget) take(now time.Time, cost time.Duration) (wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	// A check costlier than the whole budget waits for a full one, rather
	// than for ever.
	need := min(cost.Seconds(), b.burst)
	if short := need - b.level; short > 0 {
		// Capped, so that a float too large for a Duration cannot wrap
		// around to a negative wait.
		return time.Duration(min(short/b.rate, maxDebt.Seconds()) * float64(time.Second))
	}
	b.level -= need
	return 0
}

// maxDebt bounds what take reports; anything beyond hashSlotWait is
// refused alike.
const maxDebt = time.Hour

// settle charges what a check took beyond (or gives back what it took
// short of) the estimate it was admitted with.
func (b *hashBudget) settle(now time.Time, estimate, took time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.level = min(b.burst, b.level-(took.Seconds()-estimate.Seconds()))
}

// await waits until the budget admits a check. When it will not before
// deadline, it waits until deadline anyway and returns errBusy: refusing
// at once would let a flooding client send its next login at once, and
// turn the flood into one of cheap requests at a far higher rate.
func (b *hashBudget) await(ctx context.Context, deadline time.Time, cost time.Duration) error {
	for {
		now := time.Now()
		wait := b.take(now, cost)
		if wait == 0 {
			return nil
		}
		busy := now.Add(wait).After(deadline)
		if busy {
			wait = deadline.Sub(now)
		}
		if err := sleepContext(ctx, wait); err != nil {
			return err
		}
		if busy {
			return errBusy
		}
	}
}

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
