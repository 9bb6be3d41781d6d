package caddyjwt

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// jwk is one JSON Web Key (RFC 7517) of a remote set, as this plugin reads
// it: encoding/json picks the members, go-jose decodes the key from them.
//
// Only the public members reach go-jose, re-encoded, so that what go-jose
// reads beyond them (a private "d", certificates in "x5c", member names in
// another case) never changes which key is used or whether it is used.
type jwk struct {
	jwkMembers
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
}

// jwkMembers are the members that make up an RSA, EC or OKP public key.
type jwkMembers struct {
	Kty string `json:"kty,omitempty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// publicKey decodes the key of an RSA, EC (P-256, P-384, P-521) or OKP
// (Ed25519) JWK. Symmetric keys and other types and curves are refused
// before decoding, and so are RSA exponents that go-jose takes but this
// plugin never did: longer than 4 bytes, even, or below 3.
func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch {
	case k.Kty == "RSA":
		if e, err := base64.RawURLEncoding.DecodeString(k.E); err == nil && len(e) > 4 {
			return nil, errors.New("bad e")
		}
	case k.Kty == "EC" && (k.Crv == "P-256" || k.Crv == "P-384" || k.Crv == "P-521"),
		k.Kty == "OKP" && k.Crv == "Ed25519":
	case k.Kty == "EC" || k.Kty == "OKP":
		return nil, fmt.Errorf("unsupported curve %q", k.Crv)
	default:
		return nil, fmt.Errorf("unsupported kty %q", k.Kty)
	}
	members, err := json.Marshal(k.jwkMembers)
	if err != nil {
		return nil, err
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(members); err != nil {
		return nil, err
	}
	if pub, ok := key.Key.(*rsa.PublicKey); ok && (pub.E < 3 || pub.E%2 == 0) {
		return nil, errors.New("bad e")
	}
	return key.Key, nil
}

// verificationKey turns a JWK into a key and the algorithms it may verify:
// its own alg when it has one (and the backend allows it), else, when the
// backend lists algorithms, those that fit the key.
func (k jwk) verificationKey(algs []string) (verificationKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return verificationKey{}, fmt.Errorf("use is %q", k.Use)
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return verificationKey{}, errors.New("key_ops does not allow verify")
	}
	pub, err := k.publicKey()
	if err != nil {
		return verificationKey{}, err
	}
	if err := checkPublicKey(pub); err != nil {
		return verificationKey{}, err
	}
	var use []string
	switch {
	case k.Alg != "":
		if err := checkAlgorithm(k.Alg, pub); err != nil {
			return verificationKey{}, err
		}
		if len(algs) > 0 && !slices.Contains(algs, k.Alg) {
			return verificationKey{}, fmt.Errorf("alg %s is not among the backend's algorithms", k.Alg)
		}
		use = []string{k.Alg}
	case len(algs) > 0:
		for _, alg := range algs {
			if checkAlgorithm(alg, pub) == nil {
				use = append(use, alg)
			}
		}
		if len(use) == 0 {
			return verificationKey{}, fmt.Errorf("%s fits none of the backend's algorithms", describeKey(pub))
		}
	default:
		return verificationKey{}, errors.New("no alg, and the backend sets no algorithm")
	}
	return verificationKey{kid: k.Kid, key: pub, algs: use}, nil
}

// jwkThumbprint is the RFC 7638 thumbprint of a public key, SHA-256 and
// base64url-encoded: the key ID of a key file that names none.
func jwkThumbprint(pub crypto.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
