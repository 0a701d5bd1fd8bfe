#!/usr/bin/env bash
# Installs what is missing, checks formatting, the library graph (src/LAYERS) and temporaries
# beside a co_await (scripts/coroutine_temporaries.py), builds everything with warnings as
# errors, and runs the whole test suite: an ASan+UBSan build of the unit tests, a
# ThreadSanitizer build of the threaded ones, each fuzzer for FUZZ_SECONDS (default 30),
# clang-tidy over every translation unit, every test (unit, calibration, integration) of the
# main build, and a soak of SOAK_SECONDS (default 60). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

scripts/install-deps.sh

echo "== formatting (clang-format-14)"
scripts/lint.sh format

echo "== layering (every include of src/ against the graph in src/LAYERS)"
python3 scripts/layering.py

echo "== no lambda or braced temporary beside a co_await (GCC 12 destroys them twice)"
python3 scripts/coroutine_temporaries.py

echo "== sanitizer build (ASan + UBSan), unit tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DINFERGATE_SANITIZE=ON \
  -DINFERGATE_WERROR=ON -DINFERGATE_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$JOBS" --target sim_engine_test sse_test sim_replica_test config_test \
  gateway_test metrics_test prefix_index_test scheduling_test flow_control_test scraper_test \
  gateway_server_test openai_test http_frontend_test pooled_upstream_client_test http1_test tls_test \
  extproc_test kube_test
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L sanitize --no-tests=error --output-on-failure -j "$JOBS"

echo "== ThreadSanitizer build, threaded unit tests"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFERGATE_TSAN=ON \
  -DINFERGATE_WERROR=ON -DINFERGATE_BUILD_BENCH=OFF >/dev/null
tsan_tests=(prefix_index_test flow_control_test scraper_test gateway_test http_frontend_test)
cmake --build build-tsan -j "$JOBS" --target "${tsan_tests[@]}"
for t in "${tsan_tests[@]}"; do
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
    "build-tsan/bin/$t" --gtest_brief=1
done

echo "== fuzzers, ${FUZZ_SECONDS}s each"
CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DINFERGATE_FUZZ=ON -DINFERGATE_BUILD_TESTS=OFF -DINFERGATE_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$JOBS" --target fuzz_sse_parser fuzz_openai_request fuzz_gateway_json \
  fuzz_prometheus_text fuzz_gateway_stream fuzz_http1 fuzz_config_loader
# -timeout fails a run on any input slower than 10 s (libFuzzer checks max_total_time only between
# inputs, so one endless input would otherwise hang CI), and the outer timeout bounds the rest.
for f in sse_parser openai_request gateway_json prometheus_text gateway_stream http1 \
  config_loader; do
  work=$(mktemp -d)
  mkdir "$work/corpus" "$work/found"
  cp tests/fuzz/corpus/$f/* "$work/corpus/"
  if ! timeout --kill-after=10 $((FUZZ_SECONDS + 120)) build-fuzz/bin/fuzz_$f \
    -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
    -artifact_prefix="$work/found/" "$work/corpus" >"$work/log" 2>&1; then
    tail -n 60 "$work/log"
    for a in "$work"/found/*; do
      [ -e "$a" ] && { echo "-- input that failed ($a), as hex:"; od -A d -t x1 "$a" | head -n 40; }
    done
    echo "fuzz_$f failed"
    exit 1
  fi
  tail -n 1 "$work/log"
  rm -rf "$work"
done

echo "== main build, all tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFERGATE_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"

echo "== lint (clang-tidy-14), every translation unit"
scripts/lint.sh tidy build build-fuzz=tests/fuzz

echo "== all tests"
ctest --test-dir build --no-tests=error --output-on-failure

echo "== soak, ${SOAK_SECONDS:-60}s (bench/soak.sh: faults, reloads, SIGTERM; no request lost or run twice)"
BUILD=build bench/soak.sh "${SOAK_SECONDS:-60}"
