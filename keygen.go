// Making key material from the command line: `caddy jwt keygen` writes a
// private key for a public-key algorithm, `caddy jwt secret` prints an HMAC
// secret. Both check what they make with the rules a backend loads it by.

package caddyjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

const (
	// defaultKeygenAlgorithm is ES256: every JOSE library, WebCrypto and
	// the API gateways that read a JWK Set verify it (RFC 7518 rates it
	// Recommended+), and its keys and signatures are small. EdDSA is as
	// strong and faster, but verifiers still lack it often enough to make
	// it a poor default for an issuer whose tokens others check.
	defaultKeygenAlgorithm = "ES256"

	// defaultRSABits is the RSA modulus keygen makes without --bits: 128-bit
	// security (NIST SP 800-57), where 2048 bits give 112.
	defaultRSABits = 3072

	// maxRSABits bounds --bits: a larger key only makes every signature
	// slower, and generating one takes minutes.
	maxRSABits = 16384

	// secretRandomBytes is the least randomness a secret gets: 48 bytes,
	// as `openssl rand -base64 48` (which checkSecret suggests) gives.
	secretRandomBytes = 48
)

// ecdsaCurves are the curves of the ES algorithms (RFC 7518 §3.4).
var ecdsaCurves = map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}

// keygenCommand is `caddy jwt keygen`.
func keygenCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "keygen [--algorithm <alg>] [--bits <n>] [--out <file>]",
		Short: "Writes a new private key (PEM) for a sign_key",
		Long: `
Writes a new private key as PKCS#8 PEM, fit for a backend's sign_key:
RSA for RS256, RS384, RS512, PS256, PS384 and PS512 (3072 bits, or --bits),
P-256, P-384 or P-521 for ES256, ES384 and ES512, Ed25519 for EdDSA. The
default algorithm is ` + defaultKeygenAlgorithm + `.

With --out, the key goes into a new file readable by its owner only (mode
0600); an existing file is never overwritten. Without it, the PEM goes to
standard output. The key ID that tokens signed with it carry (its RFC 7638
thumbprint) and the Caddyfile lines that use it go to standard error.

HMAC algorithms take a secret instead: see caddy jwt secret.`,
		Args: cobra.NoArgs,
		RunE: runKeygen,
	}
	c.Flags().String("algorithm", defaultKeygenAlgorithm, "the algorithm the key signs with")
	c.Flags().Int("bits", defaultRSABits, "the size of an RSA key, in bits")
	c.Flags().StringP("out", "o", "", "the file to create (default: standard output)")
	return c
}

func runKeygen(cmd *cobra.Command, _ []string) error {
	alg, _ := cmd.Flags().GetString("algorithm")
	bits, _ := cmd.Flags().GetInt("bits")
	out, _ := cmd.Flags().GetString("out")
	if cmd.Flags().Changed("bits") && !isRSAAlgorithm(alg) {
		return fmt.Errorf("--bits is for the RSA algorithms (RS*, PS*), not %s", alg)
	}
	key, err := generateKey(alg, bits)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// The kid is computed as the backend computes it (setSigner), so it is
	// the one the tokens will carry.
	kid, err := jwkThumbprint(key.Public())
	if err != nil {
		return err
	}

	file := "<file>"
	if out == "" {
		if _, err := cmd.OutOrStdout().Write(pemBytes); err != nil {
			return err
		}
	} else {
		if err := writeNewFile(out, pemBytes); err != nil {
			return err
		}
		if file, err = filepath.Abs(out); err != nil {
			return err
		}
	}

	info := cmd.ErrOrStderr()
	where := "written to " + file + " (mode 0600)"
	if out == "" {
		where = "written to standard output; keep it in a file readable by Caddy only"
	}
	fmt.Fprintf(info, "%s: %s, %s\n", alg, describeKey(key.Public()), where)
	fmt.Fprintf(info, "kid: %s\n", kid)
	fmt.Fprintf(info, "In the backend of the Caddyfile's jwt option:\n\tsign_key %s\n", file)
	// A backend takes the key's first algorithm unless told otherwise.
	if keyAlgorithms(key.Public())[0] != alg {
		fmt.Fprintf(info, "\talgorithm %s\n", alg)
	}
	return nil
}

