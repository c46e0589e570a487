// The gated product: the one place a precision-gated layer's integer products are computed, for
// the PG reference layers (pgconv2d, sign-magnitude weights as two operands) and the gated
// qconv2d / qlinear (bipolar weights) alike. Every output gets O_hb (its top Bhb activation
// planes), the outputs its gate lets through get O = O_hb + O_lb; only there is the low planes'
// work done (the native gated GEMM). The results are exact integers; the caller scales them.
import * as kernels from '../core/kernels';
import type { EncodingName, Packed } from '../core/kernels';
import { integerThresholds, kernelGateThresholds } from './thresholds';
import type { GateSetting, LayerGate } from './types';

/** The weight operand(s) of a gated product: b (N x K), and optionally b2 added to it. */
export interface GatedWeights {
  b: Packed;
  /** Planes of b to use (default all). */
  bBits?: number;
  bEncoding: EncodingName;
  /** A second operand whose values add to b's (sign-magnitude levels: the even-level "+1"). */
  b2?: Packed;
  b2Encoding?: EncodingName;
  /** The largest |weight value| (b + b2): bounds the high-part accumulators. */
  maxLevel: number;
}

export interface GatedProduct {
  /** rows x channels: O where on, O_hb elsewhere; null when the gate is 'open' and the caller asked to run dense itself. */
  acc: Int32Array | null;
  /** Outputs that got their low bits. */
  on: number;
  /** All outputs (rows x channels). */
  total: number;
}

export interface GatedProductOptions {
  /** 'open' returns acc = null (the caller runs its dense layer, e.g. with a fused epilogue). */
  denseWhenOpen?: boolean;
  /** The high part's route (gatedProductFused; kernels.GatedGemmOptions.high): the same results either way. */
  high?: kernels.GatedHighName;
  /**
   * The high part given (gatedProductFused; kernels.GatedGemmOptions.highSums): the value sums of
   * the high codes p >> L (rows x channels), `a` holding only the L low planes when lowOnly; `full`
   * packs the input at all B planes for the rare thresholds the kernel cannot take. `high` is then
   * not used. The same results.
   */
  given?: { sums: Int32Array; lowOnly: boolean; full: () => Packed };
}

/** A gated layer's finished outputs (gatedProductFused). */
export interface GatedFinished {
  /** rows x channels: the epilogue's floats or codes; null when `acc` holds the products instead, or when the gate is 'open' with denseWhenOpen. */
  out: Float32Array | Uint8Array | null;
  /** The integer products when the kernel could not take the gate's thresholds (the caller finishes them); else null. */
  acc: Int32Array | null;
  on: number;
  total: number;
}

function kernelOptions(g: LayerGate, w: GatedWeights, thresholds: Float32Array): kernels.GatedGemmOptions {
  const o: kernels.GatedGemmOptions = { aBits: g.bits, highBits: g.highBits, bBits: w.bBits, bEncoding: w.bEncoding, thresholds };
  if (w.b2) {
    o.b2 = w.b2;
    o.b2Encoding = w.b2Encoding;
  }
  return o;
}

const fill = (n: number, v: number) => new Float32Array(n).fill(v);

/** O_hb (= acc_hb · 2^L) for every output: the gated GEMM with every gate closed (high planes only). */
export function highProduct(a: Packed, w: GatedWeights, g: LayerGate): Int32Array {
  return kernels.gatedGemm(a, w.b, kernelOptions(g, w, fill(w.b.rows, Infinity))).out;
}

/** The dense product O = Σ a·(b + b2) over all B planes of `a`. */
function denseProduct(a: Packed, w: GatedWeights, bits: number): Int32Array {
  const o = kernels.bitGemm(a, w.b, { aBits: bits, bBits: w.bBits, aEncoding: 'unsigned', bEncoding: w.bEncoding });
  if (w.b2) {
    const e = kernels.bitGemm(a, w.b2, { aBits: bits, aEncoding: 'unsigned', bEncoding: w.b2Encoding! });
    for (let i = 0; i < o.length; i++) o[i] += e[i];
  }
  return o;
}

