package caddyjwt

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

// These tests run `caddy jwt keygen`, `secret` and `inspect` in this
// process through their cobra commands, and once each as a user does: the
// caddy binary of ./cmd/caddy, built for the test.

// runJWT runs `caddy jwt <args>` in this process, with stdin as its
// standard input.
func runJWT(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "jwt", SilenceUsage: true, SilenceErrors: true}
	addJWTCommands(root)
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// runCaddyJWT runs `caddy jwt <args>` with the caddy binary and returns
// what it wrote and its exit status.
func runCaddyJWT(t *testing.T, stdin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), append([]string{"jwt"}, args...)...)
	cmd.Env = caddyEnv(t)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("caddy jwt %v: %v", args, err)
	}
	return out.String(), errOut.String(), status
}

// printedKID is the kid keygen printed.
func printedKID(t *testing.T, stderr string) string {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if kid, ok := strings.CutPrefix(l, "kid: "); ok {
			return kid
		}
	}
	t.Fatalf("no kid printed:\n%s", stderr)
	return ""
}

// printedCaddyfileLines are the backend settings keygen or secret told to
// use: the tab-indented lines it printed.
func printedCaddyfileLines(t *testing.T, stderr string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if s, ok := strings.CutPrefix(l, "\t"); ok {
			lines = append(lines, s)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no Caddyfile lines printed:\n%s", stderr)
	}
	return lines
}

// caddyfileBackend adapts a Caddyfile whose backend api has the given
// settings and provisions its jwt app as Caddy would.
func caddyfileBackend(t *testing.T, lines ...string) *Backend {
	t.Helper()
	cfg := adaptedConfig(t, jwtOption(backendBlock("api", lines...)), "respond ok")
	app, err := loadApp(provisionBackends(t, string(mustJSON(t, cfg["apps"].(map[string]any)["jwt"]))))
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := app.backend("api")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantKeyFile checks that a key file is PKCS#8 PEM, readable by its owner
// only.
func wantKeyFile(t *testing.T, file string) {
	t.Helper()
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", file, mode)
	}
	block, _ := pem.Decode([]byte(readFile(t, file)))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("%s is not a PKCS#8 PEM key", file)
	}
}

