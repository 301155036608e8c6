#!/usr/bin/env bash
# C1M: a million concurrent loopback connections on this one box, both ends here (issue 21).
# Half are HTTP keep-alive connections sending a request now and then (`stampede hold http://`),
# half WebSocket connections that ping (`stampede hold ws://`), against `stampede serve
# --processes auto -c CONNS` (as many server processes sharing the port as the fd limit needs).
# Each generator side splits itself with --processes auto; source addresses 127.0.0.2.. give
# each its own ephemeral port range.
# Prints: established, failures by class, connect p50/p99, the connect rate achieved each second
# of the ramp, user memory per connection for both sides, kernel slab per socket, and the time to
# ramp up and to tear down (the generator's last close after -d, and until the kernel let go).
#
# Runs only when asked (never in the test suite), and refuses to start when MemAvailable is
# short for CONNS, saying by how much. Loopback only; bounded by the ramp + HOLD + a teardown
# wait of at most TEARDOWN_MAX seconds; every process it starts is stopped on exit.
# A million takes ~4 minutes here: -d is 2 × the 50 s ramp at 20k/s + 60 s hold (room for a
# ramp at half the rate), then ~20 s teardown at 50k/s and the kernel letting go of the sockets.
# Env: CONNS (1000000) RATE (20000 connects/s) HOLD (60 s) EVERY (30 s between requests or
#      pings of one connection) PORT (18200) CLOSE_RATE (50000 closes/s at the end)
#      SOURCE_FILL (50: % of each source address's ports used) LINGER_ZERO=1 (close with RST: no TIME_WAIT) TEARDOWN_MAX (120) BIN (a binary: no build)
#      KEEP=1 (keep the results and logs directory)
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-1000000}; RATE=${RATE:-20000}; HOLD=${HOLD:-60}; EVERY=${EVERY:-30}; PORT=${PORT:-18200}
CLOSE_RATE=${CLOSE_RATE:-50000}; TEARDOWN_MAX=${TEARDOWN_MAX:-120}
# Per connection, as measured by bench-100k: kernel 5.2 KiB per socket (two per loopback pair),
# generator 3.5 KiB, server 3.5 KiB; plus 10% headroom.
need_kib=$(( CONNS * (2 * 5325 + 3584 + 3584) / 1024 * 11 / 10 ))
avail_kib=$(awk '/MemAvailable/{print $2}' /proc/meminfo)
if [ "$avail_kib" -lt "$need_kib" ]; then
  printf 'bench-1m: %d connections need ~%.1f GB here (kernel 2 × 5.2 KiB + generator 3.5 KiB + server 3.5 KiB each, +10%%), MemAvailable is %.1f GB: %.1f GB short. Lower CONNS (at most ~%d) or free memory.\n' \
    "$CONNS" "$(echo "$need_kib/1000000" | bc -l)" "$(echo "$avail_kib/1000000" | bc -l)" \
    "$(echo "($need_kib-$avail_kib)/1000000" | bc -l)" "$(( CONNS * avail_kib / need_kib ))" >&2
  exit 1
fi

http_conns=$(( CONNS / 2 )); ws_conns=$(( CONNS - http_conns ))
ports=$(( $(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range) ))
# Each source address filled to at most SOURCE_FILL% of the port range: the kernel's search for a
# free port in connect() grows steeply as the range fills (at 88% full, 200k connections here
# took ~300 µs of system CPU per connect and the ramp fell to ~1k/s).
SOURCE_FILL=${SOURCE_FILL:-50}
per_src=$(( ports * SOURCE_FILL / 100 ))
sources=$(( (CONNS + per_src - 1) / per_src ))
[ "$sources" -gt 250 ] && { echo "bench-1m: $sources source addresses needed; at most 250 on 127.0.0.0/24" >&2; exit 1; }
src="127.0.0.2-127.0.0.$(( sources + 1 ))"
linger=(); [ "${LINGER_ZERO:-0}" = 1 ] && linger=(--linger-zero)

