#!/usr/bin/env bash
# Whole-Caddy load benchmark of jwt_auth against bare Caddy (issues 6, 12, 15).
#
# Builds Caddy from cmd/caddy, starts ONE Caddy on 127.0.0.1 with one site
# per case, all answering `respond "ok"`:
#
#   a  bare respond                          (the floor)
#   b  basic_auth, bcrypt hash (Caddy caches the check), for reference
#   c  jwt_auth HS256
#   d  jwt_auth ES256   (P-256 sign_key)
#   e  jwt_auth RS256   (RSA 2048 sign_key)
#   f  jwt_auth EdDSA   (Ed25519 sign_key)
#   g  bare respond again, but sent (c)'s HS256 token, which it ignores:
#      the floor for what a request that carries that bearer token costs
#      anyway (reading a ~200-byte header), so c/g is what jwt_auth itself
#      costs
#   h  i  j  the same for (d)'s ES256, (e)'s RS256 and (f)'s EdDSA token
#      (an RS256 token is 2.5 times as long as an HS256 one)
#   k  jwt_auth HS256 as (c), but served by a SECOND Caddy whose jwt app has
#      `store redis redis://127.0.0.1:REDIS_PORT` (issue 12), against a
#      redis-server this script starts (loopback, temporary directory, no
#      persistence) and stops; (c) runs with the default memory store, so
#      (k)/(c) is what the Redis store costs a token check
#   l  (not run by default) (k) again on a THIRD Caddy with the default memory
#      store: the same shape of config as (k)'s, so (k)/(l) is the store alone
#   m  jwt_auth HS256 with a new token on every request: MISS_TOKENS valid
#      tokens, all different (bench/tokens, signed with the bench secret),
#      many more than the verified-token cache holds, sent in turn by
#      bench/rotate.lua (the all-misses case), on a FOURTH Caddy of its own
#   n  bare respond sent the same rotating tokens: (m)'s floor
#   o  jwt_auth HS256 + reverse_proxy to a tiny upstream (one more Caddy,
#      `respond "ok"`, on wrk's CPU)
#   p  reverse_proxy alone to the same upstream, sent (o)'s token: (o)'s floor
#   q  bare respond with Caddy's own `header Cache-Control "private, no-cache"`,
#      sent (c)'s token: what the header SPEC §4 puts on every authenticated
#      response costs by itself, read against (g); (c)/(g) can be no better
#      than (q)/(g) while jwt_auth adds that header
#   r  reverse_proxy as (p) with Caddy's own `header ?Cache-Control "private,
#      no-cache"` (set when the response has none, as jwt_auth does), sent
#      (o)'s token: that header behind the proxy, read against (p)
#
# and load-tests each case with wrk, alternating a b c ... a b c ... for
# ROUNDS rounds so a drifting machine hits every case alike. Both Caddys run
# on CPU 0 with GOMAXPROCS=1 (only one is loaded at a time), wrk and Redis on
# CPU 1. Tokens are minted by jwt_login on a separate site of the Caddy that
# checks them. Cases (d)-(f) need `sign_key` (SPEC.md §2); when this build
# does not support a key type, its case is skipped with a note.
#
# Prints a markdown table: median req/s, p50, p99, the ratio to (a) and to
# each case's floor (c-f: g-j; k: c; m: n; o: p; b: a; q: g; r: p), with each round's
# ratio to its floor.
#
# Usage: bench/load.sh            (from anywhere; needs root or sudo only to install wrk)
# Settings (environment):
#   ROUNDS=5 DURATION=8s CONNECTIONS=50 THREADS=1 WARMUP=2s
#   CASES="a b c k d e f g h i j m n o p q r" MISS_TOKENS=<10 x the default cache entries>
#   BASE_PORT=18400 REDIS_PORT=BASE_PORT+13 CADDY_CPU=0 WRK_CPU=1
#   PROFILE="<cases>" PROFILE_OUT=. ADMIN_PORT=BASE_PORT+21
#   CADDY_SRC=<tree to build; default this repo>
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2s}
# k right after c: the pair whose ratio must be read to 2% runs back to back
CASES=${CASES:-a b c k d e f g h i j m n o p q r}
BASE_PORT=${BASE_PORT:-18400}
REDIS_PORT=${REDIS_PORT:-$((BASE_PORT + 13))}
CADDY_CPU=${CADDY_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
# PROFILE="c g": after the rounds, a CPU profile of the Caddy that serves
# each case, under its load, from that Caddy's admin endpoint (on
# 127.0.0.1:ADMIN_PORT for the first, +1, +2, +3 for the others), saved as
# PROFILE_OUT/<case>.pprof
PROFILE=${PROFILE:-}
PROFILE_OUT=${PROFILE_OUT:-.}
ADMIN_PORT=${ADMIN_PORT:-$((BASE_PORT + 21))}

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"
case " $CASES " in
*" k "*) need_tools redis-server redis-cli ;;
*) need_tools ;;
esac

