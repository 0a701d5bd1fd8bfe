#!/usr/bin/env bash
# Soak test: mixed traffic on a simulated fleet with simulator kills, reloads and a SIGTERM at
# the end; fails on a lost request, a generation run twice, a crash or RSS growth over 10 %.
#
#   bench/soak.sh [SECONDS]        (default 600; CI runs 60)
#
# Extra arguments after SECONDS go to bench/soak/soak.py (--clients, --kill-every, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECONDS_TO_RUN=${1:-600}
shift || true
if [ ! -x "$BUILD/bin/infergate" ] || [ ! -x "$BUILD/bin/infergate-sim" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" --target infergate infergate-sim
fi
exec python3 bench/soak/soak.py --build "$BUILD" --seconds "$SECONDS_TO_RUN" "$@"
