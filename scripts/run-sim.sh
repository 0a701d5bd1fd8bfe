#!/usr/bin/env bash
# Builds infergate-sim and serves a simulated pool on localhost: 4 vLLM-like replicas of
# Llama-3.1-8B on simulated H100s (ports 8000-8003), two LoRA adapters, until Ctrl-C.
# Extra arguments go to infergate-sim (see build/bin/infergate-sim --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target infergate-sim
exec build/bin/infergate-sim --replicas 4 --port 8000 --enable-lora --max-loras 2 \
  --lora-modules sql-lora=/adapters/sql-lora tweet-summary=/adapters/tweet-summary "$@"
