package caddyjwt

import (
	"context"
	"net/netip"
	"strconv"
	"time"
)

// Allowances of the login limits, as multiples of rate_limit's count.
const (
	// networkFactor: failed logins per IPv6 /48, so that one network
	// cannot multiply the allowance of its /64s without end.
	networkFactor = 16
	// clientSuccessFactor and userSuccessFactor: successful logins per
	// client and per user. Successes are not charged to the hashing
	// budget, so these keep valid credentials from keeping the password
	// checks busy.
	clientSuccessFactor = 2
	userSuccessFactor   = 5
)

// loginLimits are the counts a login passes before its password check,
// each a sliding window of rate_limit's length:
//
//   - failed logins per client, rate_limit's count: a client is an IPv4
//     address, an IPv6 /64 (clientKey), or a device cookie (device.go);
//   - failed logins per IPv6 /48, networkFactor times the count, which
//     trusted clients (with a device cookie) skip;
//   - successful logins per client, clientSuccessFactor times the count,
//     and per user, userSuccessFactor times.
//
// Each is a limiter taken from the pool, so that reloads and several login
// routes of a backend share its counts. With a shared store, failed logins
// per client are also counted for every instance of the cluster.
type loginLimits struct {
	fails, networks, successes, users *limiter
	keys                              []limiterKey
	// shared counts across instances; nil without a shared store.
	shared sharedCounter
}

// loadLoginLimits takes the limiters of a backend's rate limit from the
// pool; release must give them back.
func loadLoginLimits(backend string, count int, window time.Duration) *loginLimits {
	ls := &loginLimits{keys: []limiterKey{
		{backend: backend, scope: "fails", max: count, window: window},
		{backend: backend, scope: "networks", max: networkFactor * count, window: window},
		{backend: backend, scope: "successes", max: clientSuccessFactor * count, window: window},
		{backend: backend, scope: "users", max: userSuccessFactor * count, window: window},
	}}
	ls.fails, ls.networks = loadLimiter(ls.keys[0]), loadLimiter(ls.keys[1])
	ls.successes, ls.users = loadLimiter(ls.keys[2]), loadLimiter(ls.keys[3])
	return ls
}

// release gives the limiters back to the pool.
func (ls *loginLimits) release() error {
	var first error
	for _, k := range ls.keys {
		if _, err := limiters.Delete(k); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// count is one limiter and the key a login is counted under in it.
type count struct {
	l   *limiter
	key string
}

// admission is what a login was counted under: each count is taken when
// the login is admitted, as if it would fail and succeed at once, so that
// concurrent logins cannot pass more than the limits allow; settle gives
// back what its outcome does not keep.
type admission struct {
	at              time.Time
	fails, succeeds []count
	// user is where a success of the user is counted; see admitUser.
	user count
	// shared is the failure counted in the shared store, if any.
	shared        sharedCounter
	sharedKey     string
	sharedCounted string
}

// admit counts a login from ip, or from the device with id deviceID when
// it is not "". When a limit is reached it takes nothing, and returns how
// long until that limit frees up and the count that refused.
func (ls *loginLimits) admit(ip, deviceID string, now time.Time) (adm admission, wait time.Duration, by count) {
	adm.at = now
	client := clientKey(ip)
	if deviceID != "" {
		client = "device " + deviceID
	} else if network, ok := networkKey(ip); ok {
		adm.fails = append(adm.fails, count{ls.networks, network})
	}
	adm.fails = append(adm.fails, count{ls.fails, client})
	adm.succeeds = []count{{ls.successes, client}}
	var taken []count
	undo := func() {
		for _, t := range taken {
			t.l.undo(t.key, now)
		}
	}
	for _, c := range append(adm.succeeds, adm.fails...) {
		if wait = c.l.attempt(c.key, now); wait > 0 {
			undo()
			return admission{}, wait, c
		}
		taken = append(taken, c)
	}
	if ls.shared != nil {
		// The cluster's count of this client's failures. A store that
		// cannot answer leaves the login to this instance's limits.
		k := ls.keys[0]
		key := k.backend + ":limit:" + strconv.FormatInt(k.window.Milliseconds(), 10) + ":" + client
		w, id, err := ls.shared.attempt(context.Background(), key, k.max, k.window, now)
		if err == nil && w > 0 {
			undo()
			return admission{}, w, count{ls.fails, client}
		}
		adm.shared, adm.sharedKey, adm.sharedCounted = ls.shared, key, id
	}
	return adm, 0, count{}
}

// admitUser checks, once the request is read, that user has successes to
// spare. It takes nothing: the success is counted when it happens, so that
// failed logins naming a user, however many, cannot use up its successes.
func (ls *loginLimits) admitUser(adm *admission, user string, now time.Time) (wait time.Duration, by count) {
	c := count{ls.users, user}
	if wait = c.l.wait(c.key, now); wait > 0 {
		return wait, c
	}
	adm.user = c
	return 0, count{}
}

// outcome of an admitted login.
type outcome int

const (
	notChecked outcome = iota // refused before a password check
	failed
	succeeded
)

// settle gives back the counts the outcome does not keep.
func (adm admission) settle(o outcome) {
	undo := func(cs []count) {
		for _, c := range cs {
			c.l.undo(c.key, adm.at)
		}
	}
	if o != failed {
		undo(adm.fails)
		if adm.sharedCounted != "" {
			adm.shared.undo(context.Background(), adm.sharedKey, adm.sharedCounted)
		}
	}
	if o != succeeded {
		undo(adm.succeeds)
	} else if adm.user.l != nil {
		adm.user.l.attempt(adm.user.key, adm.at)
	}
}

// networkKey is the /48 an IPv6 client is counted under as a network; an
// IPv4 client has none.
func networkKey(ip string) (string, bool) {
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Is4() || addr.Is4In6() {
		return "", false
	}
	return netip.PrefixFrom(addr.WithZone(""), 48).Masked().String(), true
}
