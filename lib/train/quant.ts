// The Any-Precision quantisers as differentiable ops. Forward values come from lib/core/quantize
// (the inference quantisers, so training and the runtime agree bit for bit); backward passes use
// straight-through estimators:
//   weights  Wq = (2·round(U·n)/n − 1)·E with U = tanh(W)/(2M) + 1/2, M = max|tanh W|, E = mean|W|
//            (E detached, the rounding passed straight through): dWq/d(T/M) = E for every b, and
//            the gradient of T/M flows through tanh and through M to the argmax element, as
//            autograd differentiates the reference's tanh(W)/max|tanh(W)|. b = 32: Wq = (T/M)·E.
//   activations  y = round(clamp(x,0,1)·n)/n: dy/dx = 1 where 0 <= x <= 1, else 0 (clamp's rule);
//            b = 32: ReLU.
import { WeightQuantizer, activationLevels } from '../core/quantize';
import type { WeightMode } from '../core/quantize';
import { codesToFloat, quantizeActivations as quantizeCodes } from '../core/kernels';
import { Param, Tape, Var, buffer, maskedUnary } from './tape';
import { relu } from './native';

const { abs, tanh } = Math; // (globals read once: see tape.ts)

interface Cached { version: number; mode: WeightMode; q: WeightQuantizer; t: Float32Array; values: Map<number, Float32Array> }
const cache = new WeakMap<Param, Cached>();

function quantizerFor(w: Param, mode: WeightMode): Cached {
  let c = cache.get(w);
  if (!c || c.version !== w.version || c.mode !== mode) {
    const q = new WeightQuantizer(w.data, mode);
    const t = new Float32Array(w.size);
    for (let i = 0; i < t.length; i++) t[i] = tanh(w.data[i]);
    c = { version: w.version, mode, q, t, values: new Map() };
    cache.set(w, c);
  }
  return c;
}

/**
 * Quantised weights of `w` at `bits` (1..8, or 32 for (tanh W / M)·E), with the STE backward.
 * mode 'requant' rounds U to each width (the reference); 'truncate' takes the top `bits` bits of
 * the 8-bit code (truncation-consistent training: the model then stores one 8-bit copy of its
 * weights and every width is its top planes, as the runtime's truncate mode reads them). The
 * backward is the same straight-through rule in both modes.
 */
export function quantizeWeights(tape: Tape | null, w: Param, bits: number, mode: WeightMode = 'requant'): Var {
  const c = quantizerFor(w, mode);
  let values = c.values.get(bits);
  if (!values) {
    values = c.q.values(bits);
    c.values.set(bits, values);
  }
  const res = new Var(values, w.shape.slice(), tape !== null);
  if (tape) {
    tape.record(() => {
      if (!res.grad) return;
      weightBackward(w.data, c.t, c.q.scale, c.q.maxAbsTanh, res.grad, w.g());
    });
  }
  return res;
}

/** Adds into gw the STE gradient of the weight quantiser (see the file comment). */
export function weightBackward(w: Float32Array, t: Float32Array, e: number, m: number, g: Float32Array, gw: Float32Array): void {
  let arg = 0, dot = 0;
  for (let i = 0; i < t.length; i++) {
    if (abs(t[i]) > abs(t[arg])) arg = i;
    dot += g[i] * t[i];
  }
  const sgn = t[arg] >= 0 ? 1 : -1;
  for (let i = 0; i < t.length; i++) {
    let gt = (e * g[i]) / m;
    if (i === arg) gt -= (e * dot * sgn) / (m * m);
    gw[i] += gt * (1 - t[i] * t[i]);
  }
  void w;
}

// The codes between the activation quantiser and its code table, one array per length, reused:
// they are read right away (a fresh array per call costs page faults and garbage collection).
const codeScratches = new Map<number, Uint8Array>();
function codeScratch(n: number): Uint8Array {
  let c = codeScratches.get(n);
  if (!c) {
    if (codeScratches.size >= 16) codeScratches.clear();
    c = new Uint8Array(n);
    codeScratches.set(n, c);
  }
  return c;
}

/** The activation unit Act_b: round(clamp(x,0,1)·(2^b−1))/(2^b−1), ReLU at b = 32; STE backward. */
export function quantizeActivations(tape: Tape | null, x: Var, bits: number): Var {
  // b < 32: the runtime's own native activation quantiser (codes) and code table (values), equal to
  // lib/core/quantize's activationValues (a test checks it) and not a JS loop per element.
  let y: Float32Array;
  if (bits === 32) {
    y = relu(x.data, buffer(x.size, false));
  } else {
    y = codesToFloat(quantizeCodes(x.data, 1, null, null, bits, codeScratch(x.size)), activationLevels(bits), buffer(x.size, false));
  }
  return bits === 32 ? maskedUnary(tape, x, y, 0, Infinity, true) : maskedUnary(tape, x, y, 0, 1, false);
}
