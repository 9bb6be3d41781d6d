#!/usr/bin/env bash
# Login-flood benchmark (issue 5, item 1): does a flood of wrong passwords
# starve the rest of the server?
#
# One Caddy, one site: `jwt_login /login` (a bcrypt cost-10 user,
# `rate_limit off`, so every login that gets a hash slot really hashes) and
# everything else behind `jwt_auth`. wrk measures the jwt_auth route alone,
# then again while a second wrk with FLOOD_CONNECTIONS connections POSTs
# wrong passwords to /login (bench/flood.lua), alternating quiet and flooded
# runs for ROUNDS rounds. It prints the median throughput of each and their
# ratio (target: >= 0.90).
#
# Placement (PIN):
#   PIN=1 (default)  Caddy on CPU 0 with GOMAXPROCS=1 (hash cap 2), both wrk
#                    clients on CPU 1. The server's CPU is the contested
#                    resource and the clients cannot steal from it, as if they
#                    ran on another machine; this is what the cap must protect.
#   PIN=0            nothing pinned, Caddy with GOMAXPROCS = all CPUs (hash
#                    cap 2 x nproc), clients and server share every core, as
#                    on a small box that runs everything.
#
# Usage: bench/flood.sh
# Settings (environment):
#   ROUNDS=3 DURATION=10s CONNECTIONS=50 FLOOD_CONNECTIONS=200 LEAD=2 PIN=1
#   RATE_LIMIT=off (or "default", or "<count> <window>": jwt_login's rate_limit)
#   HASH_CPU=default (or the global option's value: "off", "10%", ...)
#   PORT=18500 CADDY_CPU=0 WRK_CPU=1 CADDY_SRC=<tree to build; default this repo>
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-200}
LEAD=${LEAD:-2}
PIN=${PIN:-1}
RATE_LIMIT=${RATE_LIMIT:-off}
HASH_CPU=${HASH_CPU:-default}
PORT=${PORT:-18500}
CADDY_CPU=${CADDY_CPU:-0}
WRK_CPU=${WRK_CPU:-1}

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"
need_tools

TMP=$(mktemp -d "${TMPDIR:-/tmp}/caddy-jwt-flood.XXXXXX")
FLOOD_PID=
cleanup() {
	if [ -n "$FLOOD_PID" ]; then
		kill "$FLOOD_PID" 2>/dev/null || true
		wait "$FLOOD_PID" 2>/dev/null || true
	fi
	stop_caddy
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_setup

case $RATE_LIMIT in
default) RATE_LIMIT_LINE="# rate_limit: the default (10 failures per 5m per client IP)" ;;
*) RATE_LIMIT_LINE="rate_limit $RATE_LIMIT" ;;
esac

case $HASH_CPU in
default) HASH_CPU_LINE="# hash_cpu: the default (5%)" ;;
*) HASH_CPU_LINE="hash_cpu $HASH_CPU" ;;
esac

CF=$TMP/Caddyfile
cat >"$CF" <<EOF
{
	admin off
	auto_https off
	persist_config off
	jwt {
		$HASH_CPU_LINE
		backend bench {
			secret $SECRET
			user bench $HASH
		}
	}
}

http://:$PORT {
	bind 127.0.0.1
	jwt_login /login bench {
		$RATE_LIMIT_LINE
	}
	jwt_auth bench
	respond "ok"
}
EOF
# No access log, no admin endpoint. Caddy's own log (one warn line per failed
# login) goes to a file, as it would in production.

if [ "$PIN" = 1 ]; then
	CADDY_PREFIX=(taskset -c "$CADDY_CPU" env GOMAXPROCS=1)
	WRK_PREFIX=(taskset -c "$WRK_CPU")
	PROCS=1
	PLACEMENT="Caddy on CPU $CADDY_CPU with GOMAXPROCS=1 (hash cap 2), both wrk clients on CPU $WRK_CPU"
else
	CADDY_PREFIX=(env)
	WRK_PREFIX=(env)
	PROCS=$(nproc)
	PLACEMENT="nothing pinned; Caddy with GOMAXPROCS=$PROCS (hash cap $((2 * PROCS))), clients on the same $PROCS CPUs"
