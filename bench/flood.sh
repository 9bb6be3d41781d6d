#!/usr/bin/env bash
# Login-flood benchmark (issue 5, item 1): does a flood of logins starve the
# rest of the server?
#
# One Caddy, one site: `jwt_login /login` (a bcrypt cost-10 user) and
# everything else behind `jwt_auth`. wrk measures the jwt_auth route alone,
# then again while a second wrk with FLOOD_CONNECTIONS connections POSTs
# logins to /login (bench/flood.lua), alternating quiet and flooded runs for
# ROUNDS rounds. It prints the median throughput of each and their ratio
# (target: >= 0.90), and how the flood's logins were answered.
#
# What the flood sends (FLOOD):
#   FLOOD=wrong (default)  wrong passwords from one address (127.0.0.1), with
#                          `rate_limit off` unless RATE_LIMIT says otherwise,
#                          so every login that gets a hash slot really hashes.
#   FLOOD=distributed      wrong passwords from many addresses, each under the
#                          real rate_limit (the default): Caddy trusts
#                          X-Forwarded-For from 127.0.0.1 (trusted_proxies),
#                          and each round's flood names FLOOD_ADDRESSES fresh
#                          addresses in turn (half IPv4, half IPv6 /64s in /48s
#                          of their own), so no address reaches 10 failures.
#                          The script reads Caddy's log to check it.
#   FLOOD=correct          the bench user's correct password from one address,
#                          with the default rate_limit (20 successes per 5m per
#                          client, 50 per user).
#
# Probes (PROBES=1, the default with FLOOD=distributed): before every round,
# a "returning client" (X-Forwarded-For 192.0.2.10) logs in once and keeps
# its device cookie in a curl cookie jar. During the flooded measurement it
# logs in PROBE_LOGINS times in a row with that jar as the bench user, the
# flood's target, and so does a new client (a fresh address a round, no
# cookies) as a user of its own, so that neither uses up the other's
# successes; a login counts as ok when it answers 200 within PROBE_TIMEOUT
# seconds. The flood then lasts until the probes are done (at most
# PROBE_LOGINS x PROBE_TIMEOUT seconds). The bench user may succeed only
# 5 x rate_limit's count times a window (50 by default), so with more than
# 4 rounds of 10 the last probes meet that limit; the script says so.
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
#   FLOOD=wrong (or "distributed", or "correct"; see above)
#   RATE_LIMIT=off with FLOOD=wrong, "default" otherwise (or "<count> <window>":
#     jwt_login's rate_limit)
#   HASH_CPU=default (or the global option's value: "off", "10%", ...)
#   FLOOD_ADDRESSES=500 (FLOOD=distributed: addresses a round)
#   PROBES=1 with FLOOD=distributed, 0 otherwise; PROBE_LOGINS=10 PROBE_TIMEOUT=2
#   PORT=18500 CADDY_CPU=0 WRK_CPU=1 CADDY_SRC=<tree to build; default this repo>
set -euo pipefail

FLOOD=${FLOOD:-wrong}
case $FLOOD in
wrong) default_rate_limit=off default_probes=0 ;;
distributed) default_rate_limit=default default_probes=1 ;;
correct) default_rate_limit=default default_probes=0 ;;
*)
	printf 'error: FLOOD must be wrong, distributed or correct, not %s\n' "$FLOOD" >&2
	exit 1
	;;
esac
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-200}
LEAD=${LEAD:-2}
PIN=${PIN:-1}
RATE_LIMIT=${RATE_LIMIT:-$default_rate_limit}
HASH_CPU=${HASH_CPU:-default}
FLOOD_ADDRESSES=${FLOOD_ADDRESSES:-500}
PROBES=${PROBES:-$default_probes}
PROBE_LOGINS=${PROBE_LOGINS:-10}
PROBE_TIMEOUT=${PROBE_TIMEOUT:-2}
PORT=${PORT:-18500}
CADDY_CPU=${CADDY_CPU:-0}
WRK_CPU=${WRK_CPU:-1}

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"
if [ "$FLOOD" = distributed ]; then
	if [ "$FLOOD_ADDRESSES" -lt 2 ] || [ $((FLOOD_ADDRESSES % 2)) != 0 ]; then
		die "FLOOD_ADDRESSES must be even and at least 2"
	fi
	# flood.lua's IPv6 addresses are 2001:db8:<k>::1 with k < 65536.
	[ $((ROUNDS * FLOOD_ADDRESSES)) -le 131072 ] || die "ROUNDS x FLOOD_ADDRESSES must be at most 131072"
