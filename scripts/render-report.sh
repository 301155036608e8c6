#!/usr/bin/env bash
# Renders a JSON result as a PNG: `stampede report` makes the HTML page, headless Debian
# Chromium takes a screenshot of it.
#
#   scripts/render-report.sh RESULT.json OUT.png [WIDTHxHEIGHT]     (default 1200x2400)
#
# Needs the `chromium` Debian package: installed with apt-get when missing and running as root,
# otherwise the script prints the command and stops. STAMPEDE=path/to/stampede picks the binary
# (default: target/debug/stampede, built with cargo when missing).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 RESULT.json OUT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
result=$1
out=$2
size=${3:-1200x2400}
case $size in
    [0-9]*x[0-9]*) ;;
    *) echo "$0: size must be WIDTHxHEIGHT, e.g. 1200x2400" >&2; exit 2 ;;
esac
[ -r "$result" ] || { echo "$0: cannot read $result" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)

browser=""
for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
if [ -z "$browser" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "$0: installing Debian's chromium package (a few minutes)" >&2
        log=$(mktemp)
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            echo "$0: apt-get could not install chromium (log: $log)" >&2
            exit 1
        fi
        rm -f "$log"
        browser=$(command -v chromium)
    else
        echo "$0: chromium is not installed; install it with:  sudo apt-get install chromium" >&2
        exit 1
    fi
fi

stampede=${STAMPEDE:-}
if [ -z "$stampede" ]; then
    stampede="${CARGO_TARGET_DIR:-$root/target}/debug/stampede"
    if [ ! -x "$stampede" ]; then
        (cd "$root" && cargo build --quiet)
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
html="$work/report.html"
"$stampede" report "$result" -o "$html"

# Chromium writes the screenshot relative to its working directory unless given a full path.
case $out in
    /*) png=$out ;;
    *) png="$PWD/$out" ;;
esac
# Bounded: the page has no script and no external resource, so this takes seconds.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --hide-scrollbars \
    --screenshot="$png" --window-size="${size/x/,}" "file://$html" >"$work/chromium.log" 2>&1 || {
    cat "$work/chromium.log" >&2
    echo "$0: chromium failed" >&2
    exit 1
}
[ -s "$png" ] || { cat "$work/chromium.log" >&2; echo "$0: chromium wrote no screenshot" >&2; exit 1; }
echo "$png"