fi
wait_quiet
LOAD_START=$(loadavg)
log "starting Caddy: $PLACEMENT"
start_caddy "$CADDY" "$CF" "$TMP/caddy.log" "http://127.0.0.1:$PORT/" "${CADDY_PREFIX[@]}"

URL=http://127.0.0.1:$PORT
resp=$(curl -s --max-time 10 -d "username=bench&password=$PASSWORD" "$URL/login")
TOKEN=$(printf '%s' "$resp" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || die "jwt_login gave no token"
check_status 200 "$URL/" -H "Authorization: Bearer $TOKEN"
check_status 401 "$URL/"
# The flood's request must be a well-formed login that fails on the password
# (or finds every hash slot taken), not one refused before hashing.
resp=$(curl -s --max-time 10 -d "username=bench&password=wrong-password" "$URL/login")
case $resp in
*LOGIN_BAD_CREDENTIALS* | *LOGIN_BUSY*) ;;
*) die "a wrong-password login answered $resp" ;;
esac

DUR_S=$(seconds "$DURATION")
measure() { # <outfile>: the jwt_auth route, bounded in time
	local out=$1
	timeout -k 5 $((DUR_S + 30)) "${WRK_PREFIX[@]}" wrk -t1 -c "$CONNECTIONS" -d "$DURATION" --latency \
		-H "Authorization: Bearer $TOKEN" "$URL/" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
	local bad
	bad=$(wrk_field "$out" non2xx)
	[ "$bad" = 0 ] || { cat "$out" >&2; die "the jwt_auth route got $bad non-2xx responses"; }
}

flood_start() { # <outfile>: the flood runs LEAD s before and 1 s after the measurement
	timeout -k 5 $((DUR_S + LEAD + 31)) "${WRK_PREFIX[@]}" wrk -t1 -c "$FLOOD_CONNECTIONS" -d "$((DUR_S + LEAD + 1))s" \
		--timeout 10s -s "$BENCH_DIR/flood.lua" "$URL/login" >"$1" 2>&1 &
	FLOOD_PID=$!
}
flood_wait() {
	wait "$FLOOD_PID" || { cat "$1" >&2; die "flood wrk failed"; }
	FLOOD_PID=
}

# Lets the last flood's logins drain (at most 1 s waiting for a slot, then a hash).
settle() { sleep 2; }

log "warm-up, 2s"
DURATION=2s DUR_S=2 measure "$TMP/warmup.txt"

# cpu_during <outfile> <command...>: runs the command and writes the CPU
# seconds Caddy used meanwhile to <outfile>.cpu.
cpu_during() {
	local out=$1 t0 t1
	shift
	t0=$(cpu_ticks "$CADDY_PID")
	"$@"
	t1=$(cpu_ticks "$CADDY_PID")
	awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { print t / hz }' >"$out.cpu"
}
ratio_of() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.3f", x / y }'; }

