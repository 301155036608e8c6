#!/usr/bin/env bash
# Restores what scripts/tune.sh changed, from the file it saved.
#   scripts/untune.sh [SAVED_FILE]        default: /var/tmp/stampede-tuning-backup.conf
set -euo pipefail
save=${1:-/var/tmp/stampede-tuning-backup.conf}
[ "$(id -u)" = 0 ] || { echo "untune.sh: run as root" >&2; exit 1; }
[ -r "$save" ] || { echo "untune.sh: cannot read $save" >&2; exit 1; }
while IFS= read -r line; do
  case "$line" in
    "#limits "*)
      dst=${line#\#limits }
      if [ -e "$save.limits" ]; then cp "$save.limits" "$dst"; else rm -f "$dst"; fi
      echo "limits: restored $dst" ;;
    \#*|"") ;;
    *)
      key=$(echo "${line%%=*}" | xargs); value=$(echo "${line#*=}" | xargs)
      echo "$value" > "/proc/sys/${key//.//}"
      echo "restored $key = $value" ;;
  esac
done < "$save"
rm -f "$save" "$save.limits"