bench_tmp load

bench_setup

# ---- the all-misses tokens ----------------------------------------------------
CACHE_ENTRIES=$(sed -n 's/^[[:space:]]*defaultCacheEntries[[:space:]]*=[[:space:]]*\([0-9_]*\).*/\1/p' "$REPO_DIR/cache.go" | tr -d _ | head -n 1)
[ -n "$CACHE_ENTRIES" ] || die "cannot read defaultCacheEntries from $REPO_DIR/cache.go"
# More tokens than the whole run sends to (m), at up to 30,000 requests a
# second, and at least twice the cache: no token is sent twice, so none
# can be found in the cache.
MISS_TOKENS=${MISS_TOKENS:-$(awk -v e="$CACHE_ENTRIES" -v t="$((ROUNDS * $(seconds "$DURATION") + $(seconds "$WARMUP") + $(seconds "$DURATION") + 2))" \
	'BEGIN { n = t * 30000; if (n < 2 * e) n = 2 * e; print n }')}
case " $CASES " in
*" m "* | *" n "*)
	log "making $MISS_TOKENS HS256 tokens (the default cache holds $CACHE_ENTRIES)"
	(cd "$REPO_DIR" && go build -o "$TMP/tokens" ./bench/tokens) || die "go build ./bench/tokens failed"
	BENCH_SECRET=$SECRET "$TMP/tokens" -n "$MISS_TOKENS" -lifetime 4h >"$TMP/tokens.txt" || die "bench/tokens failed"
	[ "$(wc -l <"$TMP/tokens.txt")" = "$MISS_TOKENS" ] || die "bench/tokens made $(wc -l <"$TMP/tokens.txt") tokens, want $MISS_TOKENS"
	;;
esac

# ---- key material -----------------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/es256.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/rs256.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$TMP/eddsa.pem" 2>/dev/null

