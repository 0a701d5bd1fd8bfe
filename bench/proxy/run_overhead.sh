#!/usr/bin/env bash
# Proxy overhead: the same fast OpenAI-shaped backend reached directly, through nginx, through
# HAProxy and through InferGate, all driven by wrk with 4-16 KB chat request bodies.
#
#   bench/proxy/run_overhead.sh                 # both series, 1 and 2 workers, 3 repetitions
#   REPEAT=5 DURATION=10 CONNECTIONS=64 bench/proxy/run_overhead.sh
#
# The backend is a HAProxy instance answering from memory (\`http-request return\`).
# Series "json": the backend answers each request with a whole chat.completion JSON (model
# "bench-target"); series "sse": with a text/event-stream of 100 chunks and [DONE]. InferGate
# parses every request, routes it, rewrites "bench-model" to "bench-target" and the response's
# model back, picks an endpoint, and for streams parses every event. nginx and HAProxy forward
# bytes over keep-alive upstream connections.
#
# With W workers, each proxy gets W threads/processes. With W=1 the proxy is pinned to core 0
# and wrk and the backend to core 1; with 2 workers on a 2-core machine nothing can be
# separated, so nothing is pinned. Prints one line per run and the medians per point.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-64}
WORKER_COUNTS=(${WORKERS:-1 2})
SERIES=(${SERIES:-json sse})
[ -x "$BUILD/bin/infergate" ] || { cmake -S . -B "$BUILD" -G Ninja >/dev/null; cmake --build "$BUILD" --target infergate; }

source bench/proxy/setup.sh

echo "# series workers proxy run requests_per_s p50_ms p99_ms non2xx"
results="$work/results.txt"
for series in "${SERIES[@]}"; do
  backend_conf "$series"
  for w in "${WORKER_COUNTS[@]}"; do
    pin_proxy="" pin_load=""
    if [ "$w" = 1 ] && [ "$CORES" -ge 2 ]; then pin_proxy="taskset -c 0"; pin_load="taskset -c 1"; fi
    $pin_load haproxy -f "$work/backend.cfg" -q &
    backend_pid=$!
    pids+=("$backend_pid")  # killed at exit too, if the script stops early
    wait_port $BACKEND_PORT
    for proxy in direct nginx haproxy infergate; do
      start_proxy "$proxy" "$w" "$pin_proxy"
      port=$PORT
      for run in $(seq 1 "$REPEAT"); do
        line="$series $w $proxy $run $(wrk_measure "http://127.0.0.1:$port" "$series" "$pin_load")"
        echo "$line"; echo "$line" >>"$results"
      done
      stop_proxy "$proxy"
    done
    kill "$backend_pid"; wait "$backend_pid" 2>/dev/null || true
  done
done

echo
# In wrk's closed loop the mean latency is CONNECTIONS / requests_per_s (Little's law), so a
# proxy that serves fewer requests/s has a longer p99 for that alone. p99 / mean is the tail's
# own shape; the ratio lines split InferGate's p99 ratio into the two.
echo "# medians: series workers proxy requests_per_s p99_ms p99/mean | infergate/best-of(nginx,haproxy) rps ratio, p99 ratio = from throughput x tail shape"
python3 - "$results" "$CONNECTIONS" <<'PY'
import sys, statistics, collections
connections = int(sys.argv[2])
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    s, w, proxy, run, rps, p50, p99, bad = line.split()
    rows[(s, w, proxy)].append((float(rps), float(p99)))
med = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v)) for k, v in rows.items()}
def shape(rps, p99):  # p99 over the mean latency, both in ms
    return p99 / (1000.0 * connections / rps)
for (s, w, proxy), (rps, p99) in sorted(med.items()):
    print(f"{s} {w} {proxy:9s} {rps:10.0f} {p99:8.2f} {shape(rps, p99):6.2f}")
for s in sorted({k[0] for k in med}):
    for w in sorted({k[1] for k in med}):
        if (s, w, "infergate") not in med: continue
        best = max((med[(s, w, p)] for p in ("nginx", "haproxy") if (s, w, p) in med), key=lambda x: x[0])
        ig = med[(s, w, "infergate")]
        print(f"ratio {s} workers={w}: rps {ig[0] / best[0]:.2f}x of the faster proxy, "
              f"p99 {ig[1] / best[1]:.2f}x = {best[0] / ig[0]:.2f}x from throughput "
              f"x {shape(*ig) / shape(*best):.2f}x tail shape")
PY
