package caddyjwt

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// hmacMinKeyBytes is the shortest secret each HMAC algorithm accepts: a key
// at least as long as the hash output (RFC 7518 §3.2).
var hmacMinKeyBytes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// Secret is one HMAC key of a backend. The first secret of a backend signs
// new tokens; every secret verifies, which is how secrets are rotated.
type Secret struct {
	// The key itself: the bytes of this string, as PyJWT and fastapi-users
	// use them. Placeholders such as {env.JWT_SECRET} or {file./run/secret}
	// are resolved when the config is loaded. Required.
	Value string `json:"value"`

	// Optional key ID. When set, tokens signed with this secret carry it as
	// their `kid` header, and a token naming this kid is checked against
	// this secret only. Default: none.
	KeyID string `json:"kid,omitempty"`
}

// checkSecret tells whether secret is long enough for alg.
func checkSecret(alg string, secret []byte) error {
	if len(secret) == 0 {
		return errors.New("secret is empty")
	}
	if min := hmacMinKeyBytes[alg]; len(secret) < min {
		return fmt.Errorf("secret is %d bytes; %s needs at least %d (RFC 7518 §3.2)", len(secret), alg, min)
	}
	return nil
}

// verificationKey is one key a token may be checked against.
type verificationKey struct {
	kid string
	key any
}

// keySet is a backend's key material: the one key that signs and every key
// that verifies, indexed by kid. It is built once at provision and read-only
// afterwards, so requests share it without locks.
type keySet struct {
	method  jwt.SigningMethod
	signKey any // nil for a verify-only backend
	signKID string

	keys  []verificationKey
	byKID map[string]any
	// anyKey holds every key that a token without kid is tried against.
	anyKey jwt.VerificationKeySet
}

// newHMACKeySet builds the key set of an HMAC backend from its resolved
// secrets; the first one signs.
func newHMACKeySet(alg string, secrets []Secret) (*keySet, error) {
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, fmt.Errorf("unknown algorithm %q", alg)
	}
	ks := &keySet{method: method, byKID: make(map[string]any)}
	for i, s := range secrets {
		key := []byte(s.Value)
		if err := checkSecret(alg, key); err != nil {
			return nil, err
		}
		if i == 0 {
			ks.signKey, ks.signKID = key, s.KeyID
		}
		if err := ks.add(s.KeyID, key); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (ks *keySet) add(kid string, key any) error {
	if kid != "" {
		if _, dup := ks.byKID[kid]; dup {
			return fmt.Errorf("key ID %q is used twice", kid)
		}
		ks.byKID[kid] = key
	}
	ks.keys = append(ks.keys, verificationKey{kid: kid, key: key})
	ks.anyKey.Keys = append(ks.anyKey.Keys, key)
	return nil
}

// Errors a key lookup gives; authenticate.go turns them into the
// error_description of a 401.
var (
	errAlgorithm = errors.New("algorithm not allowed")
	errCrit      = errors.New("critical header not supported")
	errUnknownKI = errors.New("unknown key ID")
)

// keyfunc gives golang-jwt the key(s) to verify t with. It is the only place
// where a token's header influences which key is used, so every header rule
// of RFC 8725 is enforced here: the algorithm must be exactly the backend's,
// `crit` is refused, and `kid` selects among configured keys only (`jwk`,
// `jku`, `x5u` and `x5c` are never looked at).
func (ks *keySet) keyfunc(t *jwt.Token) (any, error) {
	if t.Method == nil || t.Method.Alg() != ks.method.Alg() {
		return nil, errAlgorithm
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, present := t.Header["kid"]
	if !present {
		if len(ks.anyKey.Keys) == 1 {
			return ks.anyKey.Keys[0], nil
		}
		return ks.anyKey, nil
	}
	if s, ok := kid.(string); ok {
		if key, ok := ks.byKID[s]; ok {
			return key, nil
		}
	}
	return nil, errUnknownKI
}
