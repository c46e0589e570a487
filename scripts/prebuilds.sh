#!/usr/bin/env bash
# Builds the binaries that ship inside the npm package: prebuilds/linux-x64 and
# prebuilds/linux-arm64 (cross-compiled), Node-API 8, glibc-tagged, stripped.
# Builds in a scratch copy of the sources so a developer's build/ is left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/build-prebuilds"
rm -rf "$work" && mkdir -p "$work"
cp -r "$root/binding.gyp" "$root/sources.json" "$root/package.json" "$root/native" "$work/"
ln -s "$root/node_modules" "$work/node_modules"
nodedir=$(node -p 'require("path").resolve(process.execPath,"../..")')
# node-gyp (driven by prebuildify) reads npm_config_nodedir: without it, on a machine whose npm config
# does not set nodedir, it tries to download headers for the newest Node (no network here).
export npm_config_nodedir="$nodedir"
cd "$work"
npx prebuildify --napi --strip --tag-libc --nodedir="$nodedir"
CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
  npx prebuildify --napi --strip --tag-libc --arch arm64 --strip-bin aarch64-linux-gnu-strip --nodedir="$nodedir"
rm -rf "$root/prebuilds"
cp -r "$work/prebuilds" "$root/prebuilds"
for f in "$root"/prebuilds/*/*.node; do
  floor=$(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)
  echo "$(basename "$(dirname "$f")")/$(basename "$f"): $(stat -c %s "$f") bytes, needs $floor"
done
