#!/usr/bin/env bash
# CPU cost of the gateway's metrics scraper at fleet scale: infergate with ENDPOINTS static
# endpoints (default 500, in POOLS pools) and no client traffic scrapes every endpoint's
# /metrics every INTERVAL_MS (default 50 ms: 10,000 scrapes/s). Every endpoint is a listener of
# one nginx process (its own port, sendfile, keep-alive) serving the same ~20 KB vLLM page,
# built by make_metrics_page.py from a real vLLM dump. nginx's CPU is not counted.
#
#   bench/picker/scrape_cost.sh                       # REPEAT=3 runs of DURATION=20 s
#   PROFILE=1 bench/picker/scrape_cost.sh             # then perf on infergate: where the time goes
#   ENDPOINTS=100 INTERVAL_MS=100 bench/picker/scrape_cost.sh
#
# Per run: infergate is started, SETTLE seconds let every connection open, then over DURATION
# seconds the script reads infergate's user + system CPU time (/proc/<pid>/stat) and the
# requests nginx served (stub_status). CPU share = CPU time / wall time (1.0 = one core);
# CPU per scrape = CPU time / scrapes. With 2+ cores, infergate runs pinned to core 0 and nginx
# to core 1. On a machine busy with other work (compilers), both would wait for a core so long
# that the gateway scrapes less often than asked, which flatters its share; so as root both run
# under SCHED_FIFO (chrt -f RT_PRIORITY, default 5; RT_PRIORITY=0: ordinary scheduling). Their
# CPU time is then what the work costs, not what the scheduler let them do. Prints the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-bench}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-20}
SETTLE=${SETTLE:-3}
ENDPOINTS=${ENDPOINTS:-500}
POOLS=${POOLS:-5}
INTERVAL_MS=${INTERVAL_MS:-50}
PORT_BASE=${PORT_BASE:-19100}       # endpoints listen on PORT_BASE .. PORT_BASE+ENDPOINTS-1
STATUS_PORT=${STATUS_PORT:-19090}   # nginx stub_status
PAGE_BYTES=${PAGE_BYTES:-20480}
FIXTURES=${FIXTURES:-tests/fixtures}
PAGE_BASE=${PAGE_BASE:-$FIXTURES/metrics/vllm/datadog-integrations-core_vllm_metrics.txt}
RT_PRIORITY=${RT_PRIORITY:-5}
PROFILE=${PROFILE:-0}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}

if [ ! -x "$BUILD/bin/infergate" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" --target infergate
fi
CORES=$(nproc)
PRIO=""
[ "$(id -u)" = 0 ] && [ "$RT_PRIORITY" != 0 ] && PRIO="chrt -f $RT_PRIORITY"
PIN_GATEWAY="$PRIO taskset -c 0"
PIN_SERVER="$PRIO taskset -c $((CORES > 1 ? 1 : 0))"
TICKS=$(getconf CLK_TCK)

work=$(mktemp -d)
chmod 755 "$work"  # nginx's worker may run as another user: it must read the page
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

python3 bench/picker/make_metrics_page.py "$PAGE_BASE" "$PAGE_BYTES" "$work/metrics.txt" | sed 's/^/# page: /'
chmod 644 "$work/metrics.txt"

# --- the page server: one nginx worker, one listener per endpoint -------------------------
{
  echo "worker_processes 1;"
  echo "worker_rlimit_nofile $((ENDPOINTS * 2 + 1024));"
  echo "pid $work/nginx.pid;"
  echo "error_log $work/nginx.err;"
  echo "events { worker_connections $((ENDPOINTS * 2 + 256)); }"
  echo "http {"
  echo "  access_log off;"
  echo "  sendfile on;"
  echo "  keepalive_requests 1000000000;"
  echo "  keepalive_timeout 3600s;"
  echo "  open_file_cache max=16 inactive=3600s;"
  echo "  open_file_cache_valid 3600s;"
  for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $work/$d;"; done
  echo "  server {"
  echo "    listen 127.0.0.1:$STATUS_PORT;"
  echo "    location = /status { stub_status; }"
  echo "  }"
  echo "  server {"
  for ((i = 0; i < ENDPOINTS; i++)); do echo "    listen 127.0.0.1:$((PORT_BASE + i));"; done
  echo "    location = /metrics { default_type text/plain; alias $work/metrics.txt; }"
  echo "  }"
  echo "}"
} >"$work/nginx.conf"
$PIN_SERVER nginx -p "$work" -c "$work/nginx.conf" -g "daemon off;" &
pids+=($!)
for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$STATUS_PORT) 2>/dev/null && break; sleep 0.05; done
page_len=$(curl -fsS "http://127.0.0.1:$PORT_BASE/metrics" | wc -c)
echo "# nginx serves $page_len bytes on ports $PORT_BASE-$((PORT_BASE + ENDPOINTS - 1))"

