#!/usr/bin/env bash
# The whole test suite, as README and .ci/run call it. Needs only cargo: every dependency
# (the independent hyper server included) comes from crates.io through Cargo.toml.
# End-to-end tests send load to 127.0.0.1 only; they run one at a time so that the rate and
# latency checks do not compete for the same two CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets -- --test-threads=1
