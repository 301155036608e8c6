#!/usr/bin/env bash
# HTTP/1.1 keep-alive benchmark: stampede vs wrk, h2load --h1, gcannon and oha (those present)
# against one target.
#
# The target (nginx when installed or installable with apt, otherwise `stampede serve`) is
# pinned to CPU 0, every generator to CPU 1 with one thread, same connections and duration,
# tools alternating for ROUNDS rounds. Prints per tool and round: requests/s, p99, and the
# generator's CPU µs per request split into user and system time (of the generator process,
# from getrusage of the child, / requests answered), so the kernel's share is visible; then a
# pipelined round (depth 16; wrk with a pipelining Lua script, h2load with -m 16).
#
# Tools: wrk (apt wrk), h2load (apt nghttp2-client: `apt-get install nghttp2-client`), oha and
# gcannon when on PATH. This script installs only wrk and nginx (as root, unless NO_APT=1);
# a missing h2load or gcannon is named with its install hint and skipped. gcannon's command
# line is GCANNON_ARGS (default "-c CONNS -t 1 -d DURATION -p DEPTH"; `{url}` `{conns}` `{duration}`
# `{depth}` are replaced); its request count is read from a line "N requests".
#
# Env: ROUNDS (3) DURATION (10) CONNS (64) PORT (18080) TARGET_CPU (0) GEN_CPU (1)
#      TARGET=nginx|stampede (auto) NO_APT=1 (never apt-get install) TOOLS ("stampede wrk h2load
#      gcannon oha": those to run, when present) DEPTHS ("1 16")
#      STAMPEDE_BIN / STAMPEDE_BIN_B (scripts/bench-lib.sh; BASE_BIN is STAMPEDE_BIN_B): A/B of two stampede builds
# Loopback only; every run is bounded by DURATION; the target is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10}; CONNS=${CONNS:-64}; PORT=${PORT:-18080}
TARGET_CPU=${TARGET_CPU:-0}; GEN_CPU=${GEN_CPU:-1}
source scripts/bench-lib.sh
have wrk || apt_get wrk || true

# --- target -------------------------------------------------------------------------------
want=${TARGET:-auto}
if [ "$want" != stampede ] && { have nginx || apt_get nginx-light; } && have nginx; then
  nginx_conf
  taskset -c "$TARGET_CPU" nginx -p "$work/nginx" -c "$work/nginx.conf" &
  target_pid=$!; target_name="nginx $(nginx -v 2>&1 | sed 's/.*\///')"
else
  taskset -c "$TARGET_CPU" "$bin" serve --listen "127.0.0.1:$PORT" -t 1 >/dev/null &
  target_pid=$!; target_name="stampede serve"
fi
wait_for_port || { echo "the target did not start on port $PORT" >&2; exit 1; }
url="http://127.0.0.1:$PORT/"

cat > "$work/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
LUA

# --- one measured run: prints "rate p99_ms user_us sys_us total_us" (per request) -----------
# Every parser gets the tool's output and the "CPU user sys" line of cpu_of.
per_req() { # rate p99 user sys requests
  python3 -c 'import sys
r,p,u,s,n=sys.argv[1:]; n=max(float(n),1)
print(f"{float(r):.0f} {p} {float(u)*1e6/n:.2f} {float(s)*1e6/n:.2f} {(float(u)+float(s))*1e6/n:.2f}")' "$@"
}
cpu_us() { grep -o 'CPU [0-9.]* [0-9.]*' <<<"$1" | tail -1 | cut -d' ' -f2-; }

