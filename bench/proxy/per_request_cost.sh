#!/usr/bin/env bash
# Per-request cost of each proxy, measured in ways that other load on the machine moves less
# than requests/s: CPU time (user and kernel, from /proc/<pid>/stat of the proxy's processes),
# task-clock, context switches and system calls (perf stat with the raw_syscalls tracepoint)
# over a wrk run, divided by the requests wrk completed. (Hardware counters such as
# instructions are used when the machine has them: set EVENTS.) With STRACE=1, a second, shorter run under `strace -c -f` lists the
# system calls per request by name.
#
#   bench/proxy/per_request_cost.sh                      # json and sse, 1 worker, 3 proxies
#   SERIES=sse PROXIES=infergate STRACE=1 bench/proxy/per_request_cost.sh
#   SERIES=long bench/proxy/per_request_cost.sh         # 400 KB (about 100k-token) prompts
#
# Same setup as run_overhead.sh (bench/proxy/setup.sh): the proxy pinned to core 0, wrk and
# the backend to core 1. Needs perf and permission to attach to the proxies (root or
# perf_event_paranoid <= 0 for the kernel counts).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-1}
SERIES=(${SERIES:-json sse})
PROXIES=(${PROXIES:-nginx haproxy infergate})
STRACE=${STRACE:-0}
source bench/proxy/setup.sh

# The processes doing the proxy's work: nginx's workers, otherwise the process itself.
measured_pids() {  # $1: kind, $2: pid
  if [ "$1" = nginx ]; then
    local kids=""
    for _ in $(seq 1 50); do kids=$(pgrep -P "$2" | paste -sd, || true); [ -n "$kids" ] && break; sleep 0.05; done
    echo "$kids"
  else
    echo "$2"
  fi
}

run_wrk() {  # $1: port, $2: seconds; prints the number of completed requests
  local out
  out=$(env $(series_env "$series") taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$2s" \
        -s bench/proxy/chat_bodies.lua "http://127.0.0.1:$1" 2>&1)
  echo "$out" | awk '/requests in/ {print $1}'
}

EVENTS=${EVENTS:-task-clock,context-switches,raw_syscalls:sys_enter}

# User and kernel CPU time (clock ticks) of the processes in the comma-separated list $1.
cpu_ticks() {
  local u=0 k=0 f
  for p in ${1//,/ }; do
    f=($(sed 's/.*) //' "/proc/$p/stat"))
    u=$((u + f[11])); k=$((k + f[12]))
  done
  echo "$u $k"
}

echo "# per request: user and kernel CPU microseconds, task-clock microseconds, context switches, system calls"
printf "%-5s %-9s %9s %8s %8s %8s %6s %9s\n" series proxy requests user_us sys_us task_us cs syscalls
for series in "${SERIES[@]}"; do
  backend_conf "$series"
  taskset -c 1 haproxy -f "$work/backend.cfg" -q &
  backend_pid=$!
  pids+=("$backend_pid")  # killed at exit too, if the script stops early
  wait_port $BACKEND_PORT
  for proxy in "${PROXIES[@]}"; do
    pin=""; [ "$WORKERS" = 1 ] && pin="taskset -c 0"
    start_proxy "$proxy" "$WORKERS" "$pin"
    target=$(measured_pids "$proxy" "${pids[-1]}")
    run_wrk "$PORT" 1 >/dev/null  # warm up: connections, pools, caches
    cpu_before=$(cpu_ticks "$target")
    perf stat -x, -o "$work/perf.csv" -e "$EVENTS" -p "$target" &
    perf_pid=$!
    sleep 0.3
    n=$(run_wrk "$PORT" "$DURATION")
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
    cpu_after=$(cpu_ticks "$target")
    python3 - "$work/perf.csv" "$n" "$series" "$proxy" "$cpu_before" "$cpu_after" <<'PY'
import os, sys
path, n, series, proxy = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
(u0, k0), (u1, k1) = (map(int, a.split()) for a in sys.argv[5:7])
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
values = {}
for line in open(path):
    parts = line.strip().split(",")
    if len(parts) < 3 or line.startswith("#"): continue
    try: values[parts[2]] = float(parts[0])
    except ValueError: values[parts[2]] = float("nan")
per = lambda k: values.get(k, float("nan")) / n
extra = " ".join(f"{k}={per(k):.3g}" for k in values if k not in ("task-clock", "raw_syscalls:sys_enter", "context-switches"))
print(f"{series:5s} {proxy:9s} {n:9d} {(u1 - u0) * tick_us / n:8.2f} {(k1 - k0) * tick_us / n:8.2f} "
      f"{per('task-clock') * 1000:8.2f} {per('context-switches'):6.3f} {per('raw_syscalls:sys_enter'):9.2f} {extra}")
PY
    if [ "$STRACE" = 1 ]; then
      strace -c -f -o "$work/strace.txt" -p "$target" 2>/dev/null &
      strace_pid=$!
      sleep 0.5
      n=$(run_wrk "$PORT" 2)
      kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true
      echo "  system calls per request under strace ($n requests):"
      awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" {
          printf "    %-16s %6.2f\n", $NF, $4 / n }' "$work/strace.txt" | sort -k2 -nr | head -12
    fi
    stop_proxy "$proxy"
  done
  kill "$backend_pid"; wait "$backend_pid" 2>/dev/null || true
done
