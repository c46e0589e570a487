// Reverse-mode differentiation over float32 tensors. Every op computes its output now and, when
// a tape records it, pushes a closure that adds the output's gradient into its inputs' gradients;
// Tape.backward runs them in reverse. Images are NHWC inside ([n, h, w, c]), features [n, f].
//
// Hot paths run on native kernels: conv2d forward and backward through one native call each
// (the lowering in a reused scratch buffer, the per-ISA float micro-kernels), linear through
// kernels.floatGemm (A . B^T) and the transposing GEMM, batch-norm statistics and its backward
// through per-channel reductions, scale/shift through kernels.channelAffine. Element-wise ops
// (activation masks, residual add, pooling, flatten's NHWC -> NCHW order, the losses) are JS
// loops over typed arrays.
import { floatGemm, channelAffine } from '../core/kernels';
import * as nk from './native';
import { NATIVE_MIN, Param, Tape, Var, addInto, buffer, needs, out } from './var';

export { Param, Tape, Var, addInto, buffer, needs, out, stepBuffers } from './var';
export * from './tape-pool';
export * from './losses';

// ---- convolution and linear ------------------------------------------------------------------

export interface ConvSpec {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/** [out, in, kh, kw] -> [out, kh, kw, in] (the lowered column order) and back. */
export function toColumnOrder(w: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const r = new Float32Array(w.length);
  for (let a = 0; a < o; a++)
    for (let c = 0; c < i; c++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) r[((a * kh + y) * kw + x) * i + c] = w[((a * i + c) * kh + y) * kw + x];
  return r;
}
export function fromColumnOrder(w: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const r = new Float32Array(w.length);
  for (let a = 0; a < o; a++)
    for (let c = 0; c < i; c++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) r[((a * i + c) * kh + y) * kw + x] = w[((a * kh + y) * kw + x) * i + c];
  return r;
}
/** dst ([out, in, kh, kw]) += w (the lowered column order): fromColumnOrder and addInto in one pass, the same float32 adds. */
function addFromColumnOrder(dst: Float32Array, w: Float32Array, o: number, i: number, kh: number, kw: number): void {
  let q = 0;
  for (let a = 0; a < o; a++)
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let c = 0; c < i; c++) dst[((a * i + c) * kh + y) * kw + x] += w[q++];
}

/** x [n, h, w, c] NHWC, weight [out, c, kh, kw] (PyTorch layout), optional bias [out]. */
export function conv2d(tape: Tape | null, x: Var, weight: Var, spec: ConvSpec, bias?: Var): Var {
  const [n, h, w, c] = x.shape;
  const [o, ci, kh, kw] = weight.shape;
  if (ci !== c || kh !== spec.kernel[0] || kw !== spec.kernel[1]) {
    throw new RangeError(`conv2d: weight [${weight.shape.join(', ')}] does not fit input channels ${c} and kernel ${spec.kernel.join('x')}`);
  }
  const geom: nk.Conv2dGeometry = {
    n, h, w, c, kh, kw, sh: spec.stride[0], sw: spec.stride[1], ph: spec.padding[0], pw: spec.padding[1],
    dh: spec.dilation[0], dw: spec.dilation[1],
  };
  const oh = Math.floor((h + 2 * geom.ph - geom.dh * (kh - 1) - 1) / geom.sh) + 1;
  const ow = Math.floor((w + 2 * geom.pw - geom.dw * (kw - 1) - 1) / geom.sw) + 1;
  const rows = n * oh * ow, k = kh * kw * c;
  const wc = toColumnOrder(weight.data, o, c, kh, kw);
  const y = nk.convForward(x.data, geom, wc, o, bias ? bias.data : null, buffer(rows * o, false));
  const res = out(tape, y, [n, oh, ow, o], x, weight, ...(bias ? [bias] : []));
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const gy = res.grad;
      if (!gy) return;
      // one native call: the weight gradient (into gw) and, when wanted, the input gradient
      const gw = buffer(o * k);
      // x's first gradient is written whole (no zero-filling pass), later ones added
      const own = x.requiresGrad ? x.freshGrad() : null;
      nk.convBackward(x.data, geom, wc, o, gy, gw, own ?? (x.requiresGrad ? x.g() : null), own !== null);
      if (weight.requiresGrad) addFromColumnOrder(weight.g(), gw, o, c, kh, kw);
      if (bias?.requiresGrad) addInto(bias.g(), columnSums(gy, rows, o));
    });
  }
  return res;
}

