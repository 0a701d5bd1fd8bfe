#!/usr/bin/env bash
# Flow control under overload: a small simulated pool offered OVERLOAD (3) times its capacity,
# 20 % Critical, 40 % Standard, 40 % Sheddable, with and without flow control.
#
#   bench/flowcontrol/overload.sh                         # every mode, REPEAT=3 runs
#   bench/flowcontrol/overload.sh idle fc                 # only these modes (capacity always runs)
#   REPEAT=1 DURATION=10 bench/flowcontrol/overload.sh
#
# Pool: one `infergate-sim --replicas REPLICAS` (profile h100-llama3.1-8b, --max-num-seqs SEQS,
# so the capacity is small enough for this machine to exceed it three times over) behind one
# infergate (2 workers, scrapes every 50 ms). Three InferenceModels, critical-chat (Critical),
# standard-chat (Standard) and sheddable-chat (Sheddable), all target the simulator's model.
# Requests: PROMPT_TOKENS-token random prompts, output lengths drawn uniformly within
# OUTPUT_TOKENS x [1 - OUTPUT_SPREAD, 1 + OUTPUT_SPREAD] (ignore_eos; with equal lengths the
# batches that start together end together, and freed sequence slots come in waves), all
# streamed so TTFT is measured (send -> first body byte at the client).
#
# Per run, each mode on a fresh simulator and gateway:
#   capacity   --no-flow-control, a closed loop of 3 x REPLICAS x SEQS clients (every replica
#              busy with a queue behind it) for CAPACITY_DURATION s of standard-chat: C is the
#              completions per second after the first WARMUP s
#   idle       flow control on, critical-chat alone at IDLE_RATE req/s (Poisson) for
#              IDLE_DURATION s: the Critical TTFT of an idle pool
#   fc         flow control on, defaults (saturation by upstream's utilisation rule), Poisson
#              at OVERLOAD x C with the 20/40/40 mix for DURATION s
#   fc-conc    the same with --max-in-flight-per-endpoint SEQS (the concurrency rule at the
#              replicas' sequence cap)
#   fc-headroom  fc-conc with --standard-threshold 0.9 --sheddable-threshold 0.75: Standard
#              and Sheddable leave a tenth of the sequence slots to Critical
#   nofc       --no-flow-control, the same load (the simulators queue what they cannot run; the
#              run lasts until that backlog has drained)
# Every mode leaves the requests sent in its first WARMUP s out of its report (the pool fills
# up then). Reported per run and mode: C, offered and completed req/s (completions after the
# warm-up and before the arrivals stop), Critical ok/sent and TTFT p50/p90, the share of
# Standard and Sheddable answered 429, 503s, the median time to a 429 (send -> whole answer)
# and the median TTFT of the accepted (200) requests.
# The request stream of run i is the same for every mode (seeds fixed per run index).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-flow}
REPEAT=${REPEAT:-3}
REPLICAS=${REPLICAS:-2}
SEQS=${SEQS:-32}
PROMPT_TOKENS=${PROMPT_TOKENS:-204}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-128}
OUTPUT_SPREAD=${OUTPUT_SPREAD:-0.5}
OVERLOAD=${OVERLOAD:-3}
DURATION=${DURATION:-20}
CAPACITY_DURATION=${CAPACITY_DURATION:-12}
WARMUP=${WARMUP:-3}
IDLE_RATE=${IDLE_RATE:-5}
IDLE_DURATION=${IDLE_DURATION:-20}
WORKERS=${WORKERS:-2}
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(idle fc fc-conc fc-headroom nofc)
MODEL=meta-llama/Llama-3.1-8B-Instruct
MIX="critical-chat=20 standard-chat=40 sheddable-chat=40"

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

gateway_config() {  # the replicas as one pool; one InferenceModel per criticality
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
    echo "---"
    echo "apiVersion: inference.networking.k8s.io/v1"
    echo "kind: InferencePool"
    echo "metadata: {name: llama}"
    echo "spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: llama}}}"
    local name criticality
    for name in critical standard sheddable; do
      criticality=$(echo "${name:0:1}" | tr a-z A-Z)${name:1}
      echo "---"
      echo "apiVersion: inference.networking.x-k8s.io/v1alpha2"
      echo "kind: InferenceModel"
      echo "metadata: {name: $name}"
      echo "spec: {modelName: $name-chat, criticality: $criticality, poolRef: {name: llama}, targetModels: [{name: $MODEL}]}"
    done
  } >"$work/gateway.yaml"
}

