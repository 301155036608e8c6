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
# Env: ROUNDS (1) DURATION (4) CONNS (auto: 16, or more at high rates: enough for 4 ms of sends,
#      rate × 0.004, at most 128 (more costs the target: 600 halved nginx's rate here), so that a
#      target's millisecond stall does not leave every connection waiting for an answer — the
#      column busy% shows the share of sends that still found none free; that wait is in send
#      lateness but is not the timer's) RATES ("100 2000 50000 150000") MODES ("sleep spin")
#      PORT (18082) TARGET_CPU (0) GEN_CPU (1) TARGET=nginx|stampede (auto) NO_APT=1
#      NICE (-10: the target and the generator run at this nice level, so that other work on a
#      shared machine disturbs them less; 0 to leave it)
#      BASE_BIN=path: also run that stampede build (no --pacing flag) as mode "base", for a
#      before/after comparison in the same run
#      MIN_SENDS (1000): a run lasts at least this many sends (10/s: 100 s), so that its p99 is not
#      the single worst of 40
#      FLOOR (1): also run examples/pacing_floor.rs at each rate on GEN_CPU, rows "floor-spin"
#      (a thread that only reads the clock: whatever lateness it sees is time this CPU did not
#      run it — the hypervisor, interrupts, other tasks) and "floor-sleep" (a thread that sleeps
#      to each deadline: an idle CPU's wake-up latency); 0 to skip
# After the table: the generator's ceiling (the most any run achieved), and per rate and mode
# whether send lateness p99 met the goal (sleep <= 100 µs, spin <= 20 µs), beside the floor's p99.
# Loopback only; every run is bounded by DURATION; the target is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-4}; CONNS=${CONNS:-auto}; PORT=${PORT:-18082}
TARGET_CPU=${TARGET_CPU:-0}; GEN_CPU=${GEN_CPU:-1}; NICE=${NICE:--10}
RATES=${RATES:-"100 2000 50000 150000"}; MODES=${MODES:-"sleep spin"}
MIN_SENDS=${MIN_SENDS:-1000}; FLOOR=${FLOOR:-1}
source scripts/bench-lib.sh
prioritize "$NICE"
[ -n "${BASE_BIN:-}" ] && MODES="$MODES base"
floor_bin=""
if [ "$FLOOR" = 1 ]; then
  cargo build --release --quiet --example pacing_floor
  floor_bin=${CARGO_TARGET_DIR:-target}/release/examples/pacing_floor
fi
rows="$work/rows"
# Connections for a run at rate $1.
conns_for() { if [ "$CONNS" = auto ]; then python3 -c "import sys; print(min(128, max(16, round(float(sys.argv[1]) * 0.004))))" "$1"; else echo "$CONNS"; fi; }
# Seconds a run at rate $1 lasts: DURATION, or longer to send MIN_SENDS.
secs_for() { python3 -c "import math,sys; print(max(int(sys.argv[1]), math.ceil(float(sys.argv[2]) / float(sys.argv[3]))))" "$DURATION" "$MIN_SENDS" "$1"; }

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
  out=$(cpu_of nice -n "$NICE" taskset -c "$GEN_CPU" "$b" http "$url" -c "$(conns_for "$2")" -t 1 -R "$2" -d "$(secs_for "$2")s" \
        "${flag[@]}" -q --no-preflight --json "$j" 2>&1) || true
  python3 - "$1" "$2" "$j" "$out" "$rows" <<'PY'
import json, re, sys
mode, rate, path, out, rows_path = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
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
busy = 100 * v["requests"].get("due_while_busy", 0) / max(v["requests"]["sent"], 1)
print(f"{mode:<11} {rate:>8.0f} {v['rate']['achieved_per_s']:>9.0f} {v['connections']['planned']:>5} {busy:>6.2f} {cell(0):>18} {cell(1):>18} {cell(2):>18} "
      f"{100*(u+s)/dur:>6.0f}% {(u+s)*1e6/n:>8.2f}   CPUSEC {u+s:.3f}")
