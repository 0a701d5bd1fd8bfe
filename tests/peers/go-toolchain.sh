# Sourced by the peers' build scripts: sets go_bin to a working Go toolchain ($GO, else the one
# on PATH, else /usr/local/go/bin/go), or exits saying none was found.
go_bin=${GO:-$(command -v go || true)}
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
fi
if [[ -z "$go_bin" ]] || ! "$go_bin" version >/dev/null 2>&1; then
  echo "$0: no working Go toolchain (looked at \$GO, PATH and /usr/local/go/bin/go)" >&2
  exit 1
fi
