#!/usr/bin/env bash
# How much CPU one infergate-sim process needs to simulate a 16-replica fleet under load.
#
#   bench/sim_fleet_cpu.sh [RATE ...]        (default rates: 200 400 800 req/s)
#
# For each rate, REPEAT times (default 3): start `infergate-sim --replicas 16` pinned to core 0,
# drive it with infergate-loadgen pinned to core 1 (Poisson arrivals, 204-token prompts,
# 64 output tokens, half of the requests streamed) for DURATION seconds (default 15), and read
# the simulator's user+system CPU time from /proc. Prints the CPU share of one core (CPU time
# over wall time) per run and the median per rate.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-15}
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(200 400 800)

if [ ! -x "$BUILD/bin/infergate-sim" ] || [ ! -x "$BUILD/bin/infergate-loadgen" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --target infergate-sim infergate-loadgen
fi
CORES=$(nproc)
PIN_SIM="taskset -c 0"
PIN_LOAD="taskset -c $((CORES > 1 ? 1 : 0))"
TICKS=$(getconf CLK_TCK)

run_once() {
  local rate=$1 out pid targets ports before after start end line ready=""
  out=$(mktemp)
  # The simulator prints "READY <json>" once every replica listens: read up to that line.
  coproc SIM { exec $PIN_SIM "$BUILD/bin/infergate-sim" --replicas 16 --port 0; }
  pid=$SIM_PID
  while read -r line <&"${SIM[0]}"; do
    if [[ $line == READY* ]]; then ready=$line; break; fi
  done
  [ -n "$ready" ] || { echo "infergate-sim did not start" >&2; exit 1; }
  ports=$(echo "$ready" | grep -o '"port":[0-9]*' | cut -d: -f2)
  targets=""
  for p in $ports; do targets="$targets 127.0.0.1:$p"; done
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  start=$(date +%s.%N)
  $PIN_LOAD "$BUILD/bin/infergate-loadgen" --target $targets --rate "$rate" \
    --duration "$DURATION" --stream-share 0.5 --json >"$out.load"
  end=$(date +%s.%N)
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$before" "$after" "$start" "$end" "$TICKS" "$out.load" <<'PY'
import json, sys
before, after, start, end, ticks = map(float, sys.argv[1:6])
load = json.load(open(sys.argv[6]))
cpu = (after - before) / ticks / (end - start)
print(f"{cpu:.3f} {load['throughput_rps']:.1f} {load['ok']} {load['sent']} {load['ttft_s']['p50']*1e3:.1f}")
PY
  rm -f "$out" "$out.load"
}

echo "# infergate-sim, 16 replicas (h100-llama3.1-8b), $DURATION s per run, $REPEAT runs per rate"
echo "# rate  run  cpu_share_of_one_core  achieved_rps  ok/sent  ttft_p50_ms"
for rate in "${RATES[@]}"; do
  shares=()
  for i in $(seq 1 "$REPEAT"); do
    read -r cpu rps ok sent ttft < <(run_once "$rate")
    echo "$rate  $i  $cpu  $rps  $ok/$sent  $ttft"
    shares+=("$cpu")
  done
  median=$(printf '%s\n' "${shares[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "median rate=$rate cpu_share=$median"
done
