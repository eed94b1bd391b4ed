#!/usr/bin/env bash
# `make demo`: RoadRunner with the velox plugin (build/rr), the demo PHP worker and the
# embedded local builder (no Velox server), on http://127.0.0.1:8080 or DEMO_ADDR=host:port.
# Ctrl-C stops everything, a build in progress included.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v go >/dev/null || { echo "the demo builds RoadRunner binaries with Go: install go" >&2; exit 1; }
addr="${DEMO_ADDR:-127.0.0.1:8080}"
# A busy port fails here with a message naming DEMO_ADDR, before RoadRunner starts.
"$root/demo/check-addr.sh"
mkdir -p "$root/build/demo/cache"

cat <<MSG
velox demo on http://$addr  (Ctrl-C stops it)
  The first download of a plugin combination builds a real RoadRunner binary with the
  local Go toolchain (minutes on a small machine; watch the log below), the second comes
  from the cache in build/demo/cache at once.
  From a shell (repeat it to see X-Velox-Cache: HIT; -o rr overwrites):
  curl -sS --fail-with-body -D - -o rr 'http://$addr/download?rr=v2025.1.15&target=linux/amd64&plugin[]=server&plugin[]=http&plugin[]=logger' && chmod +x rr
MSG
# exec: the signal from Ctrl-C goes straight to RoadRunner, which stops its workers and
# frees the engine (a build in flight is cancelled and its go processes killed).
exec "$root/build/rr" serve -w "$root" -c demo/.rr.yaml -o "http.address=$addr"
