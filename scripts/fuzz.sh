#!/usr/bin/env bash
# Fuzzes every decoder for a bounded time: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets live in tests/fuzz/ (a cargo-fuzz project outside the main build): http_response, http_request,
# ws_frame, ws_handshake, wav, thresholds, plan. Each runs SECONDS (default 60) with libFuzzer's
# -max_total_time, starting from the committed seeds (tests/fuzz/seeds/TARGET) plus the corpus
# kept between runs under the target dir. Needs the nightly toolchain (installed with rustup
# when missing) and cargo-fuzz (installed into a cache dir under the target dir when missing).
# Prints execs, coverage and crashes per target; exits 1 when any target crashed (the crashing
# input is under tests/fuzz/artifacts/TARGET/, reproduce with
# `cargo +nightly fuzz run --fuzz-dir tests/fuzz TARGET FILE`), 2 on a usage or setup error.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-60}
[[ $# -gt 0 ]] && shift
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (SECONDS: a whole number >= 1)" >&2
  exit 2
fi
all_targets=(http_response http_request ws_frame ws_handshake wav thresholds plan)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [[ ! -f tests/fuzz/fuzz_targets/$t.rs ]]; then
    echo "scripts/fuzz.sh: no target '$t' (targets: ${all_targets[*]})" >&2
    exit 2
  fi
done

target_dir=${CARGO_TARGET_DIR:-$root/target}
# cargo fuzz builds with its own flags (sanitizer, coverage): keep them apart from the main build.
fuzz_build_dir=${FUZZ_TARGET_DIR:-$target_dir/fuzz-build}
tools=$target_dir/fuzz-tools
work=$target_dir/fuzz
mkdir -p "$tools" "$work"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "scripts/fuzz.sh: installing the nightly toolchain (cargo-fuzz needs it)" >&2
  rustup toolchain install nightly --profile minimal || { echo "scripts/fuzz.sh: cannot install nightly" >&2; exit 2; }
fi
if [[ ! -x $tools/bin/cargo-fuzz ]]; then
  echo "scripts/fuzz.sh: installing cargo-fuzz into $tools" >&2
  CARGO_TARGET_DIR=$tools/build cargo install cargo-fuzz --locked --root "$tools" ||
    { echo "scripts/fuzz.sh: cannot install cargo-fuzz" >&2; exit 2; }
fi
export PATH=$tools/bin:$PATH

# Build every target once (release, AddressSanitizer, debug assertions); each run reuses it.
cargo +nightly fuzz build --fuzz-dir tests/fuzz --target-dir "$fuzz_build_dir"

failed=0
summary=$(printf '%-14s %12s %10s %8s %8s %8s %8s\n' target execs "exec/s" cov ft corpus crashes)
for t in "${targets[@]}"; do
  corpus=$work/corpus/$t
  log=$work/$t.log
  mkdir -p "$corpus" "tests/fuzz/artifacts/$t"
  before=$(find "tests/fuzz/artifacts/$t" -type f | wc -l)
  echo "scripts/fuzz.sh: $t for ${seconds}s (log: $log)" >&2
  set +e
  cargo +nightly fuzz run --fuzz-dir tests/fuzz --target-dir "$fuzz_build_dir" "$t" "$corpus" "tests/fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  after=$(find "tests/fuzz/artifacts/$t" -type f | wc -l)
  crashes=$((after - before))
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  [[ -n $done_line ]] || done_line=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 || true)
  execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  rate=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$done_line" | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$done_line" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+' <<<"$done_line" | grep -oE '[0-9]+' || true)
  if ((rc != 0 || crashes > 0)); then
    failed=1
    echo "scripts/fuzz.sh: $t FAILED (exit $rc); the end of its log:" >&2
    tail -n 40 "$log" >&2
    ls -t "tests/fuzz/artifacts/$t" | head -n "$((crashes > 0 ? crashes : 1))" | sed "s|^|  tests/fuzz/artifacts/$t/|" >&2
  fi
  summary+=$(printf '\n%-14s %12s %10s %8s %8s %8s %8s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
    "$((crashes > 0 || rc != 0 ? (crashes > 0 ? crashes : 1) : 0))")
done
echo
echo "fuzzing, ${seconds}s per target:"
echo "$summary"
exit "$failed"