fi
need_tools

TMP=$(mktemp -d "${TMPDIR:-/tmp}/caddy-jwt-flood.XXXXXX")
FLOOD_PID=
PROBE_PIDS=()
cleanup() {
	local pid
	for pid in "$FLOOD_PID" "${PROBE_PIDS[@]}"; do
		[ -n "$pid" ] || continue
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	stop_caddy
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_setup

case $RATE_LIMIT in
default) RATE_LIMIT_LINE="# rate_limit: the default (10 failures per 5m per client; 50 successes per client and per user)" ;;
*) RATE_LIMIT_LINE="rate_limit $RATE_LIMIT" ;;
esac
# Failures allowed per client, and successes per user (five times as many),
# within the window.
case $RATE_LIMIT in
default) FAIL_LIMIT="10 per 5m" SUCCESS_LIMIT=50 ;;
off) FAIL_LIMIT=off SUCCESS_LIMIT=0 ;;
*) FAIL_LIMIT="${RATE_LIMIT%% *} per ${RATE_LIMIT#* }" SUCCESS_LIMIT=$((5 * ${RATE_LIMIT%% *})) ;;
esac
# The bench user signs in once for the token, and every round once for the
# returning client's cookie and then with every probe of the returning
# client. Once it reaches its success limit, every login naming it gets
# 429, the flood's included, and the probes measure the limit instead of
# the flood.
BENCH_SUCCESSES=$((1 + ROUNDS * (1 + PROBE_LOGINS)))
SUCCESS_NOTE=
if [ "$PROBES" = 1 ] && [ "$SUCCESS_LIMIT" -gt 0 ] && [ "$BENCH_SUCCESSES" -gt "$SUCCESS_LIMIT" ]; then
	SUCCESS_NOTE="Note: the returning client's logins ($BENCH_SUCCESSES with the setup's) exceed the bench user's $SUCCESS_LIMIT successes a window: its last logins, and the flood's from then on, get 429 from the per-user limit. Fewer ROUNDS or PROBE_LOGINS avoid it."
	log "$SUCCESS_NOTE"
fi

case $HASH_CPU in
default) HASH_CPU_LINE="# hash_cpu: the default (5%)" ;;
*) HASH_CPU_LINE="hash_cpu $HASH_CPU" ;;
esac

# The distributed flood and the probes name their client in X-Forwarded-For,
# which Caddy honors only from a trusted proxy.
SERVERS_LINE="# servers: the defaults; X-Forwarded-For is ignored"
if [ "$FLOOD" = distributed ] || [ "$PROBES" = 1 ]; then
	SERVERS_LINE="servers {
		trusted_proxies static 127.0.0.1/32
	}"
fi