QUIET=() FLOODED=() QP99=() FP99=() QCPU=() FCPU=() RATIOS=() NRATIOS=() LOGINS=() STATUSES=()
for r in $(seq "$ROUNDS"); do
	cpu_during "$TMP/quiet$r.txt" measure "$TMP/quiet$r.txt"
	q=$(wrk_field "$TMP/quiet$r.txt" rps)
	qc=$(cat "$TMP/quiet$r.txt.cpu")
	QUIET+=("$q") QCPU+=("$qc")
	QP99+=("$(wrk_field "$TMP/quiet$r.txt" p99)")
	settle

	flood_start "$TMP/flood$r.txt"
	sleep "$LEAD"
	cpu_during "$TMP/flooded$r.txt" measure "$TMP/flooded$r.txt"
	flood_wait "$TMP/flood$r.txt"
	f=$(wrk_field "$TMP/flooded$r.txt" rps)
	fc=$(cat "$TMP/flooded$r.txt.cpu")
	FLOODED+=("$f") FCPU+=("$fc")
	FP99+=("$(wrk_field "$TMP/flooded$r.txt" p99)")
	RATIOS+=("$(ratio_of "$f" "$q")")
	# jwt_auth requests per second of Caddy CPU, flooded over quiet: the
	# share of Caddy's CPU the route kept, whatever else ran on the machine.
	NRATIOS+=("$(awk -v f="$f" -v fc="$fc" -v q="$q" -v qc="$qc" 'BEGIN { printf "%.3f", (f / fc) / (q / qc) }')")
	LOGINS+=("$(wrk_field "$TMP/flood$r.txt" rps)")
	st=$(sed -n 's/^statuses: *//p' "$TMP/flood$r.txt" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
	STATUSES+=("$st")
	log "$(printf 'round %d/%d  quiet %8.0f req/s   flooded %8.0f req/s   ratio %s (per Caddy CPU: %s)   flood: %.0f logins/s (%s)' \
		"$r" "$ROUNDS" "$q" "$f" "${RATIOS[-1]}" "${NRATIOS[-1]}" "${LOGINS[-1]}" "$st")"
	settle
done

mq=$(median "${QUIET[@]}")
mf=$(median "${FLOODED[@]}")
ratio=$(ratio_of "$mf" "$mq")
mratio=$(median "${RATIOS[@]}")
mnratio=$(median "${NRATIOS[@]}")
verdict() { awk -v r="$1" 'BEGIN { print (r >= 0.90) ? "meets the 0.90 bar" : "MISSES the 0.90 bar" }'; }
busy() { awk -v c="$1" -v d="$DUR_S" -v p="$PROCS" 'BEGIN { printf "%.0f%%", 100 * c / d / p }'; }

LOAD_END=$(loadavg)
echo
echo "caddy-jwt login-flood benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
machine_info "$CADDY"
echo "- load average (1/5/15 min) before: $LOAD_START; after: $LOAD_END (this benchmark itself adds about 2)"
echo "- $PLACEMENT"
echo "- measured: \`wrk -t1 -c$CONNECTIONS -d$DURATION --latency\` on the jwt_auth route (HS256); flood: \`wrk -t1 -c$FLOOD_CONNECTIONS -s bench/flood.lua\` POSTing wrong passwords to jwt_login (bcrypt cost 10, rate_limit $RATE_LIMIT, hash_cpu $HASH_CPU), started ${LEAD}s before the measurement; $ROUNDS rounds, quiet and flooded alternating"
echo
echo "| round | quiet req/s | flooded req/s | ratio | per Caddy CPU | Caddy busy quiet / flooded | quiet p99 | flooded p99 | flood logins/s | flood answers |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for i in "${!QUIET[@]}"; do
	printf '| %d | %.0f | %.0f | %s | %s | %s / %s | %s | %s | %.1f | %s |\n' "$((i + 1))" "${QUIET[$i]}" "${FLOODED[$i]}" \
		"${RATIOS[$i]}" "${NRATIOS[$i]}" "$(busy "${QCPU[$i]}")" "$(busy "${FCPU[$i]}")" \
		"$(fmt_us "${QP99[$i]}")" "$(fmt_us "${FP99[$i]}")" "${LOGINS[$i]}" "${STATUSES[$i]}"
done
printf '| **median** | **%.0f** | **%.0f** | **%s** | **%s** | | %s | %s | | |\n' "$mq" "$mf" "$mratio" "$mnratio" \
	"$(fmt_us "$(median "${QP99[@]}")")" "$(fmt_us "$(median "${FP99[@]}")")"
echo
echo "Flooded / quiet throughput of the jwt_auth route: median of the per-round ratios **$mratio** ($(verdict "$mratio")); ratio of the medians $ratio."
echo "Per Caddy CPU (jwt_auth requests per Caddy CPU-second, flooded over quiet; hardly moved by other work on the machine): **$mnratio** ($(verdict "$mnratio"))."
echo "Caddy busy: Caddy's CPU time over the run, as a share of the $PROCS CPU(s) it may use. Flood answers: 400 = a wrong password that was"
echo "hashed; 503 = no hash slot within 1 s, not hashed; 429 = rate limited, not hashed."
