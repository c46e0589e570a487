#!/usr/bin/env bash
# Memory and undefined-behaviour checks of the native code (`npm run test:sanitize`), on demand:
#   1. native: the kernels and every native test built with AddressSanitizer + UBSan
#      (-DANYPREC_SANITIZE=address,undefined, no recovery: any finding fails its test), all of ctest;
#   2. addon: the Node addon built the same way (CMake, build-asan/native), loaded by Node with
#      libasan preloaded (leak detection off: Node itself is not built for it), running the
#      whole jest suite (but the chromium status-page test) and scripts/fuzz.mjs against it;
#   3. valgrind (when installed): memcheck of three native tests on a plain build (valgrind's CPU has
#      no AVX-512, so the tests cover the scalar and AVX2 kernels there), no errors and no definite leaks.
# Ends with "N passed, N failed" like scripts/test.sh; a stage that cannot run for a missing tool
# says so and is not counted.
#   bash scripts/sanitize.sh [--quick] [--build-only] [--fuzz-seconds S]
#   --quick: stage 1 only, built at -O1 in build-asan/quick (about a third of the -O3 build's CPU
#            time; the sanitizers check the same accesses): what `npm test` runs;
#   --build-only: configure and build stage 1's tree, run nothing (npm test builds it in the
#            background while other stages run);
#   --fuzz-seconds: how long fuzz.mjs runs in stage 2 (default 60).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=build-asan
quick=0
build_only=0
fuzz_seconds=60
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --build-only) build_only=1 ;;
    --fuzz-seconds) fuzz_seconds=$2; shift ;;
    *) echo "usage: bash scripts/sanitize.sh [--quick] [--build-only] [--fuzz-seconds S]"; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
notok() { failed=$((failed + 1)); echo "not ok - $1"; }
stage() { echo "== $1"; stage_start=$(date +%s); }
took() { echo "   ($(( $(date +%s) - stage_start )) s)"; }
jobs=$(nproc 2>/dev/null || echo 2)

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
want_ctest=$(find native/tests -name 'test_*.cc' | wc -l)

# The quick form's tree is its own (-O1); the long form's is -O3 and also holds the addon.
if [ "$quick" -eq 1 ]; then
  tree="$out/quick"
  opt=(-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DANYPREC_KERNEL_OPT=-O1)
else
  tree="$out/native"
  opt=()
fi
build_native() {
  cmake -S . -B "$tree" -G Ninja -DCMAKE_BUILD_TYPE=Release -DANYPREC_SANITIZE=address,undefined \
    -DANYPREC_BENCH=OFF "${opt[@]}" > "$out/native.log" 2>&1 &&
  cmake --build "$tree" -j "$jobs" >> "$out/native.log" 2>&1
}
if [ "$build_only" -eq 1 ]; then
  if build_native; then echo "built $tree"; exit 0; fi
  tail -30 "$out/native.log"; echo "sanitizer build of the native tests failed"; exit 1
fi

stage "native tests under AddressSanitizer + UBSan"
if build_native; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    ctest --test-dir "$tree" --output-on-failure --timeout 900 -j "$jobs" > "$out/ctest.log" 2>&1
  status=$?
  grep -E 'Test +#|tests passed|tests failed' "$out/ctest.log"
  ran=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$out/ctest.log" | awk '{print $6}')
  if [ "$status" -eq 0 ] && [ "${ran:-0}" -ge "$want_ctest" ]; then ok "ctest under ASan+UBSan: ${ran} tests";
  else grep -E 'ERROR: AddressSanitizer|runtime error|SUMMARY' "$out/ctest.log" | head -20
       notok "ctest under ASan+UBSan (exit $status, ${ran:-0} of $want_ctest tests ran; log $out/ctest.log)"; fi
else
  tail -30 "$out/native.log"; notok "sanitizer build of the native tests"
fi
took

