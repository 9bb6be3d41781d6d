# Shared helpers of bench/load.sh, bench/flood.sh, bench/revoke.sh and bench/instructions.sh; sourced,
# not run.
# shellcheck shell=bash

# Where the scripts live and which tree they build.
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=${CADDY_SRC:-$(cd "$BENCH_DIR/.." && pwd)}

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# need_tools [tool...] installs wrk when missing (Debian's package) and checks
# the rest, and the tools given.
need_tools() {
	if ! command -v wrk >/dev/null 2>&1; then
		log "wrk is missing; installing it with apt-get"
		if [ "$(id -u)" = 0 ]; then
			apt-get update >/dev/null && apt-get install -y wrk >/dev/null
		else
			sudo apt-get update >/dev/null && sudo apt-get install -y wrk >/dev/null
		fi
	fi
	local t
	for t in wrk go curl openssl taskset timeout "$@"; do
		command -v "$t" >/dev/null 2>&1 || die "$t is required"
	done
}

# seconds turns a wrk duration (10, 10s, 2m, 1h) into whole seconds.
seconds() {
	local d=$1
	case $d in
	*h) echo $((${d%h} * 3600)) ;;
	*m) echo $((${d%m} * 60)) ;;
	*s) echo "${d%s}" ;;
	*) echo "$d" ;;
	esac
}

# build_caddy builds Caddy with the plugin from cmd/caddy into $1.
build_caddy() {
	log "building Caddy from $REPO_DIR/cmd/caddy"
	(cd "$REPO_DIR" && go build -o "$1" ./cmd/caddy) || die "go build failed"
}

# bench_setup builds Caddy into $TMP and makes what every case shares: the
# bench user's password and its bcrypt cost-10 hash, and an HMAC secret.
# Sets CADDY, PASSWORD, HASH and SECRET.
bench_setup() {
	CADDY=$TMP/caddy
	build_caddy "$CADDY"
	PASSWORD=bench-password
	HASH=$("$CADDY" hash-password --plaintext "$PASSWORD" --bcrypt-cost 10)
	SECRET=$(openssl rand -hex 32)
}

# stop_pid <pid> ends a process this script started: TERM, up to 5 s, KILL.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# CADDY_PID is the Caddy start_caddy started last, CADDY_PIDS every Caddy it
# started; stop_caddy ends them all.
CADDY_PID=
CADDY_PIDS=()
stop_caddy() {
	local pid
	for pid in "${CADDY_PIDS[@]}"; do stop_pid "$pid"; done
	CADDY_PID=
	CADDY_PIDS=()
}

# cpu_ticks <pid> prints the user+system CPU time the process has used, in
# clock ticks (getconf CLK_TCK per second).
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
CLK_TCK=$(getconf CLK_TCK)

# start_caddy <caddy> <Caddyfile> <log> <ready-url> [prefix command...] runs
# Caddy in the background (exec'd through the prefix, e.g. taskset and env,
# so $CADDY_PID is Caddy itself) and waits up to 30 s for <ready-url>. Call
# it once per Caddy; each one's pid is $CADDY_PID right after.
start_caddy() {
	local bin=$1 config=$2 logfile=$3 url=$4
	shift 4
	"$@" "$bin" run --config "$config" --adapter caddyfile >"$logfile" 2>&1 &
	CADDY_PID=$!
	CADDY_PIDS+=("$CADDY_PID")
	local i
	for i in $(seq 300); do
		if ! kill -0 "$CADDY_PID" 2>/dev/null; then
			CADDY_PID=
			tail -n 20 "$logfile" >&2
			die "Caddy exited during startup (log above)"
		fi
		if curl -s -o /dev/null --max-time 1 "$url"; then
			return 0
		fi
		sleep 0.1
	done
	die "Caddy did not answer $url within 30 s"
}

# upstream_caddyfile <data dir> <port> prints the config of the upstream
# that the reverse_proxy cases proxy to: one site on 127.0.0.1 answering
# `respond "ok"`, nothing else.
upstream_caddyfile() {
	printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tstorage file_system {\n\t\troot %s\n\t}\n}\n\n' "$1"
	printf '# the upstream of the reverse_proxy cases\nhttp://:%s {\n\tbind 127.0.0.1\n\trespond "ok"\n}\n' "$2"
}

