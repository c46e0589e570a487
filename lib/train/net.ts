// A trainable network over an anyprec GraphSpec: the same graph (node names, tensor names,
// PyTorch layouts) that Model.build runs, so the trained tensors export as they are.
import type { GraphSpec, NodeSpec } from '../nn/graph';
import { graphFormatFor, validateGraph } from '../nn/graph';
import { bnKeys } from '../nn/params';
import type { GraphInput } from '../nn/input';
import { Model } from '../nn/model';
import { nchwToNhwc } from '../core/kernels';
import { Rng } from './rng';
import * as T from './tape';
import { Param, Tape, Var } from './tape';
import { quantizeActivations, quantizeWeights } from './quant';

const SUPPORTED = new Set(['conv2d', 'qconv2d', 'linear', 'qlinear', 'batchnorm', 'relu', 'clamp', 'quantize', 'clampact',
  'maxpool2d', 'avgpool2d', 'globalavgpool', 'flatten', 'add', 'dropout']);

interface BnSet { weight: Param; bias: Param; runningMean: Float32Array; runningVar: Float32Array; switchable: boolean }

/**
 * A training method's own version of a node (lib/train/methods: SP, PG, LDP quantisers): the
 * node's output, or undefined to run the node as usual.
 */
export type NodeHook = (node: NodeSpec, ins: Var[], tape: Tape | null, training: boolean, bits: number) => Var | undefined;

export interface ForwardOptions {
  bits: number;
  training: boolean;
  tape?: Tape | null;
  hook?: NodeHook;
}

export class TrainNet {
  readonly graph: GraphSpec;
  /** Learnable tensors by their runtime names (`conv0.weight`, `bn.bn_dict.4.bias`, ...). */
  readonly params = new Map<string, Param>();
  /** Running statistics by runtime name (`<bn>.<key>.running_mean|running_var`). */
  readonly buffers = new Map<string, Float32Array>();
  private readonly bns = new Map<string, BnSet>();
  bnMomentum = 0.1;

  constructor(graph: GraphSpec, seed = 0) {
    this.graph = validateGraph(graph);
    const mode = this.graph.weightMode;
    if (this.graph.nodes.some((n) => n.op === 'qconv2d' || n.op === 'qlinear') && mode !== 'requant' && mode !== 'truncate') {
      throw new RangeError(`training needs a graph with weightMode 'requant' or 'truncate', got ${String(mode)}`);
    }
    const rng = new Rng(seed);
    for (const node of this.graph.nodes) {
      if (!SUPPORTED.has(node.op)) throw new RangeError(`training does not support op '${node.op}' (node ${node.name})`);
      if ((node.op === 'qconv2d' || node.op === 'qlinear') && node.gate) throw new RangeError(`training does not support gated layers (node ${node.name})`);
      if (node.op === 'quantize' && (node.clip || node.oneBit !== undefined)) {
        throw new RangeError(`training does not support quantize options clip / oneBit (node ${node.name}); SP-Nets' options.activation trains them (pact, sign)`);
      }
      if (node.op === 'conv2d' || node.op === 'qconv2d') {
        const [kh, kw] = node.kernel;
        this.weight(`${node.name}.weight`, [node.outChannels, node.inChannels, kh, kw], node.inChannels * kh * kw, rng);
        if (node.op === 'conv2d' && node.bias) this.biasParam(`${node.name}.bias`, node.outChannels, node.inChannels * kh * kw, rng);
      } else if (node.op === 'linear' || node.op === 'qlinear') {
        this.weight(`${node.name}.weight`, [node.outFeatures, node.inFeatures], node.inFeatures, rng);
        if (node.bias) this.biasParam(`${node.name}.bias`, node.outFeatures, node.inFeatures, rng);
      } else if (node.op === 'batchnorm') {
        for (const key of bnKeys(this.graph, node)) {
          // the runtime's names: `<bn>.<bits>.weight` (switchable), `<bn>.weight` (shared)
          const p = node.switchable ? `${node.name}.${key}` : node.name;
          const weight = this.add(new Param(`${p}.weight`, new Float32Array(node.channels).fill(1), [node.channels]));
          const bias = this.add(new Param(`${p}.bias`, new Float32Array(node.channels), [node.channels]));
          const runningMean = new Float32Array(node.channels), runningVar = new Float32Array(node.channels).fill(1);
          this.buffers.set(`${p}.running_mean`, runningMean);
          this.buffers.set(`${p}.running_var`, runningVar);
          this.bns.set(p, { weight, bias, runningMean, runningVar, switchable: node.switchable === true });
        }
      }
    }
  }

