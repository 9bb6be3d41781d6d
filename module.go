// Package caddyjwt issues and enforces JSON Web Tokens inside Caddy: the
// `jwt` app holds named backends, `jwt_login` issues tokens for a username
// and password, `jwt_logout` clears a browser's token cookie, and `jwt_auth`
// lets only requests with a valid token through.
package caddyjwt

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `jwt` app: the named backends that `jwt_login` and `jwt_auth`
// refer to. In a Caddyfile it is the global `jwt` option.
type App struct {
	// The backends, by name. A name is what `jwt_login`, `jwt_auth` and
	// the `WWW-Authenticate` realm refer to: letters, digits, `-`, `_` and
	// `.` only. Default: none; a handler needs at least one.
	Backends map[string]*Backend `json:"backends,omitempty"`

	// hashSlots caps concurrent password hash checks across every login
	// endpoint, and hashBudget the CPU time they take over time, so a
	// flood of logins cannot take the cores from everything else.
	hashSlots  chan struct{}
	hashBudget *hashBudget
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "jwt",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets up every backend and its metrics.
func (a *App) Provision(ctx caddy.Context) error {
	a.hashSlots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	a.hashBudget = newHashBudget(runtime.GOMAXPROCS(0), time.Now())
	for _, name := range a.names() {
		if err := checkBackendName(name); err != nil {
			return fmt.Errorf("jwt backend: %v", err)
		}
		b := a.Backends[name]
		if b == nil {
			return fmt.Errorf("jwt backend %q: empty definition", name)
		}
		if err := b.provision(ctx, name); err != nil {
			return err
		}
	}
	m, err := newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("jwt: registering metrics: %v", err)
	}
	for name, b := range a.Backends {
		b.metrics = m.forBackend(name)
	}
	return nil
}

// Start implements caddy.App: it starts the refreshers of remote key sets.
func (a *App) Start() error {
	for _, r := range a.remoteKeySets() {
		r.run()
	}
	return nil
}

// Stop implements caddy.App: it stops the refreshers of remote key sets.
func (a *App) Stop() error {
	for _, r := range a.remoteKeySets() {
		r.stopRefresh()
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper. A config that was provisioned
// but never started (caddy validate, a failed reload) still made its
// remote key sets; make sure nothing of it keeps running.
func (a *App) Cleanup() error { return a.Stop() }

// remoteKeySets lists the remote key sets of the backends.
func (a *App) remoteKeySets() []*remoteKeySet {
	var sets []*remoteKeySet
	for _, b := range a.Backends {
		if b != nil && b.keys != nil && b.keys.remote != nil {
			sets = append(sets, b.keys.remote)
		}
	}
	return sets
}

// names lists the backends in a stable order.
func (a *App) names() []string {
	names := make([]string, 0, len(a.Backends))
	for name := range a.Backends {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// checkBackendName refuses names that could not be written as they are
// into the realm of a `WWW-Authenticate` challenge or a cookie name.
func checkBackendName(name string) error {
	if name == "" {
		return errors.New("a backend needs a name")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("backend name %q may only contain letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// backend finds a backend by name; an empty name means the only one.
func (a *App) backend(name string) (*Backend, error) {
	if len(a.Backends) == 0 {
		const none = "no jwt backends are defined; declare them in the global jwt option (the backends of the jwt app)"
		if name != "" {
			return nil, fmt.Errorf("unknown jwt backend %q: %s", name, none)
		}
		return nil, errors.New(none)
	}
	if name == "" {
		if len(a.Backends) != 1 {
			return nil, fmt.Errorf("name a jwt backend: %d are defined (%s)", len(a.Backends), strings.Join(a.names(), ", "))
		}
		name = a.names()[0]
	}
	b, ok := a.Backends[name]
	if !ok {
		return nil, fmt.Errorf("unknown jwt backend %q (defined: %s)", name, strings.Join(a.names(), ", "))
	}
	return b, nil
}

// loadApp gives a handler the `jwt` app of the running config.
func loadApp(ctx caddy.Context) (*App, error) {
	app, err := ctx.App("jwt")
	if err != nil {
		return nil, fmt.Errorf("loading the jwt app: %v", err)
	}
	return app.(*App), nil
}

// errBusy says no hash slot, or no hashing time, was free for the whole wait.
var errBusy = errors.New("too many concurrent logins")

// hashSlotWait is how long a login waits for a hash slot before a 503.
const hashSlotWait = time.Second

// Password hash checks may take at most hashShare of the CPUs (GOMAXPROCS)
// over time, in bursts of up to hashBurst per CPU. A cap on concurrent
// checks alone does not protect the rest of the server: a bcrypt check
// keeps its CPU for whole scheduler slices (10 ms and more), and every
// request that arrives meanwhile waits behind it, so under a flood that
// keeps the slots full the other routes keep only a few percent of their
// throughput (bench/flood.sh, bench/RESULTS.md). Bounding the time share
// keeps them at over 90%; the price is that a sustained stream of logins
// is served at about hashShare × GOMAXPROCS / (time of one check), about
// one cost-10 bcrypt check a second per CPU, once the burst is spent.
const (
	hashShare = 0.05
	hashBurst = time.Second
)

// acquireHashSlot waits up to hashSlotWait for a free hash slot and for
// hashing time; on success the caller must call the returned release once
// the check is done.
func (a *App) acquireHashSlot(ctx context.Context) (release func(), err error) {
	deadline := time.Now().Add(hashSlotWait)
	if err := a.takeHashSlot(ctx, deadline); err != nil {
		return nil, err
	}
	if err := a.hashBudget.await(ctx, deadline); err != nil {
		a.releaseHashSlot()
		return nil, err
	}
	start := time.Now()
	return func() {
		a.hashBudget.spend(time.Since(start))
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

func newHashBudget(procs int, now time.Time) *hashBudget {
	p := float64(procs)
	burst := hashBurst.Seconds() * p
	return &hashBudget{rate: hashShare * p, burst: burst, level: burst, last: now}
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
	return time.Duration(-b.level / b.rate * float64(time.Second))
}

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

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
