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
  const channels = w.b.rows, total = a.rows * channels;
  const low = g.bits - g.highBits;
  let thresholds: Float32Array | null;
  if (setting.mode === 'open') {
    if (options.denseWhenOpen) return { acc: null, on: total, total };
    thresholds = fill(channels, -Infinity);
  } else if (setting.mode === 'closed') {
    thresholds = fill(channels, Infinity);
  } else {
    const bound = (2 ** g.highBits - 1) * w.maxLevel * a.cols;
    const T = integerThresholds(g.rule, g.threshold, setting.offset, g.unit, low, bound);
    thresholds = kernelGateThresholds(T, low, bound);
    if (thresholds === null) return selectGated(a, w, g, T, low);
  }
  const r = kernels.gatedGemm(a, w.b, kernelOptions(g, w, thresholds));
  return { acc: r.out, on: r.on, total };
}

/**
 * Thresholds past float32's exact integers (K in the tens of thousands): the same gate, selected
 * here from the high-only and the dense products (no work skipped).
 */
function selectGated(a: Packed, w: GatedWeights, g: LayerGate, T: Float64Array, low: number): GatedProduct {
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
