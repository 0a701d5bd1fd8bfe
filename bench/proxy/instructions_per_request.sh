#!/usr/bin/env bash
# User-space instructions per request of the gateway, counted by valgrind's callgrind: a measure
# that other load on the machine does not move (it leaves out the kernel's work, and waits).
# For comparing builds of the request path where CPU time per request is within the noise.
#
#   bench/proxy/instructions_per_request.sh                      # json and sse, build/
#   BUILDS="/tmp/before build" SERIES=json bench/proxy/instructions_per_request.sh
#
# Each build serves the series' requests (as run_overhead.sh: 4-16 KB chat bodies, the backend
# a HAProxy answering from memory) under callgrind, 1 worker; after a warm-up the counters are
# zeroed, wrk runs for DURATION seconds with CONNECTIONS connections, and the instructions
# counted meanwhile are divided by the requests wrk completed. Prints the top functions with
# SHOW_TOP=N. Needs valgrind (Debian's `valgrind`).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILDS=(${BUILDS:-build})
SERIES=(${SERIES:-json sse})
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
SHOW_TOP=${SHOW_TOP:-0}
BUILD=${BUILDS[0]}
source bench/proxy/setup.sh

wrk_requests() {  # $1: series, $2: seconds
  env $(series_env "$1") wrk -t1 -c"$CONNECTIONS" -d"$2s" -s bench/proxy/chat_bodies.lua \
    "http://127.0.0.1:$GATEWAY_PORT" 2>&1 | awk '/requests in/ {print $1}'
}

printf "%-5s %-28s %9s %14s\n" series build requests instr_per_req
for series in "${SERIES[@]}"; do
  backend_conf "$series"
  haproxy -f "$work/backend.cfg" -q &
  backend_pid=$!
  pids+=("$backend_pid")  # killed at exit too, if the script stops early
  wait_port $BACKEND_PORT
  for build in "${BUILDS[@]}"; do
    out="$work/callgrind.out"
    rm -f "$out"*
    valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
      "$build/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:$GATEWAY_PORT \
      --admin-listen 127.0.0.1:$ADMIN_PORT --workers 1 --no-watch-config --scrape-interval-ms 0 \
      ${INFERGATE_ARGS:-} >"$work/valgrind.log" 2>&1 &
    gw=$!
    wait_port $GATEWAY_PORT
    wrk_requests "$series" 2 >/dev/null  # warm up: connections, pools, caches
    callgrind_control -z "$gw" >/dev/null 2>&1
    n=$(wrk_requests "$series" "$DURATION")
    callgrind_control -d "$gw" >/dev/null 2>&1  # the counts so far, to "$out.1"
    kill -INT "$gw"  # a drain under valgrind can be slow: cut it short
    for _ in $(seq 1 100); do kill -0 "$gw" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$gw" 2>/dev/null || true; wait "$gw" 2>/dev/null || true
    dump=$(ls "$out".*[0-9] 2>/dev/null | head -1)
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    printf "%-5s %-28s %9d %14.0f\n" "$series" "$build" "$n" "$(awk -v t="$total" -v n="$n" 'BEGIN {print t / n}')"
    if [ "$SHOW_TOP" -gt 0 ]; then
      callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null | grep -E "^ *[0-9,]+ \(" | grep -v "PROGRAM TOTALS\|(100.0%)\|(99\.[0-9]*%)" \
        | head -"$SHOW_TOP" | sed "s/^/    /" | cut -c1-150 || true  # head closes the pipe early
    fi
  done
  kill "$backend_pid"; wait "$backend_pid" 2>/dev/null || true
done
