# Shared by scripts/bench-http.sh and scripts/bench-tls.sh (sourced after ROUNDS, DURATION,
# CONNS, PORT, TARGET_CPU and GEN_CPU are set): a work directory and the target's PID, cleaned
# up on exit; helpers to find and install tools; the release binary in $bin (STAMPEDE_BIN: that
# binary instead, nothing built; STAMPEDE_BIN_B: a second binary the scripts that support it run
# as a tool of its own, alternated with the first, for A/B comparisons of two builds).

work=$(mktemp -d); target_pid=""
cleanup() { [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

have() { command -v "$1" >/dev/null 2>&1; }
# apt-get install, only as root with apt-get and without NO_APT; updates the lists once if needed.
apt_get() { [ -z "${NO_APT:-}" ] && [ "$(id -u)" = 0 ] && have apt-get && { apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; }; }; }

if [ -n "${STAMPEDE_BIN:-}" ]; then
  bin=$STAMPEDE_BIN
else
  cargo build --release --quiet
  bin=target/release/stampede
  [ -x "$bin" ] || bin=${CARGO_TARGET_DIR:-target}/release/stampede
fi
bin_b=${STAMPEDE_BIN_B:-${BASE_BIN:-}}

# Runs a command; its CPU seconds (user, sys) of the child and its descendants, measured by the
# parent with getrusage(RUSAGE_CHILDREN), go to stderr as "CPU u s".
cpu_of() { python3 -c 'import resource,subprocess,sys
subprocess.run(sys.argv[1:])
r=resource.getrusage(resource.RUSAGE_CHILDREN); print(f"CPU {r.ru_utime:.3f} {r.ru_stime:.3f}", file=sys.stderr)' "$@"; }

# Raises this script's scheduling group to nice $1 (when negative) for the benchmark's length.
# With autogroup scheduling (`kernel.sched_autogroup_enabled`, on in most distributions) every
# session is a group of its own and a process's nice value only ranks it within its group: a
# `nice -n 19` build started from another terminal gets as much CPU as a `nice -n -10`
# benchmark. The group's own nice (/proc/self/autogroup) ranks groups; it is restored on exit.
autogroup_old=""
prioritize() {
  local want=$1 f=/proc/self/autogroup
  [ "$want" -lt 0 ] 2>/dev/null && [ -w "$f" ] || return 0
  autogroup_old=$(sed -n 's/.* nice \(-\{0,1\}[0-9]*\).*/\1/p' "$f")
  echo "$want" > "$f" 2>/dev/null || { autogroup_old=""; return 0; }
  trap 'cleanup; [ -n "$autogroup_old" ] && echo "$autogroup_old" > /proc/self/autogroup 2>/dev/null; true' EXIT
}
autogroup_note() { [ -n "$autogroup_old" ] && echo " (its autogroup too: $(cat /proc/self/autogroup))"; true; }

# Waits (at most 5 s) until something accepts on 127.0.0.1:$PORT.
wait_for_port() { for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# nginx with one worker answering a small body on 127.0.0.1:$PORT, its files under $work
# (start it with: nginx -p "$work/nginx" -c "$work/nginx.conf"). With CERT and KEY (paths):
# over TLS 1.2/1.3 with a session cache and tickets.
nginx_conf() {
  local cert=${1:-} key=${2:-} ssl="" http_tls="" server_tls=""
  if [ -n "$cert" ]; then
    ssl=" ssl"
    http_tls=$'\n  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_cache shared:SSL:10m;\n  ssl_session_tickets on;'
    server_tls=$'\n    ssl_certificate '"$cert"$';\n    ssl_certificate_key '"$key"';'
  fi
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
  keepalive_timeout 300s;$http_tls
  server {
    listen 127.0.0.1:$PORT$ssl reuseport backlog=4096;$server_tls
    location / { default_type text/plain; return 200 "hello from nginx\n"; }
  }
}
NGX
}
