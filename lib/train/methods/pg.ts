// Precision Gating (Zhang et al., 2020; cornell-zhang/dnn-gating) trained on an any-precision
// graph: activations are B-bit codes p (config.bits = [B]), weights w-bit DoReFa values
// (options.weightBits). Every quantised layer fed by B-bit codes computes
//   O_hb = x_hb·ŵ with x_hb = floor(p / 2^(B−Bhb))·2^(B−Bhb) / (2^B − 1)   (the top Bhb planes)
//   O_lb = (x − x_hb)·ŵ,   O = O_hb + [O_hb > Δ_c]·O_lb                    (before bias and BN)
// exactly what the runtime's gated layers compute, in the same units, so the trained Δ_c export as
// the layers' `.threshold` tensors and the model runs on the gated kernels (lib/gating).
// Training: the gate's sigmoid straight-through estimator (γ = options.gamma, default 5), sparse
// back-propagation through the gate (options.sparse, default true), the reference's penalty
// σ·Σ_l ‖Δ_l − δ‖ (options.sigma, options.target δ) and, when options.gateOn f is set, the
// sparsity knob λ·(soft fraction on − f)² per layer (options.gateWeight λ, default 1) — the
// reference's δ alone barely moves the fraction of outputs gated on.
// options.activation 'pact' (the reference's activations): every quantize node becomes PACT with a
// learnable clip α per node (init options.alpha, default 1: DoReFa's clip), y = α·round(clamp(x, 0,
// α)/α·n)/n, the gate splitting the codes y/α; the export folds α into the batch norm before and the
// layers after (methods/pact-fold), so the runtime's plain quantize nodes compute the same values.
// x_hb and x − x_hb both pass the gradient straight through to x (x_hb + x_lb = x).
import type { GraphSpec } from '../../nn/graph';
import type { GraphInput } from '../../nn/input';
import { Tensor } from '../../core/tensor';
import type { Model } from '../../nn/model';
import type { Dataset } from '../data';
import { withGates } from '../../nn/zoo/gated';
import { gateFractionPenalty, gatedOutput, pactQuantize, thresholdPenalty } from '../ops-extra';
import { quantizeWeights } from '../quant';
import { Param, Tape, Var, add, out } from '../tape';
import { registerMethod } from '../trainer';
import type { MethodImpl, TrainConfig, Trainer } from '../trainer';
import { distillStep, layerProduct, numberOption, optionsOf, quantisedLayers } from './common';
import type { QNode } from './common';
import { foldPactClips } from './pact-fold';

export interface PgOptions {
  highBits?: number;
  weightBits?: number;
  /** δ of the threshold penalty (default 0). */
  target?: number;
  /** σ of the threshold penalty (default 1e-3). */
  sigma?: number;
  gamma?: number;
  sparse?: boolean;
  /** Wanted fraction of outputs gated on (0..1); unset: the reference's penalty only. */
  gateOn?: number;
  gateWeight?: number;
  /** Activation quantiser: 'dorefa' (clamp to [0, 1], default) or 'pact' (a learned clip per quantize node). */
  activation?: 'dorefa' | 'pact';
  /** Initial PACT clip (default 1). */
  alpha?: number;
}

interface Settings {
  B: number; hb: number; wb: number; delta: number; sigma: number; gamma: number; sparse: boolean; gateOn?: number; gateWeight: number;
  pact: boolean; alpha: number;
}

function settings(c: TrainConfig): Settings {
  const o = optionsOf(c);
  if (c.bits.length !== 1) throw new RangeError('pg trains one activation bit-width B: bits must hold exactly one value');
  const B = c.bits[0];
  if (!Number.isInteger(B) || B < 2 || B > 8) throw new RangeError(`pg: bits (B) must be an integer in 2..8, got ${B}`);
  if (o.sparse !== undefined && typeof o.sparse !== 'boolean') throw new TypeError('options.sparse must be a boolean');
  const act = o.activation ?? 'dorefa';
  if (act !== 'dorefa' && act !== 'pact') throw new RangeError(`pg: options.activation must be dorefa or pact, got ${JSON.stringify(act)}`);
  return {
    B, hb: numberOption(o, 'highBits', Math.max(1, B - 1), 1, B - 1, true), wb: numberOption(o, 'weightBits', 8, 1, 8, true),
    delta: numberOption(o, 'target', 0, -1e6, 1e6), sigma: numberOption(o, 'sigma', 1e-3, 0, 1e6),
    gamma: numberOption(o, 'gamma', 5, 1e-6, 1e6), sparse: (o.sparse as boolean | undefined) ?? true,
    gateOn: o.gateOn === undefined ? undefined : numberOption(o, 'gateOn', 0, 0, 1), gateWeight: numberOption(o, 'gateWeight', 1, 0, 1e6),
    pact: act === 'pact', alpha: numberOption(o, 'alpha', 1, 1e-3, 1e3),
  };
}

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { floor, round } = Math;

