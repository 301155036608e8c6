#!/usr/bin/env bash
# The whole test suite, as README and .ci/run call it. Needs cargo, and openssl for the TLS
# interoperability tests (installed below when missing): every other dependency (the
# independent hyper server included) comes from crates.io through Cargo.toml.
# End-to-end tests send load to 127.0.0.1 only; they run one at a time so that the rate and
# latency checks do not compete for the same two CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/tls.rs checks stampede against an independent TLS server, `openssl s_server`. Install it
# when missing and we may (root with apt-get). A test whose peer is still missing fails under
# CI=true with the command that installs it; elsewhere it says SKIPPED and why
# (tests/common/peer.rs), and the count of such tests is printed at the end.
if ! command -v openssl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q openssl >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q openssl >/dev/null 2>&1; } \
        || echo "scripts/test.sh: could not install openssl (apt-get install -y openssl)" >&2
fi
# tests/asr_peers.rs checks `stampede asr` against independent ASR servers (a real Vosk
# recognizer, FunASR, WhisperLive and sherpa-onnx servers written from their sources): their venv
# and speech WAVs come from scripts/peers-asr.sh (cached). Under CI=true its failure is fatal;
# elsewhere those tests say SKIPPED.
if ! scripts/peers-asr.sh >/dev/null; then
    if [ "${CI:-}" = true ]; then
        echo "scripts/test.sh: scripts/peers-asr.sh failed (CI=true: the ASR peer tests must run)" >&2
        exit 1
    fi
fi
# tests/chat_peers.rs checks the chat servers and `stampede ws --rooms` against a Node `ws` relay
# (tests/peers/ws_relay.js): scripts/peers-node.sh installs ws@8 into its cache (npm). The Python
# chat app (tests/peers/chat_server.py) uses the venv of scripts/peers-asr.sh above.
if ! scripts/peers-node.sh >/dev/null; then
    if [ "${CI:-}" = true ]; then
        echo "scripts/test.sh: scripts/peers-node.sh failed (CI=true: the chat peer tests must run)" >&2
        exit 1
    fi
fi
skipped_file=$(mktemp "${TMPDIR:-/tmp}/stampede-skipped.XXXXXX")
trap 'rm -f "$skipped_file"' EXIT
rc=0
STAMPEDE_SKIPPED_FILE="$skipped_file" cargo test --all-targets --no-fail-fast -- --test-threads=1 || rc=$?
skipped=$(grep -c '^SKIPPED ' "$skipped_file" || true)
if [ "$skipped" -gt 0 ]; then
    echo
    echo "SKIPPED: $skipped test(s) did not run, their peer is missing:"
    sed 's/^/  /' "$skipped_file"
else
    echo "SKIPPED: 0 tests"
fi
exit "$rc"
