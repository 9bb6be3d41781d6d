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
//     of the cap outside a flood, even with costly hashes (Caddy's
//     default bcrypt cost of 14 takes about a second).
//
// The cap alone does not protect the rest of the server: a bcrypt check
// keeps its CPU for whole scheduler slices (10 ms and more), and every
// request that arrives meanwhile waits behind it, so under a flood that
// keeps the slots full the other routes keep only a few percent of their
// throughput (bench/flood.sh, bench/RESULTS.md). Bounding the time share
// keeps them at about 90%; the price is that while the failures' budget is
// spent (a flood), every login waits for it, and failed logins are checked
// at about share × GOMAXPROCS / (time of one check) a second.

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
// hashing time; on success the caller must call the returned release once
// the check is done, saying whether it failed: a failed check is charged
// to the budget.
func (a *App) acquireHashSlot(ctx context.Context) (release func(failed bool), err error) {
	deadline := time.Now().Add(hashSlotWait)
	if err := a.takeHashSlot(ctx, deadline); err != nil {
		return nil, err
	}
	if a.hashBudget == nil {
		return func(bool) { a.releaseHashSlot() }, nil
	}
	if err := a.hashBudget.await(ctx, deadline); err != nil {
		a.releaseHashSlot()
		return nil, err
	}
	start := time.Now()
	return func(failed bool) {
		if failed {
			a.hashBudget.spend(time.Since(start))
		}
		a.releaseHashSlot()
	}, nil
}

func (a *App) takeHashSlot(ctx context.Context, deadline time.Time) error {
	select {
	case a.hashSlots <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case a.hashSlots <- struct{}{}:
		return nil
	case <-timer.C:
		return errBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *App) releaseHashSlot() { <-a.hashSlots }

// hashBudget is a token bucket of hashing time, in seconds: it refills at
// rate per second up to burst, and every check takes its wall-clock time
// out of it (more than its CPU time when checks share a CPU, so it errs on
// the safe side); it goes into debt while several checks run at once.
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
	b.level = min(b.burst, b.level+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// debt tells how long until the budget is out of debt.
func (b *hashBudget) debt(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.level >= 0 {
		return 0
	}
	// Capped, so that a float too large for a Duration cannot wrap around
	// to a negative wait.
	return time.Duration(min(-b.level/b.rate, maxDebt.Seconds()) * float64(time.Second))
}

// maxDebt bounds what debt reports; anything beyond hashSlotWait is
// refused alike.
const maxDebt = time.Hour

func (b *hashBudget) spend(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	b.level -= d.Seconds()
}

// await waits until the budget allows a check. When it will not before
// deadline, it waits until deadline anyway and returns errBusy: refusing
// at once would let a flooding client send its next login at once, and
// turn the flood into one of cheap requests at a far higher rate.
func (b *hashBudget) await(ctx context.Context, deadline time.Time) error {
	for {
		now := time.Now()
		wait := b.debt(now)
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
