// The remote JWK Set keeps its own fetch and cache rather than a JWKS client
// such as keyfunc or jwx, because the token cache and the kid lookup work on
// its immutable snapshots and either library would add a module that Caddy
// does not carry.

package caddyjwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// JWKS is a remote JWK Set (RFC 7517) that a verify-only backend checks
// tokens against, as published by an OpenID Connect provider at its
// `jwks_uri`.
//
// The set is fetched when the config loads (a failure there is logged, not
// fatal: tokens are refused until a fetch succeeds), refreshed as the
// response's `Cache-Control: max-age` says, bounded to 1 minute–24 hours
// (default 5 minutes; 1 minute after a failed fetch), and fetched again at
// once when a token names an unknown `kid`, at most once every 10 seconds
// (scheduled refreshes do not count).
// A failed fetch keeps the last good set. Keys with `use` "enc", or whose
// `alg` is not the token's, are never used; without the backend's
// `algorithm`, a key without `alg` is not used either.
type JWKS struct {
	// The URL of the set: `https`, or `http` to a loopback address.
	// Required.
	URL string `json:"url"`
}

// maxJWKSBytes is the largest JWK Set response read.
const maxJWKSBytes = 1 << 20

// jwksTiming holds the clock and the intervals of a remote key set. Each
// set has its own copy, which tests change instead of sleeping.
type jwksTiming struct {
	now            func() time.Time
	cooldown       time.Duration // least time between two fetches for unknown kids
	defaultRefresh time.Duration // without Cache-Control: max-age
	minRefresh     time.Duration
	maxRefresh     time.Duration
	timeout        time.Duration
}

func defaultJWKSTiming() jwksTiming {
	return jwksTiming{
		now:            time.Now,
		cooldown:       10 * time.Second,
		defaultRefresh: 5 * time.Minute,
		minRefresh:     time.Minute,
		maxRefresh:     24 * time.Hour,
		timeout:        5 * time.Second,
	}
}

// checkJWKSURL allows https URLs, and http only to a loopback address.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: scheme must be https", raw)
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Scheme == "https":
		return nil
	default:
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%q: plain http is allowed only to a loopback address; use https", raw)
	}
}

// remoteKeySet is the cached copy of a remote JWK Set. Requests read the
// current snapshot without locks; fetches are serialized by mu.
type remoteKeySet struct {
	url    string
	algs   []string // the backend's algorithm list; empty: each key's own alg decides
	client *http.Client
	logger *zap.Logger
	timing jwksTiming

	current atomic.Pointer[jwkSnapshot]

	mu          sync.Mutex
	lastRefetch atomic.Int64 // unix nanoseconds of the last fetch for an unknown kid, by timing.now
	next        time.Duration

	ctx    context.Context // cancelled on stop; aborts a fetch in flight
	cancel context.CancelFunc
	start  sync.Once
	stop   sync.Once
	done   chan struct{}
}

// jwkSnapshot is one fetched set, ready for lookups.
type jwkSnapshot struct {
	byKID map[string][]verificationKey
	byAlg map[string][]jwt.VerificationKey // every usable key per algorithm, for tokens without kid
}

func newRemoteKeySet(rawURL string, algs []string, logger *zap.Logger) *remoteKeySet {
	r := &remoteKeySet{
		url:    rawURL,
		algs:   algs,
		logger: logger,
		timing: defaultJWKSTiming(),
		done:   make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.client = &http.Client{
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkJWKSURL(req.URL.String())
		},
	}
	return r
}

// lookup finds the key with this kid that may verify alg, fetching the set
// again (at most once per cooldown) when there is none.
func (r *remoteKeySet) lookup(kid, alg string) any {
	if key := r.current.Load().find(kid, alg); key != nil {
		return key
	}
	r.refetch()
	return r.current.Load().find(kid, alg)
}

// keysFor gives every key that may verify alg, for a token without kid.
func (r *remoteKeySet) keysFor(alg string) []jwt.VerificationKey {
	if snap := r.current.Load(); snap != nil {
		return snap.byAlg[alg]
	}
	// Nothing fetched yet: try now rather than wait for the refresher.
	r.refetch()
	if snap := r.current.Load(); snap != nil {
		return snap.byAlg[alg]
	}
	return nil
}

func (s *jwkSnapshot) find(kid, alg string) any {
	if s == nil {
		return nil
	}
	for _, k := range s.byKID[kid] {
		if k.allows(alg) {
			return k.key
		}
	}
	return nil
}