// wantSignsWithKID checks that b signs tokens carrying kid ("" for none),
// with alg, and accepts them.
func wantSignsWithKID(t *testing.T, b *Backend, alg, kid string) {
	t.Helper()
	token, _, err := b.Issue(&account{name: "alice", id: "alice"}, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tok.Header["kid"].(string); got != kid {
		t.Errorf("the token's kid is %v; keygen printed %s", tok.Header["kid"], kid)
	}
	if tok.Header["alg"] != alg {
		t.Errorf("the token's alg is %v, want %s", tok.Header["alg"], alg)
	}
	if id, err := b.Verify(token); err != nil || id.userID != "alice" {
		t.Errorf("the backend refuses its own token: %v", err)
	}
}

func TestKeygenMakesASignKeyForEveryPublicKeyAlgorithm(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range asymmetricAlgorithms {
		t.Run(alg, func(t *testing.T) {
			file := filepath.Join(dir, alg+".pem")
			args := []string{"keygen", "--algorithm", alg, "--out", file}
			if isRSAAlgorithm(alg) && alg != "RS256" {
				args = append(args, "--bits", "2048") // the default size is tried once, with RS256
			}
			stdout, stderr, err := runJWT(t, "", args...)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != "" {
				t.Errorf("a key written to a file went to standard output too:\n%s", stdout)
			}
			wantKeyFile(t, file)
			// The lines keygen prints are what makes the backend take the
			// key with this algorithm.
			lines := printedCaddyfileLines(t, stderr)
			abs, _ := filepath.Abs(file)
			if lines[0] != "sign_key "+abs {
				t.Errorf("printed %q, want sign_key %s", lines[0], abs)
			}
			b := caddyfileBackend(t, lines...)
			if b.Algorithm != alg {
				t.Fatalf("the backend signs with %s, want %s", b.Algorithm, alg)
			}
			wantSignsWithKID(t, b, alg, printedKID(t, stderr))

			key, err := loadPrivateKey(file)
			if err != nil {
				t.Fatal(err)
			}
			if pub, ok := key.Public().(*rsa.PublicKey); ok {
				want := 2048
				if alg == "RS256" {
					want = 3072
				}
				if pub.N.BitLen() != want {
					t.Errorf("an RSA key of %d bits, want %d", pub.N.BitLen(), want)
				}
			}
		})
	}
}

func TestKeygenDefaultsToES256OnStandardOutput(t *testing.T) {
	stdout, stderr, err := runJWT(t, "", "keygen")
	if err != nil {
		t.Fatal(err)
	}
	key, err := parsePrivateKey([]byte(stdout))
	if err != nil {
		t.Fatalf("standard output is not a private key: %v\n%s", err, stdout)
	}
	if algs := keyAlgorithms(key.Public()); algs[0] != "ES256" {
		t.Errorf("default key is %s", describeKey(key.Public()))
	}
	if kid, _ := jwkThumbprint(key.Public()); printedKID(t, stderr) != kid {
		t.Errorf("printed kid %s, the key's thumbprint is %s", printedKID(t, stderr), kid)
	}
	if strings.Contains(stderr, "\talgorithm") {
		t.Errorf("an ES256 key needs no algorithm line:\n%s", stderr)
	}
}

func TestKeygenRefuses(t *testing.T) {
	existing := tempFile(t, "jwt.pem", "the key in use\n")
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"an existing file is never overwritten", []string{"keygen", "--out", existing}, []string{existing, "exists", "never overwrites"}},
		{"an HMAC algorithm is sent to caddy jwt secret", []string{"keygen", "--algorithm", "HS256"}, []string{"HS256", "caddy jwt secret"}},
		{"an unknown algorithm is named with the known ones", []string{"keygen", "--algorithm", "es256"}, []string{`"es256"`, "ES256", "EdDSA"}},
		{"an RSA key below 2048 bits is refused", []string{"keygen", "--algorithm", "RS256", "--bits", "1024"}, []string{"2048", "1024"}},
		{"--bits with a curve is refused", []string{"keygen", "--algorithm", "ES384", "--bits", "4096"}, []string{"--bits", "ES384"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runJWT(t, "", tt.args...)
			if err == nil {
				t.Fatalf("no error; wrote:\n%s", stdout)
			}
			if stdout != "" {
				t.Errorf("wrote a key anyway:\n%s", stdout)
			}
			wantMentions(t, err, tt.want...)
		})
	}
	if got := readFile(t, existing); got != "the key in use\n" {
		t.Errorf("the existing file was changed to %q", got)
	}
}

func TestKeygenCommandOfTheCaddyBinary(t *testing.T) {
	file := filepath.Join(t.TempDir(), "jwt.pem")
	stdout, stderr, status := runCaddyJWT(t, "", "keygen", "--algorithm", "EdDSA", "--out", file)
	if status != 0 {
		t.Fatalf("exit status %d:\n%s", status, stderr)
	}
	if stdout != "" {
		t.Errorf("standard output: %q", stdout)
	}
	wantKeyFile(t, file)
	key := readFile(t, file)
	wantSignsWithKID(t, caddyfileBackend(t, printedCaddyfileLines(t, stderr)...), "EdDSA", printedKID(t, stderr))

	_, stderr, status = runCaddyJWT(t, "", "keygen", "--algorithm", "ES256", "--out", file)
	if status == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("second keygen into the same file: status %d:\n%s", status, stderr)
	}
	if readFile(t, file) != key {
		t.Error("the second keygen overwrote the key")
	}
}

