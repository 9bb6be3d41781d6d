// Command caddy is Caddy with its standard modules plus caddy-jwt. It is the
// binary behind the README's quick start, the integration tests and the
// benchmarks; production builds use xcaddy instead.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/jwtkit/caddy-jwt"
)

func main() {
	caddycmd.Main()
}
