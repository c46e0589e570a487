// LDP (Yu et al., 2022), learnable per-layer precision: every quantised layer has a learnable
// precision θ_w for its weights and θ_a for the quantize node feeding it; bits = clamp(round(K·θ),
// lo, hi) with the straight-through round (K = options.precisionScale, default 0.2 / lr, so that
// a precision step, about lr in θ for a layer with the group's root-mean-square gradient, moves it
// by about 0.2 bit). The loss adds the bit-op
// penalty λ·max(0, Σ MAC·b_w·b_a / Σ MAC·64 − target) (options.penalty λ, options.target, default
// 0.25: the cost of every layer at 4/4 bits; with 0 one epoch drove ResNet-20 to 1–3 bits, 77%); the
// quantisers' outputs pass a gradient to their bit-width by the central difference over the bit
// lattice (ops-extra withBitsGradient). Batch norms are shared (one set for every bit-width: a
// layer's precision moves during training). Each epoch logs every layer's bits; the exported
// model carries the final bits as per-layer precision.
//
// The precisions take their own step (precisionStep), not the optimiser's: Adam's per-parameter
// normaliser gives every θ the same step size whatever its gradient, so while the penalty is
// active every layer's bits fell at the same rate, a costly layer no faster than a cheap one, and
// they all stopped together where the total met the target (ResNet-8, 2,000 digits, one epoch:
// 3/3 to 4/4 bits in every layer, i.e. uniform precision). precisionStep is Adam with one second
// moment for the whole group: the same overall step size, but each layer's step in proportion to
// its gradient (its marginal loss against its marginal bit-op cost), which is what lets the
// layers split the budget unevenly.
import type { GraphSpec } from '../../nn/graph';
import type { GraphInput } from '../../nn/input';
import type { Model } from '../../nn/model';
import type { Precision } from '../../nn/precision';
import { bitOpsPenalty, bitOpsRatio, bitsOf, roundBits, withBitsGradient } from '../ops-extra';
import type { BitOpsTerm } from '../ops-extra';
import { quantizeActivations, quantizeWeights } from '../quant';
import { Param, Tape, Var } from '../tape';
import type { Optimizer } from '../optim';
import { registerMethod } from '../trainer';
import type { MethodImpl, TrainConfig, Trainer } from '../trainer';
import { distillStep, layerProduct, macsPerSample, numberOption, optionsOf, quantisedLayers } from './common';
import type { QNode } from './common';

export interface LdpOptions {
  penalty?: number;
  /** [lo, hi] bits (default [1, 8]). */
  bitRange?: [number, number];
  /** The bit-op budget, a fraction of every layer at 8/8 bits (default 0.25). */
  target?: number;
  precisionScale?: number;
  /**
   * The last `freezeEpochs` epochs train the weights at the bits the precisions reached (θ frozen,
   * no penalty): until then a layer near a rounding boundary flips between two bit-widths from
   * step to step to the end, so the weights never settle at the bits they are exported at
   * (default 0: the precisions move to the end).
   */
  freezeEpochs?: number;
}

interface Settings { lambda: number; lo: number; hi: number; target: number; K: number; freeze: number }

function settings(c: TrainConfig): Settings {
  const o = optionsOf(c);
  const range = o.bitRange ?? [1, 8];
  if (!Array.isArray(range) || range.length !== 2 || !range.every((b) => Number.isInteger(b) && b >= 1 && b <= 8) || range[0] > range[1]) {
    throw new RangeError(`options.bitRange must be [lo, hi] with 1 <= lo <= hi <= 8, got ${JSON.stringify(range)}`);
  }
  const [lo, hi] = range as [number, number];
  if (c.bits.length !== 1 || c.bits[0] !== hi) throw new RangeError(`ldp: bits must be [${hi}] (the top of the bit range; the layers' bits are learned)`);
  return {
    lambda: numberOption(o, 'penalty', 1, 0, 1e6), lo, hi, target: numberOption(o, 'target', 0.25, 0, 1),
    // K·lr ≈ the bits an Adam step moves a layer by: 0.2 by default, whatever the learning rate
    K: numberOption(o, 'precisionScale', 0.2 / c.lr, 1e-6, 1e9),
    freeze: numberOption(o, 'freezeEpochs', 0, 0, c.epochs, true),
  };
}

