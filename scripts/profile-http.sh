#!/usr/bin/env bash
# Where stampede's CPU goes per request: `perf record -e cpu-clock` (a software event, works
# without hardware counters) of `stampede http` against nginx at pipeline depth 1 and 16, then
# the split kernel / user space and the ranked user-space symbols (self time).
#
# nginx (1 worker) is pinned to CPU 0, stampede to CPU 1 with one thread and CONNS connections.
# Installs perf (apt linux-perf) and nginx (apt nginx-light) when missing, as root, unless NO_APT=1.
# Env: DURATION (5) CONNS (64) PORT (18081) DEPTHS ("1 16") TOP (25) OUT (a temp dir: perf.data
#      files are kept there when OUT is given) STAMPEDE_BIN (scripts/bench-lib.sh)
# Loopback only; every run is bounded by DURATION; nginx is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=1; DURATION=${DURATION:-5}; CONNS=${CONNS:-64}; PORT=${PORT:-18081}; TARGET_CPU=0; GEN_CPU=1
TOP=${TOP:-25}
source scripts/bench-lib.sh
have perf || apt_get linux-perf || true
have perf || { echo "perf not found: apt-get install linux-perf" >&2; exit 1; }
have nginx || apt_get nginx-light || true
have nginx || { echo "nginx not found: apt-get install nginx-light" >&2; exit 1; }
out=${OUT:-$work}; mkdir -p "$out" "$work/nginx/logs"
nginx_conf
taskset -c "$TARGET_CPU" nginx -p "$work/nginx" -c "$work/nginx.conf" &
target_pid=$!
wait_for_port || { echo "nginx did not start on port $PORT" >&2; exit 1; }

for depth in ${DEPTHS:-1 16}; do
  data="$out/perf-d$depth.data"
  perf record -q -e cpu-clock -F 4999 -o "$data" -- taskset -c "$GEN_CPU" "$bin" http "http://127.0.0.1:$PORT/" \
    -c "$CONNS" -t 1 -d "${DURATION}s" --pipeline "$depth" -q --no-preflight --json "$work/r.json" >/dev/null 2>&1
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"]["ok"])' "$work/r.json")
  echo "== depth $depth: $n requests in ${DURATION}s"
  # Samples per DSO: the kernel's share against stampede's own code and libc.
  perf report -i "$data" --stdio --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -6 || true
  echo "-- user space (stampede's own code), self time, share of all samples:"
  perf report -i "$data" --stdio --no-children --sort sym --dsos "$(basename "$bin")" 2>/dev/null \
    | grep -E '^ +[0-9]' | head -"$TOP" | cut -c1-150 || true
done
