#!/usr/bin/env bash
# Where InferGate's CPU time per request goes, by category (bench/proxy/request_categories.py),
# for one series of the proxy benchmark: the gateway (1 worker) pinned to core 0, wrk and the
# backend to core 1, perf recording the gateway with DWARF call graphs for DURATION seconds.
#
#   SERIES=json bench/proxy/profile_request_path.sh       # or sse, long
#
# Prints the categories' shares; pass US_PER_REQUEST (the task-clock per request that
# per_request_cost.sh measured) to turn them into microseconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-3}
CONNECTIONS=${CONNECTIONS:-64}
SERIES=${SERIES:-json}
US_PER_REQUEST=${US_PER_REQUEST:-0}
source bench/proxy/setup.sh

backend_conf "$SERIES"
taskset -c 1 haproxy -f "$work/backend.cfg" -q &
pids+=($!)
wait_port $BACKEND_PORT
start_proxy infergate 1 "taskset -c 0"
target=${pids[-1]}
load() { env $(series_env "$SERIES") taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$1s" \
  -s bench/proxy/chat_bodies.lua "http://127.0.0.1:$PORT" >/dev/null; }
load 1  # warm up
perf record -F 4999 --call-graph dwarf,16384 -o "$work/perf.data" -p "$target" -- sleep "$DURATION" \
  >/dev/null 2>&1 &
perf_pid=$!
load "$DURATION"
wait "$perf_pid" || true
stop_proxy infergate
perf script -i "$work/perf.data" 2>/dev/null > "${PERF_SCRIPT_OUT:-$work/perf.txt}"
python3 bench/proxy/request_categories.py -u "$US_PER_REQUEST" < "${PERF_SCRIPT_OUT:-$work/perf.txt}"
