// Precision Gating (Zhang et al., 2020; cornell-zhang/dnn-gating PGConv2d) on the bit-serial GEMM.
//
// A layer's input is B-bit unsigned activation codes q (dynamic per-tensor scale s_a); its weights
// are sign-magnitude integer levels l in −n_w..n_w (scale s_w). One accumulator unit is worth
// u = (s_a / n_a)·(s_w / n_w). The high part uses the top Bhb planes of q (q >> (B − Bhb)), so
//   O_hb = u · 2^(B−Bhb) · Σ (q >> (B−Bhb))·l,   O = u · Σ q·l,
// and an output gets its low bits (O instead of O_hb) only where O_hb > Δ_c (its channel's learned
// threshold, in the layer's float units, before batch norm).
//
// Sign-magnitude levels on the kernels: every level splits exactly into a bipolar 8-plane level
// (odd values 2c − n_w) plus a 1-bit unsigned "+1" for the even levels, so Σ q·l is two exact
// GEMMs over n_w's planes + 1 plane (9 plane rows for 8-bit weights, not 16 as W+ / W− would take).
import * as kernels from '../core/kernels';
import { ConvGeometry, ImageShape, Packed } from '../core/kernels';

const fr = Math.fround;

/** Which outputs get their low bits: the learned gate, every output, or none. */
export type GateMode = 'trained' | 'open' | 'closed';

export interface GateSetting {
  mode: GateMode;
  /** Added to every threshold Δ_c (float32), in the layer's output units: > 0 gives fewer gated-on outputs. */
  offset: number;
}

export const DEFAULT_GATE: GateSetting = { mode: 'trained', offset: 0 };

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

/** float32(u · Σ (a >> (a.bits − aBits))·level), one rounding. */
function scaledGemm(a: Packed, w: SignMagnitudePacked, aBits: number, u: number): Float32Array {
  const [c, e] = partialGemms(a, w, aBits);
  const out = new Float32Array(c.length);
  for (let i = 0; i < c.length; i++) out[i] = (c[i] + e[i]) * u;
  return out;
}

/**
 * The reference's gate: sigmoid(5·(O_hb − Δ)) > 0.5 in float32. Mathematically O_hb > Δ, but a
 * positive difference so small that the float32 sigmoid rounds to exactly 0.5 stays off.
 */
export function gateOn(ohb: number, delta: number): boolean {
  const d = fr(ohb - delta);
  if (!(d > 0)) return false;
  const t = fr(5 * d);
  if (t > 1e-5) return true; // far above the band where 1 / (1 + e^−t) can round to 0.5
  return fr(1 / fr(1 + fr(Math.exp(-t)))) > 0.5;
}

/**
 * The gate as integer thresholds on the high-part accumulators: output j is on iff
 * acc_hb >= T[j], exactly where gateOn(fr(acc_hb · unitHb), fr(Δ_j + offset)) holds (that predicate
 * is monotone in acc_hb, so a binary search over |acc_hb| <= bound finds the edge). bound + 1 = never.
 */
export function gateThresholds(threshold: Float32Array, offset: number, unitHb: number, bound: number): Int32Array {
  if (!(unitHb > 0)) throw new RangeError(`unitHb must be > 0, got ${unitHb}`);
  const T = new Int32Array(threshold.length);
  const on = (acc: number, delta: number) => gateOn(fr(acc * unitHb), delta);
  for (let c = 0; c < threshold.length; c++) {
    const delta = fr(threshold[c] + offset);
    let lo = -bound, hi = bound + 1; // invariant: on(lo) may hold; on(hi) holds (hi = bound + 1: never)
    if (on(lo, delta)) hi = lo;
    else if (!on(bound, delta)) lo = hi;
    while (hi - lo > 1) { // on(lo) false, on(hi) true
      const mid = Math.floor((lo + hi) / 2);
      if (on(mid, delta)) hi = mid;
      else lo = mid;
    }
    T[c] = hi;
  }
  return T;
}

export interface PgConvOptions {
  /** High (predictor) bits Bhb, 1..B−1 (B = the input's bits). */
  highBits: number;
  /** Float value of one accumulator unit: (s_a / (2^B − 1)) · (s_w / (2^bw − 1)). */
  unit: number;
  /** Δ per output channel (w's rows), float units before batch norm. */
  threshold: Float32Array;
  gate?: GateSetting;
}

export interface PgConvResult {
  /** rows x channels float outputs (before batch norm), rows = output positions (n, oy, ox). */
  out: Float32Array;
  /** Outputs that got their low bits. */
  on: number;
  total: number;
}

/** A PG layer's input: NHWC unsigned activation codes of `bits` bits. */
export interface PgInput {
  codes: Uint8Array;
  shape: ImageShape;
  bits: number;
}

