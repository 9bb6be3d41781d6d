// Refresh tokens: a login's family of one-use refresh tokens, the rule that
// rotates them and treats a reused one as stolen, and the grant that
// exchanges one for new tokens.

package caddyjwt

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// Refresh lets a backend's logins stay signed in: a login also gets a
// refresh token, which jwt_login exchanges for a new access token and a new
// refresh token (OAuth2's refresh_token grant). Each refresh token works
// once; one used again after a short grace ends its whole login (family).
type Refresh struct {
	// How long a login can be refreshed, counted from the login (not from
	// the last refresh). It must be positive. Default: none; required.
	Lifetime caddy.Duration `json:"lifetime,omitempty"`

	// A login not refreshed for this long ends. It must be shorter than
	// the lifetime. Default: 0, no idle limit.
	Idle caddy.Duration `json:"idle,omitempty"`
}

// refreshGrace is how long after its use a refresh token still gets the
// same successor: two tabs that refresh at once are not a theft.
const refreshGrace = 10 * time.Second

// maxFamilyHashes bounds the used tokens a family remembers for reuse
// detection where the store keeps them in the family (memory).
const maxFamilyHashes = 1000

// errStoreDown is the answer of a store that cannot be reached.
var errStoreDown = errors.New("store unreachable")

// family is one login's refresh tokens. Its ID is the `sid` of the access
// tokens issued in it. Tokens are kept as hashes only (refreshHash).
type family struct {
	ID      string `json:"id"`
	Backend string `json:"backend"`
	// User is the login name, looked up again at every refresh; UserID is
	// the user claim of its tokens, which user revocations name.
	User   string `json:"user"`
	UserID string `json:"user_id"`
	// Created (the iat of its first access token), Expires and LastUsed
	// are Unix seconds.
	Created  int64 `json:"created"`
	Expires  int64 `json:"expires"`
	LastUsed int64 `json:"last_used"`
	// Current is the hash of the token that refreshes next; Recent are
	// the tokens used within the grace.
	Current string      `json:"current"`
	Recent  []usedToken `json:"recent,omitempty"`
	// Hashes are the family's tokens, newest last, where the store has no
	// index of its own (memory).
	Hashes []string `json:"hashes,omitempty"`
	Ended  bool     `json:"ended,omitempty"`
}

// usedToken is a token of a family and when it was used, in Unix
// milliseconds.
type usedToken struct {
	Hash string `json:"hash"`
	AtMs int64  `json:"at_ms"`
}

// maxRecentTokens bounds the tokens a family remembers as used within the
// grace: more refreshes than this within 10 s are not a person's tabs.
const maxRecentTokens = 16

// usedWithinGrace tells whether the token of hash h was used less than
// the grace before now.
func (f *family) usedWithinGrace(h string, now time.Time) bool {
	for _, u := range f.Recent {
		if u.Hash == h && now.UnixMilli()-u.AtMs <= refreshGrace.Milliseconds() {
			return true
		}
	}
	return false
}

// rotate makes next the current token, h having been used at now.
func (f *family) rotate(h, next string, now time.Time) {
	recent := f.Recent[:0:0]
	for _, u := range f.Recent {
		if now.UnixMilli()-u.AtMs <= refreshGrace.Milliseconds() {
			recent = append(recent, u)
		}
	}
	recent = append(recent, usedToken{h, now.UnixMilli()})
	if n := len(recent) - maxRecentTokens; n > 0 {
		recent = recent[n:]
	}
	f.Recent, f.Current, f.LastUsed = recent, next, now.Unix()
}

// live tells whether f can still be refreshed at now.
func (f *family) live(now time.Time, idle time.Duration) bool {
	return !f.Ended && now.Unix() < f.Expires && (idle <= 0 || now.Sub(time.Unix(f.LastUsed, 0)) < idle)
}

// familyStore keeps refresh token families. Each call is one atomic step
// for every instance sharing the store; a store that cannot be reached
// answers errStoreDown, or the error of the call.
type familyStore interface {
	// createFamily stores a new family, whose current token hash is
	// f.Current.
	createFamily(ctx context.Context, f *family) error
	// familyOf finds the id of the family that had the token of hash h.
	familyOf(ctx context.Context, backend, h string) (id string, ok bool, err error)
	// updateFamily runs change on the family and saves it when change
	// says so; a new Current is from then on found by familyOf. It tells
	// whether the family exists.
	updateFamily(ctx context.Context, backend, id string, change func(f *family) (save bool)) (bool, error)
}

