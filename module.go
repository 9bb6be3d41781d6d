// Package caddyjwt issues and enforces JSON Web Tokens inside Caddy: the
// `jwt` app holds named backends, `jwt_login` issues tokens for a username
// and password, `jwt_logout` clears a browser's token cookie, and `jwt_auth`
// lets only requests with a valid token through.
package caddyjwt

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
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

	// The share of the CPUs (GOMAXPROCS) that failed password checks
	// (wrong password, unknown user) of every login endpoint may take
	// together over time, in bursts of up to 2 s per CPU: a percentage
	// such as `5%`, or `off` for no bound but the concurrency cap of
	// 2×GOMAXPROCS checks. Logins with a device cookie
	// (signed in before) have a budget of the same size of their own, so a
	// flood cannot spend theirs. A login that gets no hashing time within
	// 1 s gets 503. Default: `5%`.
	HashCPU string `json:"hash_cpu,omitempty"`

	// Where revocations, and with Redis the login limits, are kept.
	// Default: memory, saved to Caddy's storage.
	Store *Store `json:"store,omitempty"`

	// store is the Store in use, taken from the stores pool under
	// storeKey.
	store    store
	storeKey string

	// hashSlots caps concurrent password hash checks across every login
	// endpoint, and hashBudget the CPU time they take over time, so a
	// flood of logins cannot take the cores from everything else.
	// reservedSlots are more slots, and trustedBudget a budget, for
	// trusted checks alone; checking counts the checks running.
	hashSlots, reservedSlots  chan struct{}
	hashBudget, trustedBudget *hashBudget
	checking                  *atomic.Int32

	// rateLimitedDelay is how long a client that asks again within this
	// time of a 429 waits for the next one (or the limit's own wait, when
	// shorter): as long as a login refused for want of a hash slot, since
	// a client that ignores Retry-After and asks again at once would
	// otherwise turn the limit into a flood of cheap answers that takes
	// the server from every other route. The first 429 comes at once.
	rateLimitedDelay time.Duration
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "jwt",
		New: func() caddy.Module { return new(App) },
	}
}

// validate checks the app's own settings; each backend checks its own.
func (a *App) validate() error {
	if _, err := parseHashCPU(a.HashCPU); err != nil {
		return settingError("jwt", "hash_cpu", "%v", err)
	}
	return a.Store.validate()
}

// Provision sets up every backend and its metrics.
func (a *App) Provision(ctx caddy.Context) error {
	a.hashSlots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	a.reservedSlots = make(chan struct{}, runtime.GOMAXPROCS(0))
	a.checking = new(atomic.Int32)
	a.rateLimitedDelay = hashSlotWait
	if err := a.validate(); err != nil {
		return reportConfigError(ctx, err)
	}
	share, _ := parseHashCPU(a.HashCPU)
	if share > 0 {
		a.hashBudget = newHashBudget(share, runtime.GOMAXPROCS(0), time.Now())
		a.trustedBudget = newHashBudget(share, runtime.GOMAXPROCS(0), time.Now())
	}
	for _, name := range a.names() {
		b := a.Backends[name]
		if b == nil {
			return fmt.Errorf("jwt backend %q: empty definition", name)
		}
		if err := b.provision(ctx, name); err != nil {
			return reportConfigError(ctx, err)
		}
	}
	// A Redis that is down is not a configuration error: the store
	// retries it, and works from its local copy meanwhile.
	var err error
	if a.store, a.storeKey, err = loadStore(ctx, a.Store, ctx.Logger()); err != nil {
		return reportConfigError(ctx, err)
	}
	for _, b := range a.Backends {
		b.store, b.revs = a.store, a.store.revocations()
	}
	m, err := newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("jwt: registering metrics: %v", err)
	}
	for name, b := range a.Backends {
		b.metrics = m.forBackend(name, b.Refresh != nil)
	}
	if err := registerStoreGauge(ctx.GetMetricsRegistry(), a.store); err != nil {
		return fmt.Errorf("jwt: registering metrics: %v", err)
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
// remote key sets; make sure nothing of it keeps running. The store goes
// back to the pool, which keeps it for the config that follows.
func (a *App) Cleanup() error {
	err := a.Stop()
	if a.storeKey != "" {
		if _, derr := stores.Delete(a.storeKey); derr != nil && err == nil {
			err = derr
		}
		a.storeKey = ""
	}
	return err
}

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

// backendList finds the backends a handler names, the only one when it
// names none; it returns their names too, resolved. directive prefixes
// the error.
func (a *App) backendList(directive string, names []string) ([]string, []*Backend, error) {
	if len(names) == 0 {
		names = []string{""}
	}
	resolved := make([]string, 0, len(names))
	backends := make([]*Backend, 0, len(names))
	for _, name := range names {
		name, b, err := a.backend(name)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", directive, err)
		}
		resolved, backends = append(resolved, name), append(backends, b)
	}
	return resolved, backends, nil
}

// backend finds the backend a handler names; an empty name means the only
// one. It returns the name too, since an empty one is resolved.
func (a *App) backend(name string) (string, *Backend, error) {
	if len(a.Backends) == 0 {
		const none = "no jwt backends are defined; declare them in the global jwt option"
		if name != "" {
			return "", nil, fmt.Errorf("%s (asked for %q)", none, name)
		}
		return "", nil, errors.New(none)
	}
	if name == "" {
		if len(a.Backends) != 1 {
			return "", nil, fmt.Errorf("name a backend; %d are defined (%s)", len(a.Backends), strings.Join(a.names(), ", "))
		}
		name = a.names()[0]
	}
	b, ok := a.Backends[name]
	if !ok {
		// The Caddyfile reads a matcher as a backend name unless it is
		// a path starting with / (or a named or * matcher).
		if strings.ContainsAny(name, "/*") {
			return "", nil, fmt.Errorf("%q is not a backend name, and a path must start with /", name)
		}
		return "", nil, fmt.Errorf("unknown jwt backend %q (defined: %s)", name, strings.Join(a.names(), ", "))
	}
	return name, b, nil
}

// loadApp gives a handler the `jwt` app of the running config.
func loadApp(ctx caddy.Context) (*App, error) {
	app, err := ctx.App("jwt")
	if err != nil {
		return nil, err // Caddy's error names the jwt app already
	}
	return app.(*App), nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
