#!/usr/bin/env bash
# Builds Helm for the chart's tests, from the Go module proxy alone:
#   tests/peers/helm/build.sh OUTDIR
# puts OUTDIR/helm. `go install module@version` checks the module and its whole build list
# against go.sum and the checksum database. Go (1.26 or newer) comes from $GO, PATH or
# /usr/local/go. Extra flags for `go install` (for example -p=1) may be passed in
# $HELM_GOFLAGS.
set -euo pipefail

# The Helm release the chart is checked with (deploy/helm/infergate).
helm_version=v4.3.2
helm_module=helm.sh/helm/v4

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/../go-toolchain.sh"

mkdir -p "$1"
out=$(cd "$1" && pwd)
# Outside any module, so that no go.mod or go.work around the checkout changes the build list.
cd /

# Helm's own build stamps its version here; without it `helm version` says v4-dev or the like.
ldflags="-s -w -X $helm_module/internal/version.version=$helm_version"
GOBIN="$out" GOWORK=off "$go_bin" install -trimpath ${HELM_GOFLAGS:-} -ldflags "$ldflags" \
  "$helm_module/cmd/helm@$helm_version"