export const weightBitsName = (layer: string): string => `ldp.${layer}.weight_bits`;
export const activationBitsName = (quantizer: string): string => `ldp.${quantizer}.activation_bits`;
/** The key of precisionStep's state (first moments, then the shared second moment) in the optimiser's state (checkpointed with it). */
export const PRECISION_STATE = 'ldp/precision-moments';

/**
 * One Adam step (the optimiser's learning rate, betas and step count, bias-corrected) over a group
 * of one-value parameters that share ONE second moment, the mean square of their gradients, where
 * Adam keeps one per parameter: the group moves at Adam's speed, each parameter in proportion to
 * its own gradient. Clears their gradients (the optimiser then skips them). The state lives in
 * opt.state under `key`: [first moments (one per parameter), [second moment]].
 */
export function precisionStep(params: Param[], opt: Optimizer, key = PRECISION_STATE): void {
  let st = opt.state.get(key);
  if (!st || st[0]?.length !== params.length || st[1]?.length !== 1) {
    st = [new Float32Array(params.length), new Float32Array(1)];
    opt.state.set(key, st);
  }
  const [m, v] = st, [b1, b2] = opt.betas, step = opt.steps + 1; // (the optimiser counts this step after)
  let sq = 0;
  for (const p of params) sq += p.grad ? p.grad[0] * p.grad[0] : 0;
  v[0] = b2 * v[0] + ((1 - b2) * sq) / params.length;
  const size = opt.lr / (1 - b1 ** step), denom = Math.sqrt(v[0] / (1 - b2 ** step)) + opt.eps;
  params.forEach((p, i) => {
    m[i] = b1 * m[i] + (1 - b1) * (p.grad ? p.grad[0] : 0);
    p.data[0] -= (size * m[i]) / denom;
    p.zeroGrad();
    p.version++;
  });
}

class Ldp implements MethodImpl {
  readonly s: Settings;
  private readonly layers: Array<{ node: QNode; quantizer?: string }>;
  /** The precision parameters θ (precisionStep's group). */
  private readonly thetas: Param[] = [];
  /** This forward's bit-width Vars and MACs (for the penalty), by layer. */
  private bits = new Map<string, Var>();
  private macs = new Map<string, number>();

  constructor(private readonly t: Trainer) {
    this.s = settings(t.config);
    this.layers = quantisedLayers(t.graph);
    const init = (name: string) => {
      const p = new Param(name, Float32Array.of(this.s.hi / this.s.K), [1]);
      t.net.params.set(name, p);
      this.thetas.push(p);
    };
    for (const l of this.layers) {
      init(weightBitsName(l.node.name));
      if (l.quantizer) init(activationBitsName(l.quantizer));
    }
  }

  private theta(name: string): Param { return this.t.net.param(name); }

  /** Whether this step is in the last freezeEpochs epochs (the precisions held where they are). */
  private frozen(): boolean { return this.s.freeze > 0 && this.t.epoch >= this.t.config.epochs - this.s.freeze; }

  private bitVar(tape: Tape | null, name: string): Var {
    const v = roundBits(tape, this.theta(name), this.s.K, this.s.lo, this.s.hi);
    this.bits.set(name, v);
    return v;
  }

  readonly hook: MethodImpl['hook'] = (node, ins, tape) => {
    const x = ins[0];
    if (node.op === 'qconv2d' || node.op === 'qlinear') {
      const w = this.t.net.param(`${node.name}.weight`);
      const b = this.bitVar(tape, weightBitsName(node.name));
      const q = quantizeWeights(tape, w, b.data[0]);
      const wq = this.frozen() ? q : withBitsGradient(tape, q, b, this.s.lo, this.s.hi, (k) => quantizeWeights(null, w, k).data);
      const bias = node.op === 'qlinear' && node.bias ? this.t.net.param(`${node.name}.bias`) : undefined;
      const y = layerProduct(tape, node as QNode, x, wq, bias);
      this.macs.set(node.name, macsPerSample(node as QNode, y));
      return y;
    }
    if (node.op === 'quantize' && this.t.net.params.has(activationBitsName(node.name))) {
      const b = this.bitVar(tape, activationBitsName(node.name));
      const q = quantizeActivations(tape, x, b.data[0]);
      return this.frozen() ? q : withBitsGradient(tape, q, b, this.s.lo, this.s.hi, (k) => quantizeActivations(null, x, k).data);
    }
    return undefined;
  };

