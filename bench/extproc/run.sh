#!/usr/bin/env bash
# The picker over ext_proc: decisions per second and the latency each decision adds, with 4 KB
# and 400 KB request bodies, the picker on 1 core, as a ratio against a baseline measured in
# the same run.
#
#   bench/extproc/run.sh                                  # both sizes, REPEATS=3
#   REPEATS=1 DURATION=5 SIZES=4096 bench/extproc/run.sh
#
# Pickers, each started afresh for every run, under `taskset -c $PICKER_CORE`:
#   infergate  `infergate --mode=epp --workers 1` (TLS with its self-signed certificate), its
#              pool the 4 replicas of one `infergate-sim --replicas 4 --gpu-profile tiny`,
#              scraped at the default interval; it parses every body, routes, admits, picks
#              (prefix-aware by default) and streams the body back
#   noop       `extproc-client --scenario noop-picker --procs 1` (grpc-go, TLS): reads the
#              headers and the whole body and answers with the first endpoint, the body echoed
#              back: the protocol floor any picker pays
# Load: `extproc-client --scenario bench --procs 1` under `taskset -c $LOAD_CORE`, a closed loop
# of CONCURRENCY streams over CONNS HTTP/2 connections, each playing Envoy's
# FULL_DUPLEX_STREAMED sequence (request headers, body in 64 KiB chunks, the picker's replies
# to the body's end, response headers, half-close, OK end). Bodies are chat completions
# ("model":"m") of one of 4 shared prompt prefixes with a unique tail. Decision latency is
# first message sent -> last request-body reply received (what Envoy waits before it can
# forward); WARMUP s are not counted, DURATION s are.
# The runs interleave the pickers (size, then repeat, then picker); the summary takes medians
# over the repeats. Results (raw JSON per run, summary.md, the pickers' stderr) go to OUT.
#
# Environment: BUILD (build), SIZES ("4096 409600"), CONCURRENCY (per size: 8 up to 64 KiB,
# 4 above), CONNS (1), DURATION (10), WARMUP (2), REPEATS (3), PICKERS ("infergate noop"),
# PICKER_CORE (1), LOAD_CORE (0), PLAINTEXT (0; 1: h2c for both pickers), INFERGATE_ARGS
# (added to infergate's flags), OUT (/tmp/extproc-bench-<date>).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SIZES=(${SIZES:-4096 409600})
PICKERS=(${PICKERS:-infergate noop})
CONNS=${CONNS:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
REPEATS=${REPEATS:-3}
PICKER_CORE=${PICKER_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
PLAINTEXT=${PLAINTEXT:-0}
OUT=${OUT:-/tmp/extproc-bench-$(date +%Y%m%d-%H%M%S)}
CLIENT=$BUILD/bin/extproc-client

for bin in infergate infergate-sim; do
  [ -x "$BUILD/bin/$bin" ] || { echo "no $BUILD/bin/$bin: build the project first (cmake --build $BUILD)" >&2; exit 1; }
done
# The Go client is rebuilt when missing or older than its sources (the bench modes are new).
if [ ! -x "$CLIENT" ] || [ -n "$(find tests/peers/extproc-client -newer "$CLIENT" \( -name '*.go' -o -name go.mod \) | head -1)" ]; then
  tests/peers/build.sh "$BUILD/bin"
fi
mkdir -p "$OUT"
plain=()
[ "$PLAINTEXT" = 1 ] && plain=(--plaintext)

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (at most 30 s) for the READY line process $2 prints on stdout into file $1; prints it.
await_ready() {
  local _
  for _ in $(seq 1 300); do
    if grep -m1 '^READY' "$1" 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop() {  # $1: pid; TERM, then KILL after 5 s
  local _
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# --- the pool: one simulator with 4 replicas, on the load generator's core -------------------
taskset -c "$LOAD_CORE" "$BUILD/bin/infergate-sim" --replicas 4 --gpu-profile tiny --port 0 \
  >"$work/sim.out" 2>"$OUT/sim.err" &
sim_pid=$!
pids+=("$sim_pid")
ready=$(await_ready "$work/sim.out" "$sim_pid") || { echo "infergate-sim did not start" >&2; cat "$OUT/sim.err" >&2; exit 1; }
SIM_PORTS=$(echo "$ready" | grep -o '"port":[0-9]*' | cut -d: -f2 | tr '\n' ' ')
ENDPOINTS=$(for p in $SIM_PORTS; do printf '127.0.0.1:%s,' "$p"; done)
ENDPOINTS=${ENDPOINTS%,}
{
  echo "apiVersion: infergate.dev/v1alpha1"
  echo "kind: StaticEndpoints"
  echo "metadata: {name: sim}"
  echo "spec:"
  echo "  endpoints:"
  i=0
  for port in $SIM_PORTS; do
    echo "  - {name: sim-$i, address: \"127.0.0.1:$port\", labels: {app: bench}}"
    i=$((i + 1))
  done
  cat <<CONF
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: bench}
spec: {targetPorts: [{number: 8000}], selector: {matchLabels: {app: bench}}}
CONF
} >"$OUT/picker.yaml"

start_picker() {  # $1: picker; sets PICKER_PID and PICKER_PORT
  local out="$work/$1.out" ready
  case $1 in
    infergate)
      taskset -c "$PICKER_CORE" "$BUILD/bin/infergate" --mode=epp --config "$OUT/picker.yaml" --workers 1 \
        --grpc-listen 127.0.0.1:0 --grpc-health-listen '' --admin-listen 127.0.0.1:0 "${plain[@]}" \
        ${INFERGATE_ARGS:-} >"$out" 2>>"$OUT/infergate.err" & ;;
    noop)
      taskset -c "$PICKER_CORE" "$CLIENT" --scenario noop-picker --listen 127.0.0.1:0 --endpoints "$ENDPOINTS" \
        --procs 1 "${plain[@]}" >"$out" 2>>"$OUT/noop.err" & ;;
    *) echo "unknown picker $1" >&2; exit 2 ;;
  esac
  PICKER_PID=$!
  pids+=("$PICKER_PID")
  ready=$(await_ready "$out" "$PICKER_PID") || { echo "$1 did not start" >&2; tail -20 "$OUT/$1.err" >&2; exit 1; }
  PICKER_PORT=$(echo "$ready" | grep -o '"port":[0-9]*' | head -1 | cut -d: -f2)
}

