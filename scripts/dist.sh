#!/usr/bin/env bash
# `make dist`: the release archive an operator downloads,
#   dist/velox-middleware-<version>-<os>-<arch>.tar.gz
# with the shared and static library, the header, docs/OPERATORS.md, an example
# velox.toml, GLIBC_MINIMUM (read from the built .so's symbol versions, never typed in),
# a README and SHA256SUMS of every file; plus a .sha256 of the archive beside it.
# The libraries are copied with their debug information stripped (their exported
# symbols stay); run from the repository root after `make lib`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lib_dir=${LIB_DIR:-$root/target/release}
out_dir=${DIST_DIR:-$root/dist}
so=$lib_dir/libvelox_middleware.so
ar=$lib_dir/libvelox_middleware.a

for tool in objdump strip sha256sum tar; do
    command -v "$tool" >/dev/null || { echo "dist: $tool is missing (binutils, coreutils, tar)" >&2; exit 1; }
done
for f in "$so" "$ar" "$root/include/velox_middleware.h" "$root/docs/OPERATORS.md" "$root/docs/velox.toml"; do
    [[ -f $f ]] || { echo "dist: $f is missing (run make lib)" >&2; exit 1; }
done

# The version of the package that ships the library (what vxm_version reports).
pkgid=$(cd "$root" && cargo pkgid -p velox-middleware)
version=${pkgid##*[#@]}
os=$(uname -s | tr '[:upper:]' '[:lower:]')
case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=$(uname -m) ;;
esac
name=velox-middleware-$version-$os-$arch

# The highest GLIBC_x.y symbol version the .so imports is the oldest glibc it loads on.
glibc=$(objdump -T "$so" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -1)
[[ -n $glibc ]] || { echo "dist: no GLIBC symbol versions found in $so" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/$name
mkdir -p "$stage"
strip --strip-debug -o "$stage/libvelox_middleware.so" "$so"
strip --strip-debug -o "$stage/libvelox_middleware.a" "$ar"
cp "$root/include/velox_middleware.h" "$root/docs/OPERATORS.md" "$root/docs/velox.toml" "$stage/"
echo "$glibc" >"$stage/GLIBC_MINIMUM"
cat >"$stage/README" <<README
velox-middleware $version for $os/$arch

libvelox_middleware.so  the library the velox RoadRunner plugin loads (purego backend)
libvelox_middleware.a   the same, for the cgo backend (build tag velox_cgo) and C hosts
velox_middleware.h      the C ABI
OPERATORS.md            how to build RoadRunner with the plugin and run it
velox.toml              an example Velox build configuration
GLIBC_MINIMUM           the oldest glibc the .so loads on: $glibc (read from its symbol versions)
SHA256SUMS              sha256sum -c SHA256SUMS

The .so must come from the same release as the go-shim module RoadRunner was built
with: the plugin checks the library's version at start-up.
README
(cd "$stage" && sha256sum -- * >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)

mkdir -p "$out_dir"
tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$out_dir/$name.tar.gz" "$name"
(cd "$out_dir" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "dist: $out_dir/$name.tar.gz (glibc >= $glibc, $(du -h "$out_dir/$name.tar.gz" | cut -f1))"
