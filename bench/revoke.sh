#!/usr/bin/env bash
# Latency of a logout and of an admin revocation with the Redis store
# (issue 12, "Speed").
#
# Starts a redis-server (127.0.0.1, temporary directory, no persistence) and
# ONE Caddy built from cmd/caddy whose jwt app has `store redis <url>`, with
# its admin endpoint on a loopback port and one site:
#
#   jwt_login /login api { rate_limit off }    mints the tokens (not measured)
#   jwt_logout /logout api                     revokes the bearer token it is sent
#   jwt_auth api + respond "ok"                everything else
#
# It mints 2 x N tokens by jwt_login, then, with one curl process per pass
# (one keep-alive connection, requests one after another, each timed by
# curl's time_total):
#
#   1. GET / with each of the first N tokens: a jwt_auth request on the same
#      connection, the floor of what this way of timing sees (it also puts
#      the tokens in the verified-token cache, as their use would);
#   2. POST /logout with `Authorization: Bearer <token>`, each of the first N
#      tokens once: each revokes its token (a Redis write and a publish);
#   3. POST /jwt/revoke on the admin endpoint with
#      {"backend":"api","jti":"<jti>"}, the jti of each of the other N tokens.
#
# Then it checks that every one of the 2 x N tokens is refused (401) and
# that Redis holds 2 x N revocations, and prints p50, p90, p99 and the
# slowest of each pass in milliseconds, with the machine.
#
# Usage: bench/revoke.sh
# Settings (environment):
#   N=500 (at most 5000) PORT=18600 (admin PORT+1, Redis PORT+2)
#   CADDY_CPU=0 CLIENT_CPU=1 (curl and Redis) STORE=redis (or memory, for comparison)
#   CADDY_SRC=<tree to build; default this repo>
set -euo pipefail

N=${N:-500}
PORT=${PORT:-18600}
ADMIN_PORT=${ADMIN_PORT:-$((PORT + 1))}
REDIS_PORT=${REDIS_PORT:-$((PORT + 2))}
CADDY_CPU=${CADDY_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
STORE=${STORE:-redis}

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

{ [ "$N" -ge 1 ] && [ "$N" -le 5000 ]; } || die "N must be 1 to 5000"
case $STORE in
redis) need_tools redis-server redis-cli ;;
memory) need_tools ;;
*) die "STORE must be redis or memory" ;;
esac

bench_tmp revoke

# Tokens are minted by the hundred, so the bench user's hash is bcrypt's
# cheapest (cost 4): what is timed never checks a password.
CADDY=$TMP/caddy
build_caddy "$CADDY"
PASSWORD=bench-password
HASH=$("$CADDY" hash-password --plaintext "$PASSWORD" --bcrypt-cost 4)
SECRET=$(openssl rand -hex 32)

STORE_LINE=
[ "$STORE" = memory ] || STORE_LINE="store redis redis://127.0.0.1:$REDIS_PORT"
cat >"$TMP/Caddyfile" <<EOF
{
	admin 127.0.0.1:$ADMIN_PORT
	auto_https off
	persist_config off
	storage file_system {
		root $TMP/data
	}
	jwt {
		$STORE_LINE
		backend api {
			secret $SECRET
			algorithm HS256
			user bench $HASH
		}
	}
}

http://:$PORT {
	bind 127.0.0.1
	jwt_login /login api {
		rate_limit off
	}
	jwt_logout /logout api
	jwt_auth api
	respond "ok"
}
EOF

wait_quiet
LOAD_START=$(loadavg)
if [ "$STORE" = redis ]; then
	log "starting redis-server on 127.0.0.1:$REDIS_PORT (CPU $CLIENT_CPU)"
	start_redis "$REDIS_PORT" "$TMP/redis" "$TMP/redis.log" taskset -c "$CLIENT_CPU"
fi
log "starting Caddy on CPU $CADDY_CPU (GOMAXPROCS=1), admin on 127.0.0.1:$ADMIN_PORT"
start_caddy "$CADDY" "$TMP/Caddyfile" "$TMP/caddy.log" "http://127.0.0.1:$PORT/" \
	taskset -c "$CADDY_CPU" env GOMAXPROCS=1
if [ "$STORE" = redis ]; then
	wait_log "$TMP/caddy.log" '"store reachable"' 10 ||
		{ tail -n 20 "$TMP/caddy.log" >&2; die "Caddy did not reach Redis within 10 s"; }
fi

# curl_pass <name> <config> runs the requests of a curl config file, one
# after another on one connection, and writes "<status> <seconds>" per
# request to $TMP/<name>.txt.
curl_pass() {
	local name=$1 config=$2
	sed -i '$ { /^next$/d }' "$config" # a last `next` would be a request without URL
	timeout -k 5 $((60 + N / 10)) taskset -c "$CLIENT_CPU" curl -s -K "$config" >"$TMP/$name.txt" ||
		die "curl failed in pass $name"
	[ "$(wc -l <"$TMP/$name.txt")" -eq "$N" ] || die "pass $name: $(wc -l <"$TMP/$name.txt") answers, want $N"
}
# curl_entry <url> [curl config lines...] prints one request of a config file.
curl_entry() {
	local url=$1 line
	shift
	printf 'url = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{time_total}\\n"\n' "$url"
	for line in "$@"; do printf '%s\n' "$line"; done
	printf 'next\n'
}
# want_status <name> <status> fails unless every request of a pass got it.
want_status() {
	local bad
	bad=$(awk -v s="$2" '$1 != s' "$TMP/$1.txt" | wc -l)
	[ "$bad" = 0 ] || die "pass $1: $bad of $N answers were not $2 ($(awk -v s="$2" '$1 != s { print $1 }' "$TMP/$1.txt" | sort | uniq -c | tr '\n' ' '))"
}