// refetch fetches the set for a token whose key is not in it, unless the
// last such fetch is less than the cooldown ago. Scheduled refreshes do not
// count, so a key the provider adds is picked up at its first token; a
// flood of made-up kids costs one request per cooldown. Concurrent callers
// wait for the one fetch in flight and then find the cooldown running.
func (r *remoteKeySet) refetch() {
	if r.inCooldown() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inCooldown() {
		return
	}
	r.lastRefetch.Store(r.timing.now().UnixNano())
	_ = r.fetchLocked()
}

func (r *remoteKeySet) inCooldown() bool {
	last := r.lastRefetch.Load()
	return last != 0 && r.timing.now().UnixNano()-last < int64(r.timing.cooldown)
}

// fetch fetches the set now.
func (r *remoteKeySet) fetch() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetchLocked()
}

// fetchLocked fetches and parses the set; on success it becomes current,
// on failure the last good set stays. Either way it sets when the
// refresher fetches next.
func (r *remoteKeySet) fetchLocked() error {
	snap, maxAge, err := r.download()
	if err != nil {
		r.next = r.timing.minRefresh
		r.logger.Error("fetching JWK Set failed; keeping the last good set",
			zap.String("url", r.url), zap.Error(err), zap.Bool("have_keys", r.current.Load() != nil))
		return err
	}
	r.current.Store(snap)
	r.next = r.refreshInterval(maxAge)
	r.logger.Debug("fetched JWK Set",
		zap.String("url", r.url), zap.Int("key_ids", len(snap.byKID)), zap.Duration("next_refresh", r.next))
	return nil
}

// download gets and parses the set; maxAge is -1 without a max-age.
func (r *remoteKeySet) download() (*jwkSnapshot, time.Duration, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.timing.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("response is larger than %d bytes", maxJWKSBytes)
	}
	snap, skipped, err := parseJWKS(body, r.algs)
	for _, reason := range skipped {
		r.logger.Debug("JWK not used", zap.String("url", r.url), zap.String("reason", reason))
	}
	if err != nil {
		return nil, 0, err
	}
	return snap, maxAge(resp.Header.Values("Cache-Control")), nil
}

// maxAge reads the max-age directive of Cache-Control; -1 when absent.
func maxAge(values []string) time.Duration {
	for _, v := range values {
		for _, directive := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(directive), "=")
			if !strings.EqualFold(name, "max-age") {
				continue
			}
			secs, err := strconv.ParseInt(strings.Trim(arg, `"`), 10, 64)
			if err != nil || secs < 0 {
				return -1
			}
			secs = min(secs, 1<<31) // far beyond the 24 h bound; keeps the Duration from overflowing
			return time.Duration(secs) * time.Second
		}
	}
	return -1
}

// refreshInterval bounds a max-age to the refresh limits; without one it
// is the default.
func (r *remoteKeySet) refreshInterval(maxAge time.Duration) time.Duration {
	switch {
	case maxAge < 0:
		return r.timing.defaultRefresh
	case maxAge < r.timing.minRefresh:
		return r.timing.minRefresh
	case maxAge > r.timing.maxRefresh:
		return r.timing.maxRefresh
	}
	return maxAge
}

// run starts the refresher; it ends when stopRefresh is called.
func (r *remoteKeySet) run() {
	r.start.Do(func() { go r.refresh() })
}

func (r *remoteKeySet) refresh() {
	defer close(r.done)
	for {
		r.mu.Lock()
		wait := r.next
		if wait <= 0 {
			wait = r.timing.minRefresh
		}
		r.mu.Unlock()
		timer := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		_ = r.fetch()
	}
}

// stopRefresh stops the refresher and waits for it to end. It is safe to
// call more than once, and when the refresher never started.
func (r *remoteKeySet) stopRefresh() {
	r.stop.Do(func() {
		r.cancel()
		started := true
		r.start.Do(func() { started = false })
		if started {
			<-r.done
		}
	})
}

// parseJWKS reads a JWK Set. Keys it cannot use are left out, each with a
// reason in skipped; a set without one usable key is an error, so that a
// broken response never replaces a good set.
func parseJWKS(body []byte, algs []string) (snap *jwkSnapshot, skipped []string, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %v", err)
	}
	snap = &jwkSnapshot{
		byKID: make(map[string][]verificationKey),
		byAlg: make(map[string][]jwt.VerificationKey),
	}
	usable := 0
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		vk, err := k.verificationKey(algs)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, k.Kid, err))
			continue
		}
		usable++
		if vk.kid != "" {
			snap.byKID[vk.kid] = append(snap.byKID[vk.kid], vk)
		}
		for _, alg := range vk.algs {
			snap.byAlg[alg] = append(snap.byAlg[alg], vk.key)
		}
	}
	if usable == 0 {
		return nil, skipped, fmt.Errorf("no usable signature key among %d keys", len(set.Keys))
	}
	return snap, skipped, nil
}
