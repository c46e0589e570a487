#!/usr/bin/env bash
# The project's test command (`npm test`): builds, then runs
#   1. jest (the TypeScript API against JS references, every ISA this CPU has, the README's examples),
#   2. the kernel coverage check (the ISAs and int8 kernels this CPU's flags promise are the ones the addon runs),
#   3. the native kernel tests (ctest) on this machine,
#   4. the native kernel tests cross-compiled for arm64 and run under qemu (NEON),
#   5. the packaging test (prebuilds, npm pack, install without scripts, load on x64 and arm64),
#   6. the native kernel tests built with AddressSanitizer + UBSan at -O1 (scripts/sanitize.sh
#      --quick; its tree is built in the background at the lowest CPU priority from the jest stage
#      on, so it takes the cycles the other stages leave idle), and beside that ctest run, which
#      leaves a core idle behind its longest test: the bounded fuzz (scripts/fuzz.mjs, 60 s) and
#      the short soak (scripts/soak.mjs: wrong results, or RSS growth that only a leak gives),
# and ends with one line "N passed, N failed" summed over all of them, after each stage's time
# (wall clock, and CPU seconds of its processes).
# A stage that did not run, ran fewer tests than the repository holds, or exited with an error
# counts as a failure: "N passed, 0 failed" means everything ran and passed.
#
# Needs Debian packages (installed here when run as root, else named and the run stops):
#   g++ make python3 cmake ninja-build g++-aarch64-linux-gnu qemu-user chromium ccache
# (ccache is optional: the package stage uses it when present)
# (chromium: the server's status page is checked in a headless browser), and the reference
# fixtures in ../shared/fixtures beside the checkout.
set -uo pipefail
cd "$(dirname "$0")/.."
out=build-test
passed=0
failed=0

apt_line='apt-get update && apt-get install -y --no-install-recommends g++ make python3 cmake ninja-build g++-aarch64-linux-gnu qemu-user chromium ccache'

missing_tools() {
  local t
  for t in g++ make python3 cmake ninja ctest objdump aarch64-linux-gnu-g++ qemu-aarch64 chromium; do
    command -v "$t" >/dev/null 2>&1 || printf '%s ' "$t"
  done
  [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || printf '%s ' /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
}

missing=$(missing_tools)
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing the Debian packages the tests need (missing: $missing)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
           apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
             g++ make python3 cmake ninja-build g++-aarch64-linux-gnu qemu-user chromium ccache; } > /tmp/anyprec-apt.log 2>&1; then
      tail -20 /tmp/anyprec-apt.log
      echo "apt-get failed (log /tmp/anyprec-apt.log)"
      echo "0 passed, 1 failed"
      exit 1
    fi
    missing=$(missing_tools)
  fi
  if [ -n "$missing" ]; then
    echo "npm test needs: $missing"
    echo "install them (as root) with:"
    echo "  $apt_line"
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

rm -rf "$out" && mkdir -p "$out"

# Stage times: `stage NAME` starts one (and ends the previous); `stage_end` ends the last.
stage_name=""
stage_times=()
# cpu_now sets $cpu to the CPU seconds (user + sys) of this shell's finished children so far
# (`times` must run in this shell, not in a $(...) subshell).
cpu_now() {
  times > "$out/.times"
  cpu=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$out/.times")
}
stage_end() {
  [ -n "$stage_name" ] || return 0
  cpu_now
  stage_times+=("$(printf '%-38s %5d s wall, %5d s CPU' "$stage_name" $(( $(date +%s) - stage_t0 )) $(( cpu - stage_cpu0 )))")
  stage_name=""
}
stage() { stage_end; stage_name=$1; stage_t0=$(date +%s); cpu_now; stage_cpu0=$cpu; echo "== $1"; }

ok() { passed=$((passed + 1)); echo "ok - $1"; }
notok() { failed=$((failed + 1)); echo "not ok - $1"; }

