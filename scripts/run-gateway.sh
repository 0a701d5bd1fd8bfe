#!/usr/bin/env bash
# Builds InferGate and runs it in front of a simulated fleet, from examples/sim-fleet.yaml:
#   pool llama3-8b: 4 simulated Llama-3.1-8B replicas (ports 8000-8003) with LoRA adapters
#                   food-review-1 and food-review-2
#   pool qwen:      2 simulated Qwen2.5-1.5B replicas (ports 8010-8011)
# The gateway listens on localhost:8080 (admin: localhost:9090) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target infergate infergate-sim

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
start_sim() {  # waits for the simulator's READY line
  coproc SIM { exec build/bin/infergate-sim "$@"; }
  pids+=("$SIM_PID")
  local line
  while read -r line <&"${SIM[0]}"; do [[ $line == READY* ]] && break; done
}
start_sim --replicas 4 --port 8000 --pod-name llama --enable-lora --max-loras 2 \
  --lora-modules food-review-1=/adapters/food-review-1 food-review-2=/adapters/food-review-2
start_sim --replicas 2 --port 8010 --pod-name qwen --model Qwen/Qwen2.5-1.5B-Instruct \
  --gpu-profile a100-llama3.1-8b

cat <<'MSG'
InferGate on http://localhost:8080 in front of 6 simulated replicas. Try:
  curl -s localhost:8080/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model": "food-review", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}'
  curl -s localhost:8080/v1/models
  curl -s localhost:9090/metrics
MSG
build/bin/infergate --config examples/sim-fleet.yaml --listen 127.0.0.1:8080 \
  --admin-listen 127.0.0.1:9090 --access-log "$@" &
pids+=($!)
wait "${pids[-1]}"
