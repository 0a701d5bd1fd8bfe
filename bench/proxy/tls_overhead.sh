#!/usr/bin/env bash
# What TLS on the client listener costs: InferGate and nginx, each plain and with TLS (ECDSA
# P-256 certificate, TLS 1.3, keep-alive connections: the handshake once per connection, the
# record encryption per request), in front of the same in-memory backend as run_overhead.sh,
# driven by wrk with 4-16 KB chat bodies. The claim checked: InferGate's TLS/plain requests/s
# ratio is no worse than nginx's.
#
#   bench/proxy/tls_overhead.sh                  # json series, 1 worker, 3 repetitions of 5 s
#   REPEAT=5 DURATION=10 SERIES=sse bench/proxy/tls_overhead.sh
#
# The proxy is pinned to core 0, wrk and the backend to core 1. Prints one line per run and the
# medians, with the TLS/plain ratio of each proxy.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
SERIES=${SERIES:-json}
[ -x "$BUILD/bin/infergate" ] || { cmake -S . -B "$BUILD" -G Ninja >/dev/null; cmake --build "$BUILD" --target infergate; }

source bench/proxy/setup.sh
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

pin_proxy="" pin_load=""
if [ "$CORES" -ge 2 ]; then pin_proxy="taskset -c 0"; pin_load="taskset -c 1"; fi
backend_conf "$SERIES"
$pin_load haproxy -f "$work/backend.cfg" -q &
pids+=($!)
wait_port $BACKEND_PORT

start() {  # $1: nginx|infergate, $2: plain|tls; sets PORT and SCHEME
  SCHEME=http
  if [ "$1" = nginx ]; then
    nginx_conf 1
    if [ "$2" = tls ]; then
      sed -i "s|listen 127.0.0.1:$NGINX_PORT;|listen 127.0.0.1:$NGINX_PORT ssl; ssl_certificate $work/tls.crt; ssl_certificate_key $work/tls.key; ssl_protocols TLSv1.2 TLSv1.3;|" "$work/nginx.conf"
      SCHEME=https
    fi
    $pin_proxy nginx -c "$work/nginx.conf" -g "daemon off;" & pids+=($!)
    PORT=$NGINX_PORT
  else
    local tls_args=()
    if [ "$2" = tls ]; then tls_args=(--tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key"); SCHEME=https; fi
    $pin_proxy "$BUILD/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:$GATEWAY_PORT \
      --admin-listen 127.0.0.1:$ADMIN_PORT --workers 1 --no-watch-config --scrape-interval-ms 0 \
      "${tls_args[@]}" >/dev/null 2>&1 & pids+=($!)
    PORT=$GATEWAY_PORT
  fi
  wait_port "$PORT"
}

echo "# series proxy mode run requests_per_s p50_ms p99_ms non2xx"
results="$work/results.txt"
for proxy in nginx infergate; do
  for mode in plain tls; do
    start "$proxy" "$mode"
    for run in $(seq 1 "$REPEAT"); do
      line="$SERIES $proxy $mode $run $(wrk_measure "$SCHEME://127.0.0.1:$PORT" "$SERIES" "$pin_load")"
      echo "$line"; echo "$line" >>"$results"
    done
    stop_proxy "$proxy"
  done
done

echo
echo "# medians: proxy mode requests_per_s p99_ms | TLS/plain requests/s and p99 per proxy"
python3 - "$results" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    s, proxy, mode, run, rps, p50, p99, bad = line.split()
    rows[(proxy, mode)].append((float(rps), float(p99)))
med = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v)) for k, v in rows.items()}
for (proxy, mode), (rps, p99) in sorted(med.items()):
    print(f"{proxy:9s} {mode:5s} {rps:10.0f} {p99:8.2f}")
for proxy in ("nginx", "infergate"):
    if (proxy, "plain") in med and (proxy, "tls") in med:
        (pr, pp), (tr, tp) = med[(proxy, "plain")], med[(proxy, "tls")]
        print(f"{proxy:9s} TLS/plain: {tr / pr:.2f}x requests/s, {tp / pp:.2f}x p99")
PY
