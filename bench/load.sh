#!/usr/bin/env bash
# Load benchmark of `plugboard serve` (not run by CI; figures in BENCHMARKS.md).
#
# Starts a loopback API (bench/src/main.rs, hyper, fixed JSON), the bare
# proxy (bench/src/bare_proxy.rs: axum + reqwest and nothing else, the
# floor of any proxy on this machine) and a fresh `plugboard serve`
# (release build) with a `pat` connection to the API, then in the same run
# loads
#   direct:     GET  <api>/user
#   bare proxy: POST <bare>/invoke {"path":"/user"}
#   proxied:    POST <server>/api/v1/connections/<id>/invoke/request {"path":"/user"}
# with the same client settings, and prints requests/s, p50, p99, each
# proxy's CPU per request and the ratios.
#
# Load generator (LOADGEN): `oha` if on PATH, else `wrk` (`apt-get install
# wrk`) if on PATH, else `oha` installed with `cargo install oha --locked`
# under the target dir.
#
# Settings (environment): DURATION (seconds, default 15), CONNECTIONS
# (default 32), DELAY_MS (loopback API latency, default 0: the proxy's own
# cost), PLUGBOARD_LOG (default `warn`; `info` logs every request),
# LOADGEN (oha|wrk), CARGO_TARGET_DIR (default ./target), SERVER_BIN (a
# `plugboard` binary to load instead of the fresh build: compare two builds
# by running the script once with each, alternately).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-32}
DELAY_MS=${DELAY_MS:-0}
# oha when it is on PATH, else wrk when it is, else oha installed below.
if [ -z "${LOADGEN:-}" ]; then
    if command -v oha >/dev/null || ! command -v wrk >/dev/null; then LOADGEN=oha; else LOADGEN=wrk; fi
fi
export PLUGBOARD_LOG=${PLUGBOARD_LOG:-warn}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
BIN=$CARGO_TARGET_DIR/release

step() { printf '==> %s\n' "$*" >&2; }

step "release build of plugboard and the loopback API"
cargo build --release --quiet -p plugboard -p plugboard-bench

if [ "$LOADGEN" = oha ]; then
    OHA=$(command -v oha || true)
    if [ -z "$OHA" ]; then
        OHA=$CARGO_TARGET_DIR/bench-tools/bin/oha
        if [ ! -x "$OHA" ]; then
            step "installing oha into $CARGO_TARGET_DIR/bench-tools"
            cargo install oha --locked --quiet --root "$CARGO_TARGET_DIR/bench-tools"
        fi
    fi
else
    command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Wait for a line matching $2 in file $1 and print its last word.
address_from() {
    for _ in $(seq 200); do
        if grep -q "$2" "$1" 2>/dev/null; then
            grep "$2" "$1" | head -1 | awk '{print $NF}'
            return
        fi
        sleep 0.05
    done
    echo "timed out waiting for \`$2\` in $1:" >&2
    cat "$1" >&2
    exit 1
}

step "loopback API (delay ${DELAY_MS} ms)"
"$BIN/loopback-api" 127.0.0.1:0 "$DELAY_MS" >"$work/api.out" 2>&1 &
pids+=($!)
API=$(address_from "$work/api.out" "listening on")

step "bare proxy (the floor: axum + reqwest, nothing else)"
"$BIN/bare-proxy" "$API" bench-token >"$work/bare.out" 2>&1 &
BARE_PID=$!
pids+=("$BARE_PID")
BARE=$(address_from "$work/bare.out" "listening on")

step "plugboard serve"
PLUGBOARD_DATA_DIR="$work/data" PLUGBOARD_LISTEN=127.0.0.1:0 \
    "${SERVER_BIN:-$BIN/plugboard}" serve --allow-loopback-egress >"$work/serve.out" 2>&1 &
SERVER_PID=$!
pids+=("$SERVER_PID")
SERVER=$(address_from "$work/serve.out" "Plugboard listening on")
TOKEN=$(cat "$work/data/admin-token")

