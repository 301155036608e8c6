#!/usr/bin/env bash
# 100,000 concurrent connections on one box, over loopback. This machine caps a process at
# 20,000 files, so both sides run as several processes: SERVERS `stampede serve` processes share
# one port through SO_REUSEPORT, and the generator splits itself with --processes. Source
# addresses 127.0.0.2-127.0.0.9 give each its own ephemeral port range.
# The generator opens CONNS connections at RATE per second, holds them HOLD seconds while each
# sends a request now and then (REQS requests/s in total), and prints: established, failures by
# class, connect latency, requests, and memory per connection for generator and servers.
# Preflight runs first so its numbers can be compared with what happened.
# Env: CONNS (100000) PROCS (6) SERVERS (7) RATE (10000) HOLD (30) REQS (1000) PORT (18100) BIN (a binary: no build)
# Loopback only; bounded by HOLD + the connect time; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-100000}; PROCS=${PROCS:-6}; SERVERS=${SERVERS:-7}; RATE=${RATE:-10000}
HOLD=${HOLD:-30}; REQS=${REQS:-1000}; PORT=${PORT:-18100}
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [ -n "${BIN:-}" ]; then bin=$BIN; else  # BIN: a stampede binary to measure (no build)
  cargo build --release --quiet
  bin=target/release/stampede; [ -x "$bin" ] || bin=${CARGO_TARGET_DIR:-target}/release/stampede
fi
src=127.0.0.2-127.0.0.9
url="http://127.0.0.1:$PORT/"

echo "== preflight for $CONNS connections in $PROCS processes from $src"
"$bin" preflight -c "$CONNS" --processes "$PROCS" --source "$src" --target "$url" | grep -E "^(PASS|WARN|FAIL)" || true

for i in $(seq 1 "$SERVERS"); do
  "$bin" serve --listen "127.0.0.1:$PORT" -t 1 --backlog 65535 >"$work/serve-$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
server_rss() { local t=0; for p in "${pids[@]}"; do t=$((t + $(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }
before=$(server_rss)

secs=$((HOLD + CONNS / RATE + 2))
echo "== $CONNS connections at $RATE/s, held ${HOLD}s, $REQS req/s in total"
"$bin" http "$url" -c "$CONNS" --processes "$PROCS" --source "$src" --connect-rate "$RATE" -R "$REQS" -d "${secs}s" \
  --connect-timeout 30s --timeout 30s --no-preflight --json "$work/result.json" > "$work/report.txt" &
gen=$!
peak_srv=$before
while kill -0 "$gen" 2>/dev/null; do sleep 1; now=$(server_rss); [ "$now" -gt "$peak_srv" ] && peak_srv=$now; done
wait "$gen" || true
grep -E "^(Requests|Errors|Connections|Memory|Generator)" "$work/report.txt" || cat "$work/report.txt"
python3 - "$work/result.json" "$before" "$peak_srv" <<'PY'
import json, sys
v = json.load(open(sys.argv[1])); before, peak = int(sys.argv[2]), int(sys.argv[3])
c, g = v["connections"], v["generator"]
print(f"established {c['established']} of {c['planned']} planned, peak open {c['peak_open']}, failures {v['errors'] or 'none'}")
print(f"connect p50 {v['connect_ms']['p50']} ms, p99 {v['connect_ms']['p99']} ms; requests ok {v['requests']['ok']}, errors {v['requests']['errors']}")
per = g.get("bytes_per_connection")
print(f"generator RSS peak {g['rss_peak_bytes']/2**20:.0f} MiB in all processes; {per/1024:.1f} KiB per connection" if per else "generator memory: n/a")
print(f"servers RSS {before/1024:.0f} MiB -> {peak/1024:.0f} MiB: {(peak-before)*1024/max(c['peak_open'],1)/1024:.1f} KiB per connection")
PY
