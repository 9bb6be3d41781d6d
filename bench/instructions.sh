#!/usr/bin/env bash
# Issue 15: what a cache hit costs, counted in instructions rather than
# timed. Caddy runs under valgrind's callgrind, which counts every
# instruction it executes whatever else the machine does; each case gets
# REQUESTS requests on one keep-alive connection (curl), counted alone
# (callgrind_control zeroes the counters before and dumps them after), in
# ROUNDS rounds alternating the cases. It prints each case's instructions
# per request (median over rounds) against its floor, then, for the median
# rounds, which functions make the difference (bench/irdiff).
#
#   (g) bare `respond`, sent (c)'s token: the floor
#   (c) `jwt_auth` HS256, a cache hit
#   (q) bare `respond` with Caddy's own `header Cache-Control "private,
#       no-cache"`, the header `jwt_auth` adds (SPEC §4), sent (c)'s token
#   (u) `jwt_auth` HS256 (a hit) with `cache_control off`: the hit without
#       the header
#   (p) reverse_proxy alone to an upstream Caddy, sent (c)'s token: the
#       floor of (o)
#   (o) `jwt_auth` HS256 (a hit) + reverse_proxy to the same upstream
#   (r) reverse_proxy with Caddy's own `header ?Cache-Control "private,
#       no-cache"` (set when the response has none, as jwt_auth does), sent
#       (c)'s token: what that header costs a proxied request by itself
#   (k) `jwt_auth` HS256 (a hit) on a second Caddy under callgrind whose
#       jwt app has `store redis`, against a redis-server this script
#       starts: read against (c), the default memory store
#
# The upstream Caddy and redis-server run outside callgrind: only the Caddy
# that serves a case is counted, every one of its threads.
#
# Settings (environment):
#   CASES="g c q u p o r k" REQUESTS=5000 ROUNDS=3 TOP=40
#   GC=off   the collector off (GOGC=off): the same count every round; GC=on
#            counts the collector's share too, which varies by round
#   BASE_PORT=9300 (the cases' ports follow it; the upstream and Redis are
#   BASE_PORT+10 and +11)
#
# Instructions are not time: the hit's string comparisons and copies run
# many instructions a cycle, so a share of instructions overstates its share
# of time. bench/load.sh gives the time.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS=${REQUESTS:-5000}
ROUNDS=${ROUNDS:-3}
TOP=${TOP:-40}
GC=${GC:-off}
BASE_PORT=${BASE_PORT:-9300}
read -r -a CASES <<<"${CASES:-g c q u p o r k}"
declare -A PORT=([g]=$BASE_PORT [c]=$((BASE_PORT + 1)) [q]=$((BASE_PORT + 2)) [p]=$((BASE_PORT + 3)) [o]=$((BASE_PORT + 4)) [r]=$((BASE_PORT + 6)) [u]=$((BASE_PORT + 7)) [k]=$((BASE_PORT + 5)))
UPSTREAM_PORT=$((BASE_PORT + 10))
REDIS_PORT=$((BASE_PORT + 11))
declare -A FLOOR_OF=([c]=g [q]=g [u]=g [o]=p [r]=p [k]=c)
declare -A DESC=([g]="bare respond, sent (c)'s token" [c]="jwt_auth HS256, cache hit" [q]="bare respond + header Cache-Control, sent (c)'s token" [u]="jwt_auth HS256, cache_control off, cache hit"
	[p]="reverse_proxy, sent (c)'s token" [o]="jwt_auth HS256 + reverse_proxy" [r]="reverse_proxy + header ?Cache-Control, sent (c)'s token" [k]="jwt_auth HS256, store redis")
# server 1 serves every case but (k), server 2 serves (k)
declare -A SERVER_OF=([g]=1 [c]=1 [q]=1 [u]=1 [p]=1 [o]=1 [r]=1 [k]=2)

has_case() { [[ " ${CASES[*]} " == *" $1 "* ]]; }

tools=(valgrind callgrind_control go curl openssl)
for c in "${CASES[@]}"; do
	[ -n "${DESC[$c]:-}" ] || die "unknown case $c (cases: g c q u p o r k)"
	f=${FLOOR_OF[$c]:-}
	[ -z "$f" ] || has_case "$f" || die "($c) is read against ($f): add $f to CASES"