declare -A DESC=(
	[a]="bare respond"
	[b]="basic_auth (bcrypt, cached)"
	[c]="jwt_auth HS256"
	[d]="jwt_auth ES256"
	[e]="jwt_auth RS256"
	[f]="jwt_auth EdDSA"
	[g]="bare respond, sent (c)'s token"
	[h]="bare respond, sent (d)'s token"
	[i]="bare respond, sent (e)'s token"
	[j]="bare respond, sent (f)'s token"
	[k]="jwt_auth HS256, store redis"
	[l]="jwt_auth HS256, as (k) but memory"
	[m]="jwt_auth HS256, all misses"
	[n]="bare respond, sent (m)'s tokens"
	[o]="jwt_auth HS256 + reverse_proxy"
	[p]="reverse_proxy, sent (o)'s token"
	[q]="bare respond + Cache-Control, sent (c)'s token"
	[r]="reverse_proxy + header ?Cache-Control, sent (o)'s token"
)
declare -A PORT=([a]=$BASE_PORT [b]=$((BASE_PORT + 1)) [c]=$((BASE_PORT + 2)) [d]=$((BASE_PORT + 3)) [e]=$((BASE_PORT + 4)) [f]=$((BASE_PORT + 5)) [g]=$((BASE_PORT + 6)) [h]=$((BASE_PORT + 7)) [i]=$((BASE_PORT + 8)) [j]=$((BASE_PORT + 10)) [k]=$((BASE_PORT + 11)) [l]=$((BASE_PORT + 14)) [m]=$((BASE_PORT + 16)) [n]=$((BASE_PORT + 17)) [o]=$((BASE_PORT + 18)) [p]=$((BASE_PORT + 19)) [q]=$((BASE_PORT + 26)) [r]=$((BASE_PORT + 27)))
# the upstream of (o), (p) and (r): one more Caddy, on wrk's CPU
UPSTREAM_PORT=$((BASE_PORT + 20))
# Which Caddy serves a case (1 unless named here), its token-minting port
# and the store line of its jwt app.
# (m) has a Caddy of its own: the tokens its misses leave in the cache are
# garbage the collector would otherwise mark on the other cases' time.
declare -A SERVER=([k]=2 [l]=3 [m]=4)
declare -A MINT_PORT=([1]=$((BASE_PORT + 9)) [2]=$((BASE_PORT + 12)) [3]=$((BASE_PORT + 15)) [4]=$((BASE_PORT + 25)))
declare -A STORE_LINE=([1]="" [2]="store redis redis://127.0.0.1:$REDIS_PORT" [3]="" [4]="")
server_of() { echo "${SERVER[$1]:-1}"; }
# jwt backend per case and the Caddyfile lines of its key material.
declare -A BACKEND=([c]=hs256 [d]=es256 [e]=rs256 [f]=eddsa [k]=hs256 [l]=hs256 [m]=hsmiss [o]=hsproxy)
# the bare case sent each jwt case's token, and the token length it falls
# back to (a random string) when that case does not run
declare -A PAIR_OF=([g]=c [h]=d [i]=e [j]=f [p]=o [q]=c [r]=o)
# the floor each case is read against
declare -A FLOOR_OF=([b]=a [c]=g [d]=h [e]=i [f]=j [k]=c [l]=c [m]=n [o]=p [q]=g [r]=p)
# the cases that send bench/rotate.lua's rotating tokens
declare -A ROTATES=([m]=1 [n]=1)
declare -A FALLBACK_LEN=([g]=188 [h]=236 [i]=518 [j]=236 [p]=188 [q]=188 [r]=188)
declare -A ALG=([c]=HS256 [d]=ES256 [e]=RS256 [f]=EdDSA [k]=HS256 [l]=HS256 [m]=HS256 [o]=HS256)
declare -A KEYLINE=(
	[c]="secret $SECRET"
	[k]="secret $SECRET"
	[l]="secret $SECRET"
	[m]="secret $SECRET"
	[o]="secret $SECRET"
	[d]="sign_key $TMP/es256.pem"
	[e]="sign_key $TMP/rs256.pem"
	[f]="sign_key $TMP/eddsa.pem"
)

backend_block() { # <case>
	local c=$1
	printf '\t\tbackend %s {\n\t\t\t%s\n\t\t\talgorithm %s\n\t\t\tuser bench %s\n\t\t}\n' \
		"${BACKEND[$c]}" "${KEYLINE[$c]}" "${ALG[$c]}" "$HASH"
}

# ---- which cases this build supports ----------------------------------------
SKIPPED=()
RUN_CASES=()
for c in $CASES; do
	[ -n "${DESC[$c]:-}" ] || die "unknown case $c (cases: a b c d e f g h i j k l m n o p q r)"
	if [ -n "${BACKEND[$c]:-}" ] && [ "${ALG[$c]}" != HS256 ]; then
		probe=$TMP/probe-$c.Caddyfile
		{
			printf '{\n\tadmin off\n\tjwt {\n'
			backend_block "$c"
			printf '\t}\n}\n'
		} >"$probe"
		if ! out=$("$CADDY" validate --config "$probe" --adapter caddyfile 2>&1); then
			reason=$(printf '%s\n' "$out" | sed -n 's/.*"msg":"//p' | tail -n 1 | sed "s/\\\\\"/'/g; s/\"[,}].*//; s/.*tokens for 'jwt': //")
			log "skipping ($c) ${DESC[$c]}: this build does not accept 'sign_key' for it: ${reason:-validate failed}"
			SKIPPED+=("$c")
			continue
		fi
	fi
	RUN_CASES+=("$c")
done
[ "${#RUN_CASES[@]}" -gt 0 ] || die "no case to run"