function columnSums(g: Float32Array, rows: number, cols: number): Float32Array {
  const s = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) s[j] += g[r * cols + j];
  return Float32Array.from(s);
}

/** x [n, f], weight [out, f], optional bias [out]. */
export function linear(tape: Tape | null, x: Var, weight: Var, bias?: Var): Var {
  const [n, f] = x.shape;
  const [o, wf] = weight.shape;
  if (wf !== f || x.shape.length !== 2) throw new RangeError(`linear: weight [${weight.shape.join(', ')}] does not fit input [${x.shape.join(', ')}]`);
  const y = floatGemm(x.data, n, f, weight.data, o, bias ? { bias: bias.data } : undefined);
  const res = out(tape, y, [n, o], x, weight, ...(bias ? [bias] : []));
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const gy = res.grad;
      if (!gy) return;
      if (weight.requiresGrad) nk.gemm(true, false, o, f, n, gy, x.data, weight.g(), true);
      if (bias?.requiresGrad) addInto(bias.g(), columnSums(gy, n, o));
      if (x.requiresGrad) nk.gemm(false, false, n, f, o, gy, weight.data, x.g(), true);
    });
  }
  return res;
}

// ---- batch norm ----------------------------------------------------------------------------------

export interface BatchNormState {
  weight: Var;
  bias: Var;
  runningMean: Float32Array;
  runningVar: Float32Array;
  eps: number;
  momentum: number;
}

const fr = Math.fround;
const NEG_INF = -Infinity, POS_INF = Infinity; // (globals read once: see var.ts)

/** Eval-mode scale/shift, float32 step for step (invstd = 1/sqrt(var + eps); alpha = w*invstd; beta = b - mean*alpha). */
export function foldBn(weight: Float32Array, bias: Float32Array, mean: Float32Array, variance: Float32Array, eps: number) {
  const c = weight.length;
  const alpha = new Float32Array(c), beta = new Float32Array(c), invstd = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    invstd[i] = fr(1 / fr(Math.sqrt(fr(variance[i] + fr(eps)))));
    alpha[i] = fr(weight[i] * invstd[i]);
    beta[i] = fr(bias[i] - fr(mean[i] * alpha[i]));
  }
  return { alpha, beta, invstd };
}

/**
 * Batch norm over the last dimension. training: batch statistics (biased variance to normalise;
 * the running variance takes the unbiased one, PyTorch's rule), running statistics updated with
 * `momentum`. Eval: running statistics.
 */
