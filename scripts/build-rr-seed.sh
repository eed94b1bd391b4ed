#!/usr/bin/env bash
# Builds build/rr-seed: the e2e RoadRunner main (e2e/cmd/rr) with the original velox plugin
# (github.com/roadrunner-plugins/velox-middleware) in place of ours, from a source checkout
# given as $1. The Go module proxy does not serve that module, so it comes in through a
# `replace` to the checkout. Nothing in the repository refers to the checkout: the go.mod
# with the replace and the plugin list that imports it are generated under build/seed and
# handed to `go build` with -modfile and -overlay, so e2e/go.mod and `go mod tidy` never
# see a path outside the repository.
set -euo pipefail

src=${1:?usage: build-rr-seed.sh /path/to/velox-middleware-checkout [output]}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/build/rr-seed}
seed_mod=github.com/roadrunner-plugins/velox-middleware

[[ -f $src/go.mod ]] || { echo "build-rr-seed: $src has no go.mod: not a checkout of $seed_mod" >&2; exit 1; }
grep -q "^module $seed_mod\$" "$src/go.mod" ||
    { echo "build-rr-seed: $src/go.mod is not module $seed_mod" >&2; exit 1; }
src=$(cd "$src" && pwd)

gen=$root/build/seed
rm -rf "$gen"
mkdir -p "$gen"
cp "$root/e2e/go.mod" "$gen/go.mod"
cp "$root/e2e/go.sum" "$gen/go.sum"
# Relative replaces in an alternate go.mod would resolve against build/seed: make ours absolute.
go mod edit \
    -replace "github.com/velox-middleware/go-shim=$root/go-shim" \
    -require "$seed_mod@v0.0.0-00010101000000-000000000000" \
    -replace "$seed_mod=$src" "$gen/go.mod"

# The same main and plugin set; only the velox plugin is the original one.
cat >"$gen/plugins_velox.go" <<'GO'
//go:build !rr_static

package main

import velox "github.com/roadrunner-plugins/velox-middleware"

// extraPlugins: the original velox plugin, from a source checkout (scripts/build-rr-seed.sh).
func extraPlugins() []any {
	return []any{&velox.Plugin{}}
}
GO
printf '{"Replace":{"%s":"%s"}}\n' "$root/e2e/cmd/rr/plugins_velox.go" "$gen/plugins_velox.go" >"$gen/overlay.json"

cd "$root/e2e"
# -mod=mod: the seed's own requirements may add go.sum lines; they go to build/seed/go.sum.
CGO_ENABLED=0 go build -mod=mod -modfile="$gen/go.mod" -overlay="$gen/overlay.json" -o "$out" ./cmd/rr
# The report names the commit measured.
(cd "$src" && git rev-parse HEAD 2>/dev/null || echo "unknown (not a git checkout)") >"$gen/commit"
echo "build-rr-seed: $out from $src at $(cat "$gen/commit")"