run_stampede() { # $1 = pipeline depth, $2 = binary ($bin)
  local j="$work/s.json"
  local cpu; cpu=$(cpu_of taskset -c "$GEN_CPU" "${2:-$bin}" http "$url" -c "$CONNS" -t 1 -d "${DURATION}s" --pipeline "$1" -q --no-preflight --json "$j" 2>&1 >/dev/null | grep '^CPU')
  local f; f=$(python3 -c 'import json,sys
v=json.load(open(sys.argv[1])); p99=v["latency_ms"]["p99"] or 0
print(v["rate"]["achieved_per_s"], f"{p99:.3f}", v["requests"]["ok"])' "$j")
  read -r rate p99 n <<<"$f"; per_req "$rate" "$p99" $(cpu_us "$cpu") "$n"
}
run_stampede_b() { run_stampede "$1" "$bin_b"; }
run_wrk() { # $1 = pipeline depth
  local script=(); [ "$1" -gt 1 ] && script=(-s "$work/pipeline.lua")
  local out; out=$(cpu_of taskset -c "$GEN_CPU" wrk -t1 -c "$CONNS" -d "${DURATION}s" --latency "${script[@]}" "$url" 2>&1)
  local f; f=$(python3 -c 'import re,sys
o=sys.argv[1]
rate=float(re.search(r"Requests/sec:\s+([\d.]+)",o).group(1)); total=int(re.search(r"(\d+) requests in",o).group(1))
m=re.search(r"99%\s+([\d.]+)(us|ms|s)",o); p99=float(m.group(1))*{"us":1e-3,"ms":1,"s":1e3}[m.group(2)]
print(rate, f"{p99:.3f}", total)' "$out")
  read -r rate p99 n <<<"$f"; per_req "$rate" "$p99" $(cpu_us "$out") "$n"
}
run_h2load() { # $1 = pipeline depth (-m: requests in flight per HTTP/1.1 connection)
  local out; out=$(cpu_of taskset -c "$GEN_CPU" h2load --h1 -t 1 -c "$CONNS" -m "$1" -D "$DURATION" "$url" 2>&1)
  # h2load gives no p99: "-" (its mean is in the raw output only)
  local f; f=$(python3 -c 'import re,sys
o=sys.argv[1]
rate=float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s",o).group(1)); n=int(re.search(r"(\d+) succeeded",o).group(1))
print(rate, "-", n)' "$out")
  read -r rate p99 n <<<"$f"; per_req "$rate" "$p99" $(cpu_us "$out") "$n"
}
run_gcannon() { # $1 = pipeline depth
  local args=${GCANNON_ARGS:-"-c {conns} -t 1 -d {duration} -p {depth}"}
  args=${args//\{conns\}/$CONNS}; args=${args//\{duration\}/$DURATION}; args=${args//\{depth\}/$1}; args=${args//\{url\}/$url}
  local a; read -r -a a <<<"$args"; [[ "$args" == *"$url"* ]] || a+=("$url")
  local out; out=$(cpu_of taskset -c "$GEN_CPU" gcannon "${a[@]}" 2>&1)
  local n; n=$(grep -oiE '([0-9]+) requests' <<<"$out" | head -1 | grep -oE '[0-9]+')
  per_req "$(python3 -c "print(${n:-0}/$DURATION)")" - $(cpu_us "$out") "${n:-0}"
}
run_oha() {
  local out; out=$(cpu_of taskset -c "$GEN_CPU" oha --no-tui --output-format json -c "$CONNS" -z "${DURATION}s" "$url" 2>&1)
  local f; f=$(python3 -c 'import json,sys
o=sys.argv[1]; v=json.loads(o[o.index("{"):o.rindex("}")+1]); s_=v["summary"]
n=sum(v.get("statusCodeDistribution",{}).values())
p99=v["latencyPercentiles"]["p99"]*1e3
print(s_["requestsPerSec"], f"{p99:.3f}", n)' "$out")
  read -r rate p99 n <<<"$f"; per_req "$rate" "$p99" $(cpu_us "$out") "$n"
}

echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "target:  $target_name on CPU $TARGET_CPU; generators on CPU $GEN_CPU, 1 thread, $CONNS connections, ${DURATION}s, $ROUNDS rounds"
tools=()
for t in ${TOOLS:-stampede wrk h2load gcannon oha}; do
  case $t in
    stampede) tools+=(stampede); [ -n "$bin_b" ] && tools+=(stampede_b) ;;
    h2load) if have h2load; then tools+=(h2load); else echo "h2load: not found, skipped (apt-get install nghttp2-client)"; fi ;;
    gcannon) if have gcannon; then tools+=(gcannon); else echo "gcannon: not found, skipped (scripts/peers-gcannon.sh builds it; put the directory it prints on PATH)"; fi ;;
    *) if have "$t"; then tools+=("$t"); else echo "$t: not found, skipped"; fi ;;
  esac
done
printf '%-10s %-6s %-9s %12s %10s %10s %10s %10s\n' tool round pipeline "req/s" "p99 ms" "user us" "sys us" "CPU us/req"
for depth in ${DEPTHS:-1 16}; do
  for r in $(seq 1 "$ROUNDS"); do
    for t in "${tools[@]}"; do
      [ "$t" = oha ] && [ "$depth" -gt 1 ] && continue   # oha has no pipelining
      res=$("run_$t" "$depth" 2>/dev/null || echo "failed - - - -")
      printf '%-10s %-6s %-9s %12s %10s %10s %10s %10s\n' "$t" "$r" "$depth" $res
    done
  done
done
