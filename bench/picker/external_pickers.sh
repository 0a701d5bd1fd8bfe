#!/usr/bin/env bash
# Upstream's endpoint picker against InferGate's, side by side on one data path (issue 18):
# InferGate's gateway in front, the pool's endpointPickerRef naming the picker under test, the
# same simulated fleet and the same requests.
#
#   bench/picker/external_pickers.sh                      # upstream and infergate, RATES "20 40"
#   REPEAT=1 WARMUP=10 DURATION=20 RATES="20" bench/picker/external_pickers.sh upstream
#
# The pickers, each with its default configuration, both reading the pool and its Pods from a
# real API server (tests/peers/kube's kube-harness, as the Kubernetes tests do):
#   upstream   GIE's epp v1.5.0 (tests/peers/upstream-epp, `go install` from the module proxy)
#   infergate  infergate --mode=epp --kubeconfig ... (the `default` profile)
# The fleet: REPLICAS `infergate-sim` processes (h100-llama3.1-8b, every step SLOWDOWN times
# slower, so that this 2-core machine can offer the fleet more than it serves) on 127.0.0.2, .3,
# ... and one port, as Pods of the pool (a picker names a Pod by its IP). Every run starts a
# fresh fleet, picker and gateway.
#
# Per run, two phases:
#   load       the shared-prefix workload of shared_prefix.sh with skewed group popularity (group
#              k drawn with weight 1/(k+1)^SKEW), streamed, Poisson arrivals at each of RATES
#              (at and above the fleet's saturation), WARMUP s then DURATION s measured: the
#              simulators' prefix hit ratio, TTFT p50/p90/p99, output tokens/s, completed and
#              sent requests, and the picker process's CPU (user + system) per completed request;
#   decisions  with the simulators sped up a hundredfold (their step times do not matter here),
#              DECISIONS requests with 4 KB prompts, then DECISIONS_LONG with 400 KB ones: the
#              decision latency as the gateway measures it (infergate_picker_client_decision_
#              seconds: from the request's headers to the decision, the body's transfer
#              included) p50/p99, read from the histogram's buckets, and the picker's CPU per
#              request.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
REPEAT=${REPEAT:-3}
RATES=${RATES:-"20 40"}
WARMUP=${WARMUP:-20}
DURATION=${DURATION:-30}
REPLICAS=${REPLICAS:-4}
PREFIX_GROUPS=${PREFIX_GROUPS:-256}
SYSTEM_TOKENS=${SYSTEM_TOKENS:-2000}
QUESTION_TOKENS=${QUESTION_TOKENS:-128}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-64}
SKEW=${SKEW:-1.0}
SLOWDOWN=${SLOWDOWN:-4}
DECISIONS=${DECISIONS:-200}
DECISIONS_LONG=${DECISIONS_LONG:-40}
PICKERS=("$@")
[ ${#PICKERS[@]} -gt 0 ] || PICKERS=(upstream infergate)
MODEL=meta-llama/Llama-3.1-8B-Instruct

cmake --build "$BUILD" --target infergate infergate-sim infergate-loadgen kube_peers upstream_epp \
  extproc_client >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (at most $2 s, default 30) for the READY line a process prints into file $1; prints it.
await_ready() {
  local _
  for _ in $(seq 1 $((${2:-30} * 10))); do
    if grep -m1 '^READY' "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1].split(' ', 1)[1])[sys.argv[2]])" "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system, in clock ticks

# --- the API server, the pool and its Pods (once) ---
"$BUILD/kube/kube-harness" --dir "$work/kube" --bin-dir "$BUILD/kube" >"$work/kube.out" 2>"$work/kube.err" &
pids+=($!)
ready=$(await_ready "$work/kube.out" 120) || { echo "kube-harness did not start" >&2; cat "$work/kube.err" >&2; exit 1; }
SERVER=$(json_field "$ready" server)
TOKEN=$(json_field "$ready" token)
CA=$(json_field "$ready" ca)
KUBECONFIG_FILE=$(json_field "$ready" kubeconfig)
kapi() {  # method path [body] [content type]
  curl -sS --fail --max-time 20 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: ${4:-application/json}" -X "$1" "$SERVER$2" ${3:+--data-binary "$3"} >/dev/null
}
crds=tests/fixtures/manifests/gie-v1.5.0/config/crd/bases
for crd in inference.networking.k8s.io_inferencepools inference.networking.x-k8s.io_inferenceobjectives \
  inference.networking.x-k8s.io_inferencemodelrewrites; do
  kapi POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions "@$crds/$crd.yaml" application/yaml
done
for _ in $(seq 1 100); do
  kapi GET /apis/inference.networking.k8s.io/v1/inferencepools 2>/dev/null && break
  sleep 0.2
done
kapi POST /api/v1/namespaces '{"metadata":{"name":"bench"}}'
SIM_PORT=$(free_port)
kapi POST /apis/inference.networking.k8s.io/v1/namespaces/bench/inferencepools \
  '{"apiVersion":"inference.networking.k8s.io/v1","kind":"InferencePool","metadata":{"name":"llama"},"spec":{"targetPorts":[{"number":'"$SIM_PORT"'}],"selector":{"matchLabels":{"app":"llama"}},"endpointPickerRef":{"name":"epp","port":{"number":9002}}}}'
SIM_IPS=()
for i in $(seq 1 "$REPLICAS"); do
  ip=127.0.0.$((i + 1))
  SIM_IPS+=("$ip")
  kapi POST /api/v1/namespaces/bench/pods '{"metadata":{"name":"sim-'"$i"'","labels":{"app":"llama"}},"spec":{"containers":[{"name":"vllm","image":"x"}]}}'
  kapi PATCH "/api/v1/namespaces/bench/pods/sim-$i/status" \
    '{"status":{"phase":"Running","podIP":"'"$ip"'","podIPs":[{"ip":"'"$ip"'"}],"conditions":[{"type":"Ready","status":"True"}]}}' \
    application/merge-patch+json
done

# --- one run ---
start_fleet() {
  local ip
  for ip in "${SIM_IPS[@]}"; do
    "$BUILD/bin/infergate-sim" --host "$ip" --port "$SIM_PORT" --pod-name "sim-$ip" \
      --gpu-profile h100-llama3.1-8b >"$work/sim-$ip.out" 2>"$work/sim-$ip.err" &
    pids+=($!)
    await_ready "$work/sim-$ip.out" >/dev/null || { echo "infergate-sim did not start" >&2; exit 1; }
  done
}

sim_counters() {  # prefix hits and queries (prompt tokens) over the fleet
  local ip
  for ip in "${SIM_IPS[@]}"; do curl -fsS "http://$ip:$SIM_PORT/metrics"; done | awk '
    /^vllm:prefix_cache_hits_total/ {h += $NF}
    /^vllm:prefix_cache_queries_total/ {q += $NF}
    END {printf "%d %d\n", h, q}'
}

sim_slowdown() {  # $1: the simulators' step-time multiplier
  local ip
  for ip in "${SIM_IPS[@]}"; do
    curl -fsS -X POST "http://$ip:$SIM_PORT/sim/faults" -d "{\"slowdown\": $1}" >/dev/null
  done
}

start_picker() {  # $1: upstream or infergate; sets PICKER_PID and PICKER_ADDR
  if [ "$1" = upstream ]; then
    local grpc health metrics
    grpc=$(free_port) health=$(free_port) metrics=$(free_port)
    KUBECONFIG=$KUBECONFIG_FILE "$BUILD/upstream/epp" --pool-name llama --pool-namespace bench \
      --grpc-port "$grpc" --grpc-health-port "$health" --metrics-port "$metrics" --tracing=false \
      >"$work/picker.log" 2>&1 &
    PICKER_PID=$!
    pids+=("$PICKER_PID")
    "$BUILD/bin/extproc-client" --addr "127.0.0.1:$health" --plaintext --scenario health \
      --timeout 60s >/dev/null 2>&1 || { echo "upstream's picker did not become ready" >&2; tail "$work/picker.log" >&2; exit 1; }
    PICKER_ADDR=127.0.0.1:$grpc
  else
    "$BUILD/bin/infergate" --mode epp --kubeconfig "$KUBECONFIG_FILE" --pool-name llama \
      --pool-namespace bench --grpc-listen 127.0.0.1:0 --grpc-health-listen "" \
      --admin-listen 127.0.0.1:0 --no-access-log >"$work/picker.out" 2>"$work/picker.log" &
    PICKER_PID=$!
    pids+=("$PICKER_PID")
    local ready
    ready=$(await_ready "$work/picker.out" 60) || { echo "infergate --mode=epp did not start" >&2; cat "$work/picker.log" >&2; exit 1; }
    PICKER_ADDR=127.0.0.1:$(json_field "$ready" port)
  fi
}

start_gateway() {  # sets GW_PID, GW_PORT, GW_ADMIN
  {
    echo "apiVersion: infergate.dev/v1alpha1"
    echo "kind: StaticEndpoints"
    echo "metadata: {name: fleet}"
    echo "spec:"
    echo "  endpoints:"
    local ip
    for ip in "${SIM_IPS[@]}"; do echo "  - {name: sim-$ip, address: \"$ip:$SIM_PORT\", labels: {app: llama}}"; done
    echo "  - {name: epp, address: \"$PICKER_ADDR\"}"
    cat <<CONF
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec:
  targetPorts: [{number: $SIM_PORT}]
  selector: {matchLabels: {app: llama}}
  endpointPickerRef: {name: epp, failureMode: FailClose}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llama}
spec:
  rules:
  - backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: llama}]
    timeouts: {request: 300s}
CONF
  } >"$work/gateway.yaml"
  "$BUILD/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --workers 1 --no-watch-config --no-access-log --picker-allow-self-signed \
    >"$work/gateway.out" 2>"$work/gateway.err" &
  GW_PID=$!
  pids+=("$GW_PID")
  local ready
  ready=$(await_ready "$work/gateway.out") || { echo "infergate did not start" >&2; cat "$work/gateway.err" >&2; exit 1; }
  GW_PORT=$(json_field "$ready" port)
  GW_ADMIN=$(json_field "$ready" admin_port)
}