  private add(p: Param): Param { this.params.set(p.name, p); return p; }
  /** Kaiming-normal (fan in, ReLU gain), as the reference's PyTorch init for conv layers. */
  private weight(name: string, shape: number[], fanIn: number, rng: Rng): void {
    const n = shape.reduce((a, b) => a * b, 1), std = Math.sqrt(2 / fanIn);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = rng.normal() * std;
    this.add(new Param(name, d, shape));
  }
  private biasParam(name: string, n: number, fanIn: number, rng: Rng): void {
    const b = 1 / Math.sqrt(fanIn), d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = (2 * rng.next() - 1) * b;
    this.add(new Param(name, d, [n]));
  }

  param(name: string): Param {
    const p = this.params.get(name);
    if (!p) throw new RangeError(`no parameter '${name}'`);
    return p;
  }

  /**
   * Forward pass at one bit-width (weights and activations; 32 = the float path of the graph).
   * x: NCHW (or [N, F]) float32, n samples. Returns [n, classes] logits.
   */
  forward(x: Float32Array, n: number, o: ForwardOptions): Var {
    const g = this.graph, tape = o.tape ?? null, bits = o.bits;
    if (!g.bitList.includes(bits)) throw new RangeError(`bits must be one of the graph's bitList [${g.bitList.join(', ')}], got ${bits}`);
    const per = g.inputShape.reduce((a, b) => a * b, 1);
    if (x.length !== n * per) throw new RangeError(`x must hold n*${per} = ${n * per} values, got ${x.length}`);
    let input: Var;
    if (g.inputShape.length === 3) {
      const [c, h, w] = g.inputShape;
      input = new Var(nchwToNhwc(x, n, c, h, w, T.buffer(x.length, false)), [n, h, w, c]);
    } else {
      input = new Var(x, [n, per]);
    }
    const values = new Map<string, Var>([['input', input]]);
    // Without a tape nothing is kept for a backward pass: a value is dropped after its last use,
    // so a large-batch pass (calibrateBatchNorm) holds a few activations, not every node's.
    const lastUse = tape === null ? this.lastUses() : undefined;
    let last = input;
    for (const [idx, node] of g.nodes.entries()) {
      const ins = node.inputs.map((name) => {
        const v = values.get(name);
        if (!v) throw new RangeError(`node ${node.name}: input '${name}' not computed`);
        return v;
      });
      last = o.hook?.(node, ins, tape, o.training, bits) ?? this.node(node, ins, bits, o.training, tape);
      values.set(node.name, last);
      if (lastUse) for (const name of node.inputs) if (lastUse.get(name) === idx) values.delete(name);
    }
    const outName = g.output ?? g.nodes[g.nodes.length - 1].name;
    const res = values.get(outName)!;
    return res.shape.length === 2 ? res : T.flatten(tape, res);
  }

  /** Index of the last node reading each value (the graph's output is never dropped). */
  private lastUses(): Map<string, number> {
    const m = new Map<string, number>();
    this.graph.nodes.forEach((node, i) => { for (const name of node.inputs) m.set(name, i); });
    m.delete(this.graph.output ?? this.graph.nodes[this.graph.nodes.length - 1].name);
    return m;
  }

  /**
   * Re-estimates the running statistics of the batch norms used at `bits` from one batch-statistics
   * pass over the n samples of x (taken as one batch: every batch norm's statistics then come from
   * inputs that the layers before it normalised with exactly the statistics they store, as in
   * evaluation). Averaging the statistics of many small batches does not give that: at 1 bit an
   * any-precision ResNet-20 scored 58% on validation digits with its momentum-averaged statistics,
   * 66% with the exact average of twenty 100-sample batches, 91% after one 1000-sample pass (the
   * same weights; with batch statistics it scores 91%). Batch norms shared by every width keep
   * their statistics (one pass of one width must not overwrite the others'). x as for forward.
   */
  calibrateBatchNorm(x: Float32Array, n: number, bits: number, hook?: NodeHook): void {
    const shared = [...this.bns.values()].filter((s) => !s.switchable).map((s) => [s, s.runningMean.slice(), s.runningVar.slice()] as const);
    const momentum = this.bnMomentum;
    this.bnMomentum = 1;
    try {
      this.forward(x, n, { bits, training: true, hook });
    } finally {
      this.bnMomentum = momentum;
      for (const [s, mean, variance] of shared) {
        s.runningMean.set(mean);
        s.runningVar.set(variance);
      }
    }
  }

