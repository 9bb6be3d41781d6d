// Revocations: the local copy of every revoked token and user that each
// token check reads, so that no request waits on the store.

package caddyjwt

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// errTokenRevoked is the reason a revoked token is refused.
const errTokenRevoked tokenError = "token revoked"

// revocation is one entry of the store: a token by its jti, the tokens of a
// refresh family by its sid, or every token of a user issued at or before a
// second.
type revocation struct {
	Backend string `json:"backend"`
	JTI     string `json:"jti,omitempty"`
	SID     string `json:"sid,omitempty"`
	User    string `json:"user,omitempty"`
	// At is, for a user, the last second whose tokens are revoked.
	At int64 `json:"at,omitempty"`
	// Until is when the entry may be forgotten, in Unix seconds: the
	// token's exp, or when every token it covers has expired.
	Until int64 `json:"until"`
}

// revocationKey names an entry within the copy.
type revocationKey struct{ backend, id string }

// revocations is the local copy. It only grows until its entries expire:
// what the store reports is added, and nothing is forgotten before its
// time, so that a store that lost its data cannot bring a token back.
type revocations struct {
	// gen changes with every entry added. A token found not revoked at
	// one gen needs no new lookup until gen changes, which makes the
	// check of a cached token two atomic loads.
	gen atomic.Uint64

	mu    sync.RWMutex
	jtis  map[revocationKey]int64 // until
	sids  map[revocationKey]int64 // until
	users map[revocationKey]revocation
}

func newRevocations() *revocations {
	return &revocations{
		jtis:  make(map[revocationKey]int64),
		sids:  make(map[revocationKey]int64),
		users: make(map[revocationKey]revocation),
	}
}

// valid tells whether r names what it revokes.
func (r revocation) valid() bool {
	return r.Backend != "" && (r.JTI != "" || r.SID != "" || r.User != "")
}

// add records r; it tells whether the copy changed.
func (rs *revocations) add(r revocation) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r.JTI != "" || r.SID != "" {
		ids, k := rs.jtis, revocationKey{r.Backend, r.JTI}
		if r.JTI == "" {
			ids, k = rs.sids, revocationKey{r.Backend, r.SID}
		}
		if until, ok := ids[k]; ok && until >= r.Until {
			return false
		}
		ids[k] = r.Until
	} else {
		k := revocationKey{r.Backend, r.User}
		old, ok := rs.users[k]
		if ok && old.At >= r.At && old.Until >= r.Until {
			return false
		}
		if ok {
			r.At, r.Until = max(r.At, old.At), max(r.Until, old.Until)
		}
		rs.users[k] = r
	}
	rs.gen.Add(1)
	return true
}

// revoked tells whether the token of id is revoked. iat is zero when the
// token has none; such a token of a revoked user counts as revoked.
func (rs *revocations) revoked(id *identity) bool {
	if rs == nil {
		return false
	}
	g := rs.gen.Load()
	if id.notRevokedAt.Load() == g {
		return false
	}
	byJTI, bySID := false, false
	rs.mu.RLock()
	if id.jti != "" {
		_, byJTI = rs.jtis[revocationKey{id.backend, id.jti}]
	}
	if id.sid != "" {
		_, bySID = rs.sids[revocationKey{id.backend, id.sid}]
	}
	user, byUser := rs.users[revocationKey{id.backend, id.userID}]
	rs.mu.RUnlock()
	if byJTI || bySID || (byUser && (id.times.iat == nil || id.times.iat.Unix() <= user.At)) {
		return true
	}
	id.notRevokedAt.Store(g)
	return false
}

// userRevokedAt is the last second whose tokens of user are revoked, or 0.
func (rs *revocations) userRevokedAt(backend, user string) int64 {
	if rs == nil {
		return 0
	}
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.users[revocationKey{backend, user}].At
}

// sidRevoked tells whether the family sid is revoked.
func (rs *revocations) sidRevoked(backend, sid string) bool {
	if rs == nil {
		return false
	}
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	_, ok := rs.sids[revocationKey{backend, sid}]
	return ok
}

// list returns the entries still in force at now, oldest first, and
// forgets the others.
func (rs *revocations) list(now time.Time) []revocation {
	cutoff := now.Unix()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]revocation, 0, len(rs.jtis)+len(rs.sids)+len(rs.users))
	for k, until := range rs.jtis {
		if until < cutoff {
			delete(rs.jtis, k)
			continue
		}
		out = append(out, revocation{Backend: k.backend, JTI: k.id, Until: until})
	}
	for k, until := range rs.sids {
		if until < cutoff {
			delete(rs.sids, k)
			continue
		}
		out = append(out, revocation{Backend: k.backend, SID: k.id, Until: until})
	}
	for k, r := range rs.users {
		if r.Until < cutoff {
			delete(rs.users, k)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Until != out[j].Until {
			return out[i].Until < out[j].Until
		}
		return out[i].Backend+out[i].JTI+out[i].SID+out[i].User < out[j].Backend+out[j].JTI+out[j].SID+out[j].User
	})
	return out
}

// revocationOf is the revocation of a token by jti, or of every token and
// refresh family of user issued up to now. The entry is kept while a token
// it covers can still be valid: the backend's lifetime plus its leeway, and
// for a user the refresh lifetime if that is longer.
func (b *Backend) revocationOf(jti, user string, now time.Time) revocation {
	until := now.Add(b.lifetime + b.leeway).Unix()
	if jti != "" {
		return revocation{Backend: b.name, JTI: jti, Until: until}
	}
	if b.refresh != nil && b.refresh.lifetime > b.lifetime {
		until = now.Add(b.refresh.lifetime + b.leeway).Unix()
	}
	return revocation{Backend: b.name, User: user, At: now.Unix(), Until: until}
}