# REDIS_PID is the redis-server start_redis started, if any; stop_redis ends it.
REDIS_PID=
# start_redis <port> <dir> <log> [prefix command...] runs a throwaway
# redis-server on 127.0.0.1:<port>, its files in <dir>, no persistence (no
# RDB snapshots, no AOF), and waits up to 10 s for PING. Refuses a port
# something already answers on, so it never uses another Redis.
start_redis() {
	local port=$1 dir=$2 logfile=$3
	shift 3
	if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
		die "something already answers on 127.0.0.1:$port; set REDIS_PORT"
	fi
	mkdir -p "$dir"
	"$@" redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
		--save "" --appendonly no --daemonize no --logfile "$logfile" &
	REDIS_PID=$!
	local _
	for _ in $(seq 100); do
		kill -0 "$REDIS_PID" 2>/dev/null || { REDIS_PID=; tail -n 20 "$logfile" >&2; die "redis-server exited during startup (log above)"; }
		[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	die "redis-server did not answer on 127.0.0.1:$port within 10 s"
}
stop_redis() {
	stop_pid "$REDIS_PID"
	REDIS_PID=
}

# wait_log <file> <text> <seconds> waits until <text> appears in <file>.
wait_log() {
	local _
	for _ in $(seq $(($3 * 10))); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# b64url_json <segment> decodes a base64url JWT segment (header or payload).
b64url_json() {
	local s
	s=$(printf '%s' "$1" | tr '_-' '/+')
	while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
	printf '%s' "$s" | base64 -d 2>/dev/null
}

# check_status <want> <url> [curl args...] fails unless the URL answers <want>.
check_status() {
	local want=$1 url=$2 got
	shift 2
	got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url") || true
	[ "$got" = "$want" ] || die "$url answered $got, want $want"
}

# wrk_field <file> <field> reads one figure from wrk's output: rps (requests/s),
# requests (completed in the run),
# p50 and p99 (latency in µs, needs --latency), non2xx, errors (socket errors).
wrk_field() {
	awk -v field="$2" '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return v * 1000
		if (v ~ /m$/) return v * 60e6
		if (v ~ /s$/) return v * 1e6
		return v + 0
	}
	field == "rps" && $1 == "Requests/sec:" { print $2 + 0; found = 1 }
	field == "p50" && $1 == "50%" { print us($2); found = 1 }
	field == "p99" && $1 == "99%" { print us($2); found = 1 }
	field == "requests" && $2 == "requests" && $3 == "in" { print $1 + 0; found = 1 }
	field == "non2xx" && /Non-2xx or 3xx responses:/ { print $NF + 0; found = 1 }
	field == "errors" && /Socket errors:/ {
		n = 0
		for (i = 3; i <= NF; i++) { v = $i; gsub(/,/, "", v); if (v ~ /^[0-9]+$/) n += v }
		print n; found = 1
	}
	END { if (!found) print (field == "non2xx" || field == "errors") ? 0 : "NaN" }
	' "$1"
}

# median of the numbers given as arguments.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "NaN"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# percentile <p> <numbers...> prints the p-th percentile (0-100) by nearest
# rank: the smallest value with at least p% of the values at or below it.
percentile() {
	local p=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ v[NR] = $1 } END {
		if (NR == 0) { print "NaN"; exit }
		x = p / 100 * NR; r = int(x); if (r < x) r++; if (r < 1) r = 1
		print v[r] }'
}

# fmt_us formats microseconds for a table: "812 µs" or "1.42 ms".
fmt_us() {
	awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f µs", v }'
}

# loadavg prints the 1, 5 and 15 minute load averages.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# wait_quiet waits, when QUIET_LOAD is set, until the 1-minute load average
# drops below it (at most QUIET_WAIT seconds, default 600), so a benchmark on a
# shared machine does not start in the middle of someone else's build.
wait_quiet() {
	[ -n "${QUIET_LOAD:-}" ] || return 0
	local waited=0 limit=${QUIET_WAIT:-600}
	while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v q="$QUIET_LOAD" 'BEGIN { exit !(l >= q) }'; do
		if [ "$waited" -ge "$limit" ]; then
			log "load average still $(loadavg) after ${limit}s; starting anyway"
			return 0
		fi
		[ "$waited" = 0 ] && log "waiting for the load average ($(loadavg)) to drop below $QUIET_LOAD"
		sleep 5
		waited=$((waited + 5))
	done
}

# machine_info prints the machine and versions as markdown bullet points.
machine_info() {
	local bin=$1
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
	echo "- $(go version | sed 's/^go version //; s/^/Go /')"
	local rev
	if rev=$(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null); then
		(cd "$REPO_DIR" && git diff --quiet HEAD -- '*.go' 'go.*') || rev="$rev + uncommitted changes"
	else
		rev="${CADDY_JWT_REV:-tree at $REPO_DIR}"
	fi
	echo "- Caddy $("$bin" version | awk '{ print $1 }'), caddy-jwt $rev"
	echo "- $(wrk --version 2>&1 | head -n 1 | awk '{ print "wrk", $2 }')"
	if [ -n "$REDIS_PID" ]; then
		echo "- $(redis-server --version | awk '{ sub(/^v=/, "", $3); print "Redis", $3 }') (redis-server on 127.0.0.1, no persistence)"
	fi
}

# bench_tmp makes the run's temp dir as TMP, and on exit stops every Caddy
# and Redis the run started and removes it.
bench_tmp() { # <name>
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/caddy-jwt-$1.XXXXXX")
	trap 'stop_caddy; stop_redis; rm -rf "$TMP"' EXIT
	trap 'exit 130' INT TERM
}