# ---- the Caddyfiles -------------------------------------------------------------
# caddyfile <server> writes the config of one Caddy: the sites of its cases
# and, when it has jwt cases, their backends and a token-minting site.
caddyfile() {
	local srv=$1 c has_jwt=
	if [ -n "$PROFILE" ]; then
		printf '{\n\tadmin 127.0.0.1:%s\n\tauto_https off\n\tpersist_config off\n' "$((ADMIN_PORT + srv - 1))"
	else
		printf '{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n'
	fi
	printf '\tstorage file_system {\n\t\troot %s\n\t}\n' "$TMP/data$srv"
	for c in "${RUN_CASES[@]}"; do
		[ "$(server_of "$c")" = "$srv" ] && [ -n "${BACKEND[$c]:-}" ] && has_jwt=1
	done
	if [ -n "$has_jwt" ]; then
		printf '\tjwt {\n'
		[ -z "${STORE_LINE[$srv]}" ] || printf '\t\t%s\n' "${STORE_LINE[$srv]}"
		for c in "${RUN_CASES[@]}"; do
			[ "$(server_of "$c")" = "$srv" ] && [ -n "${BACKEND[$c]:-}" ] && backend_block "$c"
		done
		printf '\t}\n'
	fi
	printf '}\n\n'
	for c in "${RUN_CASES[@]}"; do
		[ "$(server_of "$c")" = "$srv" ] || continue
		printf '# (%s) %s\nhttp://:%s {\n\tbind 127.0.0.1\n' "$c" "${DESC[$c]}" "${PORT[$c]}"
		case $c in
		a | g | h | i | j | n | p) ;;
		q) printf '\theader Cache-Control "private, no-cache"\n' ;;
		r) printf '\theader ?Cache-Control "private, no-cache"\n' ;;
		b) printf '\tbasic_auth {\n\t\tbench %s\n\t}\n' "$HASH" ;;
		*) printf '\tjwt_auth %s\n' "${BACKEND[$c]}" ;;
		esac
		case $c in
		# as many idle upstream connections as wrk has: none dialled per request
		o | p | r) printf '\treverse_proxy 127.0.0.1:%s {\n\t\ttransport http {\n\t\t\tkeepalive_idle_conns_per_host %s\n\t\t}\n\t}\n}\n\n' "$UPSTREAM_PORT" "$((CONNECTIONS * 2))" ;;
		*) printf '\trespond "ok"\n}\n\n' ;;
		esac
	done
	if [ -n "$has_jwt" ]; then
		printf '# token minting, not measured\nhttp://:%s {\n\tbind 127.0.0.1\n' "${MINT_PORT[$srv]}"
		for c in "${RUN_CASES[@]}"; do
			[ "$(server_of "$c")" = "$srv" ] && [ -n "${BACKEND[$c]:-}" ] && [ -z "${ROTATES[$c]:-}" ] &&
				printf '\tjwt_login /login/%s %s\n' "${BACKEND[$c]}" "${BACKEND[$c]}"
		done
		printf '\trespond 404\n}\n'
	fi
}
# No `log` directive: no access logs. `admin off`: no admin endpoint, unless
# PROFILE asks for one (on loopback) to take CPU profiles from.

wait_quiet
LOAD_START=$(loadavg)
declare -A SRV_PID=()
case " ${RUN_CASES[*]} " in
*" o "* | *" p "* | *" r "*)
	upstream_caddyfile "$TMP/data-upstream" "$UPSTREAM_PORT" >"$TMP/Caddyfile-upstream"
	log "starting the upstream Caddy on CPU $WRK_CPU (GOMAXPROCS=1)"
	start_caddy "$CADDY" "$TMP/Caddyfile-upstream" "$TMP/caddy-upstream.log" "http://127.0.0.1:$UPSTREAM_PORT/" \
		taskset -c "$WRK_CPU" env GOMAXPROCS=1
	;;
