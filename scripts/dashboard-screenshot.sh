#!/usr/bin/env bash
# Takes docs/images/dashboard.png, the README's picture of the live page: the simulated fleet of
# examples/sim-fleet.yaml (as scripts/run-gateway.sh starts it, moved to ports 28000-28011),
# InferGate in front (localhost:18080, admin localhost:19090), infergate-loadgen sending a mix of models,
# and headless Chromium photographing /dashboard after 20 s of load.
# Usage: scripts/dashboard-screenshot.sh [output.png]   (needs a build in build/ and chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/images/dashboard.png}
cmake --build build --target infergate infergate-sim infergate-loadgen >/dev/null

pids=()
profile=$(mktemp -d)
cleanup() {
  # The load first, then the gateway, then the simulators: no request fails for the shutdown.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$profile"
}
trap cleanup EXIT INT TERM
# Starts a program in the background and waits (up to 20 s) for its READY line.
start() {
  local log="$profile/$1.out"
  shift
  "$@" >"$log" &
  pids+=($!)
  for _ in $(seq 200); do grep -q '^READY' "$log" && return; sleep 0.1; done
  echo "$1 did not start" >&2
  exit 1
}
sed 's/"127.0.0.1:80/"127.0.0.1:280/' examples/sim-fleet.yaml >"$profile/fleet.yaml"
start llama build/bin/infergate-sim --replicas 4 --port 28000 --pod-name llama --enable-lora \
  --max-loras 2 --lora-modules food-review-1=/adapters/food-review-1 \
  food-review-2=/adapters/food-review-2 --gpu-profile tiny --max-num-seqs 4
start qwen build/bin/infergate-sim --replicas 2 --port 28010 --pod-name qwen \
  --model Qwen/Qwen2.5-1.5B-Instruct --gpu-profile tiny --max-num-seqs 4
start gateway build/bin/infergate --config "$profile/fleet.yaml" --listen 127.0.0.1:18080 \
  --admin-listen 127.0.0.1:19090 --no-watch-config

build/bin/infergate-loadgen --target 127.0.0.1:18080 --rate 40 --duration 30 \
  --stream-share 1 --output-tokens 200 --output-spread 0.5 --workload shared-prefix \
  --mix meta-llama/Llama-3.1-8B-Instruct=5 food-review=3 Qwen/Qwen2.5-1.5B-Instruct=2 \
  >/dev/null &
pids+=($!)

# The page records decisions while it is watched: look once, then let the load run.
curl -s -o /dev/null localhost:19090/dashboard/decisions
sleep 20
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-default-apps --no-first-run --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1280,1180 --virtual-time-budget=20000 \
  --screenshot="$out" http://127.0.0.1:19090/dashboard 2>/dev/null
echo "wrote $out"
