package caddyjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"
)

// algorithmNames are the algorithms a backend can use, in the order error
// messages list them: the HMAC ones first, then the public-key ones. The
// tables below are all derived from it or keyed by it.
var algorithmNames = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// hmacMinKeyBytes is the shortest secret each HMAC algorithm accepts: a key
// at least as long as the hash output (RFC 7518 §3.2).
var hmacMinKeyBytes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// asymmetricAlgorithms are the public-key algorithms, capped so that no
// append can write into algorithmNames.
var asymmetricAlgorithms = algorithmNames[len(hmacMinKeyBytes):len(algorithmNames):len(algorithmNames)]

// isHMAC tells whether alg takes a secret rather than a key pair.
func isHMAC(alg string) bool {
	_, ok := hmacMinKeyBytes[alg]
	return ok
}

// minRSABits is the smallest RSA modulus accepted, from a file or a JWK Set
// (NIST SP 800-131A; RFC 7518 §3.3 asks for 2048 as well).
const minRSABits = 2048

// isAlgorithm tells whether alg names an algorithm a backend can use.
func isAlgorithm(alg string) bool { return slices.Contains(algorithmNames, alg) }

// signingMethods sign and verify tokens, by algorithm: golang-jwt's, but
// for RSA-PSS, whose signatures must have a salt as long as the hash (RFC
// 7518 §3.5). golang-jwt's PSS methods accept any salt length, for tokens
// of older libraries; they are left as they are, since other plugins in
// the same Caddy share them.
var signingMethods = func() map[string]jwt.SigningMethod {
	methods := make(map[string]jwt.SigningMethod, len(algorithmNames))
	for _, alg := range algorithmNames {
		methods[alg] = jwt.GetSigningMethod(alg)
		switch m := methods[alg].(type) {
		case *jwt.SigningMethodRSAPSS:
			strict := *m
			strict.VerifyOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
			methods[alg] = &strict
		case *jwt.SigningMethodHMAC:
			methods[alg] = hmacMethod{m}
		}
	}
	return methods
}()

// hmacMethod is golang-jwt's HMAC method, verifying with a backend's
// secrets (hmacKey) by keyed hashes it reuses: a new one costs two hashes
// and the padded key, more than the hashing of a token. It signs, and
// verifies with any other key, as golang-jwt's method does.
type hmacMethod struct{ *jwt.SigningMethodHMAC }

// Verify checks sig as golang-jwt's HMAC method does: the same hash, the
// same constant-time comparison and the same errors.
func (m hmacMethod) Verify(signingString string, sig []byte, key any) error {
	k, ok := key.(*hmacKey)
	if !ok || k.hash != m.Hash {
		if ok {
			key = k.secret
		}
		return m.SigningMethodHMAC.Verify(signingString, sig, key)
	}
	h, _ := k.hashes.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(k.hash.New, k.secret)
	}
	h.Reset()
	io.WriteString(h, signingString)
	var sum [sha512.Size]byte
	valid := hmac.Equal(sig, h.Sum(sum[:0]))
	k.hashes.Put(h)
	if !valid {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

// hashOf is the hash of an HMAC method; 0, which no method has, for any
// other, so that its keys are never used with a reused hash.
func hashOf(method jwt.SigningMethod) crypto.Hash {
	if m, ok := method.(hmacMethod); ok {
		return m.Hash
	}
	return 0
}

// hmacKey is an HMAC secret as a backend verifies with it, with the keyed
// hashes hmacMethod reuses.
type hmacKey struct {
	secret []byte
	hash   crypto.Hash
	hashes sync.Pool
}

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
		return fmt.Errorf("secret is %d bytes; %s needs at least %d (RFC 7518 §3.2); make one with: openssl rand -base64 48", len(secret), alg, min)
	}
	return nil
}