func TestSecretPassesTheBackendsCheckForEveryHMACAlgorithm(t *testing.T) {
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			seen := map[string]bool{}
			for range 3 {
				stdout, stderr, err := runJWT(t, "", "secret", "--algorithm", alg)
				if err != nil {
					t.Fatal(err)
				}
				secret, ok := strings.CutSuffix(stdout, "\n")
				if !ok || strings.ContainsAny(secret, "\n\r \t") {
					t.Fatalf("standard output is not one line: %q", stdout)
				}
				if seen[secret] {
					t.Fatalf("the same secret twice: %s", secret)
				}
				seen[secret] = true
				if err := checkSecret(alg, []byte(secret)); err != nil {
					t.Fatalf("checkSecret refuses %q: %v", secret, err)
				}
				// The randomness is at least the hash's size.
				random, err := base64.RawURLEncoding.DecodeString(secret)
				if err != nil || len(random) < hmacMinKeyBytes[alg] {
					t.Fatalf("%q is not base64url of %d bytes or more: %v", secret, hmacMinKeyBytes[alg], err)
				}
				// The lines it prints, with the secret in the environment,
				// make a backend that signs and verifies with it.
				t.Setenv("JWT_SECRET", secret)
				b := caddyfileBackend(t, printedCaddyfileLines(t, stderr)...)
				if b.Algorithm != alg || string(b.keys.signKey.([]byte)) != secret {
					t.Fatalf("backend signs with %s and another key", b.Algorithm)
				}
				wantSignsWithKID(t, b, alg, "")
			}
		})
	}
}

func TestSecretRefusesKeyAlgorithms(t *testing.T) {
	for _, tt := range []struct {
		alg  string
		want []string
	}{
		{"ES256", []string{"caddy jwt keygen --algorithm ES256"}},
		{"hs256", []string{`"hs256"`, "HS256, HS384, HS512"}},
	} {
		stdout, _, err := runJWT(t, "", "secret", "--algorithm", tt.alg)
		if err == nil {
			t.Fatalf("%s: printed %q", tt.alg, stdout)
		}
		wantMentions(t, err, tt.want...)
	}
}

