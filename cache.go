// The verified-token cache. It is written here rather than taken from a
// general cache library because its entries must be compared by the whole
// token, tied to the key set that verified them, bounded in bytes as well as
// entries, and read without allocating on every request.

package caddyjwt

import (
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// CacheConfig sizes a backend's verified-token cache: a token seen again
// skips the signature check and the claims parsing, and only its exp, nbf
// and iat are checked again. The cache holds up to Entries tokens and
// about Size bytes, whichever bound is reached first.
type CacheConfig struct {
	// How many verified tokens the cache holds at most: one per active
	// user and device, so at least as many as the tokens in use within a
	// token lifetime. Default: 100000.
	Entries int `json:"entries,omitempty"`

	// About how many bytes the cached tokens may take, counting each entry
	// as four times its token plus 512 bytes (more than measured: 540
	// bytes for a 196-byte token). At least 64 KiB. Default: 128 MiB.
	Size int64 `json:"size,omitempty"`

	// Turns the cache off: every request's token is verified in full.
	// Default: false.
	Disabled bool `json:"disabled,omitempty"`
}

// Bounds of a backend's verified-token cache. The defaults hold 100,000
// tokens of up to 207 bytes (jwt_login's are about 200 without issuer or
// audience), and 50,000 of up to 543 bytes: 50,000 active users with room
// to spare, in about 70 MB when full (measured: 540 bytes an entry with
// its token, TestCacheEntryCostCoversWhatAnEntryHolds, and 133 bytes a
// token of the sets' own room). A token is at most 8 KiB (maxTokenBytes),
// so the byte bound is what holds when tokens are large.
const (
	defaultCacheEntries = 100_000
	defaultCacheBytes   = 128 << 20

	// minCacheBytes holds a few of the largest tokens; maxCacheEntries
	// keeps the sets' own room (133 bytes a token) under 1.5 GB;
	// maxCacheBytes is more than that many of the largest tokens take.
	minCacheBytes   = 64 << 10
	maxCacheEntries = 10_000_000
	maxCacheBytes   = 1 << 46

	// cacheWays is how many tokens share a set: the ones a token may
	// evict, and the ones a lookup compares it with.
	cacheWays = 16

	// cacheRoom is how many ways there are for each token the cache may
	// hold: with twice the room, tokens whose hashes crowd into one set
	// still fit, so that a cache holding fewer tokens than its bound keeps
	// them all (a set fills up at 16 tokens, about twice its share).
	cacheRoom = 2

	// cacheSeen is how many tokens seen once a set remembers (offer):
	// twice as many as it holds, so that a token is forgotten only after
	// that many others of its set were seen, as when the tokens in use
	// are several times more than the cache holds.
	cacheSeen = 2 * cacheWays
)

// newBackendCache makes the cache a backend's config asks for, counting its
// lookups in reg (which may be nil) under the backend's name.
func newBackendCache(cfg *CacheConfig, backend string, reg *prometheus.Registry) (*tokenCache, error) {
	entries, bytes := defaultCacheEntries, int64(defaultCacheBytes)
	if cfg != nil {
		if cfg.Disabled {
			entries, bytes = 0, 0
		}
		if cfg.Entries > 0 {
			entries = cfg.Entries
		}
		if cfg.Size > 0 {
			bytes = cfg.Size
		}
	}
	c := newTokenCache(entries, int(min(bytes, int64(maxCacheBytes))))
	var err error
	c.hits, c.misses, err = cacheLookupCounters(reg, backend)
	return c, err
}

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
//     never cached, so refused tokens cannot evict good ones. A good token
//     is stored on its second sight (offer), so tokens used once cannot
//     evict them either.
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
//     holds, both counted for the whole cache.
//
// It is set-associative, like a CPU cache: a token's hash picks one set of
// cacheWays entries, each set with its own lock, and a token entering a
// full set, or a cache at one of its bounds, evicts the token of its set
// that expires first. There are cacheRoom ways for each token the cache
// may hold, so that sets fill up only once the cache is about full. A
// lookup or an insert touches one set and nothing else, which keeps a miss
// cheap even when the cache is full; a Go map under constant insertion and
// eviction costs several times as much (random iteration to pick a victim,
// tombstones, rehashing).
//
// The cached identity is shared by every request carrying the token, so it
// is never modified after it is stored.
type tokenCache struct {
	seed maphash.Seed
	// ways is the number of entries per set: cacheWays, or fewer in a
	// cache smaller than one set.
	ways int
	// The bounds, and what the cache holds: tokens and the estimate of
	// their bytes (entryCost).
	maxEntries, maxBytes int64
	entries, bytes       atomic.Int64
	// hits and misses count the lookups, for caddy_jwt_cache_lookups_total.
	hits, misses prometheus.Counter

	// The sets are allocated a page at a time, when a token is first
	// looked up in one of a page's sets: a backend that sees few tokens
	// costs little memory, and the garbage collector, which scans every
	// allocated set, little time.
	once    sync.Once
	numSets int
	pages   []atomic.Pointer[cachePage]
}

// setsPerPage is how many sets are allocated at once: about 68 KB.
const setsPerPage = 64

type cachePage [setsPerPage]cacheSet

// cacheSet is one set of the cache. The tags and expiry times are kept
// apart from the entries so that a lookup or the choice of a victim reads
// a few cache lines only.
type cacheSet struct {
	mu sync.RWMutex
	// used is how many ways hold a token.
	used int
	// tags hold each entry's hash, with the low bit set; 0 is an empty way.
	tags [cacheWays]uint64
	// exps hold each entry's exp in Unix nanoseconds.
	exps    [cacheWays]int64
	entries [cacheWays]cacheEntry
	// seen holds the tags of the set's last tokens verified and not
	// cached (offer), and seenNext where the next one goes.
	seen     [cacheSeen]uint64
	seenNext int
}

type cacheEntry struct {
	raw string
	id  *identity
	// keys is the remote key set that verified the token; nil for a
	// backend without jwks.
	keys *jwkSnapshot
}

// newTokenCache makes a cache of at most maxEntries tokens and about
// maxBytes bytes; with 0 entries, it holds nothing. A cache of up to
// cacheWays tokens is one set; a larger one has cacheRoom ways for each.
// Its lookups count for nobody until they are given counters.
func newTokenCache(maxEntries, maxBytes int) *tokenCache {
	ways := min(max(maxEntries, 1), cacheWays)
	sets := 1
	if maxEntries > cacheWays {
		sets = (maxEntries*cacheRoom + cacheWays - 1) / cacheWays
	}
	if maxEntries <= 0 {
		sets = 0
	}
	return &tokenCache{
		seed:       maphash.MakeSeed(),
		ways:       ways,
		maxEntries: int64(maxEntries),
		maxBytes:   int64(maxBytes),
		numSets:    sets,
		hits:       prometheus.NewCounter(prometheus.CounterOpts{Name: "hits"}),
		misses:     prometheus.NewCounter(prometheus.CounterOpts{Name: "misses"}),
	}
}

// entryCost estimates the bytes an entry holds: the token, its decoded
// claims and their rendered placeholder values are each about the size of
// the token or less, plus the maps' and structs' own overhead.
func entryCost(raw string) int { return 4*len(raw) + 512 }

// cacheSlot is where a token is cached, if it is: its set and its tag. A
// cache that holds nothing gives the zero slot, which is never found.
type cacheSlot struct {
	set *cacheSet
	tag uint64
}

// slot finds the set of raw. The hash is of the token's last bytes: in a
// valid token, part of its signature, which nobody can choose without the
// key. Tokens that share them only cost a comparison of strings more.
func (c *tokenCache) slot(raw string) cacheSlot {
	c.once.Do(c.allocate)
	if c.numSets == 0 {
		return cacheSlot{}
	}
	h := maphash.String(c.seed, raw[max(len(raw)-slotHashBytes, 0):])
	return cacheSlot{set: c.set(int(h % uint64(c.numSets))), tag: h | 1}
}

// set gives the i-th set, allocating its page if it is the first of the
// page's sets to be asked for.
func (c *tokenCache) set(i int) *cacheSet {
	p := &c.pages[i/setsPerPage]
	page := p.Load()
	if page == nil {
		page = new(cachePage)
		if !p.CompareAndSwap(nil, page) {
			page = p.Load()
		}
	}
	return &page[i%setsPerPage]
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
// current remote key set, or nil), or nil. It counts nothing: Verify
// counts a lookup once it knows whether the entry serves (count).
func (c *tokenCache) get(s cacheSlot, raw string, keys *jwkSnapshot) *identity {
	if s.set == nil {
		return nil
	}
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

// count counts a lookup of s as a hit, a token the cache answered, or a
// miss, one verified in full; a cache that holds nothing counts none.
func (c *tokenCache) count(s cacheSlot, hit bool) {
	switch {
	case s.set == nil:
	case hit:
		c.hits.Inc()
	default:
		c.misses.Inc()
	}
}

// put stores a verified token, evicting the entries of its set that
// expire first while the cache is at its bounds or the set is full. Any
// set will do to make room in, since a token's set is random; one with no
// other token to evict leaves the token out.
func (c *tokenCache) put(s cacheSlot, raw string, id *identity, keys *jwkSnapshot) {
	cost := int64(entryCost(raw))
	if s.set == nil || cost > c.maxBytes {
		return
	}
	exp := id.times.expires().UnixNano()
	set := s.set
	set.mu.Lock()
	defer set.mu.Unlock()
	// Another request may have stored the same token meanwhile.
	if i := c.find(s, raw); i >= 0 {
		c.drop(set, i)
	}
	for c.entries.Load() >= c.maxEntries || c.bytes.Load()+cost > c.maxBytes {
		if set.used == 0 {
			return
		}
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
	set.used++
	c.entries.Add(1)
	c.bytes.Add(cost)
}

// offer caches a token just verified on its second sight: the first one
// only marks its tag in its set's seen, and a token verified while its
// mark is there is stored (put). The mark stays, so that a token dropped
// from the cache, as when the key set changed, is stored again on its next
// sight. A token used once, as by a client that mints one for each call,
// or by a flood of valid tokens, then never evicts the token of a user
// who comes back, and the cache keeps only tokens worth keeping, which is
// less memory for the garbage collector to trace. A set remembers its
// last cacheSeen tokens, so a mark is lost only to many newer tokens of
// its set, which delays caching to a later sight.
func (c *tokenCache) offer(s cacheSlot, raw string, id *identity, keys *jwkSnapshot) {
	if s.set == nil {
		return
	}
	set := s.set
	set.mu.Lock()
	if !slices.Contains(set.seen[:], s.tag) {
		set.seen[set.seenNext] = s.tag
		set.seenNext = (set.seenNext + 1) % cacheSeen
		set.mu.Unlock()
		return
	}
	set.mu.Unlock()
	c.put(s, raw, id, keys)
}

// remove drops raw if it still maps to id (another request may have
// stored a newer verification meanwhile).
func (c *tokenCache) remove(s cacheSlot, raw string, id *identity) {
	if s.set == nil {
		return
	}
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
	c.entries.Add(-1)
	c.bytes.Add(-int64(entryCost(set.entries[way].raw)))
	set.used--
	set.tags[way] = 0
	set.entries[way] = cacheEntry{}
}

func (c *tokenCache) allocate() {
	c.pages = make([]atomic.Pointer[cachePage], (c.numSets+setsPerPage-1)/setsPerPage)
}

// len counts the cached tokens.
func (c *tokenCache) len() int {
	c.once.Do(c.allocate)
	n := 0
	for i := range c.pages {
		page := c.pages[i].Load()
		if page == nil {
			continue
		}
		for j := range page {
			set := &page[j]
			set.mu.RLock()
			for _, tag := range set.tags {
				if tag != 0 {
					n++
				}
			}
			set.mu.RUnlock()
		}
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
