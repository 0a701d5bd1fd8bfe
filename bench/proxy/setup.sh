# Shared by the proxy benchmarks (sourced, not run): ports, the backend, nginx, HAProxy and
# InferGate configurations, and starting/stopping a proxy. It makes the scratch folder `work`
# and the array `pids` (the processes killed at exit, with the folder); the caller sets `BUILD`
# (InferGate's build folder). INFERGATE_ARGS adds flags to InferGate's command line (e.g.
# `--scheduling-profile round-robin` to take the picker's prompt hashing out of the
# measurement).
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
if series in ("json", "long"):
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

# The environment of the wrk script for series $1: sse streams; long sends 400 KB prompts.
series_env() {
  echo "STREAM=$([ "$1" = sse ] && echo 1 || echo 0)"
  [ "$1" = long ] && echo "BODY_KB=400"
  [ -n "${DELAY_MS:-}" ] && echo "DELAY_MS=$DELAY_MS"
  return 0
}

# One wrk run of DURATION seconds with CONNECTIONS connections and 4-16 KB chat bodies against
# $1 (a URL), as series $2 (json; sse: streamed answers; long: 400 KB prompts), wrk run under
# the prefix $3 (a pin, or nothing). Prints "requests_per_s p50_ms p99_ms non2xx".
wrk_measure() {
  local out rps p50 p99 non2xx
  out=$(env $(series_env "$2") $3 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s"         --latency -s bench/proxy/chat_bodies.lua "$1" 2>&1)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "$rps $(wrk_ms "$p50") $(wrk_ms "$p99") ${non2xx:-0}"
}
wrk_ms() { case $1 in *us) echo "${1%us}" | awk '{print $1/1000}';; *ms) echo "${1%ms}";; *s) echo "${1%s}" | awk '{print $1*1000}';; *) echo "$1";; esac; }

# A bench script may poll: wait until something listens on the port.
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_proxy() {  # $1: kind, $2: workers, $3: pin prefix; sets PORT
  case $1 in
    direct) PORT=$BACKEND_PORT; return ;;
    nginx) nginx_conf "$2"; $3 nginx -c "$work/nginx.conf" -g "daemon off;" & pids+=($!); PORT=$NGINX_PORT ;;
    haproxy) haproxy_conf "$2"; $3 haproxy -f "$work/haproxy.cfg" -q & pids+=($!); PORT=$HAPROXY_PORT ;;
    infergate) $3 "$BUILD/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:$GATEWAY_PORT \
                 --admin-listen 127.0.0.1:$ADMIN_PORT --workers "$2" --no-watch-config --scrape-interval-ms 0 ${INFERGATE_ARGS:-} >/dev/null 2>&1 & pids+=($!);
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