esac
for srv in 1 2 3 4; do
	first=
	for c in "${RUN_CASES[@]}"; do
		[ "$(server_of "$c")" = "$srv" ] && { first=$c; break; }
	done
	[ -n "$first" ] || continue
	caddyfile "$srv" >"$TMP/Caddyfile$srv"
	if [ -n "${STORE_LINE[$srv]}" ]; then
		log "starting redis-server on 127.0.0.1:$REDIS_PORT (CPU $WRK_CPU)"
		start_redis "$REDIS_PORT" "$TMP/redis" "$TMP/redis.log" taskset -c "$WRK_CPU"
	fi
	log "starting Caddy $srv on CPU $CADDY_CPU (GOMAXPROCS=1)"
	start_caddy "$CADDY" "$TMP/Caddyfile$srv" "$TMP/caddy$srv.log" "http://127.0.0.1:${PORT[$first]}/" \
		taskset -c "$CADDY_CPU" env GOMAXPROCS=1
	SRV_PID[$srv]=$CADDY_PID
	if [ -n "${STORE_LINE[$srv]}" ]; then
		# the store connects in the background; measure only once it has
		wait_log "$TMP/caddy$srv.log" '"store reachable"' 10 ||
			{ tail -n 20 "$TMP/caddy$srv.log" >&2; die "Caddy $srv did not reach Redis within 10 s"; }
	fi
done

# ---- tokens and the request each case sends ---------------------------------
declare -A AUTH=()
for c in "${RUN_CASES[@]}"; do
	case $c in
	a | g | h | i | j | m | n | p | q | r) AUTH[$c]= ;;
	b) AUTH[$c]="Basic $(printf 'bench:%s' "$PASSWORD" | base64 -w0)" ;;
	*)
		resp=$(curl -s --max-time 10 -d "username=bench&password=$PASSWORD" "http://127.0.0.1:${MINT_PORT[$(server_of "$c")]}/login/${BACKEND[$c]}")
		token=$(printf '%s' "$resp" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
		[ -n "$token" ] || die "jwt_login for ${BACKEND[$c]} gave no token"
		header=$(b64url_json "${token%%.*}")
		case $header in
		*"\"alg\":\"${ALG[$c]}\""*) ;;
		*) die "token for ($c) has header $header, want alg ${ALG[$c]}" ;;
		esac
		AUTH[$c]="Bearer $token"
		;;
	esac
done

# (g)-(j) send their jwt case's token when it runs, else a random string
# about as long.
for c in "${RUN_CASES[@]}"; do
	pair=${PAIR_OF[$c]:-}
	[ -n "$pair" ] || continue
	if [ -n "${AUTH[$pair]:-}" ]; then
		AUTH[$c]=${AUTH[$pair]}
	else
		AUTH[$c]="Bearer $(openssl rand -base64 600 | tr -d '\n=' | tr '+/' '-_' | cut -c1-"${FALLBACK_LEN[$c]}")"
	fi
done

# Every case must answer 200 with its credentials (and b-f 401 without), or
# the benchmark would time error responses.
first_token=$(head -n 1 "$TMP/tokens.txt" 2>/dev/null || true)
last_token=$(tail -n 1 "$TMP/tokens.txt" 2>/dev/null || true)
for c in "${RUN_CASES[@]}"; do
	url="http://127.0.0.1:${PORT[$c]}/"
	if [ -n "${ROTATES[$c]:-}" ]; then
		check_status 200 "$url" -H "Authorization: Bearer $first_token"
		check_status 200 "$url" -H "Authorization: Bearer $last_token"
		[ "$c" = n ] || check_status 401 "$url"
	elif [ -n "${PAIR_OF[$c]:-}" ]; then
		check_status 200 "$url" -H "Authorization: ${AUTH[$c]}"
	elif [ -n "${AUTH[$c]}" ]; then
		check_status 200 "$url" -H "Authorization: ${AUTH[$c]}"
		check_status 401 "$url"
	else
		check_status 200 "$url"
	fi
	# (q) and (r) are (g) and (p) with the header jwt_auth adds, and nothing else.
	if [ "$c" = q ] || [ "$c" = r ]; then
		curl -s --max-time 10 -D - -o /dev/null -H "Authorization: ${AUTH[$c]}" "$url" | tr -d '\r' |
			grep -qx 'Cache-Control: private, no-cache' || die "($c) does not answer with Cache-Control: private, no-cache"
	fi
done

