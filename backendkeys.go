// A backend's key material: the key set built from its secrets, its key
// files or a remote JWK Set, with placeholders resolved.

package caddyjwt

import (
	"crypto"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// provisionKeys builds the key set from whichever key material is set:
// secrets, a sign_key, a jwks URL, or verify_keys alone.
func (b *Backend) provisionKeys() error {
	repl := caddy.NewReplacer()
	switch {
	case len(b.Secrets) > 0:
		return b.provisionSecrets(repl)
	case b.JWKS != nil:
		return b.provisionJWKS(repl)
	default:
		return b.provisionKeyFiles(repl)
	}
}

// provisionSecrets builds the key set of an HMAC backend.
func (b *Backend) provisionSecrets(repl *caddy.Replacer) error {
	if b.Algorithm == "" {
		b.Algorithm = defaultAlgorithm
	}
	resolved := make([]Secret, len(b.Secrets))
	for i, s := range b.Secrets {
		v, err := repl.ReplaceOrErr(s.Value, true, true)
		if err != nil {
			// The error quotes the placeholder. Name it when it is an env
			// or file placeholder; otherwise the braces may be part of a
			// literal secret, which must not reach the log.
			if msg := err.Error(); strings.Contains(msg, "{env.") || strings.Contains(msg, "{file.") {
				return b.errorf("secret", "%v", err)
			}
			return b.errorf("secret", "it contains an unknown placeholder; use {env.NAME} or {file./path}")
		}
		resolved[i] = Secret{Value: v, KeyID: s.KeyID}
	}
	ks, err := newHMACKeySet(b.Algorithm, resolved)
	if err != nil {
		return b.errorf("secret", "%v", err)
	}
	b.keys = ks
	return nil
}

// provisionKeyFiles builds the key set of a backend with a sign_key, or
// with verify_keys alone. The algorithm follows the first key unless set.
func (b *Backend) provisionKeyFiles(repl *caddy.Replacer) error {
	var signer crypto.Signer
	if b.SignKey != nil {
		file, err := repl.ReplaceOrErr(b.SignKey.File, true, true)
		if err != nil {
			return b.errorf("sign_key", "%v", err)
		}
		if signer, err = loadPrivateKey(file); err != nil {
			return b.errorf("sign_key", "%v", err)
		}
		if b.Algorithm == "" {
			b.Algorithm = keyAlgorithms(signer.Public())[0]
		}
		if err := checkAlgorithm(b.Algorithm, signer.Public()); err != nil {
			return b.errorf("algorithm", "%v (sign_key %s)", err, file)
		}
	}
	pubs, err := b.loadVerifyKeys(repl)
	if err != nil {
		return err
	}
	if b.Algorithm == "" {
		b.Algorithm = keyAlgorithms(pubs[0])[0]
	}
	ks := newKeySet([]string{b.Algorithm})
	if signer != nil {
		if err := ks.setSigner(b.Algorithm, signer, b.SignKey.KeyID); err != nil {
			return b.errorf("sign_key", "%v", err)
		}
	}
	if err := b.addVerifyKeys(ks, pubs, false); err != nil {
		return err
	}
	b.keys = ks
	return nil
}

// provisionJWKS sets up a verify-only backend on a remote JWK Set, plus
// any verify_keys, and fetches the set once.
func (b *Backend) provisionJWKS(repl *caddy.Replacer) error {
	u, err := repl.ReplaceOrErr(b.JWKS.URL, true, true)
	if err != nil {
		return b.errorf("jwks", "%v", err)
	}
	if err := checkJWKSURL(u); err != nil {
		return b.errorf("jwks", "%v", err)
	}
	algs := b.Algorithms
	if b.Algorithm != "" {
		algs = []string{b.Algorithm}
	}
	pubs, err := b.loadVerifyKeys(repl)
	if err != nil {
		return err
	}
	// Without algorithm, a token may use any public-key algorithm, and
	// each key's own alg decides which it verifies.
	ks := newKeySet(algs)
	if len(algs) == 0 {
		ks.algs = slices.Clip(asymmetricAlgorithms)
	}
	if err := b.addVerifyKeys(ks, pubs, len(algs) == 0); err != nil {
		return err
	}
	ks.remote = newRemoteKeySet(u, algs, b.logger.Named("jwks"))
	// A failure is logged and not fatal: the provider may be down while
	// Caddy starts; tokens are refused until a fetch succeeds.
	_ = ks.remote.fetch()
	b.keys = ks
	return nil
}

// loadVerifyKeys reads the verify_key files.
func (b *Backend) loadVerifyKeys(repl *caddy.Replacer) ([]crypto.PublicKey, error) {
	pubs := make([]crypto.PublicKey, 0, len(b.VerifyKeys))
	for _, vk := range b.VerifyKeys {
		file, err := repl.ReplaceOrErr(vk.File, true, true)
		if err != nil {
			return nil, b.errorf("verify_key", "%v", err)
		}
		pub, err := loadPublicKey(file)
		if err != nil {
			return nil, b.errorf("verify_key", "%v", err)
		}
		pubs = append(pubs, pub)
	}
	return pubs, nil
}

// addVerifyKeys adds the verify_keys to a key set; each must fit one of
// its algorithms. On a jwks backend without algorithm, where the set allows
// every public-key algorithm, a key verifies only its own default one.
func (b *Backend) addVerifyKeys(ks *keySet, pubs []crypto.PublicKey, ownDefault bool) error {
	for i, pub := range pubs {
		algs := ks.algs
		if ownDefault {
			algs = keyAlgorithms(pub)[:1:1]
		}
		if err := ks.addPublic(pub, b.VerifyKeys[i].KeyID, algs); err != nil {
			return b.errorf("verify_key", "%v (%s)", err, b.VerifyKeys[i].File)
		}
	}
	return nil
}