concurrency_for() { if [ -n "${CONCURRENCY:-}" ]; then echo "$CONCURRENCY"; elif [ "$1" -le 65536 ]; then echo 8; else echo 4; fi; }

{
  echo "# $(date -Is) on $(hostname): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), infergate build type $(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2)"
  echo "# pickers on core $PICKER_CORE, load generator (and simulator) on core $LOAD_CORE; TLS $([ "$PLAINTEXT" = 1 ] && echo off || echo on)"
  echo "# sizes ${SIZES[*]}, duration ${DURATION}s, warmup ${WARMUP}s, repeats $REPEATS, conns $CONNS"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/meta.txt"

echo "# picker size run decisions_per_s p50_us p99_us errors load1"
for size in "${SIZES[@]}"; do
  conc=$(concurrency_for "$size")
  for run in $(seq 1 "$REPEATS"); do
    for picker in "${PICKERS[@]}"; do
      start_picker "$picker"
      result="$OUT/$picker-$size-r$run.json"
      if ! timeout $((WARMUP + DURATION + 60)) taskset -c "$LOAD_CORE" "$CLIENT" --scenario bench \
          --addr "127.0.0.1:$PICKER_PORT" "${plain[@]}" --endpoints "$ENDPOINTS" --body-bytes "$size" \
          --concurrency "$conc" --conns "$CONNS" --duration "${DURATION}s" --warmup "${WARMUP}s" \
          --procs 1 --out "$result" >/dev/null 2>"$work/bench.err"; then
        echo "bench against $picker failed:" >&2; cat "$work/bench.err" >&2; exit 1
      fi
      stop "$PICKER_PID"
      python3 - "$picker" "$size" "$run" "$result" <<'PY'
import json, sys
picker, size, run, path = sys.argv[1:5]
r = json.load(open(path))
load1 = open("/proc/loadavg").read().split()[0]
print(f"{picker} {size} {run} {r['decisions_per_s']:.0f} {r['latency_us']['p50']:.0f} "
      f"{r['latency_us']['p99']:.0f} {r['errors']} {load1}")
PY
    done
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/meta.txt"

python3 - "$OUT" "$REPEATS" <<'PY' | tee "$OUT/summary.md"
import glob, json, os, re, statistics, sys
out, repeats = sys.argv[1], sys.argv[2]
runs = {}
for path in glob.glob(os.path.join(out, "*-r*.json")):
    m = re.match(r"(\w+)-(\d+)-r(\d+)\.json$", os.path.basename(path))
    if m:
        runs.setdefault((m[1], int(m[2])), []).append(json.load(open(path)))
med = lambda rs, f: statistics.median(f(r) for r in rs)
print(f"Medians over {repeats} repeats; decision latency = first message sent -> last request-body reply.\n")
print("| body | conc | noop dec/s | infergate dec/s | ratio | noop p50 µs | infergate p50 µs | added p50 µs "
      "| noop p99 µs | infergate p99 µs | errors (ig/noop) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for size in sorted({s for _, s in runs}):
    ig, noop = runs.get(("infergate", size)), runs.get(("noop", size))
    if not ig or not noop:
        continue
    dps = lambda r: r["decisions_per_s"]
    p50 = lambda r: r["latency_us"]["p50"]
    p99 = lambda r: r["latency_us"]["p99"]
    label = f"{size / 1024:.0f} KB" if size % 1024 == 0 else f"{size} B"
    print(f"| {label} | {ig[0]['concurrency']} | {med(noop, dps):,.0f} | {med(ig, dps):,.0f} "
          f"| {med(ig, dps) / med(noop, dps):.2f} | {med(noop, p50):,.0f} | {med(ig, p50):,.0f} "
          f"| {med(ig, p50) - med(noop, p50):+,.0f} | {med(noop, p99):,.0f} | {med(ig, p99):,.0f} "
          f"| {sum(r['errors'] for r in ig)}/{sum(r['errors'] for r in noop)} |")
PY
echo "raw results: $OUT"
