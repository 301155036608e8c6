#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind (callgrind): load-independent, so
# an A/B of two builds holds on a busy machine where CPU-time figures do not.
#
# Runs `stampede http` under callgrind against nginx (one worker, CPU 0) for SHORT and LONG
# requests (-n); instructions per request = the difference of the totals / the difference of
# the requests (start-up and shutdown cancel out; what is paid per second of the run does not,
# so keep the runs short: a busy machine makes them longer). With STAMPEDE_BIN_B the second build is measured
# the same way. Then the top functions of the long run by self instructions.
# Installs valgrind and nginx-light with apt when missing (as root, unless NO_APT=1).
# Then, per build, inclusive instructions per request of the functions matching INCL (the
# connection's request loop, stats, parser...: what is paid per second of the run does not
# land in them), from the long run: `callgrind_annotate --inclusive=yes` / its requests.
# Env: SHORT (5000) LONG (25000) CONNS (16) DEPTH (1) PORT (18083) TOP (20)
#      INCL (grep -E pattern of function names) OUT (a directory: the callgrind files are kept)
#      STAMPEDE_BIN / STAMPEDE_BIN_B (scripts/bench-lib.sh)
# Loopback only; every run is bounded; nginx is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=1; DURATION=1; CONNS=${CONNS:-16}; PORT=${PORT:-18083}; TARGET_CPU=0; GEN_CPU=1
SHORT=${SHORT:-5000}; LONG=${LONG:-25000}; DEPTH=${DEPTH:-1}; TOP=${TOP:-20}
source scripts/bench-lib.sh
have valgrind || apt_get valgrind || true
have valgrind || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }
have nginx || apt_get nginx-light || true
have nginx || { echo "nginx not found: apt-get install nginx-light" >&2; exit 1; }
nginx_conf
taskset -c "$TARGET_CPU" nginx -p "$work/nginx" -c "$work/nginx.conf" &
target_pid=$!
wait_for_port || { echo "nginx did not start on port $PORT" >&2; exit 1; }

# $1 binary, $2 requests, $3 tag: prints "instructions requests"
one() {
  timeout 300 taskset -c "$GEN_CPU" valgrind --tool=callgrind --callgrind-out-file="$work/$3.out" \
    "$1" http "http://127.0.0.1:$PORT/" -c "$CONNS" -t 1 -n "$2" -d 120s --pipeline "$DEPTH" -q --no-preflight \
    --json "$work/$3.json" >/dev/null 2>"$work/$3.log"
  echo "$(grep -o 'refs: *[0-9,]*' "$work/$3.log" | tr -dc 0-9) $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"]["ok"])' "$work/$3.json")"
}
echo "callgrind, $CONNS connections, depth $DEPTH, $SHORT and $LONG requests against nginx"
builds=("$bin"); [ -n "$bin_b" ] && builds+=("$bin_b")
for i in "${!builds[@]}"; do
  read -r i1 n1 <<<"$(one "${builds[$i]}" "$SHORT" "s$i")"
  read -r i2 n2 <<<"$(one "${builds[$i]}" "$LONG" "l$i")"
  python3 -c 'import sys
b,i1,n1,i2,n2=sys.argv[1],*map(int,sys.argv[2:])
print(f"{b}: {(i2-i1)/max(n2-n1,1):,.0f} user-space instructions per request ({n1} and {n2} requests)")' "${builds[$i]}" "$i1" "$n1" "$i2" "$n2"
done
INCL=${INCL:-'Exchange<W>::requests::\{\{closure\}\}|Exchange<W>::parse_buffered|Shard::on_answer|ResponseParser::feed|net::io::read_done|Deadline::poll_passed|Within<F> as core::future::future::Future>::poll|monoio::time::|TimeDriver<D> as monoio::driver::Driver>::park|IoUringDriver as monoio::driver::Driver>::park|::read_some::\{\{closure\}\}|mi_malloc|mi_free|Timespec>::sub_timespec'}
for i in "${!builds[@]}"; do
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"]["ok"])' "$work/l$i.json")
  echo "-- ${builds[$i]}: inclusive instructions per request ($n requests), functions matching INCL:"
  callgrind_annotate --inclusive=yes "$work/l$i.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | grep -E "$INCL" | head -40 \
    | python3 -c 'import sys,re
n=int(sys.argv[1])
for l in sys.stdin:
    m=re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", l)
    if m:
        name=m.group(2); name=name.split(":",1)[1] if ":" in name.split(" ")[0] else name
        v=int(m.group(1).replace(",",""))/n
        print(f"{v:10,.0f}  {name[:150]}")' "$n" || true
done
[ -n "${OUT:-}" ] && mkdir -p "$OUT" && cp "$work"/*.out "$OUT/"
echo "-- top functions of the last long run (self instructions, start-up included):"
callgrind_annotate "$work/l$((${#builds[@]} - 1)).out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -"$TOP" | cut -c1-170 || true