// keyAlgorithms lists the algorithms a public key can verify; the first is
// the one a backend uses when `algorithm` is not set. It is nil for a key
// this plugin does not support.
func keyAlgorithms(pub crypto.PublicKey) []string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return asymmetricAlgorithms[:6:6] // RS* and PS*; capped so no append can write into the list
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// describeKey names a public key for error messages: "an RSA 2048-bit key".
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA %d-bit key", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	}
	return fmt.Sprintf("a %T key", pub)
}

// checkAlgorithm tells whether alg fits pub; the error names both.
func checkAlgorithm(alg string, pub crypto.PublicKey) error {
	algs := keyAlgorithms(pub)
	if slices.Contains(algs, alg) {
		return nil
	}
	return fmt.Errorf("%s does not fit %s (it takes %s)", alg, describeKey(pub), strings.Join(algs, ", "))
}

// checkPublicKey refuses key types and sizes this plugin does not accept.
func checkPublicKey(pub crypto.PublicKey) error {
	if keyAlgorithms(pub) == nil {
		if k, ok := pub.(*ecdsa.PublicKey); ok {
			return fmt.Errorf("unsupported EC curve %s; use P-256, P-384 or P-521", k.Curve.Params().Name)
		}
		return fmt.Errorf("unsupported key type %T; use RSA, ECDSA or Ed25519", pub)
	}
	if k, ok := pub.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return fmt.Errorf("RSA key has %d bits; at least %d are required", k.N.BitLen(), minRSABits)
	}
	return nil
}

// verificationKey is one key a token may be checked against, with the
// algorithms it may be used with.
type verificationKey struct {
	kid  string
	key  any
	algs []string
}

func (k verificationKey) allows(alg string) bool { return slices.Contains(k.algs, alg) }

// keySet is a backend's key material: the one key that signs and every key
// that verifies, indexed by kid, plus the remote JWK Set of a jwks backend.
// The static part is built once at provision and read-only afterwards, so
// requests share it without locks.
type keySet struct {
	// algs are the algorithms a token may use: exactly one, except for a
	// jwks backend, which may allow several.
	algs []string
	// method signs new tokens; nil for a verify-only backend.
	method  jwt.SigningMethod
	signKey any
	signKID string

	byKID map[string]verificationKey
	// anyKey holds, per algorithm, every static key that a token without
	// kid is tried against.
	anyKey map[string]jwt.VerificationKeySet

	remote *remoteKeySet // nil unless the backend has jwks

	// known is the header of the last token verified with this set that
	// golang-jwt read in full (knownheader.go): the tokens of one signer
	// share it, so it is read once.
	known atomic.Pointer[knownHeader]
}

func newKeySet(algs []string) *keySet {
	return &keySet{
		algs:   algs,
		byKID:  make(map[string]verificationKey),
		anyKey: make(map[string]jwt.VerificationKeySet),
	}
}

