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
#
# Settings (environment):
#   REQUESTS=5000 ROUNDS=3 TOP=40
#   GC=off   the collector off (GOGC=off): the same count every round; GC=on
#            counts the collector's share too, which varies by round
#   BASE_PORT=9300
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
CASES=(g c q)
declare -A PORT=([g]=$BASE_PORT [c]=$((BASE_PORT + 1)) [q]=$((BASE_PORT + 2)))
declare -A FLOOR_OF=([c]=g [q]=g)
declare -A DESC=([g]="bare respond, sent (c)'s token" [c]="jwt_auth HS256, cache hit" [q]="bare respond + header Cache-Control, sent (c)'s token")

for t in valgrind callgrind_control go curl openssl; do
	command -v "$t" >/dev/null 2>&1 || die "$t is required (valgrind: apt-get install valgrind)"
done
[ "$GC" = off ] || [ "$GC" = on ] || die "GC must be off or on"

TMP=$(mktemp -d /tmp/caddy-jwt-instructions.XXXXXX)
VG_PID=
cleanup() {
	stop_pid "$VG_PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CADDY=$TMP/caddy
build_caddy "$CADDY"
(cd "$REPO_DIR" && go build -o "$TMP/irdiff" ./bench/irdiff && go build -o "$TMP/tokens" ./bench/tokens) || die "go build failed"
SECRET=$(openssl rand -hex 32)
TOKEN=$(BENCH_SECRET=$SECRET "$TMP/tokens" -n 1 -lifetime 4h)

{
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tstorage file_system {\n\t\troot %s\n\t}\n' "$TMP/data"
	printf '\tjwt {\n\t\tbackend hs256 {\n\t\t\tsecret %s\n\t\t\talgorithm HS256\n\t\t}\n\t}\n}\n\n' "$SECRET"
	printf 'http://:%s {\n\tbind 127.0.0.1\n\trespond "ok"\n}\n\n' "${PORT[g]}"
	printf 'http://:%s {\n\tbind 127.0.0.1\n\tjwt_auth hs256\n\trespond "ok"\n}\n\n' "${PORT[c]}"
	printf 'http://:%s {\n\tbind 127.0.0.1\n\theader Cache-Control "private, no-cache"\n\trespond "ok"\n}\n' "${PORT[q]}"
} >"$TMP/Caddyfile"

# Go's runtime under valgrind: valgrind 3.19 cannot run RDTSCP, and its
# signal handling trips over asynchronous preemption.
godebug=cpu.rdtscp=off,asyncpreemptoff=1
gogc=100
[ "$GC" = on ] || gogc=off
log "starting Caddy under callgrind (GOGC=$gogc)"
GOGC=$gogc GODEBUG=$godebug GOMAXPROCS=1 valgrind --tool=callgrind --dump-instr=yes --compress-pos=no \
	--compress-strings=no --callgrind-out-file="$TMP/cg.out" \
	"$CADDY" run --config "$TMP/Caddyfile" --adapter caddyfile >"$TMP/caddy.log" 2>&1 &
VG_PID=$!
for _ in $(seq 600); do
	kill -0 "$VG_PID" 2>/dev/null || { tail -n 30 "$TMP/caddy.log" >&2; die "Caddy under valgrind exited (log above)"; }
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:${PORT[g]}/" && break
	sleep 0.5
done
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:${PORT[g]}/" || die "Caddy under valgrind did not answer within 5 minutes"

# send <case> <n> sends n requests with the token on one connection and
# fails unless every one answered 200 "ok".
send() {
	local ok
	ok=$(curl -s --max-time 600 -H "Authorization: Bearer $TOKEN" -w '%{http_code}\n' \
		"http://127.0.0.1:${PORT[$1]}/[1-$2]" | grep -c '^ok200$' || true)
	[ "$ok" = "$2" ] || die "($1): $ok of $2 requests answered 200 ok"
}

declare -A IR
dumps=0
for round in $(seq "$ROUNDS"); do
	for c in "${CASES[@]}"; do
		send "$c" 200 # warm: the token is cached, the connection's buffers grown
		callgrind_control -z "$VG_PID" >/dev/null
		send "$c" "$REQUESTS"
		callgrind_control -d "$c-$round" "$VG_PID" >/dev/null
		dumps=$((dumps + 1))
		file=$TMP/cg.out.$dumps
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
echo "- Caddy under callgrind, GOMAXPROCS=1, GOGC=$gogc; $REQUESTS requests a case a round on one connection, $ROUNDS rounds alternating g c q"
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
for c in c q; do
	f=${FLOOR_OF[$c]}
	echo
	echo "### ($c) against ($f), median rounds, by function"
	echo
	"$TMP/irdiff" -binary "$CADDY" -requests "$REQUESTS" -top "$TOP" "$TMP/$f-$(median_round "$f").out" "$TMP/$c-$(median_round "$c").out"
done
