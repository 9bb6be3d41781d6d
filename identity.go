// The identity of a verified token: what jwt_auth hands to the routes after
// it, as placeholders and as claims for golang-jwt's validator.

package caddyjwt

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// identity is what a verified token says about its bearer, prepared once
// for every request that carries the token: the verified-token cache hands
// the same identity to all of them, so it is never modified once made.
// It is the token's claims for golang-jwt's validator too (cache.go), with
// the time claims read once.
type identity struct {
	backend string
	userID  string
	// jti is the token's id, by which it can be revoked; "" when it has
	// none.
	jti string
	// sid is the refresh family the token was issued in, by which it is
	// revoked with its family; "" when it has none.
	sid string
	// raw is the token, and payload its claims set, the JSON it signed:
	// one string the cache keeps, so one object to trace (tokenText); the
	// user ID, jti and sid usually share it too. decoded holds the claims
	// decoded, once claims has been asked for them, or while the token is
	// verified. claimsUsed is the backend's mark that something has asked.
	raw, payload string
	decoded      atomic.Pointer[jwt.MapClaims]
	claimsUsed   *atomic.Bool
	// times are the claims checked against the clock on every request;
	// they point into dates (keepTimes).
	times tokenTimes
	dates [3]jwt.NumericDate
	// validFrom and validUntil are when, in Unix nanoseconds, the times
	// let the token through, the leeway applied (keepTimes): a cache hit
	// compares the clock with them rather than with each claim.
	validFrom, validUntil int64
	// The placeholder values: the backend's, boxed once by the backend;
	// each top-level claim by name, boxed once when a placeholder first
	// asks for one, since most configurations never do. The user ID is
	// boxed when asked for, and id.replace bound for each request: each
	// object a cached token holds is one more for the garbage collector to
	// trace on every collection, for as long as the token is cached, which
	// costs more than a small allocation a request (BenchmarkCollect*).
	backendValue any
	renderOnce   sync.Once
	values       map[string]any
	// notRevokedAt is the generation of the revocations at which the
	// token was last found not revoked (see revocations.revoked).
	notRevokedAt atomic.Uint64
}

// keepTimes moves the time claims into the identity, so that a cached
// token is fewer objects for the garbage collector to trace, and notes
// the span they let the token through in with leeway: from nbf and iat
// less the leeway until exp plus the leeway. A span that a Unix
// nanosecond cannot hold is bounded so that it never lets through more
// than the claims do: a token without exp, or whose nbf is past 2262, is
// left to golang-jwt's validator (Backend.timesHold).
func (id *identity) keepTimes(leeway time.Duration) {
	for i, t := range [...]**jwt.NumericDate{&id.times.exp, &id.times.nbf, &id.times.iat} {
		if *t != nil {
			id.dates[i] = **t
			*t = &id.dates[i]
		}
	}
	id.validFrom, id.validUntil = math.MinInt64, math.MinInt64
	for _, t := range [...]*jwt.NumericDate{id.times.nbf, id.times.iat} {
		if t != nil {
			id.validFrom = max(id.validFrom, unixNanos(t.Add(-leeway)))
		}
	}
	if id.times.exp != nil {
		id.validUntil = unixNanos(id.times.exp.Add(leeway))
	}
}

// unixNanos is t in Unix nanoseconds, bounded to what an int64 holds.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// claims gives the token's claims, decoded from its payload the first time
// they are asked for. The identity is shared, so two requests may decode
// them at once; both get the same claims.
func (id *identity) claims() jwt.MapClaims {
	if c := id.decoded.Load(); c != nil {
		return *c
	}
	if id.claimsUsed != nil {
		id.claimsUsed.Store(true)
	}
	claims := jwt.MapClaims{}
	// The payload decoded when the token was verified.
	_ = decodeClaims(id.payload, claims)
	id.decoded.CompareAndSwap(nil, &claims)
	return *id.decoded.Load()
}

// render prepares the claims' placeholder values; run it once, with
// renderOnce.
func (id *identity) render() {
	claims := id.claims()
	id.values = make(map[string]any, len(claims))
	for k, v := range claims {
		if _, ok := v.(string); ok {
			id.values[k] = v // already boxed in the claims
			continue
		}
		id.values[k] = claimString(v)
	}
}

// claimString renders claim values for placeholders: strings as they are,
// numbers without exponent, lists of strings joined with commas, anything
// else as compact JSON.
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		s := v.String()
		if strings.ContainsAny(s, "eE") {
			if f, err := v.Float64(); err == nil {
				return formatFloat(f)
			}
		}
		return s
	case bool:
		if v {
			return "true"
		}
		return "false"
	case nil:
		return ""
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return compactJSON(v)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ",")
	default:
		return compactJSON(v)
	}
}

func compactJSON(v any) string {
	out, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(out)
}

// replace provides the placeholders of an authenticated request, from the
// values the identity rendered once.
func (id *identity) replace(key string) (any, bool) {
	rest, ok := strings.CutPrefix(key, "http.auth.")
	if !ok {
		return nil, false
	}
	switch rest {
	case "user.id":
		return id.userID, true
	case "jwt.backend":
		return id.backendValue, true
	}
	claim, ok := strings.CutPrefix(rest, "user.")
	if !ok {
		return nil, false
	}
	id.renderOnce.Do(id.render)
	v, ok := id.values[claim]
	return v, ok
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// GetExpirationTime, GetNotBefore and GetIssuedAt give the time claims of
// an identity, read once; its other claims are read from the claims, as
// MapClaims reads them.
func (id *identity) GetExpirationTime() (*jwt.NumericDate, error) { return id.times.exp, nil }

func (id *identity) GetNotBefore() (*jwt.NumericDate, error) { return id.times.nbf, nil }

func (id *identity) GetIssuedAt() (*jwt.NumericDate, error) { return id.times.iat, nil }

func (id *identity) GetIssuer() (string, error) { return id.claims().GetIssuer() }

func (id *identity) GetSubject() (string, error) { return id.claims().GetSubject() }

func (id *identity) GetAudience() (jwt.ClaimStrings, error) { return id.claims().GetAudience() }

// Interface guard
var _ jwt.Claims = (*identity)(nil)
