#!/usr/bin/env bash
# Installs every Debian package that InferGate's build, tests and benchmarks need.
# Idempotent: packages already present are skipped by apt-get. Run as root on Debian 12.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  # Boost 1.81 (never the default 1.74 meta packages: they break coroutines).
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev
  libboost-url1.81-dev
  libxxhash-dev libsimdjson-dev libyaml-cpp-dev
  # The gateway's allocator (apps/infergate/CMakeLists.txt).
  libtcmalloc-minimal4
  # TLS on the client listener and to model servers (OpenSSL 3).
  libssl-dev openssl
  # The endpoint picker's gRPC (ext_proc and grpc.health.v1): Debian's gRPC 1.51 and protobuf.
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # Benchmarks and fuzzing.
  wrk hyperfine nginx-light haproxy clang-14 libclang-rt-14-dev
  # The repository's rules (scripts/lint.sh): formatting and lint, pinned to LLVM 14.
  clang-format-14 clang-tidy-14
  # bench/ scripts: python3 for their reports, linux-perf for the profiles (PROFILE=1),
  # valgrind for counting instructions per request.
  python3 linux-perf valgrind
  curl procps
  # The /dashboard test drives a headless browser (tests/gateway/dashboard).
  chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js runs the OpenAI client library test; the machine image may already have it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The official OpenAI client library, for tests/gateway/openai-client (pinned by its lock file).
client_dir="$(dirname "$0")/../tests/gateway/openai-client"
if [ ! -d "$client_dir/node_modules/openai" ]; then
  (cd "$client_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
