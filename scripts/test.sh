#!/usr/bin/env bash
# The whole test suite, as README and .ci/run call it. Needs cargo, and openssl for the TLS
# interoperability tests (installed below when missing): every other dependency (the
# independent hyper server included) comes from crates.io through Cargo.toml.
# End-to-end tests send load to 127.0.0.1 only; they run one at a time so that the rate and
# latency checks do not compete for the same two CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/tls.rs checks stampede against an independent TLS server, `openssl s_server`. Install it
# when missing and we may (root with apt-get); otherwise those tests print SKIPPED and why.
if ! command -v openssl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q openssl >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q openssl >/dev/null 2>&1; } || true
fi
cargo test --all-targets -- --test-threads=1