  private node(node: NodeSpec, ins: Var[], bits: number, training: boolean, tape: Tape | null): Var {
    const x = ins[0];
    switch (node.op) {
      case 'conv2d':
      case 'qconv2d': {
        const w = this.param(`${node.name}.weight`);
        const wv = node.op === 'qconv2d' ? quantizeWeights(tape, w, bits, this.graph.weightMode) : w;
        const bias = node.op === 'conv2d' && node.bias ? this.param(`${node.name}.bias`) : undefined;
        return T.conv2d(tape, x, wv, node, bias);
      }
      case 'linear':
      case 'qlinear': {
        const w = this.param(`${node.name}.weight`);
        const wv = node.op === 'qlinear' ? quantizeWeights(tape, w, bits, this.graph.weightMode) : w;
        const bias = node.bias ? this.param(`${node.name}.bias`) : undefined;
        return T.linear(tape, T.flatten(tape, x), wv, bias);
      }
      case 'batchnorm': {
        const key = node.switchable ? String(bits) : 'shared';
        const s = this.bns.get(node.switchable ? `${node.name}.${key}` : node.name)!;
        return T.batchNorm(tape, x, { ...s, eps: node.eps, momentum: this.bnMomentum }, training);
      }
      case 'relu': return T.relu(tape, x);
      case 'clamp': return T.clamp(tape, x, node.min, node.max);
      case 'quantize': return quantizeActivations(tape, x, bits);
      case 'clampact': return bits === 32 ? T.relu(tape, x) : T.clamp(tape, x, 0, 1);
      case 'maxpool2d': return T.maxPool(tape, x, node);
      case 'avgpool2d': return T.avgPool(tape, x, node);
      case 'globalavgpool': return T.globalAvgPool(tape, x);
      case 'flatten': return T.flatten(tape, x);
      case 'add': return T.add(tape, ins[0], ins[1]);
      case 'dropout': return x; // identity: the runtime's eval semantics (no dropout in training either)
      default: throw new RangeError(`training does not support op '${node.op}'`);
    }
  }

  /** Every tensor the runtime needs, by name (parameters and running statistics; copies). */
  tensors(): Record<string, Float32Array> {
    const t: Record<string, Float32Array> = {};
    for (const [k, p] of this.params) t[k] = p.data.slice();
    for (const [k, b] of this.buffers) t[k] = b.slice();
    return t;
  }

  /** Sets tensors by name (e.g. from a checkpoint); every name must exist with the same length. */
  loadTensors(t: Record<string, Float32Array>): void {
    for (const [k, v] of Object.entries(t)) {
      const dst = this.params.get(k)?.data ?? this.buffers.get(k);
      if (!dst) throw new RangeError(`unknown tensor '${k}'`);
      if (dst.length !== v.length) throw new RangeError(`tensor '${k}' must hold ${dst.length} values, got ${v.length}`);
      dst.set(v);
      const p = this.params.get(k);
      if (p) p.version++;
    }
  }

  /**
   * The trained network as a runtime Model: the tensors as trained, in the graph unchanged or in a
   * training method's variant of it (`base`: the same nodes and tensor names; e.g. with precision
   * gates, or quantize options) and, when a method rewrites them for that graph, `tensors` (by the
   * same names). With `input` the graph carries it (version 2 or later): the model takes the raw
   * input and preprocesses it itself.
   */
  toModel(input?: GraphInput, base: GraphSpec = this.graph, tensors: Record<string, Float32Array> = this.tensors()): Model {
    const graph: GraphSpec = input ? { ...base, input } : { ...base };
    graph.format = graphFormatFor(graph);
    return Model.build(graph, tensors);
  }
}
