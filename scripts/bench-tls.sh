#!/usr/bin/env bash
# TLS benchmark: stampede vs wrk (when present) against one HTTPS target.
#
# Two measurements, tools alternating for ROUNDS rounds, target pinned to CPU 0 and each
# generator to CPU 1 with one thread:
#   keepalive  requests over CONNS keep-alive TLS connections (the cost of record encryption);
#   handshake  one request per connection (`Connection: close`): TLS handshakes per second.
#              stampede runs it twice: resuming sessions (its default) and with --no-tls-resume
#              (a full handshake each time); wrk reconnects with whatever its OpenSSL does.
# Prints requests/s, p99 and the generator's CPU µs per request (user+sys / requests).
#
# Target: nginx with TLS (installed with apt when missing and root) and a certificate made here
# with openssl; or `stampede serve --tls-self-signed` (TARGET=stampede, or no nginx).
# Env: ROUNDS (3) DURATION (10) CONNS (64) PORT (18443) TARGET_CPU (0) GEN_CPU (1)
#      TARGET=nginx|stampede (auto) NO_APT=1 (never apt-get install)
# Loopback only; every run is bounded by DURATION; the target is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10}; CONNS=${CONNS:-64}; PORT=${PORT:-18443}
TARGET_CPU=${TARGET_CPU:-0}; GEN_CPU=${GEN_CPU:-1}
source scripts/bench-lib.sh
have wrk || apt_get wrk || true
have openssl || apt_get openssl || true

# --- target -------------------------------------------------------------------------------
want=${TARGET:-auto}
if [ "$want" != stampede ] && have openssl && { have nginx || apt_get nginx-light; } && have nginx; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
  nginx_conf "$work/cert.pem" "$work/key.pem"
  taskset -c "$TARGET_CPU" nginx -p "$work/nginx" -c "$work/nginx.conf" &
  target_pid=$!; target_name="nginx $(nginx -v 2>&1 | sed 's/.*\///') (TLS, ECDSA P-256)"
  tls=(--cacert "$work/cert.pem")
else
  taskset -c "$TARGET_CPU" "$bin" serve --listen "127.0.0.1:$PORT" -t 1 --tls-self-signed >/dev/null &
  target_pid=$!; target_name="stampede serve --tls-self-signed"
  tls=(--insecure)
fi
wait_for_port || { echo "the target did not start on port $PORT" >&2; exit 1; }
url="https://localhost:$PORT/"

# --- one measured run: prints "rate p99_ms cpu_us_per_req resumed%" -------------------------
run_stampede() { # $1 = keepalive|handshake|handshake-full
  local j="$work/s.json" extra=()
  case $1 in
    keepalive) ;;
    handshake) extra=(-H "Connection: close") ;;
    handshake-full) extra=(-H "Connection: close" --no-tls-resume) ;;
  esac
  local cpu; cpu=$(cpu_of taskset -c "$GEN_CPU" "$bin" http "$url" -c "$CONNS" -t 1 -d "${DURATION}s" "${tls[@]}" "${extra[@]}" \
    -q --no-preflight --json "$j" 2>&1 >/dev/null | grep '^CPU')
  python3 - "$j" "$cpu" <<'PY'
import json,sys
v=json.load(open(sys.argv[1])); u,s=map(float,sys.argv[2].split()[1:])
n=v["requests"]["ok"]; t=v.get("tls") or {}
res=f'{100*t["resumed"]/max(t["handshakes"],1):.0f}%' if t else "-"
print(f'{v["rate"]["achieved_per_s"]:.0f} {v["latency_ms"]["p99"]:.3f} {(u+s)*1e6/max(n,1):.2f} {res}')
PY
}
run_wrk() { # $1 = keepalive|handshake
  local extra=(); [ "$1" = handshake ] && extra=(-H "Connection: close")
  local out; out=$(cpu_of taskset -c "$GEN_CPU" wrk -t1 -c "$CONNS" -d "${DURATION}s" --latency "${extra[@]}" "$url" 2>&1)
  python3 - "$out" <<'PY'
import re,sys
o=sys.argv[1]
rate=float(re.search(r"Requests/sec:\s+([\d.]+)",o).group(1))
total=int(re.search(r"(\d+) requests in",o).group(1))
m=re.search(r"99%\s+([\d.]+)(us|ms|s)",o); p99=float(m.group(1))*{"us":1e-3,"ms":1,"s":1e3}[m.group(2)]
u,s=map(float,re.search(r"CPU ([\d.]+) ([\d.]+)",o).groups())
print(f"{rate:.0f} {p99:.3f} {(u+s)*1e6/max(total,1):.2f} ?")
PY
}

echo "machine: $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "target:  $target_name on CPU $TARGET_CPU; generators on CPU $GEN_CPU, 1 thread, $CONNS connections, ${DURATION}s, $ROUNDS rounds"
printf '%-10s %-6s %-15s %10s %10s %12s %9s\n' tool round mode "req/s" "p99 ms" "CPU us/req" resumed
for mode in keepalive handshake; do
  for r in $(seq 1 "$ROUNDS"); do
    modes=("$mode"); [ "$mode" = handshake ] && modes+=(handshake-full)
    for m in "${modes[@]}"; do
      res=$(run_stampede "$m" 2>/dev/null || echo "failed - - -")
      printf '%-10s %-6s %-15s %10s %10s %12s %9s\n' stampede "$r" "$m" $res
    done
    if have wrk; then
      res=$(run_wrk "$mode" 2>/dev/null || echo "failed - - -")
      printf '%-10s %-6s %-15s %10s %10s %12s %9s\n' wrk "$r" "$mode" $res
    fi
  done
done