// newHMACKeySet builds the key set of an HMAC backend from its resolved
// secrets; the first one signs.
func newHMACKeySet(alg string, secrets []Secret) (*keySet, error) {
	method := signingMethods[alg]
	if method == nil {
		return nil, fmt.Errorf("unknown algorithm %q", alg)
	}
	ks := newKeySet([]string{alg})
	ks.method = method
	for i, s := range secrets {
		key := []byte(s.Value)
		if err := checkSecret(alg, key); err != nil {
			return nil, err
		}
		if i == 0 {
			ks.signKey, ks.signKID = key, s.KeyID
		}
		verify := &hmacKey{secret: key, hash: hashOf(method)}
		if err := ks.add(verificationKey{kid: s.KeyID, key: verify, algs: ks.algs}); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// setSigner makes key the signing key, with alg, and adds its public half
// as a verification key. kid defaults to the key's thumbprint.
func (ks *keySet) setSigner(alg string, key crypto.Signer, kid string) error {
	if err := checkAlgorithm(alg, key.Public()); err != nil {
		return err
	}
	if kid == "" {
		var err error
		if kid, err = jwkThumbprint(key.Public()); err != nil {
			return err
		}
	}
	ks.method = signingMethods[alg]
	ks.signKey, ks.signKID = key, kid
	return ks.add(verificationKey{kid: kid, key: key.Public(), algs: []string{alg}})
}

// addPublic adds a verification key usable with each of algs that fits
// it; kid defaults to the key's thumbprint.
func (ks *keySet) addPublic(pub crypto.PublicKey, kid string, algs []string) error {
	var fit []string
	for _, alg := range algs {
		if checkAlgorithm(alg, pub) == nil {
			fit = append(fit, alg)
		}
	}
	if len(fit) == 0 {
		return checkAlgorithm(algs[0], pub)
	}
	if kid == "" {
		var err error
		if kid, err = jwkThumbprint(pub); err != nil {
			return err
		}
	}
	return ks.add(verificationKey{kid: kid, key: pub, algs: fit})
}

func (ks *keySet) add(k verificationKey) error {
	if k.kid != "" {
		if _, dup := ks.byKID[k.kid]; dup {
			return fmt.Errorf("key ID %q is used twice", k.kid)
		}
		ks.byKID[k.kid] = k
	}
	for _, alg := range k.algs {
		set := ks.anyKey[alg]
		set.Keys = append(set.Keys, k.key)
		ks.anyKey[alg] = set
	}
	return nil
}

// allows tells whether a token may use alg: exactly, case for case.
func (ks *keySet) allows(alg string) bool {
	if len(ks.algs) == 1 {
		return ks.algs[0] == alg
	}
	return slices.Contains(ks.algs, alg)
}

// Errors a key lookup gives; authenticate.go turns them into the
// error_description of a 401.
var (
	errAlgorithm = errors.New("algorithm not allowed")
	errCrit      = errors.New("critical header not supported")
	errUnknownKI = errors.New("unknown key ID")
	errNoKey     = errors.New("no key to verify with")
)

// keyfunc gives golang-jwt the key(s) to verify t with. It is the only place
// where a token's header influences which key is used, so every header rule
// of RFC 8725 is enforced here: the algorithm must be exactly one the
// backend allows, `crit` is refused, and `kid` selects among configured or
// fetched keys only, each of them used only with its own algorithms (`jwk`,
// `jku`, `x5u` and `x5c` are never looked at). It also gives t this
// plugin's method for its algorithm, which golang-jwt then verifies with.
func (ks *keySet) keyfunc(t *jwt.Token) (any, error) {
	var method jwt.SigningMethod
	if t.Method != nil && ks.allows(t.Method.Alg()) {
		method = signingMethods[t.Method.Alg()]
	}
	if method == nil {
		return nil, errAlgorithm
	}
	t.Method = method
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	alg := t.Method.Alg()
	kid, present := t.Header["kid"]
	if !present {
		return ks.keysFor(alg)
	}
	s, ok := kid.(string)
	if !ok {
		return nil, errUnknownKI
	}
	if k, ok := ks.byKID[s]; ok && k.allows(alg) {
		return k.key, nil
	}
	if ks.remote != nil {
		if key := ks.remote.lookup(s, alg); key != nil {
			return key, nil
		}
	}
	return nil, errUnknownKI
}

// keysFor gives every key a token without kid is tried against.
func (ks *keySet) keysFor(alg string) (any, error) {
	static := ks.anyKey[alg]
	if ks.remote == nil {
		switch len(static.Keys) {
		case 0:
			return nil, errNoKey
		case 1:
			return static.Keys[0], nil
		}
		return static, nil
	}
	remote := ks.remote.keysFor(alg)
	if len(static.Keys)+len(remote) == 0 {
		return nil, errNoKey
	}
	all := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, 0, len(static.Keys)+len(remote))}
	all.Keys = append(all.Keys, static.Keys...)
	all.Keys = append(all.Keys, remote...)
	return all, nil
}
