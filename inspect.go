// Inspecting a token from the command line: `caddy jwt inspect` decodes it
// and, given a config, runs a backend's checks on it one by one, with the
// reasons jwt_auth would give. A signature is called good only once the
// backend has verified it.

package caddyjwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

// inspectCommand is `caddy jwt inspect`.
func inspectCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "inspect <token>|- [--config <file> [--adapter <name>] [--backend <name>]]",
		Short: "Decodes a token and tells which checks of a backend it fails",
		Long: `
Decodes a token (or, given -, the token on standard input) and prints its
header and claims as JSON, with its times in RFC 3339.

Without --config, the signature is not checked, and the output says so.
With --config, the jwt app of that config is provisioned as Caddy would
provision it, and the token goes through the checks of the backend named by
--backend (which may be left out when there is only one): algorithm,
signature and key ID, exp, nbf and iat (with the leeway), issuer, audience
and user claim. Each check is printed with what it found and, when it
fails, the reason jwt_auth gives in its 401. The exit status is 1 unless
the backend accepts the token.`,
		Args: cobra.ExactArgs(1),
		RunE: runInspect,
	}
	c.Flags().StringP("config", "c", "", "the config whose backend checks the token")
	c.Flags().StringP("adapter", "a", "", "the adapter of that config file")
	c.Flags().String("backend", "", "the backend that checks the token (default: the only one)")
	return c
}

func runInspect(cmd *cobra.Command, args []string) error {
	flag := func(name string) string { v, _ := cmd.Flags().GetString(name); return v }
	if flag("config") == "" && (flag("backend") != "" || flag("adapter") != "") {
		return errors.New("--backend and --adapter need --config")
	}
	raw, err := readTokenArg(cmd.InOrStdin(), args[0])
	if err != nil {
		return err
	}
	header, claims, err := decodeToken(raw)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if flag("config") == "" {
		if err := writeDecoded(out, header, claims, time.Now()); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out, "signature: not verified (give --config and --backend to check it)")
		return err
	}

	b, cleanup, err := loadBackend(flag("config"), flag("adapter"), flag("backend"))
	if err != nil {
		return err
	}
	defer cleanup()
	if err := writeDecoded(out, header, claims, b.clock()); err != nil {
		return err
	}
	checks, id, refused := b.inspect(raw, header, claims)
	fmt.Fprintf(out, "checks of backend %q (leeway %s):\n", b.name, b.leeway)
	failed := 0
	for _, c := range checks {
		if c.err != nil {
			failed++
		}
		fmt.Fprintf(out, "  %-10s %-4s %s\n", c.name, c.status(), c.text())
	}
	switch {
	case refused != nil:
		fmt.Fprintf(out, "result: refused: %v\n", refused)
		return fmt.Errorf("backend %q refuses the token: %v", b.name, refused)
	case failed > 0:
		// Verify accepted what a check refused: the two disagree, and the
		// token is not called valid.
		fmt.Fprintln(out, "result: refused by a check above")
		return fmt.Errorf("backend %q: %d checks fail", b.name, failed)
	}
	caveat := ""
	if !b.store.up() {
		caveat = ", unless it was revoked (the " + b.store.kind() + " store is unreachable)"
	}
	_, err = fmt.Fprintf(out, "result: valid for backend %q, user %q%s\n", b.name, id.userID, caveat)
	return err
}