done
! has_case k || tools+=(redis-server redis-cli)
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || die "$t is required (valgrind: apt-get install valgrind)"
done
[ "$GC" = off ] || [ "$GC" = on ] || die "GC must be off or on"

TMP=$(mktemp -d /tmp/caddy-jwt-instructions.XXXXXX)
declare -A VG_PID=()
cleanup() {
	local pid
	for pid in "${VG_PID[@]}"; do stop_pid "$pid"; done
	stop_caddy
	stop_redis
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CADDY=$TMP/caddy
build_caddy "$CADDY"
(cd "$REPO_DIR" && go build -o "$TMP/irdiff" ./bench/irdiff && go build -o "$TMP/tokens" ./bench/tokens) || die "go build failed"
SECRET=$(openssl rand -hex 32)
TOKEN=$(BENCH_SECRET=$SECRET "$TMP/tokens" -n 1 -lifetime 4h)

# caddyfile <server> writes the config of one Caddy under callgrind: its
# cases' sites and the HS256 backend (c)'s token is valid for.
caddyfile() {
	local srv=$1 c
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tstorage file_system {\n\t\troot %s\n\t}\n\tjwt {\n' "$TMP/data$srv"
	[ "$srv" = 1 ] || printf '\t\tstore redis redis://127.0.0.1:%s\n' "$REDIS_PORT"
	printf '\t\tbackend hs256 {\n\t\t\tsecret %s\n\t\t\talgorithm HS256\n\t\t}\n\t}\n}\n\n' "$SECRET"
	for c in "${CASES[@]}"; do
		[ "${SERVER_OF[$c]}" = "$srv" ] || continue
		printf '# (%s) %s\nhttp://:%s {\n\tbind 127.0.0.1\n' "$c" "${DESC[$c]}" "${PORT[$c]}"
		case $c in
		c | o | k) printf '\tjwt_auth hs256\n' ;;
		u) printf '\tjwt_auth hs256 {\n\t\tcache_control off\n\t}\n' ;;
		q) printf '\theader Cache-Control "private, no-cache"\n' ;;
		r) printf '\theader ?Cache-Control "private, no-cache"\n' ;;
		esac
		case $c in
		o | p | r) printf '\treverse_proxy 127.0.0.1:%s\n}\n\n' "$UPSTREAM_PORT" ;;
		*) printf '\trespond "ok"\n}\n\n' ;;
		esac
	done
}

if has_case o || has_case p || has_case r; then
	upstream_caddyfile "$TMP/data-upstream" "$UPSTREAM_PORT" >"$TMP/Caddyfile-upstream"
	log "starting the upstream Caddy (outside callgrind)"
	start_caddy "$CADDY" "$TMP/Caddyfile-upstream" "$TMP/caddy-upstream.log" "http://127.0.0.1:$UPSTREAM_PORT/"
fi
if has_case k; then
	log "starting redis-server on 127.0.0.1:$REDIS_PORT"
	start_redis "$REDIS_PORT" "$TMP/redis" "$TMP/redis.log"
fi

# Go's runtime under valgrind: valgrind 3.19 cannot run RDTSCP, and its
# signal handling trips over asynchronous preemption.
godebug=cpu.rdtscp=off,asyncpreemptoff=1
gogc=100
[ "$GC" = on ] || gogc=off
for srv in 1 2; do
	first=
	for c in "${CASES[@]}"; do
		[ "${SERVER_OF[$c]}" = "$srv" ] && { first=$c; break; }
	done
	[ -n "$first" ] || continue
	caddyfile "$srv" >"$TMP/Caddyfile$srv"
	log "starting Caddy $srv under callgrind (GOGC=$gogc)"
	GOGC=$gogc GODEBUG=$godebug GOMAXPROCS=1 valgrind --tool=callgrind --dump-instr=yes --compress-pos=no \
		--compress-strings=no --callgrind-out-file="$TMP/cg$srv.out" \
		"$CADDY" run --config "$TMP/Caddyfile$srv" --adapter caddyfile >"$TMP/caddy$srv.log" 2>&1 &
	VG_PID[$srv]=$!
	for _ in $(seq 600); do
		kill -0 "${VG_PID[$srv]}" 2>/dev/null || { tail -n 30 "$TMP/caddy$srv.log" >&2; die "Caddy $srv under valgrind exited (log above)"; }
		curl -s -o /dev/null --max-time 2 "http://127.0.0.1:${PORT[$first]}/" && break
		sleep 0.5
	done
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:${PORT[$first]}/" || die "Caddy $srv under valgrind did not answer within 5 minutes"
done

