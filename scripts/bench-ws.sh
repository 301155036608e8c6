#!/usr/bin/env bash
# WebSocket and ASR benchmark against the embedded server (pinned to CPU 0; generators on CPU 1).
#  1. echo: 1k and 5k connections, 5 KiB messages, 500 msg/s in total (the chat use case),
#     stampede vs a Python `websockets` client doing the same (installed into a temp venv when
#     pip can reach PyPI; skipped with a note otherwise): rate, p99, CPU µs per message split
#     into user and system time (getrusage of the generator process), so the kernel's share shows.
#  2. ASR: real-time streams against the mock recogniser, stepped up until the frame send lag
#     p99 passes 5 ms; prints the largest stream count that kept pacing.
# Env: DURATION (10) ASR_STEPS ("50 100 200 400 800 1600") PORT (18090)
# Loopback only; every run is bounded; the server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}; PORT=${PORT:-18090}; ASR_STEPS=${ASR_STEPS:-"50 100 200 400 800 1600"}
work=$(mktemp -d); srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet
bin=target/release/stampede; [ -x "$bin" ] || bin=${CARGO_TARGET_DIR:-target}/release/stampede
taskset -c 0 "$bin" serve --listen "127.0.0.1:$PORT" -t 1 --asr-rtf 0.1 --backlog 8192 >/dev/null 2>&1 &
srv=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

cpu_of() { python3 -c 'import resource,subprocess,sys
subprocess.run(sys.argv[1:])
r=resource.getrusage(resource.RUSAGE_CHILDREN); print(f"CPU {r.ru_utime:.3f} {r.ru_stime:.3f}", file=sys.stderr)' "$@"; }
# "user sys" seconds and a message count -> "U user + S sys = T CPU us/msg"
usersys() { python3 -c 'import sys
u,s,n=float(sys.argv[1]),float(sys.argv[2]),max(float(sys.argv[3]),1)
print(f"{u*1e6/n:6.2f} user + {s*1e6/n:6.2f} sys = {(u+s)*1e6/n:6.2f} CPU us/msg")' "$@"; }

summary() { python3 - "$1" "$2" <<'PY'
import json,sys
v=json.load(open(sys.argv[1])); u,s=(float(x) for x in sys.argv[2].split())
n=max(v["requests"]["ok"],1)
print(f'{v["rate"]["achieved_per_s"]:10.0f} msg/s  p99 {v["latency_ms"]["p99"] or 0:8.3f} ms  '
      f'{u*1e6/n:6.2f} user + {s*1e6/n:6.2f} sys = {(u+s)*1e6/n:6.2f} CPU us/msg  '
      f'errors {v["requests"]["errors"]}  established {v["connections"]["established"]}')
PY
}

echo "machine: $(nproc) CPUs, $(uname -r); server: stampede serve on CPU 0; generators on CPU 1"
echo "== echo, 5 KiB messages, 500 msg/s in total, ${DURATION}s"
for c in 1000 5000; do
  cpu=$(cpu_of taskset -c 1 "$bin" ws "ws://127.0.0.1:$PORT/ws/echo" -c "$c" --connect-rate 2000 -t 1 -R 500 --size 5KiB \
        -d "$((DURATION + c / 2000 + 1))s" -q --no-preflight --json "$work/ws.json" 2>&1 >/dev/null | grep '^CPU' | cut -d' ' -f2-)
  printf 'stampede  %5d conns  ' "$c"; summary "$work/ws.json" "$cpu"
done

py=""
if python3 -m venv "$work/venv" >/dev/null 2>&1 && "$work/venv/bin/pip" install -q websockets >/dev/null 2>&1; then py="$work/venv/bin/python"; fi
if [ -n "$py" ]; then
  cat > "$work/peer.py" <<'PY'
# Python websockets peer: C connections, R msg/s in total (open loop, per-connection timers),
# 5 KiB binary messages, D seconds; prints messages echoed and p99 latency.
import asyncio, sys, time, websockets
url, C, R, D = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
lat = []
async def conn(i, start):
    async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
        period = C / R; k = 0; msg = b"a" * 5120
        while True:
            due = start + i * period / C + k * period
            if due > start + D: return
            await asyncio.sleep(max(0, due - time.monotonic()))
            await ws.send(msg); await ws.recv(); lat.append(time.monotonic() - due); k += 1
async def main():
    start = time.monotonic() + 1.0
    await asyncio.gather(*(conn(i, start) for i in range(C)), return_exceptions=True)
asyncio.run(main())
lat.sort()
print(f"{len(lat)/D:10.0f} msg/s  p99 {1000*lat[int(len(lat)*0.99)] if lat else 0:8.3f} ms  messages {len(lat)}")
PY
  for c in 1000 5000; do
    out=$(cpu_of taskset -c 1 "$py" "$work/peer.py" "ws://127.0.0.1:$PORT/ws/echo" "$c" 500 "$DURATION" 2>&1 || true)
    n=$(echo "$out" | grep -o 'messages [0-9]*' | cut -d' ' -f2); cpu=$(echo "$out" | grep '^CPU' | cut -d' ' -f2-)
    # shellcheck disable=SC2086 # "user sys"
    printf 'websockets %5d conns  %s  %s\n' "$c" "$(echo "$out" | grep 'msg/s' | sed 's/ *messages.*//')" "$(usersys ${cpu:-0 0} "${n:-0}")"
  done
else
  echo "websockets peer: skipped (python venv or PyPI not available)"
fi

echo "== ASR: real-time 20 ms frames of a 5 s speech-like signal, mock recogniser rtf 0.1"
best=0
for n in $ASR_STEPS; do
  taskset -c 1 "$bin" asr "ws://127.0.0.1:$PORT/asr" --streams "$n" --ramp 2s -t 1 -q --no-preflight --json "$work/asr.json" >/dev/null 2>&1 || true
  line=$(python3 - "$work/asr.json" <<'PY'
import json,sys
a=json.load(open(sys.argv[1]))["asr"] or {}
lag=(a.get("frame_send_lag_ms") or {}).get("p99") or 0
s=a.get("sessions",{})
print(f'{lag:.3f} {s.get("completed",0)} {s.get("failed",0)} {(a.get("final_latency_ms",{}).get("corrected") or {}).get("p99") or 0:.1f}')
PY
)
  read -r lag done failed final <<<"$line"
  printf 'streams %5d: frame lag p99 %7s ms, completed %5s, failed %3s, final p99 %7s ms\n' "$n" "$lag" "$done" "$failed" "$final"
  if python3 -c "import sys; sys.exit(0 if $lag < 5 and $failed == 0 else 1)"; then best=$n; else break; fi
done
echo "largest stream count with frame send lag p99 < 5 ms and no failures: $best"