if [ "$quick" -eq 0 ]; then
  stage "the addon under AddressSanitizer + UBSan (jest hardening suites, fuzz.mjs)"
  # The CMake addon target in the same build tree as stage 1, so the sanitized kernel library is
  # reused (cmake-js would add a define to every target and rebuild it all); the include paths
  # are the ones cmake-js would pass. node-gyp-build then loads
  # <ANYPREC_PREBUILD>/build/Release/anyprec.node instead of the checkout's.
  addon_dir="$root/$out/addon"
  inc="$(node -p 'require("node-api-headers").include_dir');$(node -p 'require("path").resolve(require("node-addon-api").include_dir)')"
  if cmake -S . -B "$out/native" -DANYPREC_ADDON=ON "-DCMAKE_JS_INC=$inc" > "$out/addon.log" 2>&1 &&
     cmake --build "$out/native" -j "$jobs" --target anyprec_addon >> "$out/addon.log" 2>&1; then
    mkdir -p "$addon_dir/build/Release"
    cp "$out/native/anyprec.node" "$addon_dir/build/Release/anyprec.node"
    asan_lib=$(g++ -print-file-name=libasan.so)
    run_asan() {
      ANYPREC_PREBUILD="$addon_dir" LD_PRELOAD="$asan_lib" \
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1 "$@"
    }
    # The addon really is the sanitized one (its path, and libasan mapped in).
    if run_asan node -e '
        const p = require("node-gyp-build").path(process.cwd());
        if (!p.includes("build-asan")) { console.error("loaded " + p); process.exit(1); }
        require("./dist").kernels.isa();
        if (!require("fs").readFileSync("/proc/self/maps", "utf8").includes("libasan")) process.exit(1);'; then
      ok "the sanitized addon loads"
      # The whole jest suite (every suite that loads the addon, child processes included: they
      # inherit the preload and ANYPREC_PREBUILD), except the status-page test, which drives
      # chromium (not built for a preloaded libasan) and exercises no native code of its own.
      # Timeouts stretched: the sanitized kernels run several times slower.
      if run_asan npx --no-install jest --maxWorkers=2 --testTimeout=600000 \
           --testPathIgnorePatterns 'test/server-page' > "$out/jest.log" 2>&1; then
        grep -E '^Tests:' "$out/jest.log"
        ok "the whole jest suite (but the status page) on the sanitized addon"
      else
        grep -E '^(PASS|FAIL)|●|ERROR: AddressSanitizer|runtime error|SUMMARY' "$out/jest.log" | head -40
        notok "jest on the sanitized addon (log $out/jest.log)"
      fi
      if run_asan node scripts/fuzz.mjs --seconds "$fuzz_seconds" --seed 1 > "$out/fuzz.log" 2>&1; then
        tail -3 "$out/fuzz.log"; ok "scripts/fuzz.mjs ${fuzz_seconds} s on the sanitized addon"
      else
        grep -E 'ERROR: AddressSanitizer|runtime error|SUMMARY|crash|hang' "$out/fuzz.log" | head -20; tail -5 "$out/fuzz.log"
        notok "scripts/fuzz.mjs on the sanitized addon (log $out/fuzz.log)"
      fi
    else
      notok "the sanitized addon does not load"
    fi
  else
    tail -30 "$out/addon.log"; notok "sanitizer build of the addon"
  fi
  took

  stage "valgrind memcheck (plain build: scalar and AVX2 kernels)"
  if command -v valgrind > /dev/null 2>&1; then
    if cmake -S . -B build-native -G Ninja -DCMAKE_BUILD_TYPE=Release > "$out/plain.log" 2>&1 &&
       cmake --build build-native -j "$jobs" --target test_checked test_threadpool test_conv_epilogue >> "$out/plain.log" 2>&1; then
      for t in checked threadpool conv_epilogue; do
        if valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
             build-native/test_$t > "$out/valgrind-$t.log" 2>&1; then
          grep -E 'ERROR SUMMARY|definitely lost' "$out/valgrind-$t.log"; ok "valgrind memcheck test_$t"
        else
          tail -30 "$out/valgrind-$t.log"; notok "valgrind memcheck test_$t (log $out/valgrind-$t.log)"
        fi
      done
    else
      tail -20 "$out/plain.log"; notok "plain build for valgrind"
    fi
  else
    echo "valgrind is not installed (apt-get install valgrind): skipped"
  fi
  took
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
