#!/usr/bin/env bash
# A real S3 server on 127.0.0.1 for the remote-tier tests: SeaweedFS (`weed mini`).
#
#   scripts/seaweedfs.sh install           build the weed binary once, print its path
#   scripts/seaweedfs.sh start DIR PORT    start it (data and pid in DIR, S3 API on PORT)
#   scripts/seaweedfs.sh stop DIR          stop the one started in DIR
#
# `go install` refuses the module (its go.mod has replace directives), so the module is
# downloaded through the Go module proxy, copied into a build dir and built there. That
# takes ~14 min cold on 2 cores, so the binary is cached outside the work tree
# ($VXM_WEED_CACHE, default $XDG_CACHE_HOME/velox-middleware) and built once per version.
# VXM_WEED_BIN names a weed binary built elsewhere and skips all of that.
#
# Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment of `start`
# (SeaweedFS's documented way of creating an admin identity), so clients must sign.
set -euo pipefail

MODULE=github.com/seaweedfs/seaweedfs
VERSION=v0.0.0-20261109003541-7506e5f91cd6
CACHE_DIR=${VXM_WEED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/velox-middleware}
CACHED_BIN=$CACHE_DIR/weed-$VERSION

die() { echo "seaweedfs.sh: $*" >&2; exit 1; }

install() {
    if [[ -n "${VXM_WEED_BIN:-}" ]]; then
        [[ -x "$VXM_WEED_BIN" ]] || die "VXM_WEED_BIN=$VXM_WEED_BIN is not an executable file"
        echo "$VXM_WEED_BIN"
        return
    fi
    if [[ -x "$CACHED_BIN" ]]; then
        echo "$CACHED_BIN"
        return
    fi
    command -v go >/dev/null || die "go is needed to build SeaweedFS"
    mkdir -p "$CACHE_DIR"
    local work
    work=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
    # The module cache is read-only and shared: build in a private copy.
    local dir
    dir=$(cd "$work" && go mod download -json "$MODULE@$VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
    [[ -n "$dir" && -d "$dir" ]] || die "go mod download gave no directory for $MODULE@$VERSION"
    cp -r "$dir" "$work/src"
    chmod -R u+w "$work/src"
    echo "seaweedfs.sh: building weed (once; ~14 min cold), log in $work/build.log" >&2
    if ! (cd "$work/src" && go build -o "$work/weed" ./weed) >"$work/build.log" 2>&1; then
        tail -20 "$work/build.log" >&2
        die "building weed failed (log: $work/build.log)"
    fi
    # Renamed into place so that a half-written binary is never taken for a cached one.
    mv "$work/weed" "$CACHED_BIN"
    rm -rf "$work"
    echo "$CACHED_BIN"
}

start() {
    local dir=${1:?start DIR PORT} port=${2:?start DIR PORT}
    [[ -n "${AWS_ACCESS_KEY_ID:-}" && -n "${AWS_SECRET_ACCESS_KEY:-}" ]] \
        || die "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: the server only accepts signed requests"
    local weed
    weed=$(install)
    mkdir -p "$dir/data"
    # Loopback only, no telemetry, no admin UI, no WebDAV, no Iceberg/Lance endpoints.
    setsid "$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.telemetry=false -admin.ui=false -webdav=false \
        -s3.port="$port" -s3.port.iceberg=0 -s3.port.lance=0 -bucket=velox \
        >"$dir/weed.log" 2>&1 </dev/null &
    echo $! >"$dir/weed.pid"
    # Ready when the bucket answers; a 403 (unsigned request) means S3 is up.
    local i code
    for ((i = 0; i < 240; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/velox" || true)
        if [[ "$code" =~ ^(200|403)$ ]]; then
            echo "seaweedfs.sh: S3 on 127.0.0.1:$port (pid $(cat "$dir/weed.pid"))" >&2
            return
        fi
        kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null || { tail -30 "$dir/weed.log" >&2; die "weed exited"; }
        sleep 0.5
    done
    tail -30 "$dir/weed.log" >&2
    stop "$dir"
    die "S3 did not answer on 127.0.0.1:$port within 120 s"
}

stop() {
    local dir=${1:?stop DIR}
    [[ -f "$dir/weed.pid" ]] || return 0
    local pid
    pid=$(cat "$dir/weed.pid")
    # setsid made weed a process group leader: stop the group, then wait for it.
    kill -TERM -- "-$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$dir/weed.pid"
}

case "${1:-}" in
    install) install ;;
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) die "usage: $0 install | start DIR PORT | stop DIR" ;;
esac
