// The `caddy jwt` command and its subcommands: revoking through a running
// Caddy's admin API (as `caddy reload` changes its config) here, making
// keys and secrets in keygen.go, inspecting a token in inspect.go.

package caddyjwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "jwt",
		Usage: "revoke|keygen|secret|inspect ...",
		Short: "Revokes, inspects and makes keys for the tokens of the jwt app",
		Long: `
Commands for the tokens of the jwt app: revoke them on a running Caddy,
make keys and secrets for backends, and inspect a token against the checks
of a backend.`,
		CobraFunc: addJWTCommands,
	})
}

// addJWTCommands adds the subcommands of caddy jwt to cmd.
func addJWTCommands(cmd *cobra.Command) {
	cmd.AddCommand(revokeCommand(), keygenCommand(), secretCommand(), inspectCommand())
}

// revokeCommand is `caddy jwt revoke`.
func revokeCommand() *cobra.Command {
	revoke := &cobra.Command{
		Use:   "revoke --backend <name> (--jti <id> | --sid <id> | --user <id>) [--address <admin>]",
		Short: "Revokes one token, one session, or every token of a user",
		Long: `
Revokes tokens on a running Caddy through its admin API (POST /jwt/revoke):
one token by its jti, one session (a login's refresh tokens and every
access token issued in it) by its sid, or every token and session of a user
issued up to now. Every instance sharing the jwt app's store refuses them
within a second.

The admin endpoint is --address, or the one of --config, or localhost:2019.`,
		Args: cobra.NoArgs,
		RunE: runRevoke,
	}
	revoke.Flags().String("backend", "", "the jwt backend the tokens belong to")
	revoke.Flags().String("jti", "", "the id (jti) of the token to revoke")
	revoke.Flags().String("sid", "", "the session (sid) to end")
	revoke.Flags().String("user", "", "the user whose tokens to revoke")
	revoke.Flags().String("address", "", "the admin API's address")
	revoke.Flags().StringP("config", "c", "", "a config file to find the admin address in")
	revoke.Flags().StringP("adapter", "a", "", "the adapter of that config file")
	return revoke
}

func runRevoke(cmd *cobra.Command, _ []string) error {
	flag := func(name string) string { v, _ := cmd.Flags().GetString(name); return v }
	body, err := json.Marshal(revokeRequest{Backend: flag("backend"), JTI: flag("jti"), SID: flag("sid"), User: flag("user")})
	if err != nil {
		return err
	}
	if _, err := parseRevokeRequest(body); err != nil {
		return errors.New("give --backend and exactly one of --jti, --sid and --user")
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(flag("address"), nil, flag("config"), flag("adapter"))
	if err != nil {
		return fmt.Errorf("finding the admin API: %v", err)
	}
	headers := http.Header{"Content-Type": {"application/json"}}
	resp, err := caddycmd.AdminAPIRequest(addr, http.MethodPost, "/jwt/revoke", headers, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
	_, _ = cmd.OutOrStdout().Write(out)
	return nil
}
