#!/usr/bin/env bash
# Soak: SOAK seconds (600) of mixed load against the embedded server with faults on, printing
# the resident memory and open file descriptors of every process each minute. They must stay
# flat: the script fails (exit 1) when a process grew by more than 10 % + 8 MiB, or its fds by
# more than 10 %, between the first and the last minute.
#   HTTP: a plan mixing GET /, GET /bytes/4096, POST /echo at 2,000 req/s over 64 connections,
#         with the server failing 3 % of requests (reset 1 %, drip 1 %, bad-status 1 %) and
#         every 10th connection closed on accept (accept-close 10 %... of connections);
#   WebSocket: 200 connections echoing at 1,000 msg/s, 1 % of echoes in a bad frame.
# Loopback only; bounded by SOAK; every process is stopped on exit (by PID).
# Env: SOAK (600), PORT (18400)
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK=${SOAK:-600}; PORT=${PORT:-18400}
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet
bin=target/release/stampede; [ -x "$bin" ] || bin=${CARGO_TARGET_DIR:-target}/release/stampede

"$bin" serve --listen "127.0.0.1:$PORT" -t 1 --fault reset:1% --fault drip:1% --fault bad-status:1% \
  --fault accept-close:10% --fault ws-bad-opcode:1% >"$work/serve.log" 2>&1 &
srv=$!; pids+=("$srv")
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

cat >"$work/mix.toml" <<TOML
scenario = "http"
url = "http://127.0.0.1:$PORT/"
[options]
connections = 64
timeout = "2s"
[[stage]]
name = "soak"
duration = "${SOAK}s"
rate = 2000
[[request]]
name = "index"
weight = 6
path = "/"
[[request]]
name = "bytes"
weight = 3
path = "/bytes/4096"
[[request]]
name = "echo"
weight = 1
method = "POST"
path = "/echo"
body = "soak"
TOML
"$bin" run "$work/mix.toml" --no-preflight -q --json "$work/http.json" >"$work/http.txt" 2>"$work/http.err" &
gh=$!; pids+=("$gh")
"$bin" ws "ws://127.0.0.1:$PORT/ws/echo" -c 200 -R 1000 -d "${SOAK}s" --timeout 2s --no-preflight -q \
  --json "$work/ws.json" >"$work/ws.txt" 2>"$work/ws.err" &
gw=$!; pids+=("$gw")

# A process that just ended reads as 0 (the pipeline must not fail the script).
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { (ls "/proc/$1/fd" 2>/dev/null || true) | wc -l; }
printf "%6s  %14s %6s  %14s %6s  %14s %6s\n" min "server RSS KiB" fds "http RSS KiB" fds "ws RSS KiB" fds
first=""; last=""
for m in $(seq 1 $(( (SOAK + 59) / 60 ))); do
  sleep 60 & wait $! || true
  row="$(rss $srv) $(fds $srv) $(rss $gh) $(fds $gh) $(rss $gw) $(fds $gw)"
  case " $row " in *" 0 0 "*) break;; esac   # a generator has finished: its last minute is partial
  # shellcheck disable=SC2086
  printf "%6s  %14s %6s  %14s %6s  %14s %6s\n" "$m" $row
  [ -z "$first" ] && first=$row
  last=$row
done
wait "$gh" || true
wait "$gw" || true
echo "== http (mixed, faults on)"; grep -E "^(Requests|Errors|Accounting)" "$work/http.txt" || cat "$work/http.err"
echo "== ws echo (1 % bad frames)"; grep -E "^(Messages|Requests|Errors|Accounting)" "$work/ws.txt" || cat "$work/ws.err"
[ -n "$first" ] && [ "$first" != "$last" ] || { echo "not enough minutes to compare"; exit 0; }
python3 - "$first" "$last" <<'PY'
import sys
a = list(map(int, sys.argv[1].split())); b = list(map(int, sys.argv[2].split()))
bad = []
for i, name in enumerate(["server", "http", "ws"]):
    r0, f0, r1, f1 = a[2*i], a[2*i+1], b[2*i], b[2*i+1]
    if r1 > r0 * 1.10 + 8192: bad.append(f"{name} RSS {r0} -> {r1} KiB")
    if f1 > f0 * 1.10 + 2: bad.append(f"{name} fds {f0} -> {f1}")
print("flat: RSS and fds stayed within bounds" if not bad else "GROWING: " + "; ".join(bad))
sys.exit(1 if bad else 0)
PY