func TestSecretCommandOfTheCaddyBinary(t *testing.T) {
	stdout, stderr, status := runCaddyJWT(t, "", "secret", "--algorithm", "HS384")
	if status != 0 {
		t.Fatalf("exit status %d:\n%s", status, stderr)
	}
	secret := strings.TrimSuffix(stdout, "\n")
	if err := checkSecret("HS384", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := runCaddyJWT(t, "", "secret", "--algorithm", "HS384"); again == stdout {
		t.Error("the same secret twice")
	}
}

// inspectSite is a running Caddy whose jwt_login issues tokens of backend
// api (testSecret, issuer and audience set), and its Caddyfile as a file
// for `caddy jwt inspect --config`.
type inspectSite struct {
	token  string // alice's, from jwt_login
	config string
}

func startInspectSite(t *testing.T) inspectSite {
	t.Helper()
	globals := jwtOption(backendBlock("api", "secret "+testSecret, "issuer https://auth.example",
		"audience api", "user alice "+bcryptHashForTest(t, "alice-pw")))
	const site = "jwt_login /login"
	var config string
	port := runOnFreePort(t, func(port string) string {
		config = caddyfileFor(port, globals, site)
		return config
	})
	login := loginSite{t, "http://127.0.0.1:" + port + "/login"}
	return inspectSite{token: login.token("alice", "alice-pw"), config: tempFile(t, "Caddyfile", config)}
}

// inspectOutput is what `caddy jwt inspect` printed, read back.
type inspectOutput struct {
	text   string
	header map[string]any
	claims map[string]any
	// checks maps each check's name to its line.
	checks map[string]string
}

func readInspectOutput(t *testing.T, stdout string) inspectOutput {
	t.Helper()
	o := inspectOutput{text: stdout, checks: map[string]string{}}
	for _, part := range []struct {
		heading string
		into    *map[string]any
	}{{"header:\n", &o.header}, {"claims:\n", &o.claims}} {
		_, rest, ok := strings.Cut(stdout, part.heading)
		if !ok {
			t.Fatalf("no %q in:\n%s", part.heading, stdout)
		}
		dec := json.NewDecoder(strings.NewReader(rest))
		dec.UseNumber()
		if err := dec.Decode(part.into); err != nil {
			t.Fatalf("%s is not JSON: %v\n%s", part.heading, err, stdout)
		}
	}
	_, checks, _ := strings.Cut(stdout, "checks of backend")
	for _, l := range strings.Split(checks, "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 2 && strings.HasPrefix(l, "  ") {
			o.checks[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return o
}

func TestInspectDecodesATokenOfJwtLoginWithoutVerifyingIt(t *testing.T) {
	s := startInspectSite(t)
	stdout, _, err := runJWT(t, "", "inspect", s.token)
	if err != nil {
		t.Fatal(err)
	}
	o := readInspectOutput(t, stdout)
	if o.header["alg"] != "HS256" || o.header["typ"] != "JWT" {
		t.Errorf("header %v", o.header)
	}
	if o.claims["sub"] != "alice" || o.claims["iss"] != "https://auth.example" || o.claims["aud"] != "api" || o.claims["jti"] == "" {
		t.Errorf("claims %v", o.claims)
	}
	iat, _ := o.claims["iat"].(json.Number).Int64()
	exp, _ := o.claims["exp"].(json.Number).Int64()
	if exp-iat != 3600 {
		t.Errorf("exp - iat = %d, want the default lifetime of 3600 s", exp-iat)
	}
	if want := "exp  " + time.Unix(exp, 0).UTC().Format(time.RFC3339); !strings.Contains(stdout, want) {
		t.Errorf("exp is not shown as %q:\n%s", want, stdout)
	}
	if !strings.Contains(stdout, "signature: not verified (give --config and --backend to check it)") {
		t.Errorf("does not say the signature is not verified:\n%s", stdout)
	}
	// Nothing may sound as if the token were checked.
	for _, word := range []string{"valid for", "verified,", "ok "} {
		if strings.Contains(stdout, word) {
			t.Errorf("says %q without a config:\n%s", word, stdout)
		}
	}

	// The same from standard input.
	fromStdin, _, err := runJWT(t, "  "+s.token+"\n", "inspect", "-")
	if err != nil || fromStdin != stdout {
		t.Errorf("inspect - read another token (%v):\n%s", err, fromStdin)
	}
}

func TestInspectChecksATokenAgainstABackendOfTheConfig(t *testing.T) {
	s := startInspectSite(t)
	now := time.Now()
	claims := func(changes map[string]any) map[string]any {
		c := map[string]any{"sub": "alice", "iss": "https://auth.example", "aud": "api",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	sign := func(changes map[string]any) string {
		return signToken(t, "HS256", []byte(testSecret), nil, claims(changes))
	}
	// tampered is alice's token with bob as sub, and her signature.
	parts := strings.Split(s.token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + b64url(bytes.Replace(payload, []byte(`"alice"`), []byte(`"bob"`), 1)) + "." + parts[2]

	for _, tt := range []struct {
		name   string
		token  string
		failed map[string]string // check → reason
	}{
		{"a token of jwt_login passes every check", s.token, nil},
		{"a tampered token fails the signature", tampered, map[string]string{"signature": "signature invalid"}},
		{"an expired token fails exp", sign(map[string]any{"exp": now.Add(-time.Hour).Unix()}),
			map[string]string{"exp": "token expired"}},
		{"a token for another audience fails aud", sign(map[string]any{"aud": "other"}),
			map[string]string{"aud": "audience mismatch"}},
		{"every failing check is named, not only the first", sign(map[string]any{"aud": []string{"x", "y"}, "iss": "https://evil.example",
			"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}),
			map[string]string{"exp": "token expired", "nbf": "token not valid yet", "iss": "issuer mismatch", "aud": "audience mismatch"}},
		{"a token without exp fails exp", sign(map[string]any{"exp": nil}), map[string]string{"exp": "token has no exp"}},
		{"a token without iss fails iss", sign(map[string]any{"iss": nil}), map[string]string{"iss": "token has no iss"}},
		{"a token issued in the future fails iat", sign(map[string]any{"iat": now.Add(time.Hour).Unix()}),
			map[string]string{"iat": "token issued in the future"}},
		{"a token without a user fails the user claim", sign(map[string]any{"sub": nil}),
			map[string]string{"user": "missing user claim sub"}},
		{"a token of another algorithm fails the algorithm", signToken(t, "HS384", []byte(testSecret+testSecret), nil, claims(nil)),
			map[string]string{"algorithm": "algorithm not allowed", "signature": "algorithm not allowed"}},
		{"a token naming an unknown kid fails the signature", signToken(t, "HS256", []byte(testSecret), map[string]any{"kid": "k9"}, claims(nil)),
			map[string]string{"signature": "unknown key ID"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runJWT(t, "", "inspect", "--config", s.config, "--backend", "api", tt.token)
			o := readInspectOutput(t, stdout)
			for _, check := range []string{"algorithm", "signature", "exp", "nbf", "iat", "iss", "aud", "user", "revocation"} {
				line, ok := o.checks[check]
				switch reason, fails := tt.failed[check]; {
				case !ok:
					t.Errorf("no %s check:\n%s", check, stdout)
				case fails && !strings.HasPrefix(line, "FAIL "+reason+":"):
					t.Errorf("%s: %q, want FAIL with %q", check, line, reason)
				case !fails && strings.HasPrefix(line, "FAIL"):
					t.Errorf("%s fails: %q", check, line)
				}
			}
			if len(tt.failed) == 0 {
				if err != nil || !strings.Contains(stdout, `result: valid for backend "api", user "alice"`) {
					t.Errorf("refused (%v):\n%s", err, stdout)
				}
				if !strings.HasPrefix(o.checks["signature"], "ok verified") {
					t.Errorf("signature: %q", o.checks["signature"])
				}
				return
			}
			// The verdict is Verify's, and is one of the reasons above.
			if err == nil || strings.Contains(stdout, "valid for") {
				t.Fatalf("accepted:\n%s", stdout)
			}
			_, reason, _ := strings.Cut(stdout, "result: refused: ")
			reason, _, _ = strings.Cut(reason, "\n")
			found := false
			for _, r := range tt.failed {
				found = found || r == reason
			}
			if !found {
				t.Errorf("verdict %q is none of %v", reason, tt.failed)
			}
			wantMentions(t, err, reason)
		})
	}

	t.Run("the decoded claims of a tampered token are shown as they are", func(t *testing.T) {
		stdout, _, _ := runJWT(t, "", "inspect", "--config", s.config, tampered)
		if o := readInspectOutput(t, stdout); o.claims["sub"] != "bob" || strings.Contains(stdout, "valid for") {
			t.Errorf("claims %v:\n%s", o.claims, stdout)
		}
	})
	t.Run("a revoked token fails revocation", func(t *testing.T) {
		b := caddyfileBackend(t, "secret "+testSecret)
		token := sign(map[string]any{"jti": "revoked-by-test", "exp": now.Add(2 * time.Hour).Unix()})
		b.revs.add(revocation{Backend: "api", JTI: "revoked-by-test", Until: now.Add(3 * time.Hour).Unix()})
		header, decoded, err := decodeToken(token)
		if err != nil {
			t.Fatal(err)
		}
		checks, _, refused := b.inspect(token, header, decoded)
		if refused != errTokenRevoked {
			t.Fatalf("verdict %v", refused)
		}
		for _, c := range checks {
			if (c.err != nil) != (c.name == "revocation") {
				t.Errorf("%s: %v", c.name, c.err)
			}
		}
	})
}

func TestInspectSaysRevocationsAreUnknownWhenItsRedisIsAway(t *testing.T) {
	store := "\t\tstore redis redis://127.0.0.1:" + freePort(t) + "\n"
	config := tempFile(t, "Caddyfile", caddyfileFor("8080", jwtOption(store, backendBlock("api", "secret "+testSecret)), "respond ok"))
	token := signToken(t, "HS256", []byte(testSecret), nil, map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	stdout, _, err := runJWT(t, "", "inspect", "--config", config, token)
	if err != nil {
		t.Fatal(err)
	}
	o := readInspectOutput(t, stdout)
	if o.checks["revocation"] != "- not checked: the redis store is unreachable" ||
		!strings.Contains(stdout, `user "alice", unless it was revoked (the redis store is unreachable)`) {
		t.Errorf("revocations are not said to be unknown:\n%s", stdout)
	}
}

func TestInspectRefusesWhatItCannotRead(t *testing.T) {
	config := tempFile(t, "Caddyfile", caddyfileFor("8080", jwtOption(backendBlock("api", "secret "+testSecret)), "respond ok"))
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"a token that is not a JWS", []string{"inspect", "abc.def"}, []string{"malformed"}},
		{"--backend without --config", []string{"inspect", "--backend", "api", "a.b.c"}, []string{"--config"}},
		{"a backend the config does not have", []string{"inspect", "--config", config, "--backend", "web", signToken(t, "HS256", []byte(testSecret), nil, map[string]any{"sub": "a"})},
			[]string{`"web"`, "api"}},
		{"a config without a jwt app", []string{"inspect", "--config", tempFile(t, "Caddyfile", ":8080 {\n\trespond ok\n}\n"), signToken(t, "HS256", []byte(testSecret), nil, map[string]any{"sub": "a"})},
			[]string{"no jwt app"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runJWT(t, "", tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			wantMentions(t, err, tt.want...)
		})
	}
}

func TestInspectCommandOfTheCaddyBinary(t *testing.T) {
	s := startInspectSite(t)
	stdout, stderr, status := runCaddyJWT(t, s.token+"\n", "inspect", "--config", s.config, "--adapter", "caddyfile", "--backend", "api", "-")
	if status != 0 || !strings.Contains(stdout, `result: valid for backend "api", user "alice"`) {
		t.Fatalf("exit status %d:\n%s\n%s", status, stdout, stderr)
	}
	expired := signToken(t, "HS256", []byte(testSecret), nil, map[string]any{"sub": "alice", "iss": "https://auth.example",
		"aud": "api", "exp": time.Now().Add(-time.Hour).Unix()})
	stdout, stderr, status = runCaddyJWT(t, "", "inspect", "--config", s.config, expired)
	if status == 0 || !strings.Contains(stdout, "result: refused: token expired") || !strings.Contains(stderr, "token expired") {
		t.Errorf("an expired token: exit status %d:\n%s\n%s", status, stdout, stderr)
	}
}

// TestCommandsDocumentEveryFlag keeps docs/commands.md in step with the
// commands: each subcommand has its section, whose syntax line names
// every flag it takes.
func TestCommandsDocumentEveryFlag(t *testing.T) {
	root := &cobra.Command{Use: "jwt"}
	addJWTCommands(root)
	for _, sub := range root.Commands() {
		sec := docSection(t, "docs/commands.md", "## `caddy jwt "+sub.Name()+"`")
		syntax := fencedBlocks(sec, "text")
		if len(syntax) == 0 || !strings.HasPrefix(syntax[0], "caddy jwt "+sub.Name()) {
			t.Errorf("the section of %s does not start with its syntax", sub.Name())
			continue
		}
		flags := regexp.MustCompile(`--([a-z-]+)`).FindAllStringSubmatch(sub.Flags().FlagUsages(), -1)
		if len(flags) == 0 {
			t.Errorf("caddy jwt %s has no flags", sub.Name())
		}
		for _, f := range flags {
			if name := f[1]; name != "help" && !regexp.MustCompile(`--`+name+`\b`).MatchString(syntax[0]) {
				t.Errorf("docs/commands.md: caddy jwt %s takes --%s, which its syntax line lacks", sub.Name(), name)
			}
		}
	}
}
