#!/usr/bin/env bash
# Prefix-aware picking against round-robin on a shared-prefix workload: 4 simulated H100
# replicas (one `infergate-sim --replicas 4`, profile h100-llama3.1-8b) behind one infergate,
# run once per scheduling profile at the same open-loop offered load.
#
#   bench/picker/shared_prefix.sh                            # round-robin default gie-default sglang-cache-aware
#   bench/picker/shared_prefix.sh round-robin default        # only these profiles
#   REPEAT=1 WARMUP=20 DURATION=20 bench/picker/shared_prefix.sh
#
# Workload (inference-perf's shared_prefix, scaled to 4 replicas): PREFIX_GROUPS system
# prompts of SYSTEM_TOKENS tokens (4 characters each: 2,000 tokens are 8,000 characters), every
# request one of them drawn uniformly plus a question of its own of QUESTION_TOKENS,
# OUTPUT_TOKENS generated (ignore_eos), every request streamed so TTFT is measured, Poisson
# arrivals at RATE. The system prompts together (PREFIX_GROUPS x SYSTEM_TOKENS, about 1M tokens
# by default) exceed one replica's KV cache (27,000 blocks of 16 tokens = 432k tokens) but fit
# in the fleet's four: a picker that keeps each group on one replica can keep every prefix
# cached, round-robin cannot.
#
# Per run (fresh simulator and gateway): WARMUP seconds of the workload fill the caches, then
# DURATION seconds are measured (same system prompts, other questions). Reported per run:
#   hit_ratio  the simulators' own prefix hit ratio over the measured phase: the difference of
#              vllm:prefix_cache_hits_total over that of vllm:prefix_cache_queries_total (both
#              in prompt tokens), summed over the 4 replicas' /metrics
#   client     cached_tokens over prompt_tokens from the responses' usage (a cross-check)
#   TTFT p50 / p90 (send -> first streamed byte at the client), completed req/s, output tokens/s,
#   preemptions, the share of requests served by the busiest replica, and failures by status
#   (0: transport) when there were any.
# The request stream of run i is the same for every profile (seeds fixed per run index).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-bench}
REPEAT=${REPEAT:-3}
RATE=${RATE:-40}
WARMUP=${WARMUP:-60}
DURATION=${DURATION:-60}
PREFIX_GROUPS=${PREFIX_GROUPS:-512}
SYSTEM_TOKENS=${SYSTEM_TOKENS:-2000}
QUESTION_TOKENS=${QUESTION_TOKENS:-128}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-64}
WORKERS=${WORKERS:-1}
PROFILES=("$@")
[ ${#PROFILES[@]} -gt 0 ] || PROFILES=(round-robin default gie-default sglang-cache-aware)
MODEL=meta-llama/Llama-3.1-8B-Instruct

if [ ! -x "$BUILD/bin/infergate" ] || [ ! -x "$BUILD/bin/infergate-sim" ] || [ ! -x "$BUILD/bin/infergate-loadgen" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" --target infergate infergate-sim infergate-loadgen
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Waits (at most 30 s) for the READY line a process prints on stdout into file $1; prints it.
await_ready() {
  local _
  for _ in $(seq 1 300); do
    if grep -m1 '^READY' "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Sums of the simulators' counters over every replica: hits queries prompt preemptions, then
# the requests each replica has finished.
sim_counters() {
  local port
  for port in $SIM_PORTS; do curl -fsS "http://127.0.0.1:$port/metrics"; echo "# END"; done | awk '
    /^vllm:prefix_cache_hits_total/ {h += $NF}
    /^vllm:prefix_cache_queries_total/ {q += $NF}
    /^vllm:prompt_tokens_total/ {p += $NF}
    /^vllm:num_preemptions_total/ {x += $NF}
    /^vllm:request_success_total/ {r += $NF}
    /^# END/ {per = per " " r; r = 0}
    END {printf "%d %d %d %d%s\n", h, q, p, x, per}'
}

gateway_config() {  # the 4 replicas as one pool behind one route
  {
    echo "apiVersion: infergate.dev/v1alpha1"
    echo "kind: StaticEndpoints"
    echo "metadata: {name: sim}"
    echo "spec:"
    echo "  endpoints:"
    local i=0 port
    for port in $SIM_PORTS; do
      echo "  - {name: sim-$i, address: \"127.0.0.1:$port\", labels: {app: llama}}"
      i=$((i + 1))
    done
    cat <<CONF
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: llama}}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: llama}
spec: {modelName: $MODEL, poolRef: {name: llama}}
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
}

loadgen() {  # $1: seconds, $2: request seed, $3: JSON report file
  "$BUILD/bin/infergate-loadgen" --target "127.0.0.1:$GW_PORT" --model "$MODEL" --rate "$RATE" --duration "$1" \
    --workload shared-prefix --groups "$PREFIX_GROUPS" --system-tokens "$SYSTEM_TOKENS" --question-tokens "$QUESTION_TOKENS" \
    --distinct-questions --output-tokens "$OUTPUT_TOKENS" --stream-share 1 --include-usage \
    --prefix-seed 7 --seed "$2" --json >"$3" || true
}

run_once() {  # $1: profile, $2: run index; prints one result line and adds it to $results
  local profile=$1 run=$2 ready
  "$BUILD/bin/infergate-sim" --replicas 4 --port 0 --gpu-profile h100-llama3.1-8b >"$work/sim.out" 2>"$work/sim.err" &
  local sim_pid=$!
  pids+=("$sim_pid")
  ready=$(await_ready "$work/sim.out") || { echo "infergate-sim did not start" >&2; cat "$work/sim.err" >&2; exit 1; }
  SIM_PORTS=$(echo "$ready" | grep -o '"port":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
  gateway_config
  "$BUILD/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --workers "$WORKERS" --no-watch-config --scheduling-profile "$profile" >"$work/gateway.out" 2>"$work/gateway.err" &
  local gw_pid=$!
  pids+=("$gw_pid")
  ready=$(await_ready "$work/gateway.out") || { echo "infergate did not start" >&2; cat "$work/gateway.err" >&2; exit 1; }
  GW_PORT=$(echo "$ready" | grep -o '"port":[0-9]*' | head -1 | cut -d: -f2)
  sleep 1  # a first scrape of every replica

  loadgen "$WARMUP" $((1000 + run)) "$work/warmup.json"
  local before after
  before=$(sim_counters)
  loadgen "$DURATION" $((2000 + run)) "$work/load.json"
  after=$(sim_counters)
  kill "$gw_pid" "$sim_pid" 2>/dev/null || true
  wait "$gw_pid" "$sim_pid" 2>/dev/null || true
  pids=()
  (python3 - "$profile" "$run" "$before" "$after" "$work/load.json" <<'PY'
import json, sys
profile, run, before, after, load = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split(), sys.argv[5]
d = [float(a) - float(b) for a, b in zip(after, before)]
hits, queries, prompt, preempt, per_replica = d[0], d[1], d[2], d[3], d[4:]
r = json.load(open(load))
busiest = max(per_replica) / sum(per_replica) if sum(per_replica) else 0
print(f"{profile} {run} {hits / queries if queries else 0:.3f} {r['cached_share']:.3f} "
      f"{r['ttft_s']['p50'] * 1e3:.1f} {r['ttft_s']['p90'] * 1e3:.1f} {r['throughput_rps']:.1f} "
      f"{r['output_tokens_per_s']:.0f} {r['ok']}/{r['sent']} {preempt:.0f} {busiest:.2f}"
      + (f" failed={json.dumps(r['errors'], separators=(',', ':'))}" if r["errors"] else ""))
PY
  ) | tee -a "$results"
}

echo "# shared prefix: $PREFIX_GROUPS groups x $SYSTEM_TOKENS-token system prompts, distinct $QUESTION_TOKENS-token questions,"
echo "# $OUTPUT_TOKENS output tokens, all streamed; Poisson $RATE req/s; ${WARMUP} s warm-up + ${DURATION} s measured;"
echo "# infergate-sim --replicas 4 (h100-llama3.1-8b); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# profile  run  hit_ratio  client_cached  ttft_p50_ms  ttft_p90_ms  req_per_s  out_tok_per_s  ok/sent  preemptions  busiest_share"
results=$work/results
: >"$results"
for run in $(seq 1 "$REPEAT"); do
  for profile in "${PROFILES[@]}"; do
    run_once "$profile" "$run"
  done
done
echo "# medians over $REPEAT runs (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
echo "# profile  hit_ratio  ttft_p50_ms  ttft_p90_ms  req_per_s  out_tok_per_s"
for profile in "${PROFILES[@]}"; do
  awk -v p="$profile" '$1 == p' "$results" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
med = lambda i: statistics.median(float(r[i]) for r in rows)
print(f"{rows[0][0]}  {med(2):.3f}  {med(4):.1f}  {med(5):.1f}  {med(6):.1f}  {med(7):.0f}")'
done
