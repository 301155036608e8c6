#!/usr/bin/env bash
# HTTP/1.1 keep-alive benchmark: stampede vs wrk vs oha (those present) against one target.
#
# The target (nginx when installed or installable with apt, otherwise `stampede serve`) is
# pinned to CPU 0, every generator to CPU 1 with one thread, same connections and duration,
# tools alternating for ROUNDS rounds. Prints per tool and round: requests/s, p99, and the
# generator's CPU µs per request (user+sys of the generator process / requests), then a
# pipelined round (depth 16; wrk with a pipelining Lua script).
#
# Env: ROUNDS (3) DURATION (10) CONNS (64) PORT (18080) TARGET_CPU (0) GEN_CPU (1)
#      TARGET=nginx|stampede (auto) NO_APT=1 (never apt-get install)
#      BASE_BIN=path: also run that stampede binary as tool "base", alternating (A/B of two builds)
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
  mkdir -p "$work/nginx/logs"
  cat > "$work/nginx.conf" <<NGX
worker_processes 1;
daemon off;
error_log $work/nginx/logs/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$PORT reuseport backlog=4096;
    location / { default_type text/plain; return 200 "hello from nginx\n"; }
  }
}
NGX
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

# --- one measured run: prints "tool rate p99_ms cpu_us_per_req" ------------------------------
run_stampede() { # $1 = pipeline depth
  local j="$work/s.json"
  local cpu; cpu=$(cpu_of taskset -c "$GEN_CPU" "$bin" http "$url" -c "$CONNS" -t 1 -d "${DURATION}s" --pipeline "$1" -q --no-preflight --json "$j" 2>&1 >/dev/null | grep '^CPU')
  python3 - "$j" "$cpu" <<'PY'
import json,sys
v=json.load(open(sys.argv[1])); u,s=map(float,sys.argv[2].split()[1:])
n=v["requests"]["ok"]; print(f'{v["rate"]["achieved_per_s"]:.0f} {v["latency_ms"]["p99"]:.3f} {(u+s)*1e6/max(n,1):.2f}')
PY
}
run_base() { local bin=$BASE_BIN; run_stampede "$1"; } # another build of stampede, same flags
run_wrk() { # $1 = pipeline depth
  local script=(); [ "$1" -gt 1 ] && script=(-s "$work/pipeline.lua")
  local out; out=$(cpu_of taskset -c "$GEN_CPU" wrk -t1 -c "$CONNS" -d "${DURATION}s" --latency "${script[@]}" "$url" 2>&1)
  python3 - "$out" <<'PY'
import re,sys
o=sys.argv[1]
rate=float(re.search(r"Requests/sec:\s+([\d.]+)",o).group(1))
total=int(re.search(r"(\d+) requests in",o).group(1))
m=re.search(r"99%\s+([\d.]+)(us|ms|s)",o); p99=float(m.group(1))*{"us":1e-3,"ms":1,"s":1e3}[m.group(2)]
u,s=map(float,re.search(r"CPU ([\d.]+) ([\d.]+)",o).groups())
print(f"{rate:.0f} {p99:.3f} {(u+s)*1e6/max(total,1):.2f}")
PY
}
run_oha() {
  local out; out=$(cpu_of taskset -c "$GEN_CPU" oha --no-tui --output-format json -c "$CONNS" -z "${DURATION}s" "$url" 2>&1)
  python3 - "$out" <<'PY'
import json,re,sys
o=sys.argv[1]; u,s=map(float,re.search(r"CPU ([\d.]+) ([\d.]+)",o).groups())
v=json.loads(o[o.index("{"):o.rindex("}")+1]); s_=v["summary"]
n=sum(v.get("statusCodeDistribution",{}).values())
print(f'{s_["requestsPerSec"]:.0f} {v["latencyPercentiles"]["p99"]*1e3:.3f} {(u+s)*1e6/max(n,1):.2f}')
PY
}

echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "target:  $target_name on CPU $TARGET_CPU; generators on CPU $GEN_CPU, 1 thread, $CONNS connections, ${DURATION}s, $ROUNDS rounds"
printf '%-10s %-6s %-9s %12s %10s %14s\n' tool round pipeline "req/s" "p99 ms" "CPU us/req"
tools=(stampede); [ -n "${BASE_BIN:-}" ] && tools+=(base); have wrk && tools+=(wrk); have oha && tools+=(oha)
for depth in 1 16; do
  for r in $(seq 1 "$ROUNDS"); do
    for t in "${tools[@]}"; do
      [ "$t" = oha ] && [ "$depth" -gt 1 ] && continue   # oha has no pipelining
      res=$("run_$t" "$depth" 2>/dev/null || echo "failed - -")
      printf '%-10s %-6s %-9s %12s %10s %14s\n' "$t" "$r" "$depth" $res
    done
  done
done
