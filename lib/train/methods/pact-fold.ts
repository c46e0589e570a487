// Exporting PACT activations to a graph whose quantize nodes take [0, 1]: the PACT quantiser
//   y = α · round(clamp(x, 0, α)/α · n)/n            (n = 2^B − 1)
// gives the codes of clamp(x/α, 0, 1) scaled by α. With x the output of a batch norm, x/α is that
// batch norm with its weight and bias divided by α, so the runtime's quantize node makes the same
// codes; the factor α moves into every layer reading them: a float conv / linear gets its weights
// times α, a quantised one float weights whose quantiser gives the same codes with the scale
// E' = α·E (E = mean|w|, the scale the runtime takes from the weights), found by bisection:
//   w'_i = atanh(c · tanh(w_i)/M)   (M = max|tanh w|, 0 < c < 1)
// keeps tanh(w')/max|tanh w'| = tanh(w)/M, the only thing the codes depend on, while mean|w'|
// grows with c from 0 without bound (past c ≈ 1 − 1e-15 the largest weights alone grow: their
// float32 tanh is then ±1 = ±M'). Codes at a rounding tie after the float32 rounding of w' are
// moved back by single float32 steps, so every code equals the original.
import type { GraphSpec, NodeSpec } from '../../nn/graph';
import { WeightQuantizer } from '../../core/quantize';

const PASS_THROUGH = new Set(['maxpool2d', 'flatten', 'dropout']);
const fr = Math.fround;

/** Float32 neighbour of v towards +∞ (up) or −∞. */
function nextFloat(v: number, up: boolean): number {
  const f = new Float32Array([v]), i = new Int32Array(f.buffer);
  if (v === 0) return up ? 1.4e-45 : -1.4e-45;
  i[0] += (v > 0) === up ? 1 : -1;
  return f[0];
}

/**
 * Float weights whose quantiser (lib/core/quantize, requant mode) gives the codes of `w` at every
 * width in `bits` and the scale factor·mean|w| (to float32 rounding).
 */
export function scaledQuantWeights(w: Float32Array, factor: number, bits: readonly number[]): Float32Array {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`factor must be a positive number, got ${factor}`);
  const q = new WeightQuantizer(w);
  const want = q.scale * factor;
  const r = Float64Array.from(w, (v) => fr(Math.tanh(v)) / q.maxAbsTanh);
  const at = (c: number) => Float32Array.from(r, (v) => Math.atanh(c * v));
  const mean = (a: Float32Array) => { let s = 0; for (const v of a) s += Math.abs(v); return s / a.length; };
  let lo = 0, hi = 1 - 1e-15;
  let out = at(hi);
  if (mean(out) < want) {
    // beyond that only the largest weights (tanh = ±M, codes 0 and 2^b − 1) can grow: as float32
    // their tanh is then ±1 and they take what the mean still lacks
    const top: number[] = [];
    let rest = 0;
    for (let i = 0; i < r.length; i++) if (Math.abs(r[i]) === 1) top.push(i); else rest += Math.abs(out[i]);
    for (const i of top) out[i] = Math.sign(r[i]) * ((want * r.length - rest) / top.length);
  } else {
    for (let k = 0; k < 60; k++) {
      const c = (lo + hi) / 2;
      if (mean(at(c)) < want) lo = c; else hi = c;
    }
    out = at((lo + hi) / 2);
  }
  for (const b of bits) {
    const codes = q.codes(b);
    for (let tries = 0; tries < 64; tries++) {
      const got = new WeightQuantizer(out).codes(b);
      let off = 0;
      for (let i = 0; i < got.length; i++) {
        if (got[i] === codes[i]) continue;
        off++;
        out[i] = nextFloat(out[i], got[i] < codes[i]); // codes grow with w
      }
      if (off === 0) break;
      if (tries === 63) throw new Error(`scaledQuantWeights: ${off} codes at ${b} bits did not settle`);
    }
  }
  return out;
}

/**
 * Tensors of a graph trained with PACT clips `alphas` (by quantize node) rewritten for the same
 * graph with plain [0, 1] quantize nodes (see the file comment). Each quantize node with a clip
 * must read a batch norm read by nothing else, and be read (through pools / flatten) only by
 * conv / linear layers. `bits`: the widths whose weight codes the runtime packs.
 */
export function foldPactClips(g: GraphSpec, tensors: Record<string, Float32Array>, alphas: ReadonlyMap<string, number>, bits: readonly number[]): Record<string, Float32Array> {
  const t = { ...tensors };
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const readers = (name: string) => g.nodes.filter((n) => n.inputs.includes(name));
  for (const [qName, alpha] of alphas) {
    const q = byName.get(qName);
    if (!q || q.op !== 'quantize') throw new RangeError(`PACT export: '${qName}' is not a quantize node`);
    const bn = byName.get(q.inputs[0]);
    if (!bn || bn.op !== 'batchnorm' || readers(bn.name).length !== 1) {
      throw new RangeError(`PACT export: the clip of '${qName}' folds into a batch norm read only by it; its input '${q.inputs[0]}' is not one`);
    }
    const keys = bn.switchable ? g.bitList.map((b) => `${bn.name}.${b}`) : [bn.name];
    for (const k of keys) for (const p of ['weight', 'bias']) t[`${k}.${p}`] = t[`${k}.${p}`].map((v) => v / alpha);
    const layers: NodeSpec[] = [];
    const walk = (name: string) => {
      for (const n of readers(name)) {
        if (PASS_THROUGH.has(n.op)) walk(n.name);
        else if (n.op === 'qconv2d' || n.op === 'qlinear' || n.op === 'conv2d' || n.op === 'linear') layers.push(n);
        else throw new RangeError(`PACT export: '${qName}' is read by '${n.name}' (${n.op}); only conv / linear layers can take its clip`);
      }
    };
    walk(qName);
    for (const n of layers) {
      const w = `${n.name}.weight`;
      t[w] = n.op === 'qconv2d' || n.op === 'qlinear' ? scaledQuantWeights(t[w], alpha, bits) : t[w].map((v) => v * alpha);
    }
  }
  return t;
}
