package caddyjwt

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Bounds of a backend's verified-token cache. A token is at most 8 KiB
// (maxTokenBytes), so the byte bound is what holds when tokens are large:
// 32 MiB fits 10,000 tokens of about 650 bytes, or about 1,000 of 8 KiB.
const (
	defaultCacheEntries = 10_000
	defaultCacheBytes   = 32 << 20

	// cacheShards spreads a big cache over this many locks, so that two
	// cores verifying different tokens rarely wait for each other.
	cacheShards = 16
	// evictionSample is how many entries an insert into a full shard
	// looks at; it evicts the one that expires first.
	evictionSample = 4
)

// tokenCache remembers the tokens a backend has verified, so that a token
// seen again skips the signature check and the claims parsing: the costly
// part of jwt_auth, which would otherwise be paid on every request.
//
// It is a cache of decisions that cannot change while it holds them:
//
//   - An entry is found only by the whole token string (map key equality
//     compares every byte), never by a hash alone, so a token that differs
//     in one byte is verified from scratch.
//   - Only tokens that passed every check are stored; a refused token is
//     never cached, so refused tokens cannot evict good ones.
//   - What depends on the clock (exp, nbf, iat) is checked again on every
//     hit, by golang-jwt's own validator with the backend's leeway and
//     clock; a token that fails it is dropped and verified from scratch, so
//     its refusal reads exactly as without the cache. No entry outlives its
//     token's exp by more than the leeway.
//   - An entry is tied to the remote key set (jwks) it was verified with:
//     once the set is replaced, the token is verified again against the new
//     set, so a key the provider withdrew stops verifying at the same moment
//     with and without the cache. Static keys only change with the config,
//     and a new config means new backends, each with an empty cache.
//   - The cache is bounded by entry count and by an estimate of the bytes
//     it holds; a full shard evicts the entry that expires first among a few
//     picked at random (Go's map iteration order is randomized).
//
// The cached identity is shared by every request carrying the token, so it
// is never modified after it is stored.
type tokenCache struct {
	seed   maphash.Seed
	shards []cacheShard
}

type cacheShard struct {
	mu       sync.RWMutex
	entries  map[string]cacheEntry
	bytes    int
	maxLen   int
	maxBytes int
}

type cacheEntry struct {
	id *identity
	// keys is the remote key set that verified the token; nil for a
	// backend without jwks.
	keys *jwkSnapshot
	cost int
}

// newTokenCache makes a cache of at most maxEntries tokens and about
// maxBytes bytes.
func newTokenCache(maxEntries, maxBytes int) *tokenCache {
	n := cacheShards
	if maxEntries < 64*cacheShards {
		n = 1 // a small cache is one shard, so that the bound is exact
	}
	c := &tokenCache{seed: maphash.MakeSeed(), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i] = cacheShard{
			entries:  make(map[string]cacheEntry),
			maxLen:   max(maxEntries/n, 1),
			maxBytes: max(maxBytes/n, 1),
		}
	}
	return c
}

// entryCost estimates the bytes an entry holds: the token, its decoded
// claims and their rendered placeholder values are each about the size of
// the token or less, plus the maps' and structs' own overhead.
func entryCost(raw string) int { return 4*len(raw) + 512 }

// shard is where raw is cached, if it is.
func (c *tokenCache) shard(raw string) *cacheShard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, raw)%uint64(len(c.shards))]
}

// get returns the cached identity of raw if it was verified with keys (the
// current remote key set, or nil), or nil. s is c.shard(raw).
func (s *cacheShard) get(raw string, keys *jwkSnapshot) *identity {
	s.mu.RLock()
	e, ok := s.entries[raw]
	s.mu.RUnlock()
	if !ok || e.keys != keys {
		return nil
	}
	return e.id
}

// put stores a verified token, evicting others while the shard is over
// its bounds.
func (s *cacheShard) put(raw string, id *identity, keys *jwkSnapshot) {
	cost := entryCost(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.entries[raw]; ok {
		s.bytes -= old.cost
		delete(s.entries, raw)
	}
	for len(s.entries) > 0 && (len(s.entries) >= s.maxLen || s.bytes+cost > s.maxBytes) {
		s.evictOne()
	}
	if cost > s.maxBytes {
		return
	}
	s.entries[raw] = cacheEntry{id: id, keys: keys, cost: cost}
	s.bytes += cost
}

// remove drops raw if it still maps to id (another request may have
// stored a newer verification meanwhile).
func (s *cacheShard) remove(raw string, id *identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[raw]; ok && e.id == id {
		s.bytes -= e.cost
		delete(s.entries, raw)
	}
}

// len counts the cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}

// evictOne removes, among a few entries picked at random, the one that
// expires first; an expired entry is the first to go. s.mu is held.
func (s *cacheShard) evictOne() {
	var victim string
	var victimExp time.Time
	seen := 0
	for raw, e := range s.entries {
		if exp := e.id.times.expires(); seen == 0 || exp.Before(victimExp) {
			victim, victimExp = raw, exp
		}
		if seen++; seen == evictionSample {
			break
		}
	}
	s.bytes -= s.entries[victim].cost
	delete(s.entries, victim)
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

// expires is exp, or the zero time if there is none.
func (t *tokenTimes) expires() time.Time {
	if t.exp == nil {
		return time.Time{}
	}
	return t.exp.Time
}

// Interface guards
var _ jwt.Claims = (*tokenTimes)(nil)
