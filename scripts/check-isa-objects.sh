#!/usr/bin/env bash
# Each compiled kernel object may use only the instructions of its ISA: a CPU without AVX-512
# dies with SIGILL on the first EVEX instruction it meets, and tests on an AVX-512 machine never
# notice. (It happened: an asm block's `vpsrlw $4, mem, ymm` exists only in EVEX form, and the
# assembler chose it without a word, in the AVX2 bit-serial kernel.)
#   - objects of the AVX2 and AVX-VNNI targets: no EVEX encoding, no zmm, no mask registers;
#   - objects of the base target (scalar kernels, binding): no ymm either (no AVX at all);
#   - AVX-512, AVX-512 VNNI and AMX objects: anything (the dispatcher runs them only where CPUID says so).
# Usage: scripts/check-isa-objects.sh [DIR]   (DIR: node-gyp's objects, default build/Release/obj.target)
# Prints one line per offending object (with its first offending instructions) and exits 1 if any.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/Release/obj.target}
command -v objdump > /dev/null || { echo "objdump not found (Debian: binutils)"; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "not an x86-64 build: nothing to check"; exit 0; }
mapfile -t objs < <(find "$dir" -name '*.o' | sort)
[ "${#objs[@]}" -gt 0 ] || { echo "no objects under $dir (build first)"; exit 1; }
bad=0
checked=0
for o in "${objs[@]}"; do
  case "$o" in
    */anyprec_avx512/*|*/anyprec_avx512vnni/*|*/anyprec_amx/*) continue ;;
    */anyprec_avx2/*|*/anyprec_avxvnni/*) pattern='\{evex\}|%zmm|%k[0-7]\b' ; what='AVX-512 (EVEX) instructions' ;;
    *) pattern='\{evex\}|%zmm|%k[0-7]\b|%ymm' ; what='AVX instructions' ;;
  esac
  checked=$((checked + 1))
  hits=$(objdump -d --no-show-raw-insn "$o" | grep -E "$pattern")
  if [ -n "$hits" ]; then
    bad=$((bad + 1))
    echo "$o: $(printf '%s\n' "$hits" | wc -l) $what, e.g."
    printf '%s\n' "$hits" | head -3
  fi
done
echo "$checked objects checked, $bad with instructions outside their ISA"
[ "$bad" -eq 0 ]
