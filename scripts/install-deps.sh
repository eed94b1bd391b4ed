#!/usr/bin/env bash
# Installs what a fresh machine lacks: Debian packages (when root), Go modules, crates.
# Idempotent and quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v php >/dev/null 2>&1 || need_apt+=(php-cli)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# The provenance tests pack a module proxy's zips; the demo page's reader is tested with node.
command -v zip >/dev/null 2>&1 || need_apt+=(zip)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
# `install-deps.sh bench` (make bench): the load tool and the plotter too.
if [ "${1:-}" = bench ]; then
    command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
    command -v gnuplot >/dev/null 2>&1 || need_apt+=(gnuplot-nox)
fi
# `install-deps.sh browser`: headless Chromium for e2e/demo_browser_test.go, which is
# skipped without it (CI does not need it).
if [ "${1:-}" = browser ]; then
    command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi

if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "install-deps: apt-get install ${need_apt[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "install-deps: missing ${need_apt[*]}: install them (Debian: apt-get install ${need_apt[*]})" >&2
        exit 1
    fi
fi

cargo fetch --quiet
# GOWORK=off: the modules go-shim itself needs, as a Velox build fetches them (go.work
# would also write a go.work.sum for the whole workspace graph).
if [ -f go-shim/go.mod ]; then (cd go-shim && GOWORK=off go mod download); fi
if [ -f e2e/go.mod ]; then (cd e2e && go mod download); fi
