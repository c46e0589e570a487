#!/usr/bin/env bash
# The project's test command (`npm test`): builds, then runs
#   1. jest (the TypeScript API against JS references, every ISA this CPU has),
#   2. the native kernel tests (ctest) on this machine,
#   3. the native kernel tests cross-compiled for arm64 and run under qemu (NEON),
# and ends with one line "N passed, N failed" summed over all of them.
# A stage that cannot run at all counts as one failure; nothing is skipped silently.
set -uo pipefail
cd "$(dirname "$0")/.."
out=build-test
rm -rf "$out" && mkdir -p "$out"
passed=0
failed=0

count_ctest() {  # adds every ctest "F tests failed out of T" line of a log to the totals
  local log=$1 f t found=0
  while read -r f _ _ _ _ t; do  # "F tests failed out of T"
    found=1
    passed=$((passed + t - f))
    failed=$((failed + f))
  done < <(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$log")
  [ "$found" -eq 1 ] || failed=$((failed + 1))
}

echo "== build (addon + TypeScript)"
if ! npm run --silent build > "$out/build.log" 2>&1; then
  cat "$out/build.log"
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

echo "== jest"
npx jest --json --outputFile="$out/jest.json" "$@" 2>&1 | tee "$out/jest.log" | grep -E '^(PASS|FAIL)|●' || true
if [ -s "$out/jest.json" ]; then
  read -r jp jf < <(node -e 'const r=require(process.argv[1]); console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites||0))' "$PWD/$out/jest.json")
  passed=$((passed + jp)); failed=$((failed + jf))
  echo "jest: $jp passed, $jf failed"
else
  tail -30 "$out/jest.log"; failed=$((failed + 1))
fi

echo "== native tests (ctest, $(uname -m))"
if cmake -S . -B build-native -G Ninja -DCMAKE_BUILD_TYPE=Release > "$out/cmake.log" 2>&1 &&
   cmake --build build-native >> "$out/cmake.log" 2>&1; then
  ctest --test-dir build-native --output-on-failure 2>&1 | tee "$out/ctest.log" | grep -E 'tests passed|Failed|ok$|FAIL' || true
  count_ctest "$out/ctest.log"
else
  tail -30 "$out/cmake.log"; failed=$((failed + 1))
fi

echo "== native tests (arm64 NEON under qemu)"
if command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then
  if ! bash scripts/test-native-arm64.sh > "$out/arm64.log" 2>&1; then
    tail -40 "$out/arm64.log"; failed=$((failed + 1))
  fi
  grep -E 'tests passed|neon|FAIL' "$out/arm64.log" || true
  count_ctest "$out/arm64.log"
else
  echo "arm64 cross tools missing: apt-get install -y g++-aarch64-linux-gnu qemu-user (counted as a failure)"
  failed=$((failed + 1))
fi

echo "== package (prebuilds for x64 and arm64, npm pack, install without scripts, load on both)"
bash scripts/test-package.sh > "$out/package.log" 2>&1
grep -E '^(ok|not ok) - ' "$out/package.log" || tail -20 "$out/package.log"
pp=$(grep -c '^ok - ' "$out/package.log"); pf=$(grep -c '^not ok - ' "$out/package.log")
[ "$pp" -gt 0 ] || pf=$((pf + 1))
passed=$((passed + pp)); failed=$((failed + pf))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