# --- the gateway's configuration: ENDPOINTS static endpoints in POOLS pools ---------------
{
  echo "apiVersion: infergate.dev/v1alpha1"
  echo "kind: StaticEndpoints"
  echo "metadata: {name: scrape-bench}"
  echo "spec:"
  echo "  endpoints:"
  for ((i = 0; i < ENDPOINTS; i++)); do
    echo "  - {name: vllm-$i, address: \"127.0.0.1:$((PORT_BASE + i))\", labels: {app: pool-$((i % POOLS))}}"
  done
  for ((p = 0; p < POOLS; p++)); do
    echo "---"
    echo "apiVersion: inference.networking.k8s.io/v1"
    echo "kind: InferencePool"
    echo "metadata: {name: pool-$p}"
    echo "spec: {targetPorts: [{number: $PORT_BASE}], selector: {matchLabels: {app: pool-$p}}}"
    echo "---"
    echo "apiVersion: inference.networking.x-k8s.io/v1alpha2"
    echo "kind: InferenceModel"
    echo "metadata: {name: model-$p}"
    echo "spec: {modelName: model-$p, poolRef: {name: pool-$p}}"
  done
  echo "---"
  echo "apiVersion: gateway.networking.k8s.io/v1"
  echo "kind: HTTPRoute"
  echo "metadata: {name: scrape-bench}"
  echo "spec:"
  echo "  rules:"
  echo "  - backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: pool-0}]"
} >"$work/gateway.yaml"

served() { curl -fsS "http://127.0.0.1:$STATUS_PORT/status" | awk 'NR == 3 {print $3}'; }

# Starts infergate, waits (at most 30 s) for its READY line; sets GW_PID and ADMIN_PORT.
start_gateway() {
  $PIN_GATEWAY "$BUILD/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --workers 1 --no-watch-config --scrape-interval-ms "$INTERVAL_MS" >"$work/gateway.out" 2>"$work/gateway.err" &
  GW_PID=$!
  pids+=("$GW_PID")
  local ready="" _
  for _ in $(seq 1 300); do
    ready=$(grep -m1 '^READY' "$work/gateway.out" || true)
    [ -n "$ready" ] && break
    sleep 0.1
  done
  [ -n "$ready" ] || { echo "infergate did not start:" >&2; cat "$work/gateway.err" >&2; exit 1; }
  ADMIN_PORT=$(echo "$ready" | grep -o '"admin_port":[0-9]*' | cut -d: -f2)
}

stop_gateway() {
  kill "$GW_PID" 2>/dev/null || true
  wait "$GW_PID" 2>/dev/null || true
  unset 'pids[-1]'
}

# The gateway's own view: endpoints scraping healthily, failed scrapes so far.
gateway_view() {
  curl -fsS "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '
    /^infergate_endpoint_scrape_healthy/ {h += $NF}
    /^infergate_endpoint_scrape_failures_total/ {f += $NF}
    END {printf "%d %d\n", h, f}'
}

echo "# infergate scraping $ENDPOINTS endpoints in $POOLS pools every $INTERVAL_MS ms, no client traffic;"
echo "# $REPEAT runs of $DURATION s after $SETTLE s of settling; $CORES cores, load average $(cut -d' ' -f1-3 /proc/loadavg);"
echo "# scheduling: ${PRIO:-ordinary}"
echo "# run  cpu_share_of_one_core  scrapes_per_s  cpu_us_per_scrape  nginx_cpu_share  healthy_endpoints  failed_scrapes"
nginx_worker=$(pgrep -P "${pids[0]}" | head -1)
shares=() rates=() costs=()
for run in $(seq 1 "$REPEAT"); do
  start_gateway
  sleep "$SETTLE"
  c0=$(sed 's/.*) //' "/proc/$GW_PID/stat" | awk '{print $12 + $13}')
  x0=$(sed 's/.*) //' "/proc/$nginx_worker/stat" | awk '{print $12 + $13}')
  n0=$(served); t0=$(date +%s.%N)
  sleep "$DURATION"
  c1=$(sed 's/.*) //' "/proc/$GW_PID/stat" | awk '{print $12 + $13}')
  x1=$(sed 's/.*) //' "/proc/$nginx_worker/stat" | awk '{print $12 + $13}')
  n1=$(served); t1=$(date +%s.%N)
  read -r healthy failed < <(gateway_view)
  stop_gateway
  read -r share rate cost nginx_share < <(awk -v c0="$c0" -v c1="$c1" -v n0="$n0" -v n1="$n1" \
    -v x0="$x0" -v x1="$x1" -v t0="$t0" -v t1="$t1" -v hz="$TICKS" 'BEGIN {
      w = t1 - t0; cpu = (c1 - c0) / hz
      printf "%.3f %.0f %.1f %.3f\n", cpu / w, (n1 - n0) / w, cpu * 1e6 / (n1 - n0), (x1 - x0) / hz / w }')
  echo "$run  $share  $rate  $cost  $nginx_share  $healthy  $failed"
  shares+=("$share") rates+=("$rate") costs+=("$cost")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "median cpu_share=$(median "${shares[@]}") scrapes_per_s=$(median "${rates[@]}")" \
     "cpu_us_per_scrape=$(median "${costs[@]}") (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"

if [ "$PROFILE" = 1 ]; then
  start_gateway
  sleep "$SETTLE"
  perf record -q -F 999 --call-graph dwarf,16384 -o "$work/perf.data" -p "$GW_PID" -- sleep "$PROFILE_SECONDS" 2>/dev/null
  stop_gateway
  echo "# perf: infergate, $PROFILE_SECONDS s at 999 Hz; samples by where they were spent"
  perf script -i "$work/perf.data" 2>/dev/null | python3 bench/picker/perf_categories.py
  echo "# self time by symbol"
  perf report -i "$work/perf.data" --stdio --no-children --sort symbol -g none --percent-limit 1 2>/dev/null |
    grep -v '^#' | grep -v '^$' | cut -c1-150 | sed 's/ *$//'
  if [ -n "${PERF_KEEP:-}" ]; then cp "$work/perf.data" "$PERF_KEEP"; echo "# perf data kept in $PERF_KEEP"; fi
fi
