// PEM key files: reading a sign_key or verify_key from disk.

package caddyjwt

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// KeyFile is a PEM key file of a backend, and the key ID it goes by.
type KeyFile struct {
	// Path of the PEM file. A private key is PKCS#8, PKCS#1 (RSA) or SEC 1
	// (EC); a public key is PKIX ("PUBLIC KEY"). RSA keys must have at
	// least 2048 bits; EC keys are P-256, P-384 or P-521. Placeholders are
	// resolved when the config is loaded. Required.
	File string `json:"file"`

	// The key ID: written as `kid` into tokens this key signs, and matched
	// against the `kid` of tokens it verifies. Default: the key's RFC 7638
	// JWK thumbprint (SHA-256, base64url).
	KeyID string `json:"kid,omitempty"`
}

// firstPEMBlock finds the first PEM block of data that is not EC
// parameters (`openssl ecparam -genkey` writes those first) and returns it
// with the data from that block on, which is what golang-jwt's parsers read.
func firstPEMBlock(data []byte) (*pem.Block, []byte, error) {
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return nil, nil, errors.New("no PEM data found")
		}
		if block.Type != "EC PARAMETERS" {
			return block, data, nil
		}
		data = rest
	}
}

// parsePrivateKey reads a PEM private key: PKCS#8, PKCS#1 (RSA) or SEC 1 (EC).
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, data, err := firstPEMBlock(data)
	if err != nil {
		return nil, err
	}
	var key crypto.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = jwt.ParseRSAPrivateKeyFromPEM(data)
	case "EC PRIVATE KEY":
		key, err = jwt.ParseECPrivateKeyFromPEM(data)
	case "PRIVATE KEY":
		// PKCS#8 may hold any of the three; each parser refuses the others.
		if key, err = jwt.ParseRSAPrivateKeyFromPEM(data); err != nil {
			if key, err = jwt.ParseECPrivateKeyFromPEM(data); err != nil {
				if key, err = jwt.ParseEdPrivateKeyFromPEM(data); err != nil {
					err = errors.New("not an RSA, ECDSA or Ed25519 private key")
				}
			}
		}
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("encrypted private keys are not supported; decrypt it with `openssl pkey -in <file> -out <new file>`")
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, errors.New("this is a public key, but a private key is needed to sign (public keys go in verify_key)")
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	if err := checkPublicKey(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// parsePublicKey reads a PEM public key (PKIX, or PKCS#1 for RSA). A
// private key is accepted too, and its public half used, so the old signing
// key file can serve as a verify_key during a rotation.
func parsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _, err := firstPEMBlock(data)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		signer, err := parsePrivateKey(data)
		if err != nil {
			return nil, err
		}
		return signer.Public(), nil
	}
	if err != nil {
		return nil, err
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// loadPrivateKey reads the private key in a PEM file.
func loadPrivateKey(file string) (crypto.Signer, error) {
	data, err := readConfigFile(file, maxKeyFileBytes)
	if err != nil {
		return nil, err
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return key, nil
}

// loadPublicKey reads the public key in a PEM file.
func loadPublicKey(file string) (crypto.PublicKey, error) {
	data, err := readConfigFile(file, maxKeyFileBytes)
	if err != nil {
		return nil, err
	}
	key, err := parsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return key, nil
}
