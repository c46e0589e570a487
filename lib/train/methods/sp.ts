// Switchable Precision Networks (Guerra et al., 2020): one set of 1-bit weights (mean|w|·sign w)
// shared by every switch; the activation precision switches (config.bits, e.g. 32, 8, 4, 2, 1),
// each switch with its own batch norm (the graph's switchable BN, keyed by activation bits);
// self-distillation: the top switch learns from the labels, every other switch from the top
// switch's soft targets, gradients summed into one step. options.distill = false: every switch
// learns from the labels instead (what `anyprec train` uses for runs under 10 epochs: the top
// switch is a poor teacher early on, and one epoch with distillation fell short; see the README).
//
// options.activation picks the activation quantiser of the switches below 32 bits:
//   'dorefa'  round(clamp(x, 0, 1)·(2^b − 1))/(2^b − 1)  (the runtime's quantize op: exported as is)
//   'pact'    PACT, a learnable clip α per quantiser and switch (init options.alpha, default 6);
//             exported as quantize nodes with `clip` and the clips as their tensors
//             `<node>.<b>.alpha` (widths of the bit list that are no switch: the initial clip,
//             untrained like their batch norms)
//   'sign'    the 1-bit switch uses sign activations (±1, hard-tanh STE), the others DoReFa;
//             exported as quantize nodes with `oneBit: 'sign'`
// Both exports are graphs of version 3 (lib/nn/graph.ts); the runtime runs them at every switch.
import type { GraphSpec, NodeSpec } from '../../nn/graph';
import { quantizeClipTensor } from '../../nn/graph';
import type { GraphInput } from '../../nn/input';
import type { Model } from '../../nn/model';
import { pactQuantize, signActivation } from '../ops-extra';
import { quantizeWeights } from '../quant';
import { Param } from '../tape';
import { registerMethod } from '../trainer';
import type { MethodImpl, TrainConfig, Trainer } from '../trainer';
import { layerProduct, optionsOf, numberOption, distillStep } from './common';
import type { QNode } from './common';

export type SpActivation = 'dorefa' | 'pact' | 'sign';
const KINDS: SpActivation[] = ['dorefa', 'pact', 'sign'];

export interface SpOptions {
  activation?: SpActivation;
  /** Initial PACT clip (default 6). */
  alpha?: number;
  /** Lower switches learn from the top switch's soft targets (default true) or, false, from the labels. */
  distill?: boolean;
}

function kindOf(c: TrainConfig): SpActivation {
  const k = optionsOf(c).activation ?? 'dorefa';
  if (!KINDS.includes(k as SpActivation)) throw new RangeError(`options.activation must be one of ${KINDS.join(', ')}, got ${JSON.stringify(k)}`);
  return k as SpActivation;
}

function distillOf(c: TrainConfig): boolean {
  const d = optionsOf(c).distill ?? true;
  if (typeof d !== 'boolean') throw new TypeError(`options.distill must be a boolean, got ${JSON.stringify(d)}`);
  return d;
}

/** The PACT clip of quantiser `node` at switch `bits` (a learnable tensor of the trainer). */
export const alphaName = (node: string, bits: number): string => `sp.${node}.${bits}.alpha`;

class Sp implements MethodImpl {
  private readonly kind: SpActivation;
  private readonly switches: number[];
  private readonly distill: boolean;
  /** PACT: the clips' initial value. */
  private readonly alpha0: number;

  constructor(private readonly t: Trainer) {
    this.kind = kindOf(t.config);
    this.distill = distillOf(t.config);
    this.switches = [...t.config.bits].sort((a, b) => b - a);
    this.alpha0 = this.kind === 'pact' ? numberOption(optionsOf(t.config), 'alpha', 6, 1e-3, 1e3) : 6;
    if (this.kind === 'pact') {
      for (const n of t.graph.nodes) {
        if (n.op !== 'quantize') continue;
        for (const b of this.switches) {
          const name = alphaName(n.name, b);
          t.net.params.set(name, new Param(name, Float32Array.of(this.alpha0), [1]));
        }
      }
    }
  }

  readonly hook: MethodImpl['hook'] = (node, ins, tape, _training, bits) => {
    const x = ins[0];
    if (node.op === 'qconv2d' || node.op === 'qlinear') {
      const w = quantizeWeights(tape, this.t.net.param(`${node.name}.weight`), 1);
      const bias = node.op === 'qlinear' && node.bias ? this.t.net.param(`${node.name}.bias`) : undefined;
      return layerProduct(tape, node as QNode, x, w, bias);
    }
    if (node.op !== 'quantize') return undefined;
    if (this.kind === 'pact') return pactQuantize(tape, x, this.t.net.param(alphaName(node.name, bits)), bits);
    if (this.kind === 'sign' && bits === 1) return signActivation(tape, x);
    return undefined; // DoReFa: the net's own quantize op
  };

  step(x: Float32Array, labels: ArrayLike<number>, n: number) {
    const r = distillStep(this.t, this.switches, x, labels, n, undefined, !this.distill);
    if (this.kind === 'pact') {
      // keep every clip positive (PACT's α is a range; a step past zero would invert it)
      for (const [k, p] of this.t.net.params) if (k.startsWith('sp.') && p.data[0] < 1e-3) p.data[0] = 1e-3;
    }
    return r;
  }

  epochInfo(): Record<string, unknown> | undefined {
    if (this.kind !== 'pact') return undefined;
    const alphas: Record<string, number> = {};
    for (const [k, p] of this.t.net.params) if (k.startsWith('sp.')) alphas[k.slice(3, -6)] = p.data[0];
    return { alphas };
  }

  summary(): Record<string, unknown> {
    return { weightBits: 1, activation: this.kind, distill: this.distill };
  }

  toModel(input?: GraphInput): Model {
    if (this.kind === 'dorefa') return this.t.net.toModel(input);
    const g = this.t.graph;
    const option: Partial<NodeSpec & { op: 'quantize' }> = this.kind === 'pact' ? { clip: true } : { oneBit: 'sign' };
    const graph: GraphSpec = { ...g, nodes: g.nodes.map((n) => (n.op === 'quantize' ? { ...n, ...option } : n)) };
    const tensors = this.t.net.tensors();
    if (this.kind === 'pact') {
      for (const n of g.nodes) {
        if (n.op !== 'quantize') continue;
        for (const b of g.bitList) {
          const trained = tensors[alphaName(n.name, b)];
          tensors[quantizeClipTensor(n.name, b)] = trained ?? Float32Array.of(this.alpha0);
          delete tensors[alphaName(n.name, b)];
        }
      }
    }
    return this.t.net.toModel(input, graph, tensors);
  }
}

/** The graph SP trains: the user's graph with 1 in its bit list (the shared 1-bit weights). */
function spGraph(g: GraphSpec): GraphSpec {
  if (!g.nodes.some((n) => n.op === 'qconv2d' || n.op === 'qlinear')) throw new RangeError('SP-Nets needs a graph with quantised layers (qconv2d / qlinear)');
  return g.bitList.includes(1) ? g : { ...g, bitList: [1, ...g.bitList] };
}

registerMethod('sp', {
  check(c) {
    kindOf(c);
    distillOf(c);
    if (c.bits.length < 1) throw new RangeError('sp: bits (the activation switches) must not be empty');
  },
  graph: (g) => spGraph(g),
  widths: (c) => [...c.bits].sort((a, b) => b - a),
  create: (t) => new Sp(t),
});