# ---- load ---------------------------------------------------------------------
DUR_S=$(seconds "$DURATION")
run_wrk() { # <case> <duration> <outfile>
	local c=$1 d=$2 out=$3
	local args=(-t "$THREADS" -c "$CONNECTIONS" -d "$d" --latency)
	[ -n "${AUTH[$c]}" ] && args+=(-H "Authorization: ${AUTH[$c]}")
	[ -z "${ROTATES[$c]:-}" ] || args+=(-s "$BENCH_DIR/rotate.lua")
	TOKENS_FILE=$TMP/tokens.txt TOKENS_START=${SENT[$c]:-0} timeout -k 5 $(($(seconds "$d") + 30)) taskset -c "$WRK_CPU" wrk "${args[@]}" "http://127.0.0.1:${PORT[$c]}/" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed for ($c)"; }
	local bad
	bad=$(wrk_field "$out" non2xx)
	[ "$bad" = 0 ] || { cat "$out" >&2; die "($c) got $bad non-2xx responses"; }
	advance "$c" "$out"
}
# SENT counts the requests of each rotating case, so that its next run
# starts with the token after the last one sent.
declare -A SENT=()
advance() { # <case> <wrk output>
	[ -n "${ROTATES[$1]:-}" ] || return 0
	SENT[$1]=$((${SENT[$1]:-0} + $(wrk_field "$2" requests)))
}

if [ "$(seconds "$WARMUP")" -gt 0 ]; then
	for c in "${RUN_CASES[@]}"; do
		log "warm-up ($c) ${DESC[$c]}, $WARMUP"
		run_wrk "$c" "$WARMUP" "$TMP/warmup-$c.txt"
	done
fi

declare -A RPS=() P50=() P99=() CPU=() BUSY=()
for r in $(seq "$ROUNDS"); do
	for c in "${RUN_CASES[@]}"; do
		out=$TMP/round$r-$c.txt
		pid=${SRV_PID[$(server_of "$c")]}
		t0=$(cpu_ticks "$pid")
		run_wrk "$c" "$DURATION" "$out"
		t1=$(cpu_ticks "$pid")
		# Caddy's CPU per request and how busy its core was: unlike req/s,
		# these hardly move when other work on the machine takes CPU away.
		n=$(wrk_field "$out" requests)
		cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { print t / hz * 1e6 / n }')
		busy=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v d="$DUR_S" 'BEGIN { print 100 * t / hz / d }')
		CPU[$c]="${CPU[$c]:-} $cpu"
		BUSY[$c]="${BUSY[$c]:-} $busy"
		rps=$(wrk_field "$out" rps)
		p50=$(wrk_field "$out" p50)
		p99=$(wrk_field "$out" p99)
		errs=$(wrk_field "$out" errors)
		RPS[$c]="${RPS[$c]:-} $rps"
		P50[$c]="${P50[$c]:-} $p50"
		P99[$c]="${P99[$c]:-} $p99"
		log "$(printf 'round %d/%d  (%s) %-28s %8.0f req/s  p50 %8s  p99 %8s  Caddy %5.1f µs CPU/req, core %3.0f%% busy%s' \
			"$r" "$ROUNDS" "$c" "${DESC[$c]}" "$rps" "$(fmt_us "$p50")" "$(fmt_us "$p99")" "$cpu" "$busy" \
			"$([ "$errs" = 0 ] || echo "  ($errs socket errors)")")"
	done
done

# ---- profiles -----------------------------------------------------------------
for c in $PROFILE; do
	[ -n "${RPS[$c]:-}" ] || die "PROFILE: ($c) is not a case of this run"
	mkdir -p "$PROFILE_OUT"
	log "profiling ($c) ${DESC[$c]} for $DUR_S s"
	run_wrk "$c" "$((DUR_S + 2))s" "$TMP/profile-$c.txt" &
	wrk_pid=$!
	sleep 1
	curl -s --max-time $((DUR_S + 20)) -o "$PROFILE_OUT/$c.pprof" "http://127.0.0.1:$((ADMIN_PORT + $(server_of "$c") - 1))/debug/pprof/profile?seconds=$DUR_S" ||
		die "no profile from the admin endpoint"
	wait "$wrk_pid" || die "wrk failed while profiling ($c)"
	advance "$c" "$TMP/profile-$c.txt"
	log "($c): $PROFILE_OUT/$c.pprof, $(wrk_field "$TMP/profile-$c.txt" rps) req/s while profiled"
