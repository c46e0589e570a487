// Sign-magnitude weight levels on the bit-serial kernels. A level l in −n..n (n = 2^bits − 1)
// splits exactly into a bipolar `bits`-plane level (the odd values 2c − n) plus a 1-bit unsigned
// "+1" where l is even, so Σ q·l is two exact GEMMs over bits + 1 planes (9 plane rows for 8-bit
// weights, not 16 as separate positive and negative parts would take).
import * as kernels from './kernels';
import type { Packed } from './kernels';

/** Sign-magnitude weight levels packed for the bit-serial GEMM (rows = output channels). */
export interface SignMagnitudePacked {
  bits: number;
  /** Bipolar codes c of the odd part: value 2c − (2^bits − 1). */
  odd: Packed;
  /** 1-bit unsigned: 1 where the level is even (level = odd part + 1). */
  even: Packed;
  /** Weight scale s_w. */
  scale: number;
}

/** Splits row-major levels (rows x cols, in −n..n) into the two packed operands. */
export function packSignMagnitude(levels: Int16Array, rows: number, cols: number, bits: number, scale: number): SignMagnitudePacked {
  const n = 2 ** bits - 1;
  if (levels.length !== rows * cols) throw new RangeError(`levels must hold rows*cols = ${rows * cols} values, got ${levels.length}`);
  const odd = new Uint8Array(levels.length), even = new Uint8Array(levels.length);
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (!(l >= -n && l <= n)) throw new RangeError(`level ${l} at ${i} is outside −${n}..${n}`);
    const e = l & 1 ? 0 : 1; // even levels: l = (l − 1) + 1, and l − 1 >= −n since −n is odd
    even[i] = e;
    odd[i] = (l - e + n) / 2;
  }
  return { bits, odd: kernels.pack(odd, rows, cols, bits), even: kernels.pack(even, rows, cols, 1), scale };
}

/** The two partial GEMMs: Σ (a >> s)·odd (bipolar) and Σ (a >> s)·even; their sum is Σ (a >> s)·level. */
function partialGemms(a: Packed, w: SignMagnitudePacked, aBits: number): [Int32Array, Int32Array] {
  return [
    kernels.bitGemm(a, w.odd, { aBits, aEncoding: 'unsigned', bEncoding: 'bipolar' }),
    kernels.bitGemm(a, w.even, { aBits, aEncoding: 'unsigned', bEncoding: 'unsigned' }),
  ];
}

/** Exact C[i][j] = Σ_t (a[i][t] >> (a.bits − aBits)) · level[j][t] as int32 (a unsigned codes). */
export function signMagnitudeGemm(a: Packed, w: SignMagnitudePacked, aBits: number): Int32Array {
  const [c, e] = partialGemms(a, w, aBits);
  for (let i = 0; i < c.length; i++) c[i] += e[i];
  return c;
}

/** Plain (ungated) sign-magnitude product: float32(unit · Σ q·l) for every output, one rounding. */
export function signMagnitudeConv(a: Packed, w: SignMagnitudePacked, unit: number): Float32Array {
  const [c, e] = partialGemms(a, w, a.bits);
  const out = new Float32Array(c.length);
  for (let i = 0; i < c.length; i++) out[i] = (c[i] + e[i]) * unit;
  return out;
}
