#!/usr/bin/env bash
# The real-browser end-to-end tests of caddy-jwt: browser.test.mjs (the login
# flow) and refresh.test.mjs (refresh tokens; ~45 s, mostly waiting out token
# lifetimes). Installs what it needs when it is missing (Debian's Chromium,
# the pinned npm packages), builds Caddy from cmd/caddy, and runs every
# *.test.mjs here. CI calls it from .ci/run after the Go tests; run it by
# hand with `bash e2e/run.sh`.
set -euo pipefail

cd "$(dirname "$0")"

if ! command -v go >/dev/null 2>&1; then
	export PATH="/usr/local/go/bin:$PATH"
fi

if [ ! -x /usr/bin/chromium ]; then
	echo "--- installing chromium"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q chromium
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "--- installing node and npm"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q nodejs npm
fi

# npm ci installs exactly what package-lock.json pins (playwright-core has
# no install script and downloads no browser: the test uses Debian's).
echo "--- npm ci"
npm ci --no-audit --no-fund

echo "--- building caddy"
bin="$(mktemp -d)/caddy"
trap 'rm -rf "$(dirname "$bin")"' EXIT
(cd .. && go build -o "$bin" ./cmd/caddy)

echo "--- e2e tests: the browser ($(/usr/bin/chromium --version 2>/dev/null || echo chromium)) and Node jose"
CADDY_BIN="$bin" node --test
