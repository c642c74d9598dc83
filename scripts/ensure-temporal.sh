#!/usr/bin/env bash
# Provision the Temporal CLI (embeds the dev server) without downloading binaries at run time.
# Order: $ALIGNLOOP_TEMPORAL_BIN (override) -> .tools/bin/temporal (built before) -> build with Go from
# the Go module proxy. The SDK's own download is the fallback in code, where there is internet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want_version="1.5.1"
want_server="Server 1.29.1"  # go install builds report 0.0.0-DEV; the embedded server version identifies v1.5.1
if [ -n "${ALIGNLOOP_TEMPORAL_BIN:-}" ]; then
  [ -x "$ALIGNLOOP_TEMPORAL_BIN" ] || { echo "ALIGNLOOP_TEMPORAL_BIN=$ALIGNLOOP_TEMPORAL_BIN is not an executable file" >&2; exit 1; }
  exit 0
fi
bin="$root/.tools/bin/temporal"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$want_server"; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  if [ "${ALIGNLOOP_ALLOW_SDK_DOWNLOAD:-}" = 1 ]; then
    echo "alignloop: no Go to build the Temporal CLI; alignloop will download it through the Temporal SDK at run time (needs internet)." >&2
    exit 0
  fi
  echo "alignloop: the Temporal CLI is missing and Go is not installed to build it." >&2
  echo "  Install Go >= 1.25, or set ALIGNLOOP_TEMPORAL_BIN to a temporal binary, or TEMPORAL_ADDRESS to a running cluster." >&2
  exit 1
fi
echo "alignloop: building the Temporal CLI v$want_version with Go into .tools/bin (one time, a few minutes)..." >&2
mkdir -p "$root/.tools/bin"
GOTOOLCHAIN=local GOBIN="$root/.tools/bin" go install "github.com/temporalio/cli/cmd/temporal@v$want_version"
"$bin" --version >&2