/**
 * x (B-bit dequantised codes a·p/(2^B−1), a the PACT clip or 1) split into its top-Bhb-plane part
 * and the rest; both STE to x.
 */
function splitPlanes(tape: Tape | null, x: Var, B: number, hb: number, a = 1): [Var, Var] {
  const n = 2 ** B - 1, step = 2 ** (B - hb);
  const hi = new Float32Array(x.size), lo = new Float32Array(x.size), xd = x.data;
  for (let i = 0; i < xd.length; i++) {
    const p = round((xd[i] / a) * n);
    if (p < 0 || p > n) throw new RangeError(`pg: layer input is not ${B}-bit codes (value ${xd[i]})`);
    hi[i] = ((floor(p / step) * step) / n) * a;
    lo[i] = xd[i] - hi[i];
  }
  const vh = out(tape, hi, x.shape.slice(), x), vl = out(tape, lo, x.shape.slice(), x);
  if (tape && x.requiresGrad) {
    tape.record(() => {
      const gx = x.g();
      for (const v of [vh, vl]) if (v.grad) for (let i = 0; i < gx.length; i++) gx[i] += v.grad[i];
    });
  }
  return [vh, vl];
}

class Pg implements MethodImpl {
  readonly s: Settings;
  /** Gated layers (every quantised layer whose input is a quantize node's B-bit codes). */
  readonly gated: string[];
  /** The quantize node feeding each gated layer. */
  private readonly source = new Map<string, string>();
  private counts = new Map<string, { on: number; total: number }>();
  /** Outputs gated on / all outputs per gated layer in the latest forward (training or evaluation). */
  readonly lastGate = new Map<string, { on: number; total: number }>();
  private penalties: Var[] = [];

  constructor(private readonly t: Trainer) {
    this.s = settings(t.config);
    const fed = quantisedLayers(t.graph).filter((l) => l.quantizer !== undefined);
    this.gated = fed.map((l) => l.node.name);
    for (const l of fed) this.source.set(l.node.name, l.quantizer!);
    if (this.gated.length === 0) throw new RangeError('pg needs a quantised layer (qconv2d / qlinear) fed by a quantize node');
    for (const name of this.gated) {
      const node = t.graph.nodes.find((n) => n.name === name) as QNode;
      const c = node.op === 'qconv2d' ? node.outChannels : node.outFeatures;
      t.net.params.set(`${name}.threshold`, new Param(`${name}.threshold`, new Float32Array(c), [c]));
    }
    if (this.s.pact) {
      for (const n of t.graph.nodes) if (n.op === 'quantize') t.net.params.set(pgAlphaName(n.name), new Param(pgAlphaName(n.name), Float32Array.of(this.s.alpha), [1]));
    }
  }

  /** The PACT clip of quantize node `q` (1 without PACT). */
  private clip(q: string): number {
    return this.s.pact ? this.t.net.param(pgAlphaName(q)).data[0] : 1;
  }

  readonly hook: MethodImpl['hook'] = (node, ins, tape, training) => {
    if (node.op === 'quantize' && this.s.pact) return pactQuantize(tape, ins[0], this.t.net.param(pgAlphaName(node.name)), this.s.B);
    if (node.op !== 'qconv2d' && node.op !== 'qlinear') return undefined;
    const w = quantizeWeights(tape, this.t.net.param(`${node.name}.weight`), this.s.wb);
    const bias = node.op === 'qlinear' && node.bias ? this.t.net.param(`${node.name}.bias`) : undefined;
    const q = node as QNode;
    if (!this.gated.includes(node.name)) return layerProduct(tape, q, ins[0], w, bias);
    const [xh, xl] = splitPlanes(tape, ins[0], this.s.B, this.s.hb, this.clip(this.source.get(node.name)!));
    const ohb = layerProduct(tape, q, xh, w), olb = layerProduct(tape, q, xl, w);
    const delta = this.t.net.param(`${node.name}.threshold`);
    const g = gatedOutput(tape, ohb, olb, delta, this.s.gamma, this.s.sparse);
    this.lastGate.set(node.name, { on: g.on, total: g.total });
    if (training) {
      const c = this.counts.get(node.name) ?? { on: 0, total: 0 };
      c.on += g.on;
      c.total += g.total;
      this.counts.set(node.name, c);
      if (tape && this.s.gateOn !== undefined) this.penalties.push(gateFractionPenalty(tape, ohb, delta, this.s.gamma, this.s.gateOn, this.s.gateWeight));
    }
    if (!bias) return g.out;
    // the float bias of a qlinear comes after the gate (the runtime compares before the bias)
    const b = new Float32Array(g.out.size), o = bias.size;
    for (let i = 0; i < b.length; i++) b[i] = bias.data[i % o];
    return addBias(tape, g.out, bias, b);
  };

