#!/usr/bin/env bash
# Open-loop pacing precision: how late stampede's sends leave, and what that does to corrected
# latency, at rates from 100/s to 150k/s, in both pacing modes (--pacing sleep|spin).
#
# The target (nginx, 1 worker, when installed or installable with apt; otherwise `stampede serve
# -t 1`) is pinned to CPU TARGET_CPU, stampede to CPU GEN_CPU with one thread and CONNS
# connections, DURATION seconds per run, modes alternating within each rate, ROUNDS rounds.
# Prints per run: corrected, service and send-lateness p50 / p99 / p99.9 side by side, the rate
# achieved, and the generator's CPU (user+sys of its process) as a share of one core and per
# request; then each mode's CPU in total.
#
# Env: ROUNDS (1) DURATION (4) CONNS (16) RATES ("100 2000 50000 150000") MODES ("sleep spin")
#      PORT (18082) TARGET_CPU (0) GEN_CPU (1) TARGET=nginx|stampede (auto) NO_APT=1
#      NICE (-10: the target and the generator run at this nice level, so that other work on a
#      shared machine disturbs them less; 0 to leave it)
#      BASE_BIN=path: also run that stampede build (no --pacing flag) as mode "base", for a
#      before/after comparison in the same run
# Loopback only; every run is bounded by DURATION; the target is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-4}; CONNS=${CONNS:-16}; PORT=${PORT:-18082}
TARGET_CPU=${TARGET_CPU:-0}; GEN_CPU=${GEN_CPU:-1}; NICE=${NICE:--10}
RATES=${RATES:-"100 2000 50000 150000"}; MODES=${MODES:-"sleep spin"}
source scripts/bench-lib.sh
[ -n "${BASE_BIN:-}" ] && MODES="$MODES base"

# --- target -------------------------------------------------------------------------------
want=${TARGET:-auto}
if [ "$want" != stampede ] && { have nginx || apt_get nginx-light; } && have nginx; then
  nginx_conf
  nice -n "$NICE" taskset -c "$TARGET_CPU" nginx -p "$work/nginx" -c "$work/nginx.conf" &
  target_pid=$!; target_name="nginx $(nginx -v 2>&1 | sed 's/.*\///') (1 worker)"
else
  nice -n "$NICE" taskset -c "$TARGET_CPU" "$bin" serve --listen "127.0.0.1:$PORT" -t 1 >/dev/null &
  target_pid=$!; target_name="stampede serve -t 1"
fi
wait_for_port || { echo "the target did not start on port $PORT" >&2; exit 1; }
url="http://127.0.0.1:$PORT/"

# --- one run: prints one table row ---------------------------------------------------------
# The three latency columns come from the text report (it has p99.9 of send lateness, the JSON
# only p50/p99/max); the rate and the mode from the JSON; the CPU from the parent's rusage.
run_one() { # $1 = mode, $2 = rate
  local j="$work/p.json" out b=$bin flag=(--pacing "$1")
  [ "$1" = base ] && { b=$BASE_BIN; flag=(); }
  rm -f "$j"
  out=$(cpu_of nice -n "$NICE" taskset -c "$GEN_CPU" "$b" http "$url" -c "$CONNS" -t 1 -R "$2" -d "${DURATION}s" \
        "${flag[@]}" -q --no-preflight --json "$j" 2>&1) || true
  python3 - "$1" "$2" "$j" "$out" <<'PY'
import json, re, sys
mode, rate, path, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
def us(tok):
    m = re.fullmatch(r"([\d.]+)(ns|µs|ms|s)", tok)
    return float(m.group(1)) * {"ns": 1e-3, "µs": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else float("nan")
rows = {}
for line in out.splitlines():
    f = line.split()
    if len(f) == 4 and f[0] in ("p50", "p99", "p99.9"):
        rows[f[0]] = [us(x) for x in f[1:]]
try:
    v = json.load(open(path))
except Exception:
    print(f"{mode:<6} {rate:>8.0f}  run failed: {out.strip().splitlines()[-1] if out.strip() else '?'}")
    sys.exit(0)
u, s = map(float, re.search(r"CPU ([\d.]+) ([\d.]+)", out).groups())
n = max(v["requests"]["total"], 1); dur = max(v["duration_s"], 1e-9)
cell = lambda col: "/".join(f"{rows[p][col]:.0f}" if p in rows else "-" for p in ("p50", "p99", "p99.9"))
assert mode == "base" or v.get("pacing") == mode, f"the result says pacing {v.get('pacing')}, asked {mode}"
print(f"{mode:<6} {rate:>8.0f} {v['rate']['achieved_per_s']:>9.0f} {cell(0):>18} {cell(1):>18} {cell(2):>18} "
      f"{100*(u+s)/dur:>6.0f}% {(u+s)*1e6/n:>8.2f}   CPUSEC {u+s:.3f}")
PY
}

echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "target:  $target_name on CPU $TARGET_CPU; stampede on CPU $GEN_CPU, 1 thread, $CONNS connections, ${DURATION}s per run, $ROUNDS round(s), nice $NICE"
echo "latencies in µs as p50/p99/p99.9; CPU = user+sys of the generator over the run's wall time, and per request"
printf '%-6s %8s %9s %18s %18s %18s %7s %8s\n' mode "rate/s" achieved "corrected" "service" "send late" "CPU" "µs/req"
declare -A cpu_total
for r in $(seq 1 "$ROUNDS"); do
  for rate in $RATES; do
    for mode in $MODES; do
      row=$(run_one "$mode" "$rate")
      echo "${row%%   CPUSEC*}"
      sec=$(sed -n 's/.*CPUSEC //p' <<<"$row")
      [ -n "$sec" ] && cpu_total[$mode]=$(python3 -c "print(${cpu_total[$mode]:-0} + $sec)")
    done
  done
done
for mode in $MODES; do
  echo "generator CPU, pacing $mode: ${cpu_total[$mode]:-?} s (user+sys) over all its runs"
done