loadgen() {  # $1: seconds, $2: rate, $3: seed, $4: JSON report, then extra flags
  local seconds=$1 rate=$2 seed=$3 out=$4
  shift 4
  "$BUILD/bin/infergate-loadgen" --target "127.0.0.1:$GW_PORT" --model "$MODEL" --rate "$rate" \
    --duration "$seconds" --stream-share 1 --include-usage --seed "$seed" --json "$@" >"$out" || true
}
shared_prefix() {  # $1: seconds, $2: rate, $3: seed, $4: report
  loadgen "$@" --workload shared-prefix --groups "$PREFIX_GROUPS" --system-tokens "$SYSTEM_TOKENS" \
    --question-tokens "$QUESTION_TOKENS" --distinct-questions --output-tokens "$OUTPUT_TOKENS" \
    --group-skew "$SKEW" --prefix-seed 7
}

decision_buckets() { curl -fsS "http://127.0.0.1:$GW_ADMIN/metrics" | grep '^infergate_picker_client_decision_seconds_bucket' || true; }

# p50 and p99 (ms) of the observations between two readings of the decision histogram.
decision_quantiles() {
  python3 - "$1" "$2" <<'PY'
import re, sys
def read(path):
    out = {}
    for line in open(path):
        m = re.search(r'le="([^"]+)"\} (\S+)', line)
        if m: out[float(m.group(1))] = float(m.group(2))
    return out
before, after = read(sys.argv[1]), read(sys.argv[2])
bounds = sorted(after)
cum = [after[b] - before.get(b, 0) for b in bounds]
total = cum[-1]
def q(p):
    if total == 0: return float("nan")
    target, prev_b, prev_c = p * total, 0.0, 0.0
    for b, c in zip(bounds, cum):
        if c >= target:
            if b == float("inf"): return prev_b * 1e3
            return (prev_b + (b - prev_b) * (target - prev_c) / max(c - prev_c, 1e-9)) * 1e3
        prev_b, prev_c = b, c
    return prev_b * 1e3
print(f"{q(0.5):.3f} {q(0.99):.3f} {int(total)}")
PY
}

