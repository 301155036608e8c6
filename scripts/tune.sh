#!/usr/bin/env bash
# Applies tuning/ to this machine (root): every sysctl in tuning/sysctl.conf, after saving the
# current values, and tuning/limits.conf into /etc/security/limits.d/. Undo with
# scripts/untune.sh SAVED_FILE. Keys the kernel does not have (conntrack not loaded) are skipped.
#   scripts/tune.sh [SAVED_FILE]          default SAVED_FILE: /var/tmp/stampede-tuning-backup.conf
# Then check the effect: stampede preflight --verify http://TARGET/ -c 5000 (before and after).
set -euo pipefail
cd "$(dirname "$0")/.."
save=${1:-/var/tmp/stampede-tuning-backup.conf}
[ "$(id -u)" = 0 ] || { echo "tune.sh: run as root (it writes /proc/sys and /etc/security)" >&2; exit 1; }
[ -e "$save" ] && { echo "tune.sh: $save exists: untune first, or name another file" >&2; exit 1; }
echo "# saved by scripts/tune.sh on $(date -u +%FT%TZ); restore: scripts/untune.sh $save" > "$save"
while IFS='=' read -r key value; do
  key=$(echo "$key" | xargs); value=$(echo "$value" | xargs)
  [ -z "$key" ] && continue
  path="/proc/sys/${key//.//}"
  if [ ! -w "$path" ]; then echo "skip  $key (not available here)"; continue; fi
  old=$(xargs < "$path")
  echo "$key = $old" >> "$save"
  echo "$value" > "$path"
  echo "set   $key: $old -> $value"
done < <(grep -Ev '^\s*(#|$)' tuning/sysctl.conf)
if [ -d /etc/security/limits.d ]; then
  dst=/etc/security/limits.d/90-stampede.conf
  [ -e "$dst" ] && cp "$dst" "$save.limits"
  cp tuning/limits.conf "$dst"
  echo "limits: installed $dst (log in again for it to apply)"
  echo "#limits $dst" >> "$save"
fi
echo "saved the old values to $save; undo with: scripts/untune.sh $save"