# ---- tokens -------------------------------------------------------------------
log "minting $((2 * N)) tokens"
timeout -k 5 $((60 + N / 5)) taskset -c "$CLIENT_CPU" \
	curl -s -d "username=bench&password=$PASSWORD" "http://127.0.0.1:$PORT/login?n=[1-$((2 * N))]" |
	grep -o '"token":"[^"]*"' | cut -d'"' -f4 >"$TMP/tokens.txt" || true
[ "$(wc -l <"$TMP/tokens.txt")" -eq $((2 * N)) ] || die "minted $(wc -l <"$TMP/tokens.txt") tokens, want $((2 * N))"
head -n "$N" "$TMP/tokens.txt" >"$TMP/logout-tokens.txt"
tail -n "$N" "$TMP/tokens.txt" >"$TMP/admin-tokens.txt"
while read -r t; do
	rest=${t#*.}
	b64url_json "${rest%%.*}" | grep -o '"jti":"[^"]*"' | cut -d'"' -f4
done <"$TMP/admin-tokens.txt" >"$TMP/admin-jtis.txt"
[ "$(sort -u "$TMP/admin-jtis.txt" | wc -l)" -eq "$N" ] || die "the tokens do not carry $N distinct jti claims"

# ---- the passes -----------------------------------------------------------------
while read -r t; do
	curl_entry "http://127.0.0.1:$PORT/" "header = \"Authorization: Bearer $t\""
done <"$TMP/logout-tokens.txt" >"$TMP/auth.cfg"
while read -r t; do
	curl_entry "http://127.0.0.1:$PORT/logout" 'request = "POST"' "header = \"Authorization: Bearer $t\""
done <"$TMP/logout-tokens.txt" >"$TMP/logout.cfg"
while read -r j; do
	curl_entry "http://127.0.0.1:$ADMIN_PORT/jwt/revoke" 'header = "Content-Type: application/json"' \
		"data = \"{\\\"backend\\\":\\\"api\\\",\\\"jti\\\":\\\"$j\\\"}\""
done <"$TMP/admin-jtis.txt" >"$TMP/revoke.cfg"

log "timing $N jwt_auth requests (the floor)"
curl_pass auth "$TMP/auth.cfg"
want_status auth 200
log "timing $N logouts"
curl_pass logout "$TMP/logout.cfg"
want_status logout 204
log "timing $N admin revocations"
curl_pass revoke "$TMP/revoke.cfg"
want_status revoke 200

# ---- checks -------------------------------------------------------------------
# every token is refused now, on this instance (the local copy)
cat "$TMP/logout-tokens.txt" "$TMP/admin-tokens.txt" | while read -r t; do
	curl_entry "http://127.0.0.1:$PORT/" "header = \"Authorization: Bearer $t\""
done >"$TMP/check.cfg"
N=$((2 * N)) curl_pass check "$TMP/check.cfg"
N=$((2 * N)) want_status check 401
curl -s --max-time 5 -H "Authorization: Bearer $(head -n 1 "$TMP/logout-tokens.txt")" -D - -o /dev/null "http://127.0.0.1:$PORT/" |
	grep -qi 'token revoked' || die "a logged-out token is not refused with \"token revoked\""
if [ "$STORE" = redis ]; then
	# and in Redis, each under its own key
	keys=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern '*revoked:jti:*' | wc -l)
	[ "$keys" -eq $((2 * N)) ] || die "Redis holds $keys revoked jti keys, want $((2 * N))"
fi
LOAD_END=$(loadavg)

# ---- report -------------------------------------------------------------------
# ms_stats <pass>: p50, p90, p99 and max of its time_total, in ms
ms_stats() {
	local -a v
	mapfile -t v < <(awk '{ printf "%.3f\n", $2 * 1000 }' "$TMP/$1.txt")
	printf '%s | %s | %s | %s' "$(percentile 50 "${v[@]}")" "$(percentile 90 "${v[@]}")" \
		"$(percentile 99 "${v[@]}")" "$(percentile 100 "${v[@]}")"
}
echo
echo "caddy-jwt logout and revoke latency, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
machine_info "$CADDY"
echo "- load average (1/5/15 min) before: $LOAD_START; after: $LOAD_END"
echo "- Caddy on CPU $CADDY_CPU with GOMAXPROCS=1, jwt app \`${STORE_LINE:-store memory}\`; curl${REDIS_PID:+ and Redis} on CPU $CLIENT_CPU"
echo "- N = $N requests a pass, one after another on one keep-alive connection (\`curl -K\`), each timed by curl's time_total"
echo
echo "| request | N | p50 ms | p90 ms | p99 ms | max ms |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| \`GET /\` with a bearer token (jwt_auth, cached: the floor) | $N | $(ms_stats auth) |"
echo "| \`POST /logout\` with a bearer token (revokes it) | $N | $(ms_stats logout) |"
echo "| admin \`POST /jwt/revoke\` {\"backend\":\"api\",\"jti\":...} | $N | $(ms_stats revoke) |"
echo
echo "All $((2 * N)) tokens answered 401 afterwards$([ "$STORE" = redis ] && echo ", and Redis held $((2 * N)) revoked-jti keys")."