// isRSAAlgorithm tells whether alg signs with an RSA key.
func isRSAAlgorithm(alg string) bool {
	return isAlgorithm(alg) && (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS"))
}

// generateKey makes a private key for alg: RSA of bits bits for the RS and
// PS algorithms, the algorithm's curve for ES, Ed25519 for EdDSA. bits is
// read for RSA only. The key is checked as a sign_key is when it is loaded.
func generateKey(alg string, bits int) (crypto.Signer, error) {
	switch {
	case isHMAC(alg):
		return nil, fmt.Errorf("%s is HMAC and signs with a secret, not a key: make one with caddy jwt secret --algorithm %s", alg, alg)
	case !isAlgorithm(alg):
		return nil, fmt.Errorf("unknown algorithm %q; use one of %s", alg, strings.Join(asymmetricAlgorithms, " "))
	case isRSAAlgorithm(alg) && bits < minRSABits:
		return nil, fmt.Errorf("an RSA key needs at least %d bits, not %d", minRSABits, bits)
	case isRSAAlgorithm(alg) && bits > maxRSABits:
		return nil, fmt.Errorf("an RSA key of %d bits is more than the %d this command makes", bits, maxRSABits)
	}
	var key crypto.Signer
	var err error
	switch {
	case isRSAAlgorithm(alg):
		key, err = rsa.GenerateKey(rand.Reader, bits)
	case ecdsaCurves[alg] != nil:
		key, err = ecdsa.GenerateKey(ecdsaCurves[alg], rand.Reader)
	default:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	if err := checkPublicKey(key.Public()); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(alg, key.Public()); err != nil {
		return nil, err
	}
	return key, nil
}

// writeNewFile writes data into a file that must not exist yet, readable
// and writable by its owner only. A file left half written is removed.
func writeNewFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists already; keygen never overwrites a key: choose another --out, or move the file away first", name)
	}
	if err != nil {
		return err
	}
	// The umask may take bits away from 0600, never add any; set it
	// exactly all the same, so the mode is what was promised.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("writing %s: %v", name, err)
	}
	return nil
}

// secretCommand is `caddy jwt secret`.
func secretCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "secret [--algorithm HS256|HS384|HS512]",
		Short: "Prints a new random secret for a backend's secret",
		Long: `
Prints a new random HMAC secret: 48 random bytes for HS256 and HS384, 64 for
HS512, base64url-encoded. The backend uses the characters of the printed
string as the key (as PyJWT and fastapi-users do), so use it as printed;
its length is well above the least the algorithm accepts (32, 48 or 64
bytes).

Keep it out of the Caddyfile: put it in the environment or a file, and
write secret {env.JWT_SECRET} or secret {file./run/secrets/jwt}.`,
		Args: cobra.NoArgs,
		RunE: runSecret,
	}
	c.Flags().String("algorithm", defaultAlgorithm, "the HMAC algorithm the secret signs with")
	return c
}

func runSecret(cmd *cobra.Command, _ []string) error {
	alg, _ := cmd.Flags().GetString("algorithm")
	secret, err := newSecret(alg)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(cmd.OutOrStdout(), secret); err != nil {
		return err
	}
	info := cmd.ErrOrStderr()
	fmt.Fprintf(info, "%s secret of %d characters; in the backend of the Caddyfile's jwt option:\n\tsecret {env.JWT_SECRET}\n", alg, len(secret))
	if alg != defaultAlgorithm {
		fmt.Fprintf(info, "\talgorithm %s\n", alg)
	}
	return nil
}

// newSecret makes a random secret for the HMAC algorithm alg: at least
// secretRandomBytes random bytes and never fewer than the hash's size,
// base64url-encoded. The encoded string is the key, and it is checked as
// a backend checks its secrets.
func newSecret(alg string) (string, error) {
	if !isHMAC(alg) {
		hmacs := strings.Join(algorithmNames[:len(hmacMinKeyBytes)], ", ")
		if isAlgorithm(alg) {
			return "", fmt.Errorf("%s signs with a key, not a secret: make one with caddy jwt keygen --algorithm %s (secrets are for %s)", alg, alg, hmacs)
		}
		return "", fmt.Errorf("unknown algorithm %q; a secret is for %s", alg, hmacs)
	}
	random := make([]byte, max(secretRandomBytes, hmacMinKeyBytes[alg]))
	if _, err := rand.Read(random); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(random)
	if err := checkSecret(alg, []byte(secret)); err != nil {
		return "", err
	}
	return secret, nil
}
