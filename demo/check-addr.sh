#!/usr/bin/env bash
# Can the demo listen on DEMO_ADDR (default 127.0.0.1:8080)? `make demo` asks before it
# builds anything and demo/run.sh again before it starts RoadRunner, so a busy port is one
# clear message naming the override instead of a bind error deep in RoadRunner's log.
# It binds the address for a moment with php (which the demo needs anyway), so it sees
# what RoadRunner would see: in use, not permitted, no such address.
set -euo pipefail
addr="${DEMO_ADDR:-127.0.0.1:8080}"
if [[ ! "$addr" =~ ^(.*):([0-9]{1,5})$ ]]; then
    echo "DEMO_ADDR=$addr is not host:port; e.g. DEMO_ADDR=127.0.0.1:8081 make demo" >&2
    exit 2
fi
# Without php (a fresh machine before `make deps`) run.sh checks once deps are in.
command -v php >/dev/null || exit 0
if ! err="$(php -r '
    $s = @stream_socket_server("tcp://" . $argv[1], $errno, $errstr);
    if ($s === false) { echo $errstr; exit(1); }' -- "$addr")"; then
    why="Run the demo on an address this machine can listen on"
    [[ "$err" == *"in use"* ]] && why="Another program (a demo still running?) has that port: stop it, or run the demo on another address"
    cat >&2 <<MSG
demo: cannot listen on $addr: ${err:-bind failed}
  $why with DEMO_ADDR:
  DEMO_ADDR=127.0.0.1:8081 make demo
MSG
    exit 1
fi
