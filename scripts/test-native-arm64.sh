#!/usr/bin/env bash
# Cross-builds the kernel library and native tests for arm64 and runs them under qemu-user
# for two CPU models: cortex-a53 (baseline ARMv8.0-A) and max (every feature qemu emulates).
# The tests must report "neon: ok" (under "max": the self-test's "neon: self-test passed"), so a
# silent fallback to the scalar kernels cannot pass; under "max" the int8 test must also report
# "neon-dot: ok" (the SDOT variant, HWCAP_ASIMDDP).
# The only thing "max" changes for our code is HWCAP_ASIMDDP (platform/cpu.cc reads nothing else):
# the int8 variant the neon table picks becomes neon-dot. So under max only the tests that reach an
# int8 kernel run (MAX_TESTS; a test source that names an int8 route or kernel and is not listed
# fails the script), and the two int8 kernel tests check only the neon-dot variant
# (ANYPREC_TEST_I8_VARIANTS): their neon and scalar variants are the same binaries the cortex-a53
# run checked. The micro-benchmarks are not built here (the x64 build compiles them).
#
# Needs: cmake, ninja-build, g++-aarch64-linux-gnu, qemu-user, e.g.
#   apt-get install -y --no-install-recommends cmake ninja-build g++-aarch64-linux-gnu qemu-user
# Usage: scripts/test-native-arm64.sh            (BUILD_DIR, CPUS and JOBS may be overridden)
# Under qemu timings mean nothing: this checks correctness only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-arm64}"
CPUS="${CPUS:-cortex-a53 max}"
JOBS="${JOBS:-2}"
# The native tests that reach an int8 kernel: all that QEMU_CPU=max runs differently from cortex-a53.
MAX_TESTS="dual_finish gated_int8 i8codes i8gemm platform selftest"
SYSROOT=/usr/aarch64-linux-gnu

fail() { echo "test-native-arm64: FAILED: $*" >&2; exit 1; }

missing=()
for tool in cmake ninja ctest aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ! -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then missing+=("$SYSROOT/lib/ld-linux-aarch64.so.1"); fi
if [ ${#missing[@]} -gt 0 ]; then
  fail "missing ${missing[*]}; install with:
  apt-get install -y --no-install-recommends cmake ninja-build g++-aarch64-linux-gnu qemu-user"
fi

for src in "$ROOT"/native/tests/test_*.cc; do
  name=$(basename "$src" .cc); name=${name#test_}
  if grep -qE 'Int8Route|I8Kernel|I8Codes|int8KernelFor|int8For|GatedHigh::Int8|i8KernelsToCheck|->int8|\.int8' "$src" &&
     [[ " $MAX_TESTS " != *" $name "* ]]; then
    fail "native/tests/test_$name.cc reaches an int8 kernel: add $name to MAX_TESTS"
  fi
done

start=$(date +%s)

# A build dir configured with another generator or toolchain cannot be reused.
if [ -f "$BUILD_DIR/CMakeCache.txt" ] &&
   ! { grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt" &&
       grep -q 'aarch64-toolchain.cmake' "$BUILD_DIR/CMakeCache.txt"; }; then
  echo "== $BUILD_DIR was configured differently; starting it afresh"
  rm -rf "$BUILD_DIR"
fi

echo "== configure ($BUILD_DIR)"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-toolchain.cmake" -DANYPREC_TESTS=ON -DANYPREC_BENCH=OFF >/dev/null \
  || fail "cmake configure"
echo "== build"
cmake --build "$BUILD_DIR" -j "$JOBS" || fail "build"

# The tests really are aarch64 binaries (not host ones that would run without qemu).
file_out="$(head -c 20 "$BUILD_DIR/test_bitgemm" | od -An -tx1 | tr -d ' \n')"
# ELF e_machine at offset 18: 0xb7 0x00 = EM_AARCH64
[ "${file_out:36:4}" = "b700" ] || fail "test_bitgemm is not an aarch64 executable"

status=0
summary=()
for cpu in $CPUS; do
  echo "== ctest under qemu-aarch64, QEMU_CPU=$cpu"
  log="$BUILD_DIR/ctest-$cpu.log"
  t0=$(date +%s)
  set +e
  if [ "$cpu" = max ]; then
    QEMU_CPU="$cpu" ANYPREC_TEST_I8_VARIANTS=neon-dot ctest --test-dir "$BUILD_DIR" -j "$JOBS" --timeout 1200 -V \
      -R "^($(tr ' ' '|' <<<"$MAX_TESTS"))\$" >"$log" 2>&1
  else
    QEMU_CPU="$cpu" ctest --test-dir "$BUILD_DIR" -j "$JOBS" --timeout 1200 -V >"$log" 2>&1
  fi
  rc=$?
  set -e
  t1=$(date +%s)
  # ctest -V prefixes each test's output with "<test number>: ".
  grep -E 'ISAs on this CPU|int8 variants on this CPU|: (neon|neon-dot|scalar): |checks, [0-9]+ failed|FAIL|tests passed|tests failed' "$log" | sed 's/^/   /' || true
  result="ok"
  if [ $rc -ne 0 ]; then
    result="FAILED (ctest exit $rc)"
    grep -E '^[0-9]+: FAIL' "$log" | head -20 | sed 's/^/   /' || true
  elif [ "$cpu" != max ] && ! grep -qE '(^|: )neon: ok$' "$log"; then
    result="FAILED (test output has no \"neon: ok\": the NEON table did not run)"
  elif [ "$cpu" = max ] && ! grep -qE '(^|: )neon: self-test passed' "$log"; then
    result="FAILED (QEMU_CPU=max: no \"neon: self-test passed\": the NEON table did not run)"
  elif ! grep -qE 'int8 variants on this CPU:.* neon( |$)' "$log"; then
    result="FAILED (the int8 test did not list the neon variant)"
  elif [ "$cpu" = max ] && ! grep -qE '(^|: )neon-dot: ok$' "$log"; then
    # qemu's "max" CPU has the dot-product extension: the SDOT variant must have run and passed
    result="FAILED (QEMU_CPU=max but no \"neon-dot: ok\": the SDOT int8 variant did not run)"
  fi
  [ "$result" = "ok" ] || status=1
  summary+=("QEMU_CPU=$cpu: $result ($((t1 - t0)) s, log $log)")
done

echo "== arm64 native tests, $(( $(date +%s) - start )) s in all"
for line in "${summary[@]}"; do echo "   $line"; done
if [ $status -ne 0 ]; then
  fail "see the logs above"
fi
echo "test-native-arm64: all passed"
