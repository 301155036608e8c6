#!/usr/bin/env bash
# Generator CPU per chat message with a large templated payload ({mark}{payload:SIZE}), sent at
# a fixed rate to the embedded raw relay, for two binaries A/B alternating (issue 15 point 1:
# the payload goes out by vectored write from the pre-masked shared buffer, not copied per
# message). Each member is alone in its room: the relay sends each message back to its sender
# only (both binaries read the same).
# Usage: scripts/bench-chat-payload.sh BEFORE_BIN AFTER_BIN
# Env: SIZE (64k) RATE (1000) CONNS (4) DURATION (5) ROUNDS (4) PORT (18091)
# Loopback only; every run is bounded; the server (AFTER_BIN serve, CPU 0) is stopped on exit.
set -euo pipefail
before=${1:?BEFORE_BIN}; after=${2:?AFTER_BIN}
SIZE=${SIZE:-64k}; RATE=${RATE:-1000}; CONNS=${CONNS:-4}; DURATION=${DURATION:-5}; ROUNDS=${ROUNDS:-4}; PORT=${PORT:-18091}
work=$(mktemp -d); srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
taskset -c 0 "$after" serve --listen "127.0.0.1:$PORT" -t 1 >/dev/null 2>&1 &
srv=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
run() { # BIN -> "cpu_s messages"
  python3 - "$1" "$work/r.json" "$PORT" "$SIZE" "$RATE" "$CONNS" "$DURATION" <<'PY'
import json,resource,subprocess,sys
b,j,port,size,rate,conns,d=sys.argv[1:]
subprocess.run(["taskset","-c","1",b,"ws",f"ws://127.0.0.1:{port}/ws/chat","--rooms",conns,"-c",conns,"-t","1",
  "--message","{mark}{payload:"+size+"}","-R",rate,"-d",d+"s","-q","--no-preflight","--json",j],
  stdout=subprocess.DEVNULL,timeout=int(d)+30)
r=resource.getrusage(resource.RUSAGE_CHILDREN); v=json.load(open(j))
n=v["chat"]["messages_sent"]
print(f'{r.ru_utime+r.ru_stime:.3f} {n} {v["chat"]["deliveries"]}')
PY
}
echo "{payload:$SIZE}, $RATE msg/s, $CONNS conns, ${DURATION}s x $ROUNDS rounds, A/B alternating; server on CPU 0, generator on CPU 1"
for i in $(seq 1 "$ROUNDS"); do
  for which in before after; do
    bin=$before; [ "$which" = after ] && bin=$after
    read -r cpu n del < <(run "$bin")
    python3 -c "import sys; c,n,d=float(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]); print(f'round {sys.argv[1]} {sys.argv[5]:6s} {n:6d} msgs {d:6d} delivered  CPU {c:6.3f} s  {c*1e6/max(n,1):8.2f} us/msg')" "$i" "$cpu" "$n" "$del" "$which"
  done
done