decision_phase() {  # $1: prompt tokens, $2: requests; prints p50_ms p99_ms count cpu_ms_per_request
  local tokens=$1 n=$2 cpu0 cpu1
  decision_buckets >"$work/d0"
  cpu0=$(cpu_ticks "$PICKER_PID")
  loadgen $(((n + 9) / 10)) 10 99 "$work/decisions.json" --workload random --prompt-tokens "$tokens" --output-tokens 1
  cpu1=$(cpu_ticks "$PICKER_PID")
  decision_buckets >"$work/d1"
  local q
  q=$(decision_quantiles "$work/d0" "$work/d1")
  echo "$q $(python3 -c "import sys; t, c = int(sys.argv[1]), int(sys.argv[2].split()[2]); print(f'{t * 1000 / 100 / max(c, 1):.3f}')" $((cpu1 - cpu0)) "$q")"
}

run_once() {  # $1: picker, $2: rate, $3: run index
  local picker=$1 rate=$2 run=$3
  start_fleet
  sim_slowdown "$SLOWDOWN"
  start_picker "$picker"
  start_gateway
  sleep 1  # a first scrape of every replica
  shared_prefix "$WARMUP" "$rate" $((1000 + run)) "$work/warmup.json"
  local before after cpu0 cpu1
  before=$(sim_counters)
  cpu0=$(cpu_ticks "$PICKER_PID")
  shared_prefix "$DURATION" "$rate" $((2000 + run)) "$work/load.json"
  cpu1=$(cpu_ticks "$PICKER_PID")
  after=$(sim_counters)
  local decisions="- - - - - - - -"
  if [ "$rate" = "${RATES%% *}" ]; then  # once per run: at the first rate
    sim_slowdown 0.01
    decisions="$(decision_phase 1000 "$DECISIONS") $(decision_phase 100000 "$DECISIONS_LONG")"
  fi
  kill "${pids[@]:1}" 2>/dev/null || true
  wait "${pids[@]:1}" 2>/dev/null || true
  pids=("${pids[0]}")
  python3 - "$picker" "$rate" "$run" "$before" "$after" "$((cpu1 - cpu0))" "$work/load.json" "$decisions" <<'PY' | tee -a "$results"
import json, sys
picker, rate, run = sys.argv[1:4]
b, a = [float(x) for x in sys.argv[4].split()], [float(x) for x in sys.argv[5].split()]
ticks, r, d = int(sys.argv[6]), json.load(open(sys.argv[7])), sys.argv[8].split()
hits, queries = a[0] - b[0], a[1] - b[1]
cpu_ms = ticks * 10 / max(r["ok"], 1)
t = r["ttft_s"]
print(f"{picker} {rate} {run} {hits / queries if queries else 0:.3f} {t['p50'] * 1e3:.1f} {t['p90'] * 1e3:.1f} "
      f"{t['p99'] * 1e3:.1f} {r['output_tokens_per_s']:.0f} {r['ok']}/{r['sent']} {cpu_ms:.3f} "
      + " ".join(d[0:2] + [d[3]] + d[4:6] + [d[7]] if len(d) == 8 else d)
      + (f" failed={json.dumps(r['errors'], separators=(',', ':'))}" if r["errors"] else ""))
PY
}