  step(x: Float32Array, labels: ArrayLike<number>, n: number) {
    this.penalties = [];
    const r = distillStep(this.t, [this.s.B], x, labels, n, (tape) => {
      const deltas = this.gated.map((l) => this.t.net.param(`${l}.threshold`));
      let pen = thresholdPenalty(tape, deltas, this.s.delta, this.s.sigma);
      for (const p of this.penalties) pen = add(tape, pen, p);
      return pen;
    });
    // keep every clip positive (a step past zero would invert PACT's range)
    if (this.s.pact) for (const [k, p] of this.t.net.params) if (k.startsWith('pg.') && p.data[0] < 1e-3) p.data[0] = 1e-3;
    return r;
  }

  /** Fraction of outputs gated on per layer over the epoch's training steps (then reset). */
  epochInfo(): Record<string, unknown> {
    const on: Record<string, number> = {};
    let a = 0, b = 0;
    for (const [k, c] of this.counts) {
      on[k] = c.on / Math.max(1, c.total);
      a += c.on;
      b += c.total;
    }
    this.counts.clear();
    return { gateOn: on, gateOnAll: a / Math.max(1, b), ...(this.s.pact ? { alphas: this.alphas() } : {}) };
  }

  /** The PACT clip of every quantize node. */
  alphas(): Record<string, number> {
    const r: Record<string, number> = {};
    for (const n of this.t.graph.nodes) if (n.op === 'quantize') r[n.name] = this.clip(n.name);
    return r;
  }

  /**
   * The exported model on `test`: accuracy and the gate counts of the runtime's stats, summed over
   * batches of 250 digits (a ResNet-20's 2,000 test digits at once exceed the runtime's memory bound).
   */
  summary(model: Model, test: Dataset): Record<string, unknown> {
    const per = test.x.length / test.n, batch = 250;
    const layers: Record<string, { on: number; total: number }> = {};
    let correct = 0, bitOps = 0, denseBitOps = 0, onMacs = 0, macs = 0;
    for (let s = 0; s < test.n; s += batch) {
      const m = Math.min(batch, test.n - s);
      const { output, stats } = model.runSyncDetailed(new Tensor(test.x.subarray(s * per, (s + m) * per), [m, ...test.sampleShape]));
      const pred = output.argmax();
      for (let i = 0; i < m; i++) if (pred[i] === test.labels[s + i]) correct++;
      for (const l of stats.layers) {
        if (!l.gate) continue;
        const c = (layers[l.nodes[0]] ??= { on: 0, total: 0 });
        c.on += l.gate.on;
        c.total += l.gate.total;
      }
      if (stats.gate) {
        bitOps += stats.gate.bitOps;
        denseBitOps += stats.gate.denseBitOps;
        onMacs += stats.gate.fraction * stats.gate.macs;
        macs += stats.gate.macs;
      }
    }
    return {
      gate: { bits: this.s.B, highBits: this.s.hb, weightBits: this.s.wb, runtimeAccuracy: correct / test.n, fraction: macs > 0 ? onMacs / macs : undefined,
        bitOps, denseBitOps, layers },
    };
  }

  /** The gated graph (gate { B, Bhb } on every gated layer) with the trained thresholds. */
  toModel(input?: GraphInput): Model {
    const graph = withGates(this.t.graph, { bits: this.s.B, highBits: this.s.hb }, this.gated);
    let tensors: Record<string, Float32Array> | undefined;
    if (this.s.pact) {
      const alphas = new Map(Object.entries(this.alphas()));
      const all = this.t.net.tensors();
      for (const q of alphas.keys()) delete all[pgAlphaName(q)];
      tensors = foldPactClips(this.t.graph, all, alphas, this.t.graph.bitList.filter((b) => b !== 32));
    }
    const model = this.t.net.toModel(input, graph, tensors);
    return model.setPrecision({ weights: this.s.wb, activations: this.s.B });
  }
}

/** The PACT clip of quantize node `q` (a learnable tensor of the trainer). */
export const pgAlphaName = (q: string): string => `pg.${q}.alpha`;

/** y = x + bias (broadcast values `b`), gradient to both. */
function addBias(tape: Tape | null, x: Var, bias: Param, b: Float32Array): Var {
  const y = new Float32Array(x.size);
  for (let i = 0; i < y.length; i++) y[i] = x.data[i] + b[i];
  const res = out(tape, y, x.shape.slice(), x, bias);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const g = res.grad;
      if (!g) return;
      if (x.requiresGrad) { const gx = x.g(); for (let i = 0; i < g.length; i++) gx[i] += g[i]; }
      const gb = bias.g(), o = bias.size;
      for (let i = 0; i < g.length; i++) gb[i % o] += g[i];
    });
  }
  return res;
}

/** PG's graph: bit list {B, w} (B-bit activations, w-bit weight codes). */
function pgGraph(g: GraphSpec, c: TrainConfig): GraphSpec {
  const s = settings(c);
  return { ...g, bitList: [...new Set([s.B, s.wb])].sort((a, b) => a - b) };
}

registerMethod('pg', {
  check: (c) => { settings(c); },
  graph: pgGraph,
  widths: (c) => [c.bits[0]],
  create: (t) => new Pg(t),
});
