#!/usr/bin/env bash
# The demo: RoadRunner with the velox plugin (build/rr), the PHP worker of the e2e tests
# and the fake Velox build server, on 127.0.0.1. Ctrl-C stops everything.
#
#   curl -OJ 'http://127.0.0.1:8080/build?rr=v2025.1.15&os=linux&arch=amd64&plugins=github.com/roadrunner-server/http/v5@v5.3.0'
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"
addr="${DEMO_ADDR:-127.0.0.1:8080}"
dir="$build/demo"
mkdir -p "$dir/cache"

"$build/fakevelox" -size "${DEMO_SIZE:-1048576}" >"$dir/fakevelox.out" &
fv=$!
trap 'kill $fv 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    grep -q '^output_dir=' "$dir/fakevelox.out" 2>/dev/null && break
    sleep 0.1
done
# shellcheck disable=SC1090
source <(grep '=' "$dir/fakevelox.out")

cat >"$dir/.rr.yaml" <<YAML
version: "3"
server:
  command: "php $root/e2e/php/worker.php"
  relay: pipes
http:
  address: $addr
  middleware: ["gzip", "velox"]
  pool:
    num_workers: 2
logs:
  mode: development
  level: info
velox:
  server_url: $server_url
  build_timeout: 5m
  allowed_build_dirs: ["$output_dir"]
  cache:
    enabled: true
    directory: $dir/cache
YAML

echo "fake Velox server: $server_url (fault modes: curl -d '{\"kind\":\"slow\",\"delay\":\"5s\"}' $control_url/_control)"
echo "try: curl -OJ 'http://$addr/build?rr=v2025.1.15&os=linux&arch=amd64&plugins=github.com/roadrunner-server/http/v5@v5.3.0'"
"$build/rr" serve -c "$dir/.rr.yaml"