echo "# external pickers behind InferGate's gateway: $REPLICAS x infergate-sim (h100-llama3.1-8b, slowdown $SLOWDOWN) as Pods of one pool"
echo "# shared prefix: $PREFIX_GROUPS groups (Zipf skew $SKEW) x $SYSTEM_TOKENS-token system prompts, distinct $QUESTION_TOKENS-token"
echo "# questions, $OUTPUT_TOKENS output tokens, streamed; ${WARMUP} s warm-up + ${DURATION} s measured per rate;"
echo "# decisions: $DECISIONS x 4 KB and $DECISIONS_LONG x 400 KB prompts; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# picker rate run hit_ratio ttft_p50_ms ttft_p90_ms ttft_p99_ms out_tok_s ok/sent picker_cpu_ms_per_req" \
  "| 4KB: decision_p50_ms p99_ms cpu_ms_per_req | 400KB: decision_p50_ms p99_ms cpu_ms_per_req"
results=$work/results
: >"$results"
for run in $(seq 1 "$REPEAT"); do
  for rate in $RATES; do
    for picker in "${PICKERS[@]}"; do
      run_once "$picker" "$rate" "$run"
    done
  done
done
echo "# medians over $REPEAT runs (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$results" "${PICKERS[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(sel, i):
    vals = [float(r[i]) for r in sel if len(r) > i and r[i] not in ("-", "nan")]
    return statistics.median(vals) if vals else float("nan")
for rate in sorted({r[1] for r in rows}, key=float):
    for picker in sys.argv[2:]:
        sel = [r for r in rows if r[0] == picker and r[1] == rate]
        if not sel: continue
        print(f"{picker} rate {rate}: hit {med(sel, 3):.3f}  ttft p50/p90/p99 {med(sel, 4):.1f}/{med(sel, 5):.1f}/{med(sel, 6):.1f} ms"
              f"  out {med(sel, 7):.0f} tok/s  picker cpu {med(sel, 9):.3f} ms/req")
for picker in sys.argv[2:]:
    sel = [r for r in rows if r[0] == picker and len(r) > 15 and r[10] != "-"]
    if sel:
        print(f"{picker} decisions: 4 KB p50/p99 {med(sel, 10):.3f}/{med(sel, 11):.3f} ms, cpu {med(sel, 12):.3f} ms/req;"
              f" 400 KB p50/p99 {med(sel, 13):.3f}/{med(sel, 14):.3f} ms, cpu {med(sel, 15):.3f} ms/req")
PY
