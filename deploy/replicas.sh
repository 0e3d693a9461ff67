#!/usr/bin/env bash
# Three `plugboard serve` replicas on one PostgreSQL database behind HAProxy,
# on loopback, without containers: what deploy/compose.yaml runs, for trying
# replicas on one machine (and for the replica tests' set-up by hand).
#
#   deploy/replicas.sh postgres://user@127.0.0.1:5432/plugboard [lb-port]
#
# The balancer listens on lb-port (default 8080), the replicas on the next
# three ports.
#
# Other PLUGBOARD_* settings in the environment apply to every replica.
# Needs: a built binary (cargo build --release), haproxy (apt-get install
# haproxy) and an empty or Plugboard-owned PostgreSQL database. Ctrl-C stops
# everything. State (data dirs, the shared root key, logs) goes to a fresh
# directory under ${TMPDIR:-/tmp}, printed at start.
set -euo pipefail
cd "$(dirname "$0")/.."

database=${1:?usage: deploy/replicas.sh <postgres URL> [lb-port]}
lb_port=${2:-8080}
bin=${PLUGBOARD_BIN:-target/release/plugboard}
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first (or set PLUGBOARD_BIN)" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "haproxy is missing: apt-get install haproxy" >&2; exit 1; }

state=$(mktemp -d "${TMPDIR:-/tmp}/plugboard-replicas.XXXXXX")
echo "state: $state"
umask 077
# One root key for all replicas: each must unseal what the others sealed.
printf '1:%s\n' "$(head -c32 /dev/urandom | base64)" > "$state/root.key"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

ready() { # port
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && grep -q '^HTTP/1.[01] 200' <&3) 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "replica on port $1 did not become ready; see $state/r*.log" >&2
    return 1
}

start_replica() { # n port
    mkdir -p "$state/r$1"
    PLUGBOARD_DATA_DIR="$state/r$1" \
    PLUGBOARD_DATABASE_URL="$database" \
    PLUGBOARD_ROOT_KEY_FILE="$state/root.key" \
    PLUGBOARD_LISTEN="127.0.0.1:$2" \
    PLUGBOARD_PUBLIC_URL="http://127.0.0.1:$lb_port" \
        "$bin" serve >"$state/r$1.log" 2>&1 &
    pids+=($!)
}

# The first replica bootstraps an empty database (creates the admin and
# writes its token); the others start after it, so only one does.
r1=$((lb_port + 1)) r2=$((lb_port + 2)) r3=$((lb_port + 3))
start_replica 1 "$r1" && ready "$r1"
start_replica 2 "$r2"
start_replica 3 "$r3"
ready "$r2" && ready "$r3"

PLUGBOARD_LB_BIND="127.0.0.1:$lb_port" \
PLUGBOARD_R1="127.0.0.1:$r1" PLUGBOARD_R2="127.0.0.1:$r2" PLUGBOARD_R3="127.0.0.1:$r3" \
    haproxy -db -f deploy/haproxy.cfg >"$state/haproxy.log" 2>&1 &
pids+=($!)
ready "$lb_port"

echo "Plugboard on http://127.0.0.1:$lb_port/ (replicas on ports $r1-$r3)"
[ -f "$state/r1/admin-token" ] && echo "admin token: $state/r1/admin-token"
echo "Ctrl-C stops everything."
wait -n "${pids[@]}"