done

# ---- table --------------------------------------------------------------------
base_rps=
if [ -n "${RPS[a]:-}" ]; then
	# shellcheck disable=SC2086
	base_rps=$(median ${RPS[a]})
fi
# rps_ratio <case> <floor>: the case's median req/s over the floor's
rps_ratio() {
	# shellcheck disable=SC2086
	awk -v x="$(median ${RPS[$1]})" -v y="$(median ${RPS[$2]})" 'BEGIN { printf "%.3f", x / y }'
}
# each round's ratio of <case>'s req/s to <base>'s of the same round (default
# a), in round order
per_round() { # <case> [<base>]
	local -a mine base
	read -r -a mine <<<"${RPS[$1]}"
	read -r -a base <<<"${RPS[${2:-a}]}"
	local i
	for i in "${!mine[@]}"; do awk -v x="${mine[$i]}" -v y="${base[$i]}" 'BEGIN { printf "%.3f\n", x / y }'; done
}
# the range of those ratios, to show the spread
round_ratios() { # <case> [<base>]
	per_round "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'
}

LOAD_END=$(loadavg)
echo
echo "caddy-jwt load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
machine_info "$CADDY"
echo "- load average (1/5/15 min) before: $LOAD_START; after: $LOAD_END (this benchmark itself adds about 2)"
echo "- Caddy on CPU $CADDY_CPU with GOMAXPROCS=1, wrk on CPU $WRK_CPU: \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\`; $ROUNDS rounds, cases alternating in the order ${RUN_CASES[*]}; medians over rounds"
[ -z "${SRV_PID[2]:-}" ] || echo "- (k) on a second Caddy (same CPU, GOMAXPROCS=1) with \`${STORE_LINE[2]}\`, Redis on CPU $WRK_CPU$([ -z "${SRV_PID[3]:-}" ] || echo "; (l) on a third, same config but the default memory store"); every other case on the first, default memory store"
case " ${RUN_CASES[*]} " in
*" m "* | *" n "*) echo "- (m) on a fourth Caddy of its own (same CPU, GOMAXPROCS=1), (n) on the first; both are sent $MISS_TOKENS HS256 tokens (bench/tokens) in turn by bench/rotate.lua, each run going on from the last; the cache holds $CACHE_ENTRIES by default; (m) sent ${SENT[m]:-0} requests in all, $(awk -v s="${SENT[m]:-0}" -v n="$MISS_TOKENS" 'BEGIN { if (s <= n) print "so no token twice and no cache hit"; else printf "so it went round the list %.1f times", s / n }')" ;;
esac
case " ${RUN_CASES[*]} " in
*" o "* | *" p "* | *" r "*) echo "- (o), (p) and (r): reverse_proxy to an upstream Caddy (\`respond \"ok\"\`, GOMAXPROCS=1) on CPU $WRK_CPU, beside wrk" ;;
esac
echo
echo "| case | | req/s | req/s range | p50 | p99 | ratio to (a) | floor | ratio to floor | per-round ratios to floor | Caddy CPU/req | CPU ratio to floor | Caddy core busy |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
mapfile -t TABLE_CASES < <(printf '%s\n' "${RUN_CASES[@]}" | sort)
for c in "${TABLE_CASES[@]}"; do
	# shellcheck disable=SC2086
	m_rps=$(median ${RPS[$c]})
	# shellcheck disable=SC2086
	range=$(printf '%s\n' ${RPS[$c]} | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f–%.0f", lo, hi }')
	# shellcheck disable=SC2086
	m_p50=$(median ${P50[$c]})
	# shellcheck disable=SC2086
	m_p99=$(median ${P99[$c]})
	# shellcheck disable=SC2086
	m_cpu=$(median ${CPU[$c]})
	# shellcheck disable=SC2086
	m_busy=$(median ${BUSY[$c]})
	ratio="–" floor="–" fratio="–" spread="–" cpu_ratio="–"
	[ -z "$base_rps" ] || ratio=$(awk -v x="$m_rps" -v y="$base_rps" 'BEGIN { printf "%.2f", x / y }')
	f=${FLOOR_OF[$c]:-}
	if [ -n "$f" ] && [ -n "${RPS[$f]:-}" ]; then
		floor="($f)"
		fratio=$(rps_ratio "$c" "$f")
		spread=$(per_round "$c" "$f" | paste -sd' ' | sed 's/ /, /g')
		# shellcheck disable=SC2086
		cpu_ratio=$(awk -v x="$m_cpu" -v y="$(median ${CPU[$f]})" 'BEGIN { printf "%.3f", y / x }')
	fi
	printf '| (%s) | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %.1f µs | %s | %.0f%% |\n' "$c" "${DESC[$c]}" "$m_rps" "$range" \
		"$(fmt_us "$m_p50")" "$(fmt_us "$m_p99")" "$ratio" "$floor" "$fratio" "$spread" "$m_cpu" "$cpu_ratio" "$m_busy"
done
for c in "${SKIPPED[@]}"; do
	printf '| (%s) | %s | skipped: this build has no `sign_key` support for it | | | | | | | | | | |\n' "$c" "${DESC[$c]}"
done
# target <case> <bar> <what>: whether the median ratio to the floor reaches the bar
targets=
target() {
	local c=$1 bar=$2 f=${FLOOR_OF[$1]:-} r
	[ -n "${RPS[$c]:-}" ] && [ -n "$f" ] && [ -n "${RPS[$f]:-}" ] || return 0
	r=$(rps_ratio "$c" "$f")
	targets="$targets$([ -n "$targets" ] && echo '; ')($c)/($f) $r $(awk -v r="$r" -v b="$bar" 'BEGIN { print (r >= b) ? "≥" : "**<**" }') $bar"
}
target c 0.97
target d 0.97
target e 0.97
target f 0.97
target m 0.80
target o 0.99
[ -z "$targets" ] || { echo; echo "Targets (issue 15), median req/s over its floor's: $targets."; }
# against the floors that write the same Cache-Control header
with_header=
for pair in c:q o:r; do
	c=${pair%:*} f=${pair#*:}
	[ -n "${RPS[$c]:-}" ] && [ -n "${RPS[$f]:-}" ] || continue
	with_header="$with_header$([ -n "$with_header" ] && echo '; ')($c)/($f) $(rps_ratio "$c" "$f")"
done
[ -z "$with_header" ] || { echo; echo "Against Caddy's own header directive writing the same Cache-Control: $with_header."; }
# store_line <case> <base case> <what>: the req/s ratio of two cases, each round's,
# whether it is within 0.98–1.02, and the CPU/req ratio
store_line() {
	local c=$1 b=$2 r cpu verdict
	[ -n "${RPS[$c]:-}" ] && [ -n "${RPS[$b]:-}" ] || return 0
	r=$(rps_ratio "$c" "$b")
	# shellcheck disable=SC2086
	cpu=$(awk -v x="$(median ${CPU[$c]})" -v y="$(median ${CPU[$b]})" 'BEGIN { printf "%.3f", y / x }')
	verdict=$(awk -v r="$r" 'BEGIN { print (r >= 0.98 && r <= 1.02) ? "within" : "OUTSIDE" }')
	echo
	echo "($c)/($b), $3: $r req/s (per round: $(per_round "$c" "$b" | paste -sd' ' | sed 's/ /, /g'); $verdict 0.98–1.02), CPU/req ratio $cpu."
}
store_line k c "store redis against the default memory store"
store_line k l "store redis against memory, both on a Caddy of their own"
store_line l c "memory store, a Caddy of its own against the first"
echo
echo "req/s, p50, p99: wrk's, median over the rounds; req/s range: the lowest and highest round. Ratio to (a), ratio to floor: median req/s over"
echo "(a)'s, over the floor's; per-round ratios: each round's req/s over the floor's in the same round, in round order. Caddy CPU/req: the user+system"
echo "CPU time the Caddy that served the case used during the run over the requests it answered (for (o), (p) and (r) the proxy's, not the upstream's);"
echo "CPU ratio to floor: the floor's CPU/req over this case's, the throughput ratio a core that is Caddy's alone would give. Core busy: Caddy's"
echo "CPU time over the run's length; below ~100% something else held it back."
