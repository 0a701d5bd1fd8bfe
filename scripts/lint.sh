#!/usr/bin/env bash
# The repository's own rules, as CI checks them:
#   scripts/lint.sh format           every C++ file is as clang-format-14 writes it (.clang-format)
#   scripts/lint.sh tidy BUILD[=DIR]...
#                                    clang-tidy-14 (.clang-tidy) finds nothing in any translation
#                                    unit of src/, apps/, tests/ and bench/ (or of DIR alone) in
#                                    the compile_commands.json of each BUILD folder
# Exits non-zero on the first rule broken, printing what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

case "${1:-}" in
  format)
    git ls-files -z '*.cpp' '*.hpp' '*.h' | xargs -0 clang-format-14 --dry-run -Werror
    echo "lint: clang-format: every file formatted"
    ;;
  tidy)
    shift
    [ $# -gt 0 ] || { echo "usage: scripts/lint.sh tidy BUILD[=DIR]..." >&2; exit 2; }
    root=$(pwd)
    for arg in "$@"; do
      build=${arg%%=*}
      dirs="(src|apps|tests|bench)"
      [ "$arg" = "$build" ] || dirs=${arg#*=}
      [ -f "$build/compile_commands.json" ] || { echo "lint: no $build/compile_commands.json" >&2; exit 2; }
      # The project's own sources only; generated or fetched code is not ours to lint.
      # A broken .clang-tidy only warns and falls back to other checks, with exit status 0: any
      # diagnostic at all, or a configuration error, fails the run.
      status=0
      run-clang-tidy-14 -p "$build" -j "$JOBS" -quiet "^$root/$dirs/" \
        >"$build/clang-tidy.log" 2>&1 || status=$?
      findings=$(sed -e 's/\x1b\[[0-9;]*m//g' "$build/clang-tidy.log" |
        grep -E "(warning|error): |^Error " | sort -u || true)
      if [ "$status" -ne 0 ] || [ -n "$findings" ]; then
        echo "$findings"
        echo "lint: clang-tidy failed (exit $status; $build/clang-tidy.log)" >&2
        exit 1
      fi
      echo "lint: clang-tidy: no findings in $build"
    done
    ;;
  *)
    echo "usage: scripts/lint.sh format | tidy BUILD[=DIR]..." >&2
    exit 2
    ;;
esac
