#!/usr/bin/env bash
# Builds upstream's endpoint picker (Gateway API Inference Extension's epp) for the comparison
# tests, from the Go module proxy alone:
#   tests/peers/upstream-epp/build.sh OUTDIR
# puts OUTDIR/epp. `go install module@version` checks the module and its whole build list
# against go.sum and the checksum database, as for any module dependency. Go (1.26 or newer)
# comes from $GO, PATH or /usr/local/go. Extra flags for `go install` (for example -p=1) may be
# passed in $UPSTREAM_EPP_GOFLAGS.
set -euo pipefail

# The GIE release the comparison is written against. The CRDs under
# tests/fixtures/manifests/gie-v1.5.0 come from the same release: move both together.
gie_version=v1.5.0
gie_module=sigs.k8s.io/gateway-api-inference-extension

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/../go-toolchain.sh"

mkdir -p "$1"
out=$(cd "$1" && pwd)
# Outside any module, so that no go.mod or go.work around the checkout changes the build list.
cd /

# GIE's own image build sets these two; the module zip has no git commit, so it is named as such.
ldflags="-s -w -X $gie_module/version.BuildRef=$gie_version"
ldflags+=" -X $gie_module/version.CommitSHA=unknown-module-$gie_version"

# -trimpath keeps the module cache's path out of the binary; -s -w drops the symbol table and
# DWARF (stack traces keep their function names).
GOBIN="$out" GOWORK=off "$go_bin" install -trimpath ${UPSTREAM_EPP_GOFLAGS:-} \
  -ldflags "$ldflags" "$gie_module/cmd/epp@$gie_version"