export function batchNorm(tape: Tape | null, x: Var, bn: BatchNormState, training: boolean): Var {
  const c = x.shape[x.shape.length - 1];
  const rows = x.size / c;
  if (bn.weight.size !== c) throw new RangeError(`batchNorm: ${bn.weight.size} channels for an input of ${c}`);
  let mean: Float32Array, variance: Float32Array;
  if (training) {
    ({ mean, variance } = nk.channelMoments(x.data, rows, c));
    const m = bn.momentum, unbias = rows > 1 ? rows / (rows - 1) : 1;
    for (let i = 0; i < c; i++) {
      bn.runningMean[i] = (1 - m) * bn.runningMean[i] + m * mean[i];
      bn.runningVar[i] = (1 - m) * bn.runningVar[i] + m * variance[i] * unbias;
    }
  } else {
    mean = bn.runningMean;
    variance = bn.runningVar;
  }
  const { alpha, beta, invstd } = foldBn(bn.weight.data, bn.bias.data, mean, variance, bn.eps);
  const y = channelAffine(x.data, c, alpha, beta, NEG_INF, POS_INF, buffer(x.size, false));
  const res = out(tape, y, x.shape.slice(), x, bn.weight, bn.bias);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const gy = res.grad;
      if (!gy) return;
      if (training) {
        // dx straight into x's gradient when it is the first contribution, else into a step buffer
        const own = x.requiresGrad ? x.freshGrad() : null;
        const dx = own ?? (x.requiresGrad ? buffer(gy.length, false) : false);
        const r = nk.batchNormBackward(gy, x.data, rows, c, mean, invstd, bn.weight.data, dx);
        if (dx && !own) addInto(x.g(), dx);
        if (bn.weight.requiresGrad) addInto(bn.weight.g(), r.dgamma);
        if (bn.bias.requiresGrad) addInto(bn.bias.g(), r.dbeta);
      } else {
        // y = alpha*x + beta with constant statistics
        const r = nk.batchNormBackward(gy, x.data, rows, c, mean, invstd, bn.weight.data, false);
        if (bn.weight.requiresGrad) addInto(bn.weight.g(), r.dgamma);
        if (bn.bias.requiresGrad) addInto(bn.bias.g(), r.dbeta);
        if (x.requiresGrad) addInto(x.g(), channelAffine(gy, c, alpha, null));
      }
    });
  }
  return res;
}

// ---- element-wise ------------------------------------------------------------------------------

/**
 * y = f(x) with a gradient mask: dx = dy where pass(x[i]). Used for ReLU (pass x > 0) and clamp /
 * the activation quantisers' straight-through estimator (pass lo <= x <= hi, torch.clamp's rule).
 */
export function maskedUnary(tape: Tape | null, x: Var, y: Float32Array, lo: number, hi: number, strictLo: boolean): Var {
  const res = out(tape, y, x.shape.slice(), x);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const gy = res.grad;
      if (!gy) return;
      // the first gradient x gets is written whole (no zero-filling pass first), later ones added
      const own = x.freshGrad(), xd = x.data;
      const gx = own ?? x.g();
      if (gx.length >= NATIVE_MIN) {
        nk.maskedAccumulate(xd, gy, gx, lo, hi, strictLo, own !== null);
        return;
      }
      if (own) own.fill(0);
      if (strictLo) {
        for (let i = 0; i < gx.length; i++) if (xd[i] > lo && xd[i] <= hi) gx[i] += gy[i];
      } else {
        for (let i = 0; i < gx.length; i++) if (xd[i] >= lo && xd[i] <= hi) gx[i] += gy[i];
      }
    });
  }
  return res;
}

export function relu(tape: Tape | null, x: Var): Var {
  const y = buffer(x.size, false);
  if (y.length >= NATIVE_MIN) nk.relu(x.data, y);
  else for (let i = 0; i < y.length; i++) y[i] = x.data[i] > 0 ? x.data[i] : 0;
  return maskedUnary(tape, x, y, 0, Infinity, true);
}

export function clamp(tape: Tape | null, x: Var, lo: number, hi: number): Var {
  const y = buffer(x.size, false);
  if (y.length >= NATIVE_MIN) nk.clamp(x.data, y, lo, hi);
  else for (let i = 0; i < y.length; i++) y[i] = x.data[i] < lo ? lo : x.data[i] > hi ? hi : x.data[i];
  return maskedUnary(tape, x, y, lo, hi, false);
}

export function add(tape: Tape | null, a: Var, b: Var): Var {
  if (a.size !== b.size) throw new RangeError(`add: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
  const y = buffer(a.size, false);
  if (y.length >= NATIVE_MIN) nk.add(a.data, b.data, y);
  else for (let i = 0; i < y.length; i++) y[i] = a.data[i] + b.data[i];
  const res = out(tape, y, a.shape.slice(), a, b);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      if (a.requiresGrad) addInto(a.g(), res.grad);
      if (b.requiresGrad) addInto(b.g(), res.grad);
    });
  }
  return res;
}

