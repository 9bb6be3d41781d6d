// The verified-token cache. It is written here rather than taken from a
// general cache library because its entries must be compared by the whole
// token, tied to the key set that verified them, bounded in bytes as well as
// entries, and read without allocating on every request.

package caddyjwt

import (
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Bounds of a backend's verified-token cache. A token is at most 8 KiB
// (maxTokenBytes), so the byte bound is what holds when tokens are large:
// 32 MiB holds 10,000 tokens of up to about 600 bytes, or 625 of 8 KiB.
const (
	defaultCacheEntries = 10_000
	defaultCacheBytes   = 32 << 20

	// cacheWays is how many tokens share a set: the ones a token may
	// evict, and the ones a lookup compares it with.
	cacheWays = 16
)

// tokenCache remembers the tokens a backend has verified, so that a token
// seen again skips the signature check and the claims parsing: the costly
// part of jwt_auth, which would otherwise be paid on every request.
//
// It is a cache of decisions that cannot change while it holds them:
//
//   - A token is found only by comparing the whole token string with the
//     cached one, never by a hash alone, so a token that differs in one
//     byte is verified from scratch. (A hash of the token's end picks its
//     set and, stored beside each entry, spares comparing strings that
//     cannot match.)
//   - Only tokens that passed every check are stored; a refused token is
//     never cached, so refused tokens cannot evict good ones.
//   - What depends on the clock (exp, nbf, iat) is checked again on every
//     hit, by golang-jwt's own validator with the backend's leeway and
//     clock; a token that fails it is dropped and verified from scratch, so
//     its refusal reads exactly as without the cache. No entry is served
//     past its token's exp (plus the leeway), and expired entries are the
//     first to be evicted.
//   - An entry is tied to the remote key set (jwks) it was verified with:
//     once the set is replaced, the token is verified again against the new
//     set, so a key the provider withdrew stops verifying at the same moment
//     with and without the cache. Static keys only change with the config,
//     and a new config means new backends, each with an empty cache.
//   - It is bounded by entry count and by an estimate of the bytes it
//     holds.
//
// It is set-associative, like a CPU cache: a token's hash picks one set of
// cacheWays entries, each set with its own lock and its own share of the
// bounds, and a token entering a full set evicts the one in it that expires
// first. A lookup or an insert touches one set and nothing else, which
// keeps a miss cheap even when the cache is full; a Go map under constant
// insertion and eviction costs several times as much (random iteration to
// pick a victim, tombstones, rehashing).
//
// The cached identity is shared by every request carrying the token, so it
// is never modified after it is stored.
type tokenCache struct {
	seed maphash.Seed
	// ways is the number of entries per set: cacheWays, or fewer in a
	// cache smaller than one set.
	ways     int
	setBytes int

	// The sets are allocated when the first token is looked up, so that a
	// backend that never sees a token costs nothing.
	once    sync.Once
	numSets int
	sets    []cacheSet
}

// cacheSet is one set of the cache. The tags and expiry times are kept
// apart from the entries so that a lookup or the choice of a victim reads
// a few cache lines only.
type cacheSet struct {
	mu    sync.RWMutex
	bytes int
	// tags hold each entry's hash, with the low bit set; 0 is an empty way.
	tags [cacheWays]uint64
	// exps hold each entry's exp in Unix nanoseconds.
	exps    [cacheWays]int64
	entries [cacheWays]cacheEntry
}

type cacheEntry struct {
	raw string
	id  *identity
	// keys is the remote key set that verified the token; nil for a
	// backend without jwks.
	keys *jwkSnapshot
}

// newTokenCache makes a cache of at most maxEntries tokens and about
// maxBytes bytes.
func newTokenCache(maxEntries, maxBytes int) *tokenCache {
	ways := min(max(maxEntries, 1), cacheWays)
	sets := max(maxEntries/ways, 1)
	return &tokenCache{
		seed:     maphash.MakeSeed(),
		ways:     ways,
		numSets:  sets,
		setBytes: max(maxBytes/sets, 1),
	}
}

// entryCost estimates the bytes an entry holds: the token, its decoded
// claims and their rendered placeholder values are each about the size of
// the token or less, plus the maps' and structs' own overhead.
func entryCost(raw string) int { return 4*len(raw) + 512 }

// cacheSlot is where a token is cached, if it is: its set and its tag.
type cacheSlot struct {
	set *cacheSet
	tag uint64
}

// slot finds the set of raw. The hash is of the token's last bytes: in a
// valid token, part of its signature, which nobody can choose without the
// key. Tokens that share them only cost a comparison of strings more.
func (c *tokenCache) slot(raw string) cacheSlot {
	c.once.Do(c.allocate)
	h := maphash.String(c.seed, raw[max(len(raw)-slotHashBytes, 0):])
	return cacheSlot{set: &c.sets[h%uint64(len(c.sets))], tag: h | 1}
}

// slotHashBytes is how much of a token's end picks its set and tag.
const slotHashBytes = 32

// find gives the way that holds raw, or -1. s.set.mu is held.
func (c *tokenCache) find(s cacheSlot, raw string) int {
	for i, tag := range s.set.tags[:c.ways] {
		if tag == s.tag && s.set.entries[i].raw == raw {
			return i
		}
	}
	return -1
}

// get returns the cached identity of raw if it was verified with keys (the
// current remote key set, or nil), or nil.
func (c *tokenCache) get(s cacheSlot, raw string, keys *jwkSnapshot) *identity {
	s.set.mu.RLock()
	var e cacheEntry
	if i := c.find(s, raw); i >= 0 {
		e = s.set.entries[i]
	}
	s.set.mu.RUnlock()
	if e.id == nil || e.keys != keys {
		return nil
	}
	return e.id
}

// put stores a verified token, evicting the entries of its set that
// expire first while the set is over its bounds.
func (c *tokenCache) put(s cacheSlot, raw string, id *identity, keys *jwkSnapshot) {
	cost := entryCost(raw)
	if cost > c.setBytes {
		return
	}
	exp := id.times.expires().UnixNano()
	set := s.set
	set.mu.Lock()
	// Another request may have stored the same token meanwhile.
	if i := c.find(s, raw); i >= 0 {
		c.drop(set, i)
	}
	for set.bytes+cost > c.setBytes {
		c.drop(set, c.victim(set))
	}
	way := -1
	for i, tag := range set.tags[:c.ways] {
		if tag == 0 {
			way = i
			break
		}
	}
	if way < 0 {
		way = c.victim(set)
		c.drop(set, way)
	}
	set.tags[way] = s.tag
	set.exps[way] = exp
	set.entries[way] = cacheEntry{raw: raw, id: id, keys: keys}
	set.bytes += cost
	set.mu.Unlock()
}

// remove drops raw if it still maps to id (another request may have
// stored a newer verification meanwhile).
func (c *tokenCache) remove(s cacheSlot, raw string, id *identity) {
	s.set.mu.Lock()
	if i := c.find(s, raw); i >= 0 && s.set.entries[i].id == id {
		c.drop(s.set, i)
	}
	s.set.mu.Unlock()
}

// victim is the way of a set whose token expires first; the set holds at
// least one token. set.mu is held.
func (c *tokenCache) victim(set *cacheSet) int {
	way := -1
	for i, tag := range set.tags[:c.ways] {
		if tag != 0 && (way < 0 || set.exps[i] < set.exps[way]) {
			way = i
		}
	}
	return way
}

// drop empties a way. set.mu is held.
func (c *tokenCache) drop(set *cacheSet, way int) {
	set.bytes -= entryCost(set.entries[way].raw)
	set.tags[way] = 0
	set.entries[way] = cacheEntry{}
}

func (c *tokenCache) allocate() { c.sets = make([]cacheSet, c.numSets) }

// len counts the cached tokens.
func (c *tokenCache) len() int {
	c.once.Do(c.allocate)
	n := 0
	for i := range c.sets {
		set := &c.sets[i]
		set.mu.RLock()
		for _, tag := range set.tags {
			if tag != 0 {
				n++
			}
		}
		set.mu.RUnlock()
	}
	return n
}

// tokenTimes are a verified token's exp, nbf and iat, as jwt.Claims for
// golang-jwt's validator; its other claims read as absent, since they do
// not change with time and were checked when the token was verified.
type tokenTimes struct {
	exp, nbf, iat *jwt.NumericDate
}

func (t *tokenTimes) GetExpirationTime() (*jwt.NumericDate, error) { return t.exp, nil }
func (t *tokenTimes) GetNotBefore() (*jwt.NumericDate, error)      { return t.nbf, nil }
func (t *tokenTimes) GetIssuedAt() (*jwt.NumericDate, error)       { return t.iat, nil }
func (t *tokenTimes) GetIssuer() (string, error)                   { return "", nil }
func (t *tokenTimes) GetSubject() (string, error)                  { return "", nil }
func (t *tokenTimes) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// readTimes reads the time claims of a token.
func readTimes(claims jwt.MapClaims) (t tokenTimes, err error) {
	var errExp, errNbf, errIat error
	t.exp, errExp = claims.GetExpirationTime()
	t.nbf, errNbf = claims.GetNotBefore()
	t.iat, errIat = claims.GetIssuedAt()
	return t, errors.Join(errExp, errNbf, errIat)
}

// expires is exp, or the zero time if there is none.
func (t *tokenTimes) expires() time.Time {
	if t.exp == nil {
		return time.Time{}
	}
	return t.exp.Time
}

// Interface guards
var (
	_ jwt.Claims = (*tokenTimes)(nil)
)
