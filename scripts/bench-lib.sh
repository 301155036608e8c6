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
