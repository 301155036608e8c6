#!/usr/bin/env bash
# Independent Node peers for `stampede ws` (tests/peers/ws_relay.js): installs the `ws` package
# (npm, ws@8) into a cache dir and runs node with it on NODE_PATH.
#
#   scripts/peers-node.sh                 install/check, print the paths (KEY=VALUE)
#   scripts/peers-node.sh node ARGS...    run node ARGS with ws on NODE_PATH
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/stampede-peers/node (node_modules/ws).
# node and npm come from apt (nodejs npm) when missing and we are root.
# A failed step names the command that fixes it. Under CI=true that is a failure (exit 1);
# elsewhere the script says SKIPPED and exits 2, so a caller can skip the peer tests visibly.
set -euo pipefail
cache=${XDG_CACHE_HOME:-$HOME/.cache}/stampede-peers/node

fail() {
    echo "peers-node: $1 failed; to fix it run: $2" >&2
    if [ "${CI:-}" = true ]; then exit 1; fi
    echo "SKIPPED: Node peers unavailable ($2)" >&2
    exit 2
}

ensure_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && return 0
    local cmd="apt-get install -y nodejs npm"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q nodejs npm >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nodejs npm >/dev/null 2>&1; } ||
            fail "$cmd" "$cmd"
    else
        fail "finding node and npm (not root, cannot apt-get)" "sudo $cmd"
    fi
}

ensure_ws() {
    [ -f "$cache/node_modules/ws/package.json" ] && return 0
    mkdir -p "$cache" 2>/dev/null || fail "mkdir -p $cache" "export XDG_CACHE_HOME=/a/writable/dir"
    npm install --silent --no-audit --no-fund --prefix "$cache" ws@8 >&2 ||
        fail "npm install --prefix $cache ws@8" "npm install --prefix $cache ws@8"
}

ensure_node
ensure_ws
if [ "${1:-}" = node ]; then
    shift
    export NODE_PATH="$cache/node_modules${NODE_PATH:+:$NODE_PATH}"
    exec node "$@"
fi
echo "PEERS_NODE=$(command -v node)"
echo "PEERS_NODE_PATH=$cache/node_modules"
echo "PEERS_WS_VERSION=$(node -p "require('$cache/node_modules/ws/package.json').version")"