work=$(mktemp -d); pids=(); gens=()
cleanup() { for p in "${gens[@]}" "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; if [ -n "${KEEP:-}" ]; then echo "bench-1m: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
if [ -n "${BIN:-}" ]; then bin=$BIN; else  # BIN: a stampede binary to measure (no build)
  cargo build --release --quiet
  bin=target/release/stampede; [ -x "$bin" ] || bin=${CARGO_TARGET_DIR:-target}/release/stampede
fi
url_http="http://127.0.0.1:$PORT/"; url_ws="ws://127.0.0.1:$PORT/ws/echo"

echo "== plan: $CONNS connections ($http_conns http + $ws_conns ws), generator and server processes auto, sources $src"
"$bin" preflight -c "$CONNS" --processes auto --source "$src" --target "$url_http" | grep -E "^(WARN|FAIL)|plan" || true

# The kernel's view of connects refused at the listeners (accept queue full, SYN dropped).
listen_drops() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 } else print $n["ListenOverflows"], $n["ListenDrops"], $n["TCPReqQFullDrop"] + 0 }' /proc/net/netstat; }
# Packets dropped because a CPU's input backlog (net.core.netdev_max_backlog) was full: on
# loopback a SYN lost there is retried after 1, 3, 7 s... (/proc/net/softnet_stat column 2, hex).
softnet_drops() { local t=0 a b rest; while read -r a b rest; do t=$((t + 16#$b)); done </proc/net/softnet_stat; echo "$t"; }
slab_kib() { awk '/^Slab:/{print $2}' /proc/meminfo; }
tcp_inuse() { awk '/^TCP:/{print $3}' /proc/net/sockstat; }
# Established TCP sockets (both ends of each loopback connection).
curr_estab() { awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 } else print $n["CurrEstab"] }' /proc/net/snmp; }
sum_rss() { local t=0; for p in "$@"; do t=$((t + $(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }

# One command: serve works out its processes for CONNS (refused, with the fix, if they cannot fit).
"$bin" serve --listen "127.0.0.1:$PORT" -t 1 --backlog 65535 --processes auto -c "$CONNS" >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }; sleep 0.1; done
grep -h "plan:" "$work/serve.err" || true
sleep 2
# The server processes: the first and the ones it started.
server_pids() { echo "${pids[0]}"; for f in /proc/[0-9]*/stat; do awk -v p="${pids[0]}" '{ sub(/.*\) /, ""); if ($2 == p) { split(FILENAME, a, "/"); print a[3] } }' "$f" 2>/dev/null; done; }
mapfile -t srv_pids < <(server_pids)
echo "== ${#srv_pids[@]} server processes"
srv_before=$(sum_rss "${srv_pids[@]}"); slab_before=$(slab_kib); inuse_before=$(tcp_inuse)

# -d leaves room for a ramp at half the asked rate (a loaded box), so the last connections are
# still held about HOLD seconds.
ramp=$(( CONNS / RATE + 1 )); secs=$(( 2 * ramp + HOLD ))
common=(--connect-rate "$((RATE / 2))" --close-rate "$((CLOSE_RATE / 2))" --every "${EVERY}s" -d "${secs}s" --connect-timeout 60s --timeout 60s --no-preflight --processes auto "${linger[@]}")
echo "== ramp at $RATE/s (~${ramp}s), -d ${secs}s (hold ${HOLD}s after a ramp at half the rate), a request or ping per connection every ${EVERY}s"
drops_before="$(listen_drops) $(softnet_drops)"
t0=$(date +%s.%N)
"$bin" hold "$url_http" -c "$http_conns" --source "$src" "${common[@]}" --json "$work/http.json" -q >"$work/http.txt" 2>&1 &
gens+=($!)
"$bin" hold "$url_ws" -c "$ws_conns" --source "$src" "${common[@]}" --json "$work/ws.json" -q >"$work/ws.txt" 2>&1 &
gens+=($!)
peak_srv=$srv_before; peak_slab=$slab_before; peak_inuse=$inuse_before; ramp_s=""; last_e=$(curr_estab); last_t=$(date +%s.%N)
: >"$work/ramp.txt"
while kill -0 "${gens[0]}" 2>/dev/null || kill -0 "${gens[1]}" 2>/dev/null; do
  sleep 1
  s=$(sum_rss "${srv_pids[@]}"); [ "$s" -gt "$peak_srv" ] && peak_srv=$s
  k=$(slab_kib); [ "$k" -gt "$peak_slab" ] && peak_slab=$k
  i=$(tcp_inuse); [ "$i" -gt "$peak_inuse" ] && peak_inuse=$i
  # Connections established this second (two sockets each), while ramping (bounded: not past
  # three times the planned ramp, when the hold and teardown would count).
  # (per second of wall time: one pass of this loop takes more than 1 s on a loaded box)
  e=$(curr_estab); now_t=$(date +%s.%N)
  [ -z "$ramp_s" ] && [ "$(echo "$now_t - $t0 < 3 * $ramp" | bc)" = 1 ] && echo "($e - $last_e) / 2 / ($now_t - $last_t)" | bc >>"$work/ramp.txt"
  last_e=$e; last_t=$now_t
  if [ -z "$ramp_s" ] && [ $((i - inuse_before)) -ge $((CONNS * 2 * 99 / 100)) ]; then ramp_s=$(echo "$(date +%s.%N) - $t0" | bc); fi
done
t_end=$(date +%s.%N)
drops_after="$(listen_drops) $(softnet_drops)"
wait "${gens[@]}" 2>/dev/null || true
# Teardown: until the kernel holds no more of the run's sockets (ESTABLISHED on the server side
# closing, orphans, and TIME_WAIT are not "inuse"), bounded.
# The servers stay up: their ends close as the generators' FINs or RSTs arrive.
for _ in $(seq 1 "$TEARDOWN_MAX"); do [ "$(tcp_inuse)" -le $((inuse_before + 100)) ] && break; sleep 1; done
down_s=$(echo "$(date +%s.%N) - $t_end" | bc)

python3 - "$work/http.json" "$work/ws.json" "$srv_before" "$peak_srv" "$slab_before" "$peak_slab" "$((peak_inuse - inuse_before))" "${ramp_s:-not reached}" "$down_s" "$CONNS" "$work/ramp.txt" "$RATE" "$drops_before" "$drops_after" <<'PY'
import json, sys
paths = sys.argv[1:3]; srv0, srv1, slab0, slab1 = map(int, sys.argv[3:7]); socks = int(sys.argv[7])
ramp, down, conns = sys.argv[8], float(sys.argv[9]), int(sys.argv[10])
per_s = [int(x) for x in open(sys.argv[11]).read().split()]; rate = int(sys.argv[12])
d0, d1 = [list(map(int, a.split())) for a in sys.argv[13:15]]
est = 0; fails = {}; gen_mem = 0; open_peak = 0; teardown_ms = 0.0
for name, p in zip(("http", "ws"), paths):
    try:
        v = json.load(open(p))
    except Exception as e:
        print(f"{name}: no result ({e})"); continue
    c, g = v["connections"], v["generator"]
    est += c["established"]; open_peak += c["peak_open"]; teardown_ms = max(teardown_ms, c.get("teardown_ms") or 0.0)
    for k, n in (v["errors"] or {}).items(): fails[k] = fails.get(k, 0) + n
    gen_mem += (g.get("bytes_per_connection") or 0) * c["peak_open"]
    if v.get("partial"):
        for m in v["partial"].get("missing", []):
            print(f"{name}: part {m.get('part')} missing: {m.get('status')} {m.get('message', '')}")
    print(f"{name}: established {c['established']} of {c['planned']}, peak open {c['peak_open']}; connect p50 {v['connect_ms']['p50']} ms p99 {v['connect_ms']['p99']} ms; requests ok {v['requests']['ok']} errors {v['requests']['errors']}")
print(f"established {est} of {conns}; failures by class: {fails or 'none'}")
if open_peak:
    print(f"user memory per connection: generator {gen_mem/open_peak/1024:.2f} KiB, server {(srv1-srv0)*1024/open_peak/1024:.2f} KiB")
if socks:
    print(f"kernel slab {(slab1-slab0)/1024:.0f} MiB for {socks} sockets: {(slab1-slab0)*1024/socks/1024:.2f} KiB per socket")
# The ramp's samples (the first and last are partial): connects established per second.
mid = per_s[1:-1] if len(per_s) > 2 else per_s
if mid:
    s = sorted(mid)
    print(f"connect rate during the ramp (asked {rate}/s): median {s[len(s)//2]}/s, lowest {s[0]}/s, highest {s[-1]}/s over {len(mid)} samples")
    print("  each sample (per second): " + " ".join(str(x) for x in per_s))
print(f"kernel drops during the run: ListenOverflows +{d1[0]-d0[0]}, ListenDrops +{d1[1]-d0[1]}, TCPReqQFullDrop +{d1[2]-d0[2]}, input backlog full +{d1[3]-d0[3]} (net.core.netdev_max_backlog; a dropped SYN is retried after 1, 3, 7, 15 s: the connect p99)")
print(f"ramp to 99% of sockets: {ramp} s; teardown: last close {teardown_ms/1000:.1f} s after the end (--close-rate), kernel sockets released {down:.1f} s after the generators exited")
PY