CF=$TMP/Caddyfile
cat >"$CF" <<EOF
{
	admin off
	auto_https off
	persist_config off
	$SERVERS_LINE
	jwt {
		$HASH_CPU_LINE
		backend bench {
			secret $SECRET
			user bench $HASH
			user newcomer $HASH
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
# (or finds every hash slot taken), not one refused before hashing; with
# FLOOD=correct, the login above was the flood's request.
FLOOD_PASSWORD=$PASSWORD
if [ "$FLOOD" != correct ]; then
	FLOOD_PASSWORD=wrong-password
	resp=$(curl -s --max-time 10 -d "username=bench&password=$FLOOD_PASSWORD" "$URL/login")
	case $resp in
	*LOGIN_BAD_CREDENTIALS* | *LOGIN_BUSY*) ;;
	*) die "a wrong-password login answered $resp" ;;
	esac
fi
FLOOD_XFF=0
if [ "$FLOOD" = distributed ]; then
	FLOOD_XFF=$FLOOD_ADDRESSES
fi

RETURNING_IP=192.0.2.10
# returning_signin <round>: the round's returning client signs in once,
# before the flood, and keeps the device cookie it is given, as a browser
# would. A device of its own each round, so that its successes (2 x count
# a window, like an address's) last every round.
returning_signin() {
	local jar=$TMP/returning$1.cookies
	check_status 200 "$URL/login" -c "$jar" -H "X-Forwarded-For: $RETURNING_IP" \
		-d "username=bench&password=$PASSWORD"
	grep -q jwt_device_bench "$jar" || die "the returning client's login set no device cookie"
	grep -q "\"client_ip\":\"$RETURNING_IP\"" "$TMP/caddy.log" ||
		die "Caddy did not take the client IP from X-Forwarded-For (trusted_proxies)"
}

DUR_S=$(seconds "$DURATION")
# The flood covers the measurement and, with probes, every probe login.
FLOOD_S=$DUR_S
if [ "$PROBES" = 1 ] && [ $((PROBE_LOGINS * PROBE_TIMEOUT)) -gt "$FLOOD_S" ]; then
	FLOOD_S=$((PROBE_LOGINS * PROBE_TIMEOUT))
fi
measure() { # <outfile>: the jwt_auth route, bounded in time
	local out=$1
	timeout -k 5 $((DUR_S + 30)) "${WRK_PREFIX[@]}" wrk -t1 -c "$CONNECTIONS" -d "$DURATION" --latency \
		-H "Authorization: Bearer $TOKEN" "$URL/" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
	local bad
	bad=$(wrk_field "$out" non2xx)
	[ "$bad" = 0 ] || { cat "$out" >&2; die "the jwt_auth route got $bad non-2xx responses"; }
}

flood_start() { # <outfile> <round>: the flood runs LEAD s before and 1 s after the measurement (and probes)
	FLOOD_PASSWORD=$FLOOD_PASSWORD FLOOD_ADDRESSES=$FLOOD_XFF FLOOD_ROUND=$2 \
		timeout -k 5 $((FLOOD_S + LEAD + 31)) "${WRK_PREFIX[@]}" wrk -t1 -c "$FLOOD_CONNECTIONS" -d "$((FLOOD_S + LEAD + 1))s" \
		--timeout 10s -s "$BENCH_DIR/flood.lua" "$URL/login" >"$1" 2>&1 &
	FLOOD_PID=$!
}
flood_wait() {
	wait "$FLOOD_PID" || { cat "$1" >&2; die "flood wrk failed"; }
	FLOOD_PID=
}

# Lets the last flood's logins drain (at most 1 s waiting for a slot, then a hash).
settle() { sleep 2; }

# probe <outfile> <user> [curl args...]: PROBE_LOGINS logins in a row as
# user, each given PROBE_TIMEOUT s; writes "<status> <seconds>" a
# login (status 000 when it timed out).
probe() {
	local out=$1 user=$2 i
	shift 2
	: >"$out"
	for i in $(seq "$PROBE_LOGINS"); do
		"${WRK_PREFIX[@]}" curl -s -o /dev/null --max-time "$PROBE_TIMEOUT" -w '%{http_code} %{time_total}\n' \
			-d "username=$user&password=$PASSWORD" "$@" "$URL/login" >>"$out" || true
	done
}
probes_start() { # <round>: the returning client with its cookie jar, and a new client
	probe "$TMP/returning$1.txt" bench -b "$TMP/returning$1.cookies" -c "$TMP/returning$1.cookies" -H "X-Forwarded-For: $RETURNING_IP" &
	PROBE_PIDS=($!)
	probe "$TMP/new$1.txt" newcomer -H "X-Forwarded-For: 192.0.2.$((100 + $1))" &
	PROBE_PIDS+=($!)
}
probes_wait() {
	local pid
	for pid in "${PROBE_PIDS[@]}"; do
		wait "$pid"
	done
	PROBE_PIDS=()
}
# probe_ok <file...>: logins that answered 200 within PROBE_TIMEOUT s.
probe_ok() { cat "$@" | awk -v t="$PROBE_TIMEOUT" '$1 == 200 && $2 <= t { n++ } END { print n + 0 }'; }
probe_count() { cat "$@" | wc -l | tr -d ' '; }
probe_median() { # seconds
	local times
	mapfile -t times < <(cat "$@" | awk '{ print $2 }')
	median "${times[@]}"
}
probe_max() { cat "$@" | awk '{ print $2 }' | sort -g | tail -n 1; }
probe_answers() { cat "$@" | awk '{ print $1 }' | sort | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1 }'; }
fmt_s() { awk -v v="$1" 'BEGIN { if (v < 1) printf "%.0f ms", v * 1000; else printf "%.2f s", v }'; }

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

QUIET=() FLOODED=() QP99=() FP99=() QCPU=() FCPU=() RATIOS=() NRATIOS=() LOGINS=() STATUSES=() LOADS=()
for r in $(seq "$ROUNDS"); do
	cpu_during "$TMP/quiet$r.txt" measure "$TMP/quiet$r.txt"
	q=$(wrk_field "$TMP/quiet$r.txt" rps)
	qc=$(cat "$TMP/quiet$r.txt.cpu")
	QUIET+=("$q") QCPU+=("$qc")
	QP99+=("$(wrk_field "$TMP/quiet$r.txt" p99)")
	settle

	if [ "$PROBES" = 1 ]; then
		returning_signin "$r"
	fi
	flood_start "$TMP/flood$r.txt" "$r"
	sleep "$LEAD"
	if [ "$PROBES" = 1 ]; then
		probes_start "$r"
	fi
	cpu_during "$TMP/flooded$r.txt" measure "$TMP/flooded$r.txt"
	if [ "$PROBES" = 1 ]; then
		probes_wait
	fi
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
	LOADS+=("$(loadavg)")
	log "$(printf 'round %d/%d  quiet %8.0f req/s   flooded %8.0f req/s   ratio %s (per Caddy CPU: %s)   flood: %.0f logins/s (%s)   load %s' \
		"$r" "$ROUNDS" "$q" "$f" "${RATIOS[-1]}" "${NRATIOS[-1]}" "${LOGINS[-1]}" "$st" "${LOADS[-1]}")"
	if [ "$PROBES" = 1 ]; then
		log "$(printf '           returning client %s/%s ok, median %s (%s)   new client %s/%s ok, median %s (%s)' \
			"$(probe_ok "$TMP/returning$r.txt")" "$PROBE_LOGINS" "$(fmt_s "$(probe_median "$TMP/returning$r.txt")")" \
			"$(probe_answers "$TMP/returning$r.txt")" \
			"$(probe_ok "$TMP/new$r.txt")" "$PROBE_LOGINS" "$(fmt_s "$(probe_median "$TMP/new$r.txt")")" \
			"$(probe_answers "$TMP/new$r.txt")")"
	fi
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
case $FLOOD in
wrong) WHAT="wrong passwords from one address" ;;
distributed) WHAT="wrong passwords from $FLOOD_ADDRESSES addresses a round in X-Forwarded-For (half IPv4, half IPv6 in /48s of their own; fresh ones every round)" ;;
correct) WHAT="the correct password from one address" ;;
esac
echo "- FLOOD=$FLOOD; measured: \`wrk -t1 -c$CONNECTIONS -d$DURATION --latency\` on the jwt_auth route (HS256); flood: \`wrk -t1 -c$FLOOD_CONNECTIONS -s bench/flood.lua\` POSTing $WHAT to jwt_login (bcrypt cost 10, rate_limit $RATE_LIMIT, hash_cpu $HASH_CPU), started ${LEAD}s before the measurement and lasting $((FLOOD_S + LEAD + 1))s; $ROUNDS rounds, quiet and flooded alternating"
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
echo "Caddy busy: Caddy's CPU time over the run, as a share of the $PROCS CPU(s) it may use. Flood answers: 200 = a correct password"
echo "that was checked; 400 = a wrong password that was hashed; 503 = no hash slot or hashing time within 1 s, not hashed; 429 = rate"
echo "limited, not hashed."

