#!/usr/bin/env bash
# Builds the Go test peers: tests/peers/build.sh OUTDIR puts extproc-client in OUTDIR.
# Go (the version in extproc-client/go.mod or newer) comes from $GO, PATH or /usr/local/go.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
go_bin=${GO:-$(command -v go || true)}
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
fi
if [[ -z "$go_bin" ]] || ! "$go_bin" version >/dev/null 2>&1; then
  echo "tests/peers/build.sh: no working Go toolchain (looked at \$GO, PATH and /usr/local/go/bin/go)" >&2
  exit 1
fi

mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/extproc-client"
"$go_bin" build -trimpath -buildvcs=false -o "$out/extproc-client" .