// readTokenArg gives the token of the argument: the argument itself, or
// standard input when it is "-". Surrounding white space is dropped, as a
// shell or an editor leaves it.
func readTokenArg(stdin io.Reader, arg string) (string, error) {
	if arg != "-" {
		return strings.TrimSpace(arg), nil
	}
	// A token over maxTokenBytes is refused anyway; read a little more,
	// so that it is refused for its size rather than cut.
	data, err := io.ReadAll(io.LimitReader(stdin, 4*maxTokenBytes))
	if err != nil {
		return "", fmt.Errorf("reading the token from standard input: %v", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// decodeToken reads a token's header and claims without verifying
// anything; numbers stay as they were written.
func decodeToken(raw string) (map[string]any, jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser(jwt.WithJSONNumber()).ParseUnverified(raw, claims)
	// An unknown or missing alg leaves the header and claims readable;
	// the checks say what is wrong with it.
	if err != nil && !errors.Is(err, jwt.ErrTokenUnverifiable) {
		return nil, nil, err // golang-jwt's message says "token is malformed" and why
	}
	return tok.Header, claims, nil
}

// writeDecoded prints a token's header and claims as indented JSON, then
// its times as RFC 3339, relative to now.
func writeDecoded(w io.Writer, header map[string]any, claims jwt.MapClaims, now time.Time) error {
	var buf bytes.Buffer
	for _, part := range []struct {
		name  string
		value any
	}{{"header", header}, {"claims", claims}} {
		buf.WriteString(part.name + ":\n")
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(part.value); err != nil {
			return err
		}
	}
	var times []string
	for _, name := range timeClaims {
		if _, ok := claims[name]; ok {
			times = append(times, fmt.Sprintf("  %-4s %s", name, describeClaim(claims, name, now)))
		}
	}
	if len(times) > 0 {
		buf.WriteString("times:\n" + strings.Join(times, "\n") + "\n")
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// timeClaims are the claims that hold a NumericDate (RFC 7519 §2).
var timeClaims = []string{"iat", "nbf", "exp"}

// describeClaim shows the value of a claim for a check: a time as RFC 3339
// and relative to now, other values as JSON.
func describeClaim(claims jwt.MapClaims, name string, now time.Time) string {
	v, ok := claims[name]
	if !ok {
		return "absent"
	}
	if n, isNumber := v.(json.Number); isNumber && slices.Contains(timeClaims, name) {
		f, err := n.Float64()
		if err != nil {
			return n.String()
		}
		sec, frac := math.Modf(f)
		t := time.Unix(int64(sec), int64(frac*1e9)).UTC()
		switch d := t.Sub(now).Round(time.Second); {
		case d > 0:
			return t.Format(time.RFC3339) + " (in " + d.String() + ")"
		case d < 0:
			return t.Format(time.RFC3339) + " (" + (-d).String() + " ago)"
		default:
			return t.Format(time.RFC3339) + " (now)"
		}
	}
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(js)
}

// loadBackend loads a config file as `caddy adapt` does, provisions its jwt
// app (with the config's storage, where revocations are kept) as Caddy
// would, and gives the backend called name, or the only one when name is
// "". cleanup releases what the app holds.
func loadBackend(configFile, adapter, name string) (b *Backend, cleanup func(), err error) {
	adapted, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, nil, err
	}
	var cfg caddy.Config
	if err := caddy.StrictUnmarshalJSON(caddy.RemoveMetaFields(adapted), &cfg); err != nil {
		return nil, nil, fmt.Errorf("decoding config: %v", err)
	}
	appJSON, ok := cfg.AppsRaw["jwt"]
	if !ok {
		return nil, nil, fmt.Errorf("%s has no jwt app (the Caddyfile's global jwt option)", configFile)
	}
	// Only the jwt app: the rest of the config (servers, certificates)
	// has nothing to do with a token, and provisioning it could reach out.
	ctx, err := caddy.ProvisionContext(&caddy.Config{
		StorageRaw: cfg.StorageRaw,
		AppsRaw:    caddy.ModuleMap{"jwt": appJSON},
	})
	if err != nil {
		return nil, nil, err
	}
	app, err := loadApp(ctx)
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { _ = app.Cleanup() }
	if _, b, err = app.backend(name); err != nil {
		cleanup()
		return nil, nil, err
	}
	// A Redis store reads the revocations in the background; wait for the
	// first read, so that a revoked token is not taken for a good one.
	for deadline := time.Now().Add(3 * redisTimeout); !app.store.up() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	return b, cleanup, nil
}

// tokenCheck is one check of a backend on a token: what it found, and the
// reason jwt_auth gives when it fails.
type tokenCheck struct {
	name    string
	found   string
	err     error
	skipped bool
}

func (c tokenCheck) status() string {
	switch {
	case c.skipped:
		return "-"
	case c.err != nil:
		return "FAIL"
	}
	return "ok"
}

func (c tokenCheck) text() string {
	if c.err != nil {
		return c.err.Error() + ": " + c.found
	}
	return c.found
}

// inspect runs b's checks on a token one at a time, so that every one that
// fails is named and not only the first, and then verifies the token as
// jwt_auth does. The verdict is Verify's: id when it accepts the token,
// refused when it does not. A check of the claims reads them whether the
// signature holds or not; only Verify's verdict vouches for them.
func (b *Backend) inspect(raw string, header map[string]any, claims jwt.MapClaims) (checks []tokenCheck, id *identity, refused error) {
	alg, _ := header["alg"].(string)
	c := tokenCheck{name: "algorithm", found: fmt.Sprintf("%q (allowed: %s)", alg, strings.Join(b.keys.algs, ", "))}
	if !b.keys.allows(alg) {
		c.err = tokenError(errAlgorithm.Error())
	}
	checks = append(checks, c)

	// The backend's parser checks the form, the header and the signature
	// only (its claims are checked apart, as in verify).
	c = tokenCheck{name: "signature", found: "token has no kid; tried every key of " + alg}
	if _, ok := header["kid"]; ok {
		c.found = "kid " + describeClaim(header, "kid", time.Time{})
	}
	sigClaims := jwt.MapClaims{}
	if tok, err := b.parser.ParseWithClaims(raw, sigClaims, b.keys.keyfunc); err != nil {
		c.err = b.reason(tok, sigClaims, err)
	} else {
		c.found = "verified, " + c.found
	}
	checks = append(checks, c)

	// Each claim is checked on its own: put into claims that pass every
	// rule of the backend, so that the backend's own validator and reasons
	// speak about that claim alone.
	now := b.clock()
	passing := jwt.MapClaims{"exp": json.Number(strconv.FormatInt(now.Add(time.Hour).Unix(), 10))}
	if b.Issuer != "" {
		passing["iss"] = b.Issuer
	}
	if len(b.Audience) > 0 {
		passing["aud"] = b.Audience[0]
	}
	for _, name := range []string{"exp", "nbf", "iat", "iss", "aud"} {
		c := tokenCheck{name: name, found: describeClaim(claims, name, now)}
		switch {
		case name == "iss" && b.Issuer == "":
			c.found, c.skipped = "not checked: the backend sets no issuer", true
		case name == "aud" && len(b.Audience) == 0:
			c.found, c.skipped = "not checked: the backend sets no audience", true
		default:
			one := maps.Clone(passing)
			delete(one, name)
			if v, ok := claims[name]; ok {
				one[name] = v
			}
			if err := b.claimsValidator.Validate(one); err != nil {
				c.err = b.reason(nil, one, err)
			}
			switch name {
			case "iss":
				c.found += fmt.Sprintf(" (want %q)", b.Issuer)
			case "aud":
				want, _ := json.Marshal(b.Audience)
				c.found += " (want one of " + string(want) + ")"
			}
		}
		checks = append(checks, c)
	}

	c = tokenCheck{name: "user", found: b.UserClaim + " " + describeClaim(claims, b.UserClaim, now)}
	_, c.err = b.userIDOf(claims)
	checks = append(checks, c)

	// The verdict: the real Verify, revocations and all.
	id, refused = b.Verify(raw)
	c = tokenCheck{name: "revocation", found: "not revoked"}
	switch {
	case errors.Is(refused, errTokenRevoked):
		c.err, c.found = refused, "revoked (caddy jwt revoke, or a logout)"
	case refused != nil:
		c.found, c.skipped = "not checked: the token is refused before", true
	case !b.store.up():
		c.found, c.skipped = "not checked: the "+b.store.kind()+" store is unreachable", true
	}
	checks = append(checks, c)
	if refused != nil && !errors.Is(refused, errTokenRevoked) && !failedWith(checks, refused) {
		// A rule no check above covers, such as the JSON's form.
		checks = append(checks, tokenCheck{name: "other", found: "a rule the checks above do not cover", err: refused})
	}
	return checks, id, refused
}

// failedWith tells whether one of checks failed with the reason err.
func failedWith(checks []tokenCheck, err error) bool {
	for _, c := range checks {
		if c.err != nil && c.err.Error() == err.Error() {
			return true
		}
	}
	return false
}
