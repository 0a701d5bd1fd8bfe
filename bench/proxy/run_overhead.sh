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

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

BACKEND_PORT=18900 NGINX_PORT=18901 HAPROXY_PORT=18902 GATEWAY_PORT=18903 ADMIN_PORT=18904
CORES=$(nproc)

# --- the backend: HAProxy answering every request from a file in memory --------------------
backend_conf() {  # $1: series
  python3 - "$work" "$1" <<'PY'
import json, sys
work, series = sys.argv[1:3]
if series == "json":
    body = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
                       "model": "bench-target",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 100},
                                    "finish_reason": "length"}],
                       "usage": {"prompt_tokens": 2500, "completion_tokens": 100, "total_tokens": 2600}})
else:
    events = []
    for i in range(100):
        chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
                 "model": "bench-target",
                 "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}
        events.append("data: " + json.dumps(chunk) + "\n\n")
    events.append("data: [DONE]\n\n")
    body = "".join(events)
open(f"{work}/response.body", "w").write(body)
PY
  local type=application/json
  [ "$1" = sse ] && type=text/event-stream
  cat >"$work/backend.cfg" <<CONF
global
  tune.bufsize 65536
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend backend
  bind 127.0.0.1:$BACKEND_PORT
  http-request return status 200 content-type $type file $work/response.body
CONF
}

nginx_conf() {  # $1: workers
  cat >"$work/nginx.conf" <<CONF
worker_processes $1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_buffer_size 64k;
  upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering on;
    }
  }
}
CONF
}

haproxy_conf() {  # $1: workers
  cat >"$work/haproxy.cfg" <<CONF
global
  nbthread $1
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend be
backend be
  server b1 127.0.0.1:$BACKEND_PORT
CONF
}

cat >"$work/gateway.yaml" <<CONF
apiVersion: infergate.dev/v1alpha1
kind: StaticEndpoints
metadata: {name: bench}
spec:
  endpoints:
  - {name: backend, address: "127.0.0.1:$BACKEND_PORT", labels: {app: bench}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: bench}
spec: {targetPorts: [{number: $BACKEND_PORT}], selector: {matchLabels: {app: bench}}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: bench}
spec: {modelName: bench-model, poolRef: {name: bench}, targetModels: [{name: bench-target}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench}
spec:
  rules:
  - backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: bench}]
CONF

# A bench script may poll: wait until something listens on the port.
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_proxy() {  # $1: kind, $2: workers, $3: pin prefix; sets PORT
  case $1 in
    direct) PORT=$BACKEND_PORT; return ;;
    nginx) nginx_conf "$2"; $3 nginx -c "$work/nginx.conf" -g "daemon off;" & pids+=($!); PORT=$NGINX_PORT ;;
    haproxy) haproxy_conf "$2"; $3 haproxy -f "$work/haproxy.cfg" -q & pids+=($!); PORT=$HAPROXY_PORT ;;
    infergate) $3 "$BUILD/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:$GATEWAY_PORT \
                 --admin-listen 127.0.0.1:$ADMIN_PORT --workers "$2" --no-watch-config >/dev/null 2>&1 & pids+=($!);
               PORT=$GATEWAY_PORT ;;
  esac
  wait_port "$PORT"
}

stop_proxy() {
  [ "$1" = direct ] && return
  local last=${pids[-1]}
  kill "$last" 2>/dev/null || true
  wait "$last" 2>/dev/null || true
  unset 'pids[-1]'
}

echo "# series workers proxy run requests_per_s p50_ms p99_ms non2xx"
results="$work/results.txt"
for series in "${SERIES[@]}"; do
  backend_conf "$series"
  for w in "${WORKER_COUNTS[@]}"; do
    pin_proxy="" pin_load=""
    if [ "$w" = 1 ] && [ "$CORES" -ge 2 ]; then pin_proxy="taskset -c 0"; pin_load="taskset -c 1"; fi
    $pin_load haproxy -f "$work/backend.cfg" -q &
    backend_pid=$!
    wait_port $BACKEND_PORT
    for proxy in direct nginx haproxy infergate; do
      start_proxy "$proxy" "$w" "$pin_proxy"
      port=$PORT
      for run in $(seq 1 "$REPEAT"); do
        out=$(STREAM=$([ "$series" = sse ] && echo 1 || echo 0) $pin_load wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
              --latency -s bench/proxy/chat_bodies.lua "http://127.0.0.1:$port" 2>&1)
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p50=$(echo "$out" | awk '$1=="50%" {print $2}')
        p99=$(echo "$out" | awk '$1=="99%" {print $2}')
        non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
        to_ms() { case $1 in *us) echo "${1%us}" | awk '{print $1/1000}';; *ms) echo "${1%ms}";; *s) echo "${1%s}" | awk '{print $1*1000}';; *) echo "$1";; esac; }
        line="$series $w $proxy $run $rps $(to_ms "$p50") $(to_ms "$p99") ${non2xx:-0}"
        echo "$line"; echo "$line" >>"$results"
      done
      stop_proxy "$proxy"
    done
    kill "$backend_pid"; wait "$backend_pid" 2>/dev/null || true
  done
done

echo
echo "# medians: series workers proxy requests_per_s p99_ms | infergate/best-of(nginx,haproxy) rps ratio, p99 ratio"
python3 - "$results" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    s, w, proxy, run, rps, p50, p99, bad = line.split()
    rows[(s, w, proxy)].append((float(rps), float(p99)))
med = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v)) for k, v in rows.items()}
for (s, w, proxy), (rps, p99) in sorted(med.items()):
    print(f"{s} {w} {proxy:9s} {rps:10.0f} {p99:8.2f}")
for s in sorted({k[0] for k in med}):
    for w in sorted({k[1] for k in med}):
        if (s, w, "infergate") not in med: continue
        best = max((med[(s, w, p)] for p in ("nginx", "haproxy") if (s, w, p) in med), key=lambda x: x[0])
        ig = med[(s, w, "infergate")]
        print(f"ratio {s} workers={w}: rps {ig[0] / best[0]:.2f}x of the faster proxy, p99 {ig[1] / best[1]:.2f}x")
PY
