package caddyjwt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// How long a login takes must not tell which users exist. Checking an
// unknown name against some user's hash is not enough when the users'
// hashes differ, as a cheap bcrypt hash is checked many times faster than
// a costly one or an argon2id one. So the time of a check is learned for
// each shape of hash (algorithm and cost) among the users, and:
//
//   - an unknown name is checked against a hash of the costliest shape (or
//     of one not timed yet, so that all are soon timed), and the result
//     thrown away;
//   - when the users' hashes are of more than one shape, every login, once
//     its check is done and its hash slot given back, waits until nearly
//     every check of the costliest shape would have ended (evenOut).
//
// A check of the costliest shape thus takes as long whoever it is for,
// and any other is padded to it. The padding comes after the check, as a
// wait that holds neither a slot nor a CPU.

// errNoSuchUser marks a failed login for a name that does not exist, so the
// log line leaves the name out (people type passwords into that field).
var errNoSuchUser = errors.New("no such user")

// Authenticate checks a username and password. An unknown name costs a
// check as long as the longest a known one may take. The error is nil only
// on success; it is errNoSuchUser, or says why a known user was refused.
func (b *Backend) Authenticate(username, password string) (*account, error) {
	t := b.users.current()
	a, known := t.accounts[username]
	target := a
	if !known {
		target = t.decoy()
	}
	if target == nil {
		return nil, errNoSuchUser
	}
	start := time.Now()
	ok, err := target.cmp.Compare(target.hash, []byte(password))
	target.shape.time.observe(time.Since(start))
	switch {
	case !known:
		return nil, errNoSuchUser
	case err != nil:
		return nil, fmt.Errorf("checking password: %v", err)
	case !ok:
		return nil, errors.New("wrong password")
	case a.disabled:
		return nil, errors.New("user disabled")
	}
	return a, nil
}

// evenOut waits, after a password check that started at start, until
// nearly every check of the backend's costliest hash would have finished,
// so that how long a login takes tells nothing about which user, or
// whether any, it named. It is called after the hash slot is given back:
// waiting costs no CPU.
func (b *Backend) evenOut(ctx context.Context, start time.Time) {
	if b.users == nil {
		return
	}
	t := b.users.table.Load()
	if len(t.shapes) < 2 {
		return // every check, known name or not, is of the one shape
	}
	_, bound := t.costliest()
	if wait := time.Until(start.Add(bound)); wait > 0 {
		_ = sleepContext(ctx, wait)
	}
}

// checkCost estimates how long one password check of this backend takes:
// its costliest hash's, on average.
func (b *Backend) checkCost() time.Duration {
	if b.users == nil {
		return 0
	}
	mean, _ := b.users.table.Load().costliest()
	return mean
}

// hashShape is one algorithm and cost among a table's users' hashes.
type hashShape struct {
	name  string   // as shapeOf gives it, e.g. "bcrypt cost 10"
	rep   *account // its first user, whom an unknown name may stand in for
	users int
	time  *checkTime // set by the userStore
}

// decoy is the account an unknown name is checked against: one of a shape
// not timed yet, else one of the shape whose checks may take longest.
func (t *userTable) decoy() *account {
	var slowest *hashShape
	for _, s := range t.shapes {
		if !s.time.timed() {
			return s.rep
		}
		if slowest == nil || s.time.bound() > slowest.time.bound() {
			slowest = s
		}
	}
	if slowest == nil {
		return nil
	}
	return slowest.rep
}

// timeShapes times one check of each shape not timed yet, so that logins
// are evened out from the start rather than once each shape has come up:
// until then a login of a costlier shape not yet timed would stand out. It
// runs once per shape in the process, in the background of a load.
func (t *userTable) timeShapes() {
	for _, s := range t.shapes {
		if s.time.timed() {
			continue
		}
		start := time.Now()
		_, _ = s.rep.cmp.Compare(s.rep.hash, []byte("\x00 timing check"))
		s.time.observe(time.Since(start))
	}
}

// costliest gives the longest mean time of a check among the table's
// shapes, and the longest time nearly all checks end within.
func (t *userTable) costliest() (mean, bound time.Duration) {
	for _, s := range t.shapes {
		mean = max(mean, s.time.mean())
		bound = max(bound, s.time.bound())
	}
	return mean, bound
}

// checkTime is a running estimate of how long a check against one shape of
// hash takes: moving averages of its time and of how far each check is off
// it, the way TCP estimates round trips. It is read and written by every
// login without a lock; two checks that end at once may lose one of their
// updates, which only slows the estimate down.
type checkTime struct {
	avg, dev atomic.Int64 // nanoseconds; avg is 0 until the first check
}

// observe adds the time of one check.
func (c *checkTime) observe(d time.Duration) {
	n := max(int64(d), 1)
	avg := c.avg.Load()
	if avg == 0 {
		c.avg.Store(n)
		c.dev.Store(n / 2)
		return
	}
	off := n - avg
	c.avg.Store(avg + off/8)
	dev := c.dev.Load()
	c.dev.Store(dev + (abs(off)-dev)/4)
}

func (c *checkTime) timed() bool         { return c.avg.Load() != 0 }
func (c *checkTime) mean() time.Duration { return time.Duration(c.avg.Load()) }

// bound is a time that nearly all checks end within. It is a mean plus
// some deviations rather than a mean so that a check of the costliest
// shape, padded to it, seldom takes longer than the others.
func (c *checkTime) bound() time.Duration { return time.Duration(c.avg.Load() + 2*c.dev.Load()) }

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// checkTimes are the check times learned for each shape of hash. How long
// a shape takes is a trait of the machine, not of a backend or a config, so
// backends share them and they outlive config reloads, which then start
// with them known. Every shape ever loaded is kept; there are few.
type checkTimes struct {
	mu      sync.Mutex
	byShape map[string]*checkTime
}

// learnedCheckTimes are the process's check times.
var learnedCheckTimes = &checkTimes{}

// of gives the check time of a shape, new if it was never seen.
func (c *checkTimes) of(shape string) *checkTime {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byShape == nil {
		c.byShape = map[string]*checkTime{}
	}
	ct := c.byShape[shape]
	if ct == nil {
		ct = &checkTime{}
		c.byShape[shape] = ct
	}
	return ct
}
