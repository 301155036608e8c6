#!/usr/bin/env bash
# Builds gcannon (github.com/MDA2AV/gcannon, C, liburing) with liburing >= 2.4 from source,
# installing nothing system-wide: both are built into a cache directory, liburing linked
# statically. Prints the directory that holds the `gcannon` binary (the only line on stdout),
# for PATH:
#
#   PATH="$(GCANNON_SRC=... LIBURING_SRC=... scripts/peers-gcannon.sh):$PATH" scripts/bench-http.sh
#
# Sources (nothing is downloaded here):
#   GCANNON_SRC   gcannon's source tree, or a git directory (bare or not): its HEAD is exported
#   LIBURING_SRC  liburing's source tree, or a git directory: the highest liburing-2.x tag
#                 (LIBURING_REF: another tag or commit) is exported; a tree must be >= 2.4
# Env: CACHE (${XDG_CACHE_HOME:-~/.cache}/stampede/gcannon) where both are built; a build whose
#      sources did not change is reused. JOBS (2) parallel make jobs. Needs gcc and make.
set -euo pipefail

die() { echo "peers-gcannon: $*" >&2; exit 1; }
[ -n "${GCANNON_SRC:-}" ] || die "set GCANNON_SRC to gcannon's source (a tree or a git directory)"
[ -n "${LIBURING_SRC:-}" ] || die "set LIBURING_SRC to liburing's source (a tree or a git directory), 2.4 or later"
for t in gcc make; do command -v "$t" >/dev/null || die "$t not found (apt-get install build-essential)"; done
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stampede/gcannon}
JOBS=${JOBS:-2}
mkdir -p "$CACHE"

# The git directory of $1 when it is one (bare, or a work tree's .git), else nothing.
git_dir_of() {
  if [ -d "$1/.git" ]; then echo "$1/.git"
  elif git --git-dir="$1" rev-parse --git-dir >/dev/null 2>&1 && [ -d "$1/objects" ]; then echo "$1"
  fi
}

# Copies source $1 (a tree, or ref $3 of a git directory) to $CACHE/$2 unless the same
# version is there already. Prints the tree's path; "$CACHE/$2.version" names the version.
export_src() {
  local src=$1 name=$2 ref=${3:-HEAD} dest="$CACHE/$2" gd version
  [ -d "$src" ] || die "$name: $src is not a directory"
  gd=$(git_dir_of "$src")
  if [ -n "$gd" ]; then
    version=$(git --git-dir="$gd" rev-parse "$ref^{commit}") || die "$name: no $ref in $gd"
  else
    version="tree:$(cd "$src" && pwd)"
  fi
  if [ "$(cat "$dest.version" 2>/dev/null)" != "$version" ] || [ ! -d "$dest" ]; then
    rm -rf "$dest" "$dest.built"; mkdir -p "$dest"
    if [ -n "$gd" ]; then
      git --git-dir="$gd" archive "$version" | tar -x -C "$dest"
    else
      cp -a "$src/." "$dest/"
    fi
    echo "$version" > "$dest.version"
  fi
  echo "$dest"
}

# liburing: the highest 2.x release tag of a git directory unless LIBURING_REF says otherwise.
ref=${LIBURING_REF:-}
if [ -z "$ref" ] && gd=$(git_dir_of "$LIBURING_SRC") && [ -n "$gd" ]; then
  ref=$(git --git-dir="$gd" tag -l 'liburing-2.*' | grep -vE -- '-rc[0-9]*$' | sort -V | tail -1)
  [ -n "$ref" ] || die "liburing: no liburing-2.x tag in $gd (set LIBURING_REF)"
fi
uring=$(export_src "$LIBURING_SRC" liburing "${ref:-HEAD}")
# liburing.spec carries the version ("Version: 2.x"); 2.4 brought the buffer-ring helpers gcannon uses.
v=$(sed -n 's/^Version: *//p' "$uring/liburing.spec" 2>/dev/null | head -1)
[ -n "$v" ] || die "liburing: no version in $uring/liburing.spec (is it liburing's source?)"
python3 -c 'import sys; a=tuple(int(x) for x in sys.argv[1].split(".")[:2]); sys.exit(0 if a >= (2, 4) else 1)' "$v" \
  || die "liburing $v is older than 2.4"
if [ ! -f "$uring.built" ]; then
  echo "peers-gcannon: building liburing $v in $uring" >&2
  (cd "$uring" && ./configure --prefix="$uring/prefix" >/dev/null 2>&1 && make -j"$JOBS" -C src >/dev/null && make -C src install >/dev/null) \
    || die "liburing: build failed (in $uring)"
  touch "$uring.built"
fi
[ -f "$uring/prefix/lib/liburing.a" ] || die "liburing: no liburing.a under $uring/prefix/lib"

gc=$(export_src "$GCANNON_SRC" gcannon HEAD)
[ -f "$gc/Makefile" ] && [ -f "$gc/src/worker.c" ] || die "gcannon: $GCANNON_SRC does not look like gcannon's source"
if [ ! -f "$gc.built" ] || [ "$(cat "$gc.built")" != "$v" ] || [ ! -x "$gc/gcannon" ]; then
  echo "peers-gcannon: building gcannon $(cat "$gc.version" | cut -c1-12) against liburing $v" >&2
  make -C "$gc" clean >/dev/null 2>&1 || true
  # Its Makefile links -luring: the static library of the cache instead, so that nothing
  # system-wide is needed at build or run time.
  make -C "$gc" -j"$JOBS" \
    CFLAGS="-O2 -Wall -Wextra -march=native -I$gc/include -I$uring/prefix/include -DUSE_PICO -I$gc/external/picohttpparser" \
    LDFLAGS="$uring/prefix/lib/liburing.a -lpthread" >/dev/null || die "gcannon: build failed (in $gc)"
  echo "$v" > "$gc.built"
fi
"$gc/gcannon" --help >/dev/null 2>&1 || [ -x "$gc/gcannon" ] || die "gcannon: no binary at $gc/gcannon"
echo "$gc"
