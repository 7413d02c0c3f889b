#!/usr/bin/env bash
# Time `git clone` -> first suggestion of `make demo` (README, set-up), phase by phase from make's output.
# Usage: scripts/time-fresh-clone.sh SOURCE_REPO BRANCH NEW_FOLDER PORT   (stops the server afterwards)
set -u
src=$1; ref=$2; dir=$3; port=$4
rm -rf "$dir"
start=$(date +%s.%N)
git clone -q --branch "$ref" "$src" "$dir" || exit 1
cd "$dir"
( setsid make demo PORT=$port > make.out 2>&1 & echo $! > make.pid )
sleep 0.5
pgid=$(cat make.pid)
declare -A seen
mark() { if [ -z "${seen[$1]:-}" ] && grep -q -- "$2" make.out; then seen[$1]=$(echo "$(date +%s.%N) - $start" | bc); echo "$1: ${seen[$1]} s"; fi; }
while true; do
  mark pip-upgraded "Successfully installed pip"
  mark installed "bin/dateideas serve"
  mark demo-build-start "empty database"
  mark serving "dateideas on http"
  line=$(grep -m1 "^  curl -H" make.out || true)
  if [ -n "$line" ]; then
    for _ in $(seq 1 1200); do
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
      [ "$code" = 200 ] && break; sleep 0.1
    done
    echo "ready: $(echo "$(date +%s.%N) - $start" | bc) s"
    out=$(bash -c "$line -sS")
    echo "first suggestion: $(echo "$(date +%s.%N) - $start" | bc) s: $(echo "$out" | head -c 120)"
    break
  fi
  if ! kill -0 "$pgid" 2>/dev/null; then echo "make exited"; tail -20 make.out; exit 1; fi
  sleep 0.2
done
echo "load: $(cat /proc/loadavg)"
kill -TERM -- -"$pgid"
