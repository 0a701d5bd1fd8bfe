#!/usr/bin/env bash
# InferGate with several workers, unpinned (on a 2-core machine they share the cores with wrk
# and the backend): per run of DURATION seconds, requests/s and wrk's p99, then from
# `perf stat -p` the CPU, futex calls and context switches per request, then per thread (the
# busy ones) the CPU ticks and the voluntary and involuntary context switches of the run: how
# evenly the workers share the load, and how often they lose their core. Builds are run in
# turn, REPEAT times.
#
#   BUILDS="build /tmp/old-build" REPEAT=4 bench/proxy/workers_cost.sh
#   PROXY=nginx bench/proxy/workers_cost.sh     # nginx's workers, the same way (no perf stat)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILDS=${BUILDS:-build}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-2}
SERIES=${SERIES:-json}
PROXY=${PROXY:-infergate}

source bench/proxy/setup.sh

backend_conf "$SERIES"
haproxy -f "$work/backend.cfg" -q &
pids+=($!)
wait_port $BACKEND_PORT

# The proxy's threads (nginx: its workers' processes): "tid name ticks voluntary involuntary".
threads_of() {
  local dirs
  if [ "$PROXY" = nginx ]; then
    dirs=$(for child in $(pgrep -P "$1"); do echo /proc/"$child"/task/*; done)
  else
    dirs=$(echo /proc/"$1"/task/*)
  fi
  for t in $dirs; do
    echo "${t##*/} $(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")" \
      "$(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v, n}' "$t/status")"
  done | sort
}

for run in $(seq 1 "$REPEAT"); do
  for BUILD in $BUILDS; do
    start_proxy "$PROXY" "$WORKERS" ""
    wait_port "$PORT"
    target=${pids[-1]}
    load() { env $(series_env "$SERIES") wrk -t1 -c"$CONNECTIONS" -d"$1s" --latency \
      -s bench/proxy/chat_bodies.lua "http://127.0.0.1:$PORT"; }
    load 1 >/dev/null  # warm up
    threads_of "$target" >"$work/before"
    if [ "$PROXY" = infergate ]; then
      perf stat -x, -e task-clock,syscalls:sys_enter_futex,context-switches -p "$target" \
        -o "$work/stat.csv" -- sleep "$DURATION" &
      stat_pid=$!
    fi
    out=$(load "$DURATION")
    [ "$PROXY" = infergate ] && wait "$stat_pid"
    threads_of "$target" >"$work/after"
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    line="$PROXY $BUILD run $run: $(echo "$out" | awk '/Requests\/sec/ {r = $2} / 99%/ {p = $2} END {print r, "req/s, p99", p}')"
    if [ "$PROXY" = infergate ]; then
      line="$line, $(awk -F, -v n="$requests" '$3 == "task-clock" {t = $1} $3 ~ /futex/ {f = $1}
        $3 == "context-switches" {c = $1}
        END {printf "per request: CPU %.2f us, futex %.3f, context switches %.3f", t * 1000 / n, f / n, c / n}' \
        "$work/stat.csv")"
    fi
    echo "$line"
    join "$work/before" "$work/after" | awk '{ticks = $7 - $3; if (ticks > 5)
      printf "    thread %s %s: %d ticks, %d voluntary, %d involuntary switches\n", $1, $2, ticks, $8 - $4, $9 - $5}'
    stop_proxy "$PROXY"
  done
done