// refreshOutcome is what presenting a refresh token did to its family.
type refreshOutcome int

const (
	refreshUnknown  refreshOutcome = iota // no family has this token
	refreshEnded                          // expired, idle too long, revoked or ended
	refreshRotated                        // the current token: a successor issued
	refreshRepeated                       // the previous one, within the grace: the same successor
	refreshReused                         // an older one: the family is ended
)

// refreshState is what a backend with refresh needs at run time.
type refreshState struct {
	lifetime, idle time.Duration
	// key makes a token's successor (successorOf); it is derived from the
	// signing key, so that every instance derives the same successor.
	key []byte
	// path is the refresh cookie's Path: the cookie's refresh_path, or
	// the path of the backend's jwt_login (set as logins provision).
	path string
}

// refreshNow is the time the rotation rule reads: the clock, moved by
// refreshOffset, which tests set.
func (b *Backend) refreshNow() time.Time {
	return time.Now().Add(time.Duration(b.refreshOffset.Load()))
}

// newRefreshState prepares the refresh settings of a provisioned backend.
func newRefreshState(r *Refresh, signKey any, path string) (*refreshState, error) {
	var material []byte
	switch k := signKey.(type) {
	case []byte:
		material = k
	case nil:
		return nil, errors.New("needs a key that signs")
	default:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("deriving the refresh key: %v", err)
		}
		material = der
	}
	mac := hmac.New(sha256.New, material)
	mac.Write([]byte("caddy-jwt refresh token successor"))
	return &refreshState{
		lifetime: time.Duration(r.Lifetime),
		idle:     time.Duration(r.Idle),
		key:      mac.Sum(nil),
		path:     path,
	}, nil
}