start_fleet() {  # $@: extra gateway flags; sets GW_PORT
  local ready
  # Empty the output files here: the redirections below happen in the children, after
  # await_ready may already have read a READY line left by the previous fleet.
  : >"$work/sim.out"
  : >"$work/gateway.out"
  "$BUILD/bin/infergate-sim" --replicas "$REPLICAS" --port 0 --gpu-profile h100-llama3.1-8b --max-num-seqs "$SEQS" \
    >"$work/sim.out" 2>"$work/sim.err" &
  pids+=("$!")
  ready=$(await_ready "$work/sim.out") || { echo "infergate-sim did not start" >&2; cat "$work/sim.err" >&2; exit 1; }
  SIM_PORTS=$(echo "$ready" | grep -o '"port":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
  gateway_config
  "$BUILD/bin/infergate" --config "$work/gateway.yaml" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --workers "$WORKERS" --no-watch-config --scrape-interval-ms 50 "$@" >"$work/gateway.out" 2>"$work/gateway.err" &
  pids+=("$!")
  ready=$(await_ready "$work/gateway.out") || { echo "infergate did not start" >&2; cat "$work/gateway.err" >&2; exit 1; }
  GW_PORT=$(echo "$ready" | grep -o '"port":[0-9]*' | head -1 | cut -d: -f2)
}

stop_fleet() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

loadgen() {  # $1: JSON report file, then loadgen flags
  local out=$1
  shift
  "$BUILD/bin/infergate-loadgen" --target "127.0.0.1:$GW_PORT" --prompt-tokens "$PROMPT_TOKENS" \
    --output-tokens "$OUTPUT_TOKENS" --output-spread "$OUTPUT_SPREAD" --stream-share 1 --warmup "$WARMUP" --json "$@" \
    >"$out" || true
}

# One result line of a mode from its loadgen report.
summarize() {  # $1: mode, $2: run, $3: capacity, $4: offered rate, $5: report
  python3 - "$@" <<'PY'
import json, sys
mode, run, capacity, offered, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
r = json.load(open(path))
classes = r.get("classes", {})
def cls(name):
    return classes.get(name, {"sent": 0, "ok": 0, "errors": {}, "ttft_s": {"p50": 0, "p90": 0}})
def shed_share(name):
    c = cls(name)
    return c["errors"].get("429", 0) / c["sent"] if c["sent"] else 0
crit = cls("critical-chat")
timed_out = sum(c.get("errors", {}).get("503", 0) for c in classes.values())
print(f"{mode} {run} {capacity:.1f} {offered:.1f} {r['window_throughput_rps']:.1f} "
      f"{crit['ok']}/{crit['sent']} {crit['ttft_s']['p50'] * 1e3:.1f} {crit['ttft_s']['p90'] * 1e3:.1f} "
      f"{shed_share('standard-chat'):.2f} {shed_share('sheddable-chat'):.2f} {timed_out} "
      f"{r['time_to_429_s']['p50'] * 1e3:.2f} {r['ttft_s']['p50'] * 1e3:.1f}")
PY
}

run_mode() {  # $1: mode, $2: run index, $3: capacity
  local mode=$1 run=$2 capacity=$3 rate
  rate=$(python3 -c "print(round($OVERLOAD * $capacity, 1))")
  case $mode in
    idle)
      start_fleet
      loadgen "$work/$mode.json" --mix critical-chat=1 --rate "$IDLE_RATE" --duration "$IDLE_DURATION" --seed $((3000 + run))
      rate=$IDLE_RATE ;;
    fc) start_fleet ;;
    fc-conc) start_fleet --max-in-flight-per-endpoint "$SEQS" ;;
    fc-headroom) start_fleet --max-in-flight-per-endpoint "$SEQS" --standard-threshold 0.9 --sheddable-threshold 0.75 ;;
    nofc) start_fleet --no-flow-control ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  [ "$mode" = idle ] || loadgen "$work/$mode.json" --mix $MIX --rate "$rate" --duration "$DURATION" --seed $((4000 + run))
  stop_fleet
  summarize "$mode" "$run" "$capacity" "$rate" "$work/$mode.json" | tee -a "$results"
}

echo "# $REPLICAS x infergate-sim (h100-llama3.1-8b, --max-num-seqs $SEQS); $PROMPT_TOKENS-token prompts, $OUTPUT_TOKENS"
echo "# output tokens (spread $OUTPUT_SPREAD), streamed; overload ${OVERLOAD}x capacity for ${DURATION} s (the first ${WARMUP} s not"
echo "# reported), mix $MIX;"
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# mode  run  capacity_rps  offered_rps  completed_rps  critical_ok/sent  critical_ttft_p50_ms  critical_ttft_p90_ms" \
     " standard_429_share  sheddable_429_share  503s  time_to_429_p50_ms  accepted_ttft_p50_ms"
results=$work/results
: >"$results"
for run in $(seq 1 "$REPEAT"); do
  start_fleet --no-flow-control
  loadgen "$work/capacity.json" --model standard-chat --concurrency $((3 * REPLICAS * SEQS)) \
    --duration "$CAPACITY_DURATION" --seed $((2000 + run))
  stop_fleet
  capacity=$(python3 -c "import json; print(json.load(open('$work/capacity.json'))['window_throughput_rps'])")
  echo "capacity $run $capacity" >>"$results"
  for mode in "${MODES[@]}"; do run_mode "$mode" "$run" "$capacity"; done
done

echo "# medians over $REPEAT runs (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = lambda xs: statistics.median(xs) if xs else float("nan")
capacity = med([float(r[2]) for r in rows if r[0] == "capacity"])
print(f"capacity {capacity:.1f} req/s")
by_mode = {}
for r in rows:
    if r[0] != "capacity":
        by_mode.setdefault(r[0], []).append(r)
idle_p90 = med([float(r[7]) for r in by_mode.get("idle", [])])
print("# mode  completed/capacity  critical_ttft_p50_ms  critical_ttft_p90_ms  p90/idle_p90  standard_429  sheddable_429"
      "  503s  time_to_429_p50_ms  accepted_ttft_p50_ms  429/accepted")
for mode, rs in by_mode.items():
    col = lambda i: med([float(r[i]) for r in rs])
    ratio = lambda a, b: a / b if b else float("nan")
    print(f"{mode}  {col(4) / capacity:.2f}  {col(6):.1f}  {col(7):.1f}  {ratio(col(7), idle_p90):.2f}  {col(8):.2f}"
          f"  {col(9):.2f}  {col(10):.0f}  {col(11):.2f}  {col(12):.1f}  {ratio(col(11), col(12)):.3f}")
PY
