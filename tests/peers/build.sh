#!/usr/bin/env bash
# Builds the Go test peers: tests/peers/build.sh OUTDIR puts extproc-client in OUTDIR.
# Go (the version in extproc-client/go.mod or newer) comes from $GO, PATH or /usr/local/go.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/go-toolchain.sh"

mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/extproc-client"
"$go_bin" build -trimpath -buildvcs=false -o "$out/extproc-client" .
