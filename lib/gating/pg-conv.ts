// The PG reference layer (cornell-zhang/dnn-gating PGConv2d) on the gated executor.
//
// A layer's input is B-bit unsigned activation codes q (dynamic per-tensor scale s_a); its weights
// are sign-magnitude integer levels l in −n_w..n_w (scale s_w). One accumulator unit is worth
// u = (s_a / n_a)·(s_w / n_w). The high part uses the top Bhb planes of q (q >> (B − Bhb)), so
//   O_hb = u · 2^(B−Bhb) · Σ (q >> (B−Bhb))·l,   O = u · Σ q·l,
// and an output gets its low bits (O instead of O_hb) only where O_hb > Δ_c (its channel's learned
// threshold, in the layer's float units, before batch norm), by the reference's float32 sigmoid.
import * as kernels from '../core/kernels';
import type { ConvGeometry, ImageShape, Packed } from '../core/kernels';
import { signMagnitudeGemm, SignMagnitudePacked } from '../core/signmag-gemm';
import { gatedProduct, GatedWeights } from './executor';
import { gateOn } from './thresholds';
import { DEFAULT_GATE, GateSetting, LayerGate } from './types';

const fr = Math.fround;

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
  return { hb, gate: o.gate ?? DEFAULT_GATE, unitHb: o.unit * 2 ** (bits - hb) };
}

/** The sign-magnitude weights as the gated executor's two operands (odd bipolar + even unsigned). */
export function signMagnitudeOperands(w: SignMagnitudePacked): GatedWeights {
  return { b: w.odd, bEncoding: 'bipolar', b2: w.even, b2Encoding: 'unsigned', maxLevel: 2 ** w.bits - 1 };
}

/**
 * One PG conv layer: the input lowered and packed, then the gated executor with the reference's
 * sigmoid gate on both weight operands. Bit for bit pgConvDense.
 */
export function pgConv(x: PgInput, conv: ConvGeometry, w: SignMagnitudePacked, o: PgConvOptions): PgConvResult {
  const { hb, gate } = checkPg(x.bits, w, o);
  const a = kernels.packConv(x.codes, x.shape, conv, x.bits);
  const layer: LayerGate = { bits: x.bits, highBits: hb, rule: 'sigmoid', unit: o.unit, threshold: o.threshold };
  const r = gatedProduct(a, signMagnitudeOperands(w), layer, gate);
  // out = u·O where on, u·O_hb = u·2^L·acc_hb elsewhere; u·2^L·acc_hb rounds as unitHb·acc_hb
  // does (2^L is exact), so both match the dense form.
  const acc = r.acc!, unit = o.unit;
  const out = new Float32Array(r.total);
  for (let i = 0; i < r.total; i++) out[i] = acc[i] * unit;
  return { out, on: r.on, total: r.total };
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
