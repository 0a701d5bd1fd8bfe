#!/usr/bin/env bash
# Builds a real Kubernetes control plane for the tests from Go modules alone:
#   tests/peers/kube/build.sh OUTDIR
# puts kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver), etcd (go.etcd.io/etcd/server/v3,
# the module's own main) and kube-harness (./cmd/kube-harness, which starts the two) in OUTDIR,
# at the versions go.mod pins, and the HTTPRoute CRD of the Gateway API module in OUTDIR/crds. Go (1.26 or newer) comes from $GO, PATH or /usr/local/go.
# Extra flags for `go build` (for example -p=1) may be passed in $KUBE_GOFLAGS.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/../go-toolchain.sh"

mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")"

# The versions and release dates come from go.mod's build list, so the binaries report what
# they are (not v0.0.0-master) and the link is the same from one build to the next.
module_field() { "$go_bin" list -m -f "{{$2}}" "$1"; }
kube_version=$(module_field k8s.io/kubernetes .Version)
kube_date=$(module_field k8s.io/kubernetes '.Time.UTC.Format "2006-01-02T15:04:05Z"')
etcd_version=$(module_field go.etcd.io/etcd/server/v3 .Version)
if [[ ! $kube_version =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]]; then
  echo "tests/peers/kube/build.sh: k8s.io/kubernetes is at '$kube_version', not a release" >&2
  exit 1
fi
kube_major=${BASH_REMATCH[1]}
kube_minor=${BASH_REMATCH[2]}

# The same variables that Kubernetes' own build (hack/lib/version.sh) sets. The git commit is
# not in the module zip; it is reported as such instead of the "$Format:%H$" placeholder.
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version"
  kube_ldflags+=" -X $pkg.gitMajor=$kube_major -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitCommit=unknown-module-$kube_version -X $pkg.gitTreeState=clean"
  kube_ldflags+=" -X $pkg.buildDate=$kube_date"
done
# etcd's version is a constant of go.etcd.io/etcd/api/v3/version; only its git SHA is a variable.
etcd_ldflags="-X go.etcd.io/etcd/api/v3/version.GitSHA=module-$etcd_version"

# -trimpath keeps the module cache's path out of the binaries; -s -w drops the symbol tables
# and DWARF (a third of each binary; stack traces keep their function names).
build=("$go_bin" build -trimpath -buildvcs=false ${KUBE_GOFLAGS:-})
"${build[@]}" -ldflags "-s -w$kube_ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
"${build[@]}" -ldflags "-s -w $etcd_ldflags" -o "$out/etcd" go.etcd.io/etcd/server/v3
"${build[@]}" -o "$out/kube-harness" ./cmd/kube-harness

# The HTTPRoute CRD, as the Gateway API module publishes it (config/crd/standard), for the tests
# to install: the module is downloaded (checked against the checksum database) at this version.
gateway_api_version=v1.6.3
gateway_api_dir=$(cd / && GOWORK=off GOFLAGS=-mod=mod "$go_bin" mod download -json \
  "sigs.k8s.io/gateway-api@$gateway_api_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
mkdir -p "$out/crds"
install -m 644 "$gateway_api_dir/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml" \
  "$out/crds/"