with open(rows_path, "a") as f:
    late = rows.get("p99", [float("nan")] * 3)[2]
    f.write(f"{mode} {rate:.0f} {v['rate']['achieved_per_s']:.0f} {late}\n")
PY
}

# The floor at rate $2 in mode $1 (spin|sleep): one table row, the send-late column only.
floor_one() {
  local out; out=$(nice -n "$NICE" taskset -c "$GEN_CPU" "$floor_bin" "$2" "$(secs_for "$2")" "$1" 2>&1) || { echo "floor-$1 $2 failed: $out"; return; }
  python3 - "$1" "$2" "$out" "$rows" <<'PY'
import sys
mode, rate, out, rows_path = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
i = out.index("late_us")
p50, p99, p999 = (float(x) for x in out[i + 1:i + 4])
stalls = f"  stalled {out[out.index('stall_ms') + 1]} ms in all, {float(out[out.index('max_stall_us') + 1]) / 1e3:.1f} ms at most" if mode == "spin" else ""
cell = f"{p50:.0f}/{p99:.0f}/{p999:.0f}"
print(f"{'floor-' + mode:<11} {rate:>8.0f} {'-':>9} {'-':>5} {'-':>6} {'-':>18} {'-':>18} {cell:>18}{stalls}")
with open(rows_path, "a") as f:
    f.write(f"floor-{mode} {rate:.0f} - {p99}\n")
PY
}

echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "target:  $target_name on CPU $TARGET_CPU; stampede on CPU $GEN_CPU, 1 thread, $CONNS connections$([ "$CONNS" = auto ] && echo " (16, or rate × 4 ms up to 128)"), ${DURATION}s per run (at least $MIN_SENDS sends), $ROUNDS round(s), nice $NICE$(autogroup_note)"
echo "latencies in µs as p50/p99/p99.9; busy% = sends that came due while every connection was waiting for an answer; CPU = user+sys of the generator over the run's wall time, and per request"
printf '%-11s %8s %9s %5s %6s %18s %18s %18s %7s %8s\n' mode "rate/s" achieved conns "busy%"  "corrected" "service" "send late" "CPU" "µs/req"
declare -A cpu_total
for r in $(seq 1 "$ROUNDS"); do
  for rate in $RATES; do
    if [ -n "$floor_bin" ]; then floor_one spin "$rate"; floor_one sleep "$rate"; fi
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
if [ -s "$rows" ]; then python3 - "$rows" <<'PY'
import math, sys
runs = [l.split() for l in open(sys.argv[1])]
saturated = [float(r[2]) for r in runs if r[2] != "-" and float(r[2]) < 0.98 * float(r[1])]
achieved = [float(r[2]) for r in runs if r[2] != "-"]
if saturated:
    ceiling = max(saturated)
    print(f"generator ceiling: {ceiling:,.0f}/s (the most a run that fell short of its rate achieved); the goal covers rates up to half of it, {ceiling / 2:,.0f}/s")
else:
    ceiling = float("inf")
    print(f"generator ceiling: not reached (every run achieved its rate, up to {max(achieved, default=0):,.0f}/s): every rate is gated")
goal = {"sleep": 100, "spin": 20}
for rate in sorted({float(r[1]) for r in runs}):
    at = lambda m: [float(r[3]) for r in runs if r[0] == m and float(r[1]) == rate and not math.isnan(float(r[3]))]
    floors = [(m, at("floor-" + m)) for m in ("spin", "sleep")]
    fl = "; the floor's p99: " + ", ".join(f"{m} {'/'.join(f'{x:.0f}' for x in v)} µs" for m, v in floors if v) if any(v for _, v in floors) else ""
    for mode, g in goal.items():
        got = at(mode)
        if not got:
            continue
        scope = "" if rate <= ceiling / 2 else " (above half the ceiling: not gated)"
        verdict = "met" if max(got) <= g else "NOT met"
        print(f"  {rate:>8.0f}/s {mode:<5} send late p99 {'/'.join(f'{x:.0f}' for x in got)} µs, goal {g}: {verdict}{scope}{fl}")
PY
fi