# Adds every "F tests failed out of T" line of a ctest log to the totals; fewer than $2 tests
# in all (or no such line) is a failure.
count_ctest() {
  local log=$1 want=$2 f t lines=0 total=0
  while read -r f _ _ _ _ t; do  # "F tests failed out of T"
    lines=$((lines + 1))
    total=$((total + t))
    passed=$((passed + t - f))
    failed=$((failed + f))
  done < <(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$log")
  if [ "$total" -lt "$want" ]; then
    notok "$log: $total tests ran, expected at least $want"
  fi
}

stage "build (addon + TypeScript)"
# Incremental: after `npm run build` (as CI's `npm run demo` just did) only changed files compile
# (gyp's makefiles also recompile what a changed command line affects); -j max uses every core.
nodedir=$(node -p 'require("path").resolve(process.execPath,"../..")')
if ! { npx --no-install node-gyp configure --nodedir="$nodedir" && npx --no-install node-gyp build -j max &&
       npm run --silent build:ts; } > "$out/build.log" 2>&1; then
  cat "$out/build.log"
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# The sanitizer tree for stage 6, built meanwhile at nice 19: the stages below keep their CPU.
san_build_t0=$(date +%s)
( nice -n 19 bash scripts/sanitize.sh --quick --build-only; st=$?; echo "ended at $(date +%s)"; exit $st ) \
  > "$out/sanitize-build.log" 2>&1 &
san_build_pid=$!
trap 'kill "$san_build_pid" 2> /dev/null' EXIT

stage "jest"
# Every test file must run (unless arguments narrow the run on purpose).
want_suites=$(find test -name '*.test.ts' | wc -l)
[ $# -eq 0 ] || want_suites=1
# Two workers: jest's default on two cores is one (cores - 1), and most suites run one kernel thread.
npx jest --maxWorkers="${ANYPREC_JEST_WORKERS:-2}" --json --outputFile="$out/jest.json" "$@" 2>&1 | tee "$out/jest.log" | grep -E '^(PASS|FAIL)|●'
jest_status=${PIPESTATUS[0]}
if [ -s "$out/jest.json" ] &&
   counts=$(node -e '
     const r = require(process.argv[1]);
     const n = (v) => (Number.isInteger(v) ? v : NaN);
     const out = [n(r.numPassedTests), n(r.numFailedTests) + n(r.numRuntimeErrorTestSuites),
                  n(r.numTotalTestSuites), n(r.numTotalTests), n(r.numPendingTests) + n(r.numTodoTests)];
     if (out.some(Number.isNaN)) process.exit(1);
     console.log(out.join(" "));' "$PWD/$out/jest.json") &&
   read -r jp jf jsuites jtests jskipped <<< "$counts"; then
  # A skipped test did not pass: each counts as a failure (e.g. the status page test without chromium).
  passed=$((passed + jp)); failed=$((failed + jf + jskipped))
  echo "jest: $jp passed, $jf failed (tests and suites), $jskipped skipped, $jsuites suites, $jtests tests, exit $jest_status"
  [ "$jskipped" -eq 0 ] || grep -h 'SKIPPED:' "$out/jest.log" | sort -u
  if [ "$jsuites" -lt "$want_suites" ] || [ "$jtests" -eq 0 ]; then
    notok "jest ran $jsuites suites ($jtests tests), expected $want_suites suites"
  fi
  if [ "$jest_status" -ne 0 ] && [ "$jf" -eq 0 ]; then
    notok "jest exited with status $jest_status although it reported no failure"
  fi
else
  tail -30 "$out/jest.log"
  notok "jest gave no readable result (exit $jest_status)"
fi

stage "kernel coverage on this CPU"
# The ISAs and int8 kernels the CPU's flags promise, as the dispatcher defines them, must all be
# ones the addon reports; the variants this machine cannot run are listed.
if node scripts/kernel-coverage.cjs > "$out/coverage.log" 2>&1; then
  cat "$out/coverage.log"; ok "kernel coverage matches the CPU flags"
else
  cat "$out/coverage.log"; notok "kernel coverage does not match the CPU flags"
fi

# Every non-AVX-512 object free of AVX-512 instructions (they pass on an AVX-512 machine and
# raise SIGILL on an AVX2-only one): objdump over the objects the build just made.
if bash scripts/check-isa-objects.sh > "$out/isa-objects.log" 2>&1; then
  tail -1 "$out/isa-objects.log"; ok "every kernel object uses only its ISA's instructions"
else
  cat "$out/isa-objects.log"; notok "kernel objects use instructions outside their ISA"
fi

stage "API reference (docs/api) matches the types"
# docs/api is generated from lib/ by typedoc (npm run docs:api) and committed so the README can link
# it; regenerated into a scratch directory here, it must equal the committed one.
if npx typedoc --out "$out/api" > "$out/typedoc.log" 2>&1 && diff -r "$out/api" docs/api > "$out/api.diff" 2>&1; then
  ok "docs/api is what npm run docs:api generates from the types"
else
  tail -20 "$out/typedoc.log"; head -20 "$out/api.diff"; notok "docs/api is stale or typedoc failed: run npm run docs:api and commit docs/api"
fi

stage "native tests (ctest, $(uname -m))"
want_ctest=$(find native/tests -name 'test_*.cc' | wc -l)
if cmake -S . -B build-native -G Ninja -DCMAKE_BUILD_TYPE=Release > "$out/cmake.log" 2>&1 &&
   cmake --build build-native >> "$out/cmake.log" 2>&1; then
  ctest --test-dir build-native --output-on-failure --timeout 900 -j 2 > "$out/ctest.log" 2>&1
  ctest_status=$?
  grep -E 'tests passed|Failed|ok$|FAIL|Timeout' "$out/ctest.log" || true
  count_ctest "$out/ctest.log" "$want_ctest"
  if [ "$ctest_status" -ne 0 ] && ! grep -qE '[1-9][0-9]* tests failed out of' "$out/ctest.log"; then
    notok "ctest exited with status $ctest_status"
  fi
else
  tail -30 "$out/cmake.log"; notok "native build (cmake)"
fi

stage "native tests (arm64 NEON under qemu)"
# scripts/test-native-arm64.sh runs ctest twice (QEMU_CPU=cortex-a53, and max for what SDOT changes), each with a timeout.
if bash scripts/test-native-arm64.sh > "$out/arm64.log" 2>&1; then
  arm_status=0
else
  arm_status=$?
  tail -40 "$out/arm64.log"
fi
grep -E 'tests passed|neon|FAIL' "$out/arm64.log" || true
# every test under cortex-a53; under max the ones that reach an int8 kernel (the script's MAX_TESTS)
max_tests=$(sed -n 's/^MAX_TESTS="\(.*\)"$/\1/p' scripts/test-native-arm64.sh | wc -w)
count_ctest "$out/arm64.log" $((want_ctest + max_tests))
[ "$arm_status" -eq 0 ] || notok "scripts/test-native-arm64.sh exited with status $arm_status"

stage "package (prebuilds, pack, install)"
echo "   (prebuilds for x64 and arm64, npm pack, install without scripts, load on both)"
JOBS=max bash scripts/test-package.sh > "$out/package.log" 2>&1
pkg_status=$?
grep -E '^(ok|not ok) - ' "$out/package.log" || tail -20 "$out/package.log"
pp=$(grep -c '^ok - ' "$out/package.log"); pf=$(grep -c '^not ok - ' "$out/package.log")
passed=$((passed + pp)); failed=$((failed + pf))
want_pkg=$(sed -n 's/^# expected ok lines: //p' scripts/test-package.sh)
if [ "$pp" -lt "${want_pkg:-1}" ]; then
  tail -20 "$out/package.log"
  notok "package test printed $pp ok lines, expected $want_pkg"
fi
if [ "$pkg_status" -ne 0 ] && [ "$pf" -eq 0 ]; then
  notok "scripts/test-package.sh exited with status $pkg_status"
fi

stage "sanitizers (ctest, ASan + UBSan), fuzz, soak"
# scripts/sanitize.sh --quick: the kernels and every native test with both sanitizers, all of ctest
# (the addon under ASan, valgrind and the long fuzz run are `npm run test:sanitize`). Its two ctest
# jobs leave one core idle behind the longest test, where the fuzz and the soak (one thread each)
# run meanwhile.
san_pid=""
rm -f build-asan/ctest.log
wait "$san_build_pid"
san_build_status=$?
trap - EXIT # reaped: its pid may be reused from now on
if [ "$san_build_status" -eq 0 ]; then
  echo "   (the sanitizer tree was built in the background in" \
    "$(( $(sed -n 's/^ended at //p' "$out/sanitize-build.log") - san_build_t0 )) s of wall time)"
  bash scripts/sanitize.sh --quick > "$out/sanitize.log" 2>&1 &
  san_pid=$!
else
  tail -30 "$out/sanitize-build.log"; notok "sanitizer build of the native tests (log $out/sanitize-build.log)"
fi
# The fuzz seed changes daily (days since 1970) and is printed: a failure replays with --seed.
fuzz_seed=${ANYPREC_FUZZ_SEED:-$(( $(date +%s) / 86400 ))}
node scripts/fuzz.mjs --seconds 60 --seed "$fuzz_seed" > "$out/fuzz.log" 2>&1
fuzz_status=$?
head -1 "$out/fuzz.log"
if [ "$fuzz_status" -eq 0 ] && grep -qE '^fuzz: seed [0-9]+, .* [1-9][0-9]* cases, 0 crashes .* 0 failures' "$out/fuzz.log"; then
  ok "fuzz 60 s, seed $fuzz_seed: every case a result or an error with a message"
else
  tail -25 "$out/fuzz.log"; notok "fuzz (seed $fuzz_seed, exit $fuzz_status; replay: node scripts/fuzz.mjs --seconds 60 --seed $fuzz_seed)"
fi
node scripts/soak.mjs --n 100000 > "$out/soak.log" 2>&1
soak_status=$?
cat "$out/soak.log"
if [ "$soak_status" -eq 0 ] && grep -qE '^soak: [0-9]+ inferences .* 0 wrong results' "$out/soak.log"; then
  ok "soak: 100,000 inferences, no wrong result, RSS growth after warm-up within 25%"
else
  notok "soak (exit $soak_status)"
fi
if [ -n "$san_pid" ]; then
  wait "$san_pid"
  san_status=$?
  grep -E '^not ok - |Test +#' "$out/sanitize.log" || tail -20 "$out/sanitize.log"
  count_ctest build-asan/ctest.log "$want_ctest"
  if [ "$san_status" -ne 0 ] && ! grep -qE '[1-9][0-9]* tests failed out of' build-asan/ctest.log; then
    notok "scripts/sanitize.sh --quick exited with status $san_status (log $out/sanitize.log)"
  fi
fi
stage_end

echo "== stage times"
for line in "${stage_times[@]}"; do echo "   $line"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