/**
 * The integer products of a gated layer over B-bit unsigned codes `a` (rows x K, packed with at
 * least B planes) under `setting`: 'trained' gates by the layer's thresholds (+ offset), 'open'
 * gives every output its low bits, 'closed' none.
 */
export function gatedProduct(a: Packed, w: GatedWeights, g: LayerGate, setting: GateSetting,
                             options: GatedProductOptions = {}): GatedProduct {
  const total = a.rows * w.b.rows;
  const t = settingThresholds(a, w, g, setting);
  if (t === 'open' && options.denseWhenOpen) return { acc: null, on: total, total };
  if (t instanceof Float64Array) return selectGated(a, w, g, t, g.bits - g.highBits);
  const r = kernels.gatedGemm(a, w.b, kernelOptions(g, w, t === 'open' ? fill(w.b.rows, -Infinity) : t));
  return { acc: r.out, on: r.on, total };
}

/**
 * gatedProduct with the layer's epilogue (scale, shift, clamp, residual, or the next quantiser's
 * codes) fused into the gated kernel: each output tile goes from its exact products to `epilogue`'s
 * output in one pass, no int32 products and no mask. The outputs are bit for bit those of
 * bitGemm's epilogue applied to gatedProduct's acc. options.out: where the kernel writes them (an
 * array of the epilogue's type and rows x channels; a kept buffer), else a new array.
 */
export function gatedProductFused(a: Packed, w: GatedWeights, g: LayerGate, setting: GateSetting, epilogue: kernels.Epilogue,
                                  options: GatedProductOptions & { out?: Float32Array | Uint8Array } = {}): GatedFinished {
  const total = a.rows * w.b.rows;
  const t = settingThresholds(a, w, g, setting);
  if (t === 'open' && options.denseWhenOpen) return { out: null, acc: null, on: total, total };
  const given = options.given;
  if (t instanceof Float64Array) return { out: null, ...selectGated(given?.lowOnly ? given.full() : a, w, g, t, g.bits - g.highBits) };
  // The int8 high route takes one weight operand (b2 layers stay bit-serial).
  const high = w.b2 ? undefined : options.high;
  const o = { ...kernelOptions(g, w, t === 'open' ? fill(w.b.rows, -Infinity) : t), epilogue, out: options.out };
  const r = kernels.gatedGemmFused(a, w.b, given ? { ...o, highSums: given.sums, lowOnly: given.lowOnly } : { ...o, high });
  return { out: r.out, acc: null, on: r.on, total };
}

/**
 * The kernel thresholds of `setting`: 'open' (every output on), float32 thresholds, or — past
 * float32's exact integers (K in the tens of thousands) — the integer ones for selectGated.
 */
function settingThresholds(a: Packed, w: GatedWeights, g: LayerGate, setting: GateSetting): 'open' | Float32Array | Float64Array {
  if (setting.mode === 'open') return 'open';
  if (setting.mode === 'closed') return fill(w.b.rows, Infinity);
  const low = g.bits - g.highBits;
  const bound = (2 ** g.highBits - 1) * w.maxLevel * a.cols;
  const T = integerThresholds(g.rule, g.threshold, setting.offset, g.unit, low, bound);
  return kernelGateThresholds(T, low, bound) ?? T;
}

/**
 * Thresholds past float32's exact integers (K in the tens of thousands): the same gate, selected
 * here from the high-only and the dense products (no work skipped).
 */
function selectGated(a: Packed, w: GatedWeights, g: LayerGate, T: Float64Array, low: number): GatedProduct & { acc: Int32Array } {
  const channels = w.b.rows;
  const hi = highProduct(a, w, g);
  const full = denseProduct(a, w, g.bits);
  const scale = 2 ** low;
  let on = 0;
  for (let i = 0, c = 0; i < hi.length; i++, c = c + 1 === channels ? 0 : c + 1) {
    if (hi[i] / scale >= T[c]) {
      hi[i] = full[i];
      on++;
    }
  }
  return { acc: hi, on, total: hi.length };
}