  /** The bit-op terms of the last forward (a layer without a quantize node in front counts hi-bit inputs). */
  private terms(): BitOpsTerm[] {
    return this.layers.map((l) => ({
      macs: this.macs.get(l.node.name) ?? 0,
      weightBits: this.bits.get(weightBitsName(l.node.name))!,
      activationBits: (l.quantizer && this.bits.get(activationBitsName(l.quantizer))) || new Var(Float32Array.of(this.s.hi), [1]),
    }));
  }

  step(x: Float32Array, labels: ArrayLike<number>, n: number) {
    if (this.frozen()) {
      // the bits are constants now: no penalty, and θ gets no step (its gradient cleared, so the optimiser skips it)
      return distillStep(this.t, [this.s.hi], x, labels, n, undefined, false, () => { for (const p of this.thetas) p.zeroGrad(); });
    }
    const r = distillStep(this.t, [this.s.hi], x, labels, n, (tape) => bitOpsPenalty(tape, this.terms(), this.s.target, this.s.lambda),
      false, () => precisionStep(this.thetas, this.t.opt));
    // project θ back into the bit range (half a bit beyond each end), so the round stays responsive
    const lo = (this.s.lo - 0.49) / this.s.K, hi = (this.s.hi + 0.49) / this.s.K;
    for (const p of this.thetas) p.data[0] = Math.min(hi, Math.max(lo, p.data[0]));
    return r;
  }

  /** Each layer's current bits ({ weights, activations }) by layer name. */
  layerBits(): Record<string, Precision> {
    const r: Record<string, Precision> = {};
    for (const l of this.layers) {
      r[l.node.name] = {
        weights: bitsOf(this.theta(weightBitsName(l.node.name)).data[0], this.s.K, this.s.lo, this.s.hi),
        activations: l.quantizer ? bitsOf(this.theta(activationBitsName(l.quantizer)).data[0], this.s.K, this.s.lo, this.s.hi) : this.s.hi,
      };
    }
    return r;
  }

  /** Σ MAC·b_w·b_a over Σ MAC·64 at the current bits (MACs of the last forward). */
  bitOps(): number {
    const bits = this.layerBits();
    return bitOpsRatio(this.layers.map((l) => ({ macs: this.macs.get(l.node.name) ?? 0, weightBits: bits[l.node.name].weights, activationBits: bits[l.node.name].activations })));
  }

  epochInfo(): Record<string, unknown> {
    return { layers: this.layerBits(), bitOps: this.bitOps() };
  }

  /** The per-layer precision the runtime takes (setLayerPrecision): each layer and the quantize node feeding it. */
  precisions(): Record<string, Precision> {
    const bits = this.layerBits(), r: Record<string, Precision> = {};
    for (const l of this.layers) {
      r[l.node.name] = bits[l.node.name];
      if (l.quantizer) r[l.quantizer] = { weights: this.s.hi, activations: bits[l.node.name].activations };
    }
    return r;
  }

  summary(): Record<string, unknown> {
    return { layers: this.layerBits(), precisions: this.precisions(), bitOps: this.bitOps() };
  }

  toModel(input?: GraphInput): Model {
    const p = this.precisions();
    const used = new Set<number>([this.s.hi]);
    for (const v of Object.values(p)) used.add(v.weights).add(v.activations);
    const graph: GraphSpec = { ...this.t.graph, bitList: [...used].sort((a, b) => a - b) };
    const model = this.t.net.toModel(input, graph);
    for (const [name, prec] of Object.entries(p)) model.setLayerPrecision(name, prec);
    return model;
  }
}

/** LDP's graph: shared batch norms, the bit list lo..hi. */
function ldpGraph(g: GraphSpec, c: TrainConfig): GraphSpec {
  const s = settings(c);
  const bitList: number[] = [];
  for (let b = s.lo; b <= s.hi; b++) bitList.push(b);
  return { ...g, bitList, nodes: g.nodes.map((n) => (n.op === 'batchnorm' ? { ...n, switchable: false } : n)) };
}

registerMethod('ldp', {
  check: (c) => { settings(c); },
  graph: ldpGraph,
  widths: (c) => [c.bits[0]],
  create: (t) => new Ldp(t),
});