if [ "$FLOOD" = distributed ]; then
	# Every failed password check is logged with the client's address; the
	# flood's addresses are in 198.18.0.0/15 and 2001:db8::/32.
	read -r most addrs < <(sed -n 's/.*"msg":"login failed".*"client_ip":"\([^"]*\)","reason":"\([^"]*\)".*/\1|\2/p' "$TMP/caddy.log" |
		awk -F'|' '$2 != "rate limited" && ($1 ~ /^198\.1[89]\./ || $1 ~ /^2001:db8:/) { n[$1]++ }
		END { m = 0; for (k in n) if (n[k] > m) m = n[k]; print m, length(n) }')
	limited=$(sed -n 's/.*"msg":"login failed".*"reason":"rate limited".*/x/p' "$TMP/caddy.log" | wc -l | tr -d ' ')
	sent=$(sed -n 's/.*, at most \([0-9]*\) requests each$/\1/p' "$TMP"/flood[0-9]*.txt | sort -n | tail -n 1)
	echo
	echo "Flood addresses: $FLOOD_ADDRESSES a round, $((ROUNDS * FLOOD_ADDRESSES)) in all, each sending at most $sent logins (in its one"
	echo "round); $addrs of them had a password checked and failed, at most **$most** times for one address over the run (rate_limit:"
	echo "$FAIL_LIMIT); logins refused by the rate limit: $limited."
fi

if [ "$PROBES" = 1 ]; then
	echo
	echo "Probes during each flooded measurement: $PROBE_LOGINS logins in a row each, ok = 200 within ${PROBE_TIMEOUT}s (\`curl --max-time $PROBE_TIMEOUT\`)."
	echo "Returning client: user bench (the flood's target), X-Forwarded-For $RETURNING_IP, with the device cookie of its login before"
	echo "the round's flood (cookie jar, updated by every login). New client: user newcomer, X-Forwarded-For 192.0.2.(100 + round), no cookies."
	echo
	echo "| round | returning client ok | returning median | returning max | returning answers | new client ok | new median | new max | new answers |"
	echo "|---:|---:|---:|---:|---|---:|---:|---:|---|"
	for r in $(seq "$ROUNDS"); do
		ret=$TMP/returning$r.txt new=$TMP/new$r.txt
		printf '| %d | %s/%s | %s | %s | %s | %s/%s | %s | %s | %s |\n' "$r" \
			"$(probe_ok "$ret")" "$(probe_count "$ret")" "$(fmt_s "$(probe_median "$ret")")" \
			"$(fmt_s "$(probe_max "$ret")")" "$(probe_answers "$ret")" \
			"$(probe_ok "$new")" "$(probe_count "$new")" "$(fmt_s "$(probe_median "$new")")" \
			"$(fmt_s "$(probe_max "$new")")" "$(probe_answers "$new")"
	done
	rets=() news=()
	for r in $(seq "$ROUNDS"); do
		rets+=("$TMP/returning$r.txt") news+=("$TMP/new$r.txt")
	done
	printf '| **all** | **%s/%s** | **%s** | %s | %s | **%s/%s** | **%s** | %s | %s |\n' \
		"$(probe_ok "${rets[@]}")" "$(probe_count "${rets[@]}")" "$(fmt_s "$(probe_median "${rets[@]}")")" \
		"$(fmt_s "$(probe_max "${rets[@]}")")" "$(probe_answers "${rets[@]}")" \
		"$(probe_ok "${news[@]}")" "$(probe_count "${news[@]}")" "$(fmt_s "$(probe_median "${news[@]}")")" \
		"$(fmt_s "$(probe_max "${news[@]}")")" "$(probe_answers "${news[@]}")"
	worst=$(for r in $(seq "$ROUNDS"); do probe_ok "$TMP/returning$r.txt"; done | sort -n | head -n 1)
	echo
	echo "Returning client: fewest ok in a round **$worst/$PROBE_LOGINS** (bar: at least $((PROBE_LOGINS * 9 / 10))/$PROBE_LOGINS within ${PROBE_TIMEOUT}s)."
	if [ -n "$SUCCESS_NOTE" ]; then
		echo
		echo "$SUCCESS_NOTE"
	fi
fi