function checkPg(bits: number, w: SignMagnitudePacked, o: PgConvOptions) {
  const hb = o.highBits;
  if (!Number.isInteger(hb) || hb < 1 || hb >= bits) throw new RangeError(`highBits must be an integer in 1..${bits - 1}, got ${hb}`);
  if (o.threshold.length !== w.odd.rows) throw new RangeError(`threshold must hold ${w.odd.rows} values, got ${o.threshold.length}`);
  if (!(o.unit > 0)) throw new RangeError(`unit must be > 0, got ${o.unit}`);
  return { hb, low: bits - hb, gate: o.gate ?? DEFAULT_GATE, unitHb: o.unit * 2 ** (bits - hb) };
}

/**
 * The kernel threshold t (a float32, in the full-precision accumulator's units) for the integer
 * high-part threshold T (on iff acc_hb >= T): with O_hb = acc_hb · 2^L the kernel's O_hb > t is
 * acc_hb >= T for any t in [(T − 1)·2^L, T·2^L). (T − 1)·2^L itself is exact in float32 while
 * |T − 1| < 2^24; past that (K in the thousands) null: the caller takes the dense path.
 */
function kernelThresholds(T: Int32Array, low: number, bound: number): Float32Array | null {
  const t = new Float32Array(T.length);
  const scale = 2 ** low;
  for (let c = 0; c < T.length; c++) {
    if (T[c] > bound) t[c] = Infinity; // never on
    else if (T[c] <= -bound) t[c] = -Infinity; // always on (acc_hb >= −bound for every output)
    else {
      const v = (T[c] - 1) * scale;
      t[c] = v;
      if (!(t[c] >= v && t[c] < T[c] * scale)) return null;
    }
  }
  return t;
}

/**
 * One PG conv layer: the single entry point for the gated computation. O_hb comes from the top
 * Bhb planes of the input codes for every output, the gate from O_hb against Δ (as integer
 * thresholds on the accumulators), and O = O_hb + O_lb for the outputs gated on, where O_lb (the
 * low B − Bhb planes) is computed ONLY for those: the native gated GEMM with the sign-magnitude
 * weights' two operands (odd part + even part; the gate is on their summed O_hb). Bit for bit
 * pgConvDense.
 */
export function pgConv(x: PgInput, conv: ConvGeometry, w: SignMagnitudePacked, o: PgConvOptions): PgConvResult {
  const { hb, low, gate, unitHb } = checkPg(x.bits, w, o);
  const unit = o.unit;
  const channels = w.odd.rows;
  const a = kernels.packConv(x.codes, x.shape, conv, x.bits);
  const total = a.rows * channels;
  let thresholds: Float32Array | null;
  // 'open' / 'closed': every output on / off (+Infinity: the kernel does the high planes only).
  if (gate.mode === 'open') thresholds = new Float32Array(channels).fill(-Infinity);
  else if (gate.mode === 'closed') thresholds = new Float32Array(channels).fill(Infinity);
  else {
    const bound = (2 ** hb - 1) * (2 ** w.bits - 1) * a.cols;
    thresholds = kernelThresholds(gateThresholds(o.threshold, gate.offset, unitHb, bound), low, bound);
    if (thresholds === null) return pgConvDense(a, w, o);
  }
  const r = kernels.gatedGemm(a, w.odd, {
    aBits: x.bits, highBits: hb, bEncoding: 'bipolar', thresholds, b2: w.even, b2Encoding: 'unsigned',
  });
  // out = O_hb + O_lb (= Σ q·l) where on, O_hb = 2^L·acc_hb elsewhere; u·2^L·acc_hb rounds as
  // unitHb·acc_hb does (2^L is exact), so both match the dense form.
  const out = new Float32Array(total);
  const acc = r.out;
  for (let i = 0; i < total; i++) out[i] = acc[i] * unit;
  return { out, on: r.on, total };
}

/**
 * The plain dense form, kept as the check of pgConv: `a` packs all B planes; O_hb from its top
 * Bhb planes (aBits = Bhb), O from all of them, the reference's float gate per output, a select.
 */
export function pgConvDense(a: Packed, w: SignMagnitudePacked, o: PgConvOptions): PgConvResult {
  const { hb, gate, unitHb } = checkPg(a.bits, w, o);
  const channels = w.odd.rows, total = a.rows * channels;
  const hi = signMagnitudeGemm(a, w, hb);
  const full = signMagnitudeGemm(a, w, a.bits);
  const out = new Float32Array(total);
  let on = 0;
  for (let r = 0, i = 0; r < a.rows; r++) {
    for (let c = 0; c < channels; c++, i++) {
      const ohb = fr(hi[i] * unitHb);
      const open = gate.mode === 'open' || (gate.mode === 'trained' && gateOn(ohb, fr(o.threshold[c] + gate.offset)));
      out[i] = open ? full[i] * o.unit : ohb;
      if (open) on++;
    }
  }
  return { out, on, total };
}

/** Plain (ungated) conv with sign-magnitude weights: O = u · Σ q·l for every output. */
export function signMagnitudeConv(a: Packed, w: SignMagnitudePacked, unit: number): Float32Array {
  return scaledGemm(a, w, a.bits, unit);
}
