#!/usr/bin/env bash
# Runs the C resolve test ($1, a compiled binary) against tests/fake_velox.py on a free
# port of 127.0.0.1. Everything lives in a fresh temporary directory, removed afterwards.
set -euo pipefail
test_bin=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
fake_pid=
cleanup() {
    if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/builds"
python3 "$here/tests/fake_velox.py" --dir "$work/builds" --port-file "$work/port" \
    --events "$work/events" --max-seconds 120 &
fake_pid=$!
for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    kill -0 "$fake_pid" 2>/dev/null || { echo "fake_velox.py died" >&2; exit 1; }
    sleep 0.05
done
[ -s "$work/port" ] || { echo "fake_velox.py did not start" >&2; exit 1; }
VXM_FAKE_URL="http://127.0.0.1:$(cat "$work/port")" \
VXM_FAKE_EVENTS="$work/events" \
VXM_BUILD_DIR="$(cd "$work/builds" && pwd -P)" \
VXM_CACHE_DIR="$work/cache" \
    timeout 60 "$test_bin"
