#!/usr/bin/env bash
# Provision SeaweedFS (`weed`, Apache-2.0): the S3-compatible server the storage tests run against.
# Built with Go from the Go module proxy, like the Temporal CLI; nothing is downloaded at run time.
# Order: $ALIGNLOOP_WEED_BIN (override) -> .tools/bin/weed (built before) -> build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
module="github.com/seaweedfs/seaweedfs"
version="v0.0.0-20261109003541-7506e5f91cd6"  # `weed version` says 4.53
if [ -n "${ALIGNLOOP_WEED_BIN:-}" ]; then
  [ -x "$ALIGNLOOP_WEED_BIN" ] || { echo "ALIGNLOOP_WEED_BIN=$ALIGNLOOP_WEED_BIN is not an executable file" >&2; exit 1; }
  exit 0
fi
bin="$root/.tools/bin/weed"
stamp="$root/.tools/bin/weed.version"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
command -v go >/dev/null 2>&1 || {
  echo "alignloop: SeaweedFS (the S3 test server) is missing and Go is not installed to build it." >&2
  echo "  Install Go >= 1.25, or set ALIGNLOOP_WEED_BIN to a weed binary." >&2
  exit 1
}
echo "alignloop: building SeaweedFS $version with Go into .tools/bin (one time, a few minutes)..." >&2
# `go install module@version` refuses modules whose go.mod has replace directives: build in the module's folder.
dir="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir" ] || { echo "alignloop: go mod download $module@$version gave no folder" >&2; exit 1; }
mkdir -p "$root/.tools/bin"
(cd "$dir" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$bin.tmp" ./weed)
mv "$bin.tmp" "$bin"
echo "$version" > "$stamp"
"$bin" version >&2
