#!/usr/bin/env bash
# Starts a 3-replica simulated fleet on ports 8100-8102 and walks through the faults that
# infergate-sim can inject, printing what a client sees for each. Stops the fleet at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SIM=build/bin/infergate-sim
[ -x "$SIM" ] || { echo "build first: scripts/run-sim.sh (or cmake --build build)"; exit 1; }

coproc FLEET { exec "$SIM" --replicas 3 --port 8100; }
trap 'kill $FLEET_PID 2>/dev/null || true' EXIT
while read -r line <&"${FLEET[0]}"; do [[ $line == READY* ]] && break; done

MODEL=meta-llama/Llama-3.1-8B-Instruct
req() { curl -s -o /dev/null -w '%{http_code}\n' "$@"; }
body='{"model":"'$MODEL'","prompt":"hello","max_tokens":4}'

echo "healthy replica:                $(req localhost:8100/v1/completions -d "$body")"
echo "forced 503 on one request:      $(req localhost:8100/v1/completions -H 'x-sim-force-status: 503' -d "$body")"
curl -s localhost:8101/sim/faults -d '{"failure_rate": 1.0, "failure_status": 500}' >/dev/null
echo "replica failing every request:  $(req localhost:8101/v1/completions -d "$body")"
curl -s localhost:8102/sim/faults -d '{"metrics": "missing"}' >/dev/null
echo "replica whose /metrics is gone: $(req localhost:8102/metrics)"
curl -s localhost:8102/sim/faults -d '{"metrics": "ok", "slowdown": 4}' >/dev/null
echo "slowed replica, 4x step times:  $(curl -s -o /dev/null -w '%{time_total}s' localhost:8102/v1/completions -d "$body")"
echo "stream cut after 3 tokens:"
curl -sN localhost:8100/v1/completions -H 'x-sim-abort-after-tokens: 3' \
  -d '{"model":"'$MODEL'","prompt":"hello","max_tokens":20,"stream":true}' | cut -c1-80 || true