// successorOf is the token that follows raw in its family: the same for
// every instance and every repeat, and nothing an outsider can compute.
func (rs *refreshState) successorOf(raw string) string {
	mac := hmac.New(sha256.New, rs.key)
	mac.Write([]byte(raw))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// refreshHash is how a refresh token is stored: its SHA-256.
func refreshHash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomID is n random bytes, base64url: token ids, family ids, refresh
// tokens.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// apply is the rotation rule: what presenting the token of hash h at now
// does to f, whose successor would be the token of hash next.
func (b *Backend) apply(f *family, h, next string, now time.Time) refreshOutcome {
	rs := b.refresh
	switch {
	case !f.live(now, rs.idle),
		b.revs.userRevokedAt(b.name, f.UserID) >= f.Created,
		b.revs.sidRevoked(b.name, f.ID):
		return refreshEnded
	case f.Current == h:
		f.rotate(h, next, now)
		return refreshRotated
	case f.usedWithinGrace(h, now):
		f.LastUsed = now.Unix()
		return refreshRepeated
	default:
		f.Ended = true
		return refreshReused
	}
}

// issued is what a successful login or refresh hands out.
type issued struct {
	token     string
	expiresIn int64
	// refresh is the refresh token, "" when there is none (no refresh, or
	// the store could not keep a family); refreshIn its seconds to live.
	refresh   string
	refreshIn int64
}

// login issues the tokens of a login: an access token and, with refresh,
// a new family. A store that cannot keep the family leaves the login
// without a refresh token rather than failing it.
func (b *Backend) login(ctx context.Context, a *account) (issued, error) {
	if b.refresh == nil {
		token, _, err := b.Issue(a, "")
		return issued{token: token, expiresIn: b.expiresIn()}, err
	}
	sid, err := randomID(16)
	if err != nil {
		return issued{}, err
	}
	token, iat, err := b.Issue(a, sid)
	if err != nil {
		return issued{}, err
	}
	out := issued{token: token, expiresIn: b.expiresIn()}
	raw, err := randomID(32)
	if err != nil {
		return issued{}, err
	}
	now := b.refreshNow()
	expires := now.Add(b.refresh.lifetime).Unix()
	f := &family{
		ID: sid, Backend: b.name, User: a.name, UserID: a.id,
		Created: iat, Expires: expires, LastUsed: now.Unix(), Current: refreshHash(raw),
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := b.store.families().createFamily(ctx, f); err != nil {
		b.logger.Warn("login without a refresh token: the store could not keep it", zap.Error(err))
		return out, nil
	}
	out.refresh, out.refreshIn = raw, expires-now.Unix()
	return out, nil
}

// refreshResult is the answer to a refresh grant.
type refreshResult struct {
	issued
	outcome refreshOutcome
	user    string // the user refreshed, for logs
	sid     string
}

// exchange applies the refresh grant to raw: on success it issues a new
// access token and the successor refresh token. A reused token ends its
// family and revokes the family's access tokens. err is errStoreDown, or
// another error of the store or the signer; a refused token is an outcome.
func (b *Backend) exchange(ctx context.Context, raw string) (refreshResult, error) {
	rs := b.refresh
	ctx, cancel := context.WithTimeout(ctx, 2*redisTimeout)
	defer cancel()
	fs := b.store.families()
	h := refreshHash(raw)
	id, ok, err := fs.familyOf(ctx, b.name, h)
	if err != nil {
		return refreshResult{}, err
	}
	if !ok {
		return refreshResult{outcome: refreshUnknown}, nil
	}
	next := rs.successorOf(raw)
	nextHash := refreshHash(next)
	now := b.refreshNow()
	var f family
	var a *account
	res := refreshResult{outcome: refreshUnknown, sid: id}
	found, err := fs.updateFamily(ctx, b.name, id, func(cur *family) bool {
		f = *cur
		// The user is read again first: a removed or disabled one's
		// token is refused as it is, not taken for a reuse later.
		var ok bool
		if a, ok = b.users.current().accounts[cur.User]; !ok || a.disabled {
			res.outcome = refreshEnded
			return false
		}
		res.outcome = b.apply(cur, h, nextHash, now)
		f = *cur
		return res.outcome != refreshEnded
	})
	switch {
	case err != nil:
		return refreshResult{}, err
	case !found:
		return refreshResult{outcome: refreshUnknown}, nil
	}
	res.user = f.User
	switch res.outcome {
	case refreshReused:
		b.revokeFamily(f.ID)
		return res, nil
	case refreshEnded:
		return res, nil
	}
	token, _, err := b.Issue(a, f.ID)
	if err != nil {
		return refreshResult{}, err
	}
	res.issued = issued{token: token, expiresIn: b.expiresIn(), refresh: next, refreshIn: max(f.Expires-now.Unix(), 1)}
	return res, nil
}

// revokeFamily ends the family sid and refuses its access tokens, on every
// instance: the revocation, which it returns, reaches them even if the
// store is down now.
func (b *Backend) revokeFamily(sid string) revocation {
	rev := b.familyRevocation(sid, time.Now())
	b.store.revoke(rev)
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	// Ending it in the store too refuses its refresh token at once on
	// instances that have not yet heard of the revocation.
	_, _ = b.store.families().updateFamily(ctx, b.name, sid, func(f *family) bool {
		if f.Ended {
			return false
		}
		f.Ended = true
		return true
	})
	return rev
}

// familyRevocation revokes the access tokens of family sid. It is kept as
// long as the family could have issued a token still valid.
func (b *Backend) familyRevocation(sid string, now time.Time) revocation {
	until := now.Add(b.lifetime + b.leeway)
	if b.refresh != nil {
		until = until.Add(b.refresh.lifetime)
	}
	return revocation{Backend: b.name, SID: sid, Until: until.Unix()}
}

// familyLive tells whether the family sid can still be refreshed; a store
// that cannot tell counts it as live.
func (b *Backend) familyLive(ctx context.Context, sid string) bool {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	live := false
	found, err := b.store.families().updateFamily(ctx, b.name, sid, func(f *family) bool {
		live = f.live(b.refreshNow(), b.refresh.idle)
		return false
	})
	return err != nil || (found && live)
}

// expiredSID is the family of an access token whose signature verifies,
// whatever its times say; "" for any other token.
func (b *Backend) expiredSID(raw string) string {
	if len(raw) > maxTokenBytes {
		return ""
	}
	claims := jwt.MapClaims{}
	if _, err := b.parser.ParseWithClaims(raw, claims, b.keys.keyfunc); err != nil {
		return ""
	}
	sid, _ := claims["sid"].(string)
	return sid
}

// expiresIn is an access token's lifetime in whole seconds.
func (b *Backend) expiresIn() int64 { return int64(b.lifetime / time.Second) }