CONNECTION=$(curl -fsS -X POST "$SERVER/api/v1/connections" \
    -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"connector\":\"pat\",\"config\":{\"base_url\":\"$API\"},\"credentials\":{\"token\":\"bench-token\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["connection"]["id"])')
INVOKE="$SERVER/api/v1/connections/$CONNECTION/invoke/request"
BODY='{"path":"/user"}'

# Print "requests_per_s p50_ms p99_ms errors" for one load run.
run_oha() { # url [extra oha args...]
    local url=$1
    shift
    "$OHA" --no-tui --output-format json -z "${DURATION}s" -c "$CONNECTIONS" "$@" "$url" |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = r.get("statusCodeDistribution", {})
bad = sum(n for c, n in codes.items() if c != "200") + sum(r.get("errorDistribution", {}).values())
p = r["latencyPercentiles"]
rps, p50, p99 = r["summary"]["requestsPerSec"], p["p50"] * 1000, p["p99"] * 1000
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {bad}")'
}

run_wrk() { # url [lua script]
    local url=$1 script=${2:-}
    wrk -t "$(( CONNECTIONS < 2 ? 1 : 2 ))" -c "$CONNECTIONS" -d "${DURATION}s" --latency ${script:+-s "$script"} "$url" |
        python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {bad.group(1) if bad else 0}")'
}

direct() {
    if [ "$LOADGEN" = oha ]; then run_oha "$API/user"; else run_wrk "$API/user"; fi
}
# POST $BODY to url $1 with bearer token $2, as the load generator can.
post_invoke() {
    if [ "$LOADGEN" = oha ]; then
        run_oha "$1" -m POST -H "authorization: Bearer $2" \
            -H 'content-type: application/json' -d "$BODY"
    else
        cat >"$work/invoke-$2.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["authorization"] = "Bearer $2"
wrk.headers["content-type"] = "application/json"
EOF
        run_wrk "$1" "$work/invoke-$2.lua"
    fi
}
proxied() { post_invoke "$INVOKE" "$TOKEN"; }
bare() { post_invoke "$BARE/invoke" bench-token; }

# CPU a proxy used (user + system, clock ticks): divided by the requests
# served it is its cost per request, a figure that moves less than
# throughput when the load generator and the API take more or less of the
# shared cores.
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The CPU per request of process $1 over a run of $3 requests/s that
# started at $2 ticks.
cpu_per_request() {
    python3 -c "print(f'{($(ticks_of "$1") - $2) / $(getconf CLK_TCK) * 1e6 / ($3 * $DURATION):.0f}')"
}

step "warm-up (component cache, connection pools)"
DURATION=2 proxied >/dev/null
DURATION=2 direct >/dev/null
DURATION=2 bare >/dev/null

step "direct: GET $API/user (${DURATION}s, $CONNECTIONS connections)"
read -r d_rps d_p50 d_p99 d_bad < <(direct)
step "bare proxy: POST $BARE/invoke (${DURATION}s, $CONNECTIONS connections)"
ticks_before=$(ticks_of "$BARE_PID")
read -r b_rps b_p50 b_p99 b_bad < <(bare)
b_cpu=$(cpu_per_request "$BARE_PID" "$ticks_before" "$b_rps")
step "proxied: POST .../invoke/request (${DURATION}s, $CONNECTIONS connections)"
ticks_before=$(ticks_of "$SERVER_PID")
read -r p_rps p_p50 p_p99 p_bad < <(proxied)
p_cpu=$(cpu_per_request "$SERVER_PID" "$ticks_before" "$p_rps")

cat <<EOF

machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)
load generator: $LOADGEN, ${DURATION}s, $CONNECTIONS connections; loopback API delay ${DELAY_MS} ms; PLUGBOARD_LOG=$PLUGBOARD_LOG

| target  | requests/s | p50 (ms) | p99 (ms) | non-200 | CPU per request (µs) |
|---------|-----------:|---------:|---------:|--------:|---------------------:|
| direct  | $d_rps | $d_p50 | $d_p99 | $d_bad | - |
| bare proxy | $b_rps | $b_p50 | $b_p99 | $b_bad | $b_cpu |
| proxied | $p_rps | $p_p50 | $p_p99 | $p_bad | $p_cpu |
proxied/bare proxy: p50 $(python3 -c "print(f'{$p_p50/$b_p50:.2f}')")x, p99 $(python3 -c "print(f'{$p_p99/$b_p99:.2f}')")x, throughput $(python3 -c "print(f'{$p_rps/$b_rps:.2f}')")x
proxied/direct: p50 $(python3 -c "print(f'{$p_p50/$d_p50:.2f}')")x, p99 $(python3 -c "print(f'{$p_p99/$d_p99:.2f}')")x, throughput $(python3 -c "print(f'{$p_rps/$d_rps:.2f}')")x
EOF