# send <case> <n> sends n requests with the token on one connection and
# fails unless every one answered 200 "ok".
send() {
	local ok
	ok=$(curl -s --max-time 600 -H "Authorization: Bearer $TOKEN" -w '%{http_code}\n' \
		"http://127.0.0.1:${PORT[$1]}/[1-$2]" | grep -c '^ok200$' || true)
	[ "$ok" = "$2" ] || die "($1): $ok of $2 requests answered 200 ok"
}

declare -A IR
declare -A DUMPS=([1]=0 [2]=0)
for round in $(seq "$ROUNDS"); do
	for c in "${CASES[@]}"; do
		srv=${SERVER_OF[$c]}
		send "$c" 200 # warm: the token is cached, the connection's buffers grown
		callgrind_control -z "${VG_PID[$srv]}" >/dev/null
		send "$c" "$REQUESTS"
		callgrind_control -d "$c-$round" "${VG_PID[$srv]}" >/dev/null
		DUMPS[$srv]=$((DUMPS[$srv] + 1))
		file=$TMP/cg$srv.out.${DUMPS[$srv]}
		for _ in $(seq 100); do
			grep -q '^totals:\|^summary:' "$file" 2>/dev/null && break
			sleep 0.2
		done
		IR[$c-$round]=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
		cp "$file" "$TMP/$c-$round.out"
		log "round $round/$ROUNDS ($c) $((IR[$c-$round] / REQUESTS)) instructions a request"
	done
done

# median_round <case> prints the round whose count is the case's median.
median_round() {
	local c=$1 r
	for r in $(seq "$ROUNDS"); do echo "${IR[$c-$r]} $r"; done | sort -n | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) { print $2 }'
}

echo
echo "caddy-jwt instruction counts, $(date -u '+%Y-%m-%d %H:%M') UTC"
echo
echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(valgrind --version)"
echo "- $(go version | cut -d' ' -f3-), caddy-jwt $(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "- Caddy under callgrind, GOMAXPROCS=1, GOGC=$gogc; $REQUESTS requests a case a round on one connection, $ROUNDS rounds alternating ${CASES[*]}"
echo
echo "| case | | instructions/request (median) | per round | floor | floor/case |"
echo "|---|---|---:|---|---|---:|"
for c in "${CASES[@]}"; do
	m=$(median_round "$c")
	per=$(for r in $(seq "$ROUNDS"); do printf '%s ' $((IR[$c-$r] / REQUESTS)); done)
	f=${FLOOR_OF[$c]:-}
	if [ -n "$f" ]; then
		fm=$(median_round "$f")
		ratio=$(awk -v a="${IR[$f-$fm]}" -v b="${IR[$c-$m]}" 'BEGIN { printf "%.3f", a / b }')
		echo "| ($c) | ${DESC[$c]} | $((IR[$c-$m] / REQUESTS)) | $per | ($f) | $ratio |"
	else
		echo "| ($c) | ${DESC[$c]} | $((IR[$c-$m] / REQUESTS)) | $per | – | – |"
	fi
done
for c in "${CASES[@]}"; do
	f=${FLOOR_OF[$c]:-}
	[ -n "$f" ] || continue
	echo
	echo "### ($c) against ($f), median rounds, by function"
	echo
	"$TMP/irdiff" -binary "$CADDY" -requests "$REQUESTS" -top "$TOP" "$TMP/$f-$(median_round "$f").out" "$TMP/$c-$(median_round "$c").out"
done
