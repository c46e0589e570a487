// Executes a graph at one precision assignment. A Plan is built once per assignment (fusing
// quantised layers with the batch norm and activation quantiser that follow them, so their
// integer accumulators become the next layer's codes without a float tensor in between) and is
// immutable: concurrent runs at different precisions each use their own plan.
import * as kernels from '../core/kernels';
import { Packed } from '../core/kernels';
import { quantizeDynamic } from '../core/signmag';
import { DEFAULT_GATE, GateSetting, pgConv, signMagnitudeConv, SignMagnitudePacked } from './pg-conv';
import { Tensor } from '../core/tensor';
import type { GraphSpec, NodeSpec, PrecisionGate } from './graph';
import { isGated, QUANTISED_OPS } from './graph';
import * as ops from './ops';
import type { Act } from './ops';
import type { Params } from './params';
import type { Precision } from './precision';

const fr = Math.fround;

/**
 * What a precision gate did in one call of one layer (pgconv2d, or a qconv2d / qlinear with a
 * gate, in a call where the gate acted). With K the MACs per output and w the weight bits:
 *   bitOps      = K·w·(total·Bhb + on·(B − Bhb))   (the high planes for every output, the low ones where on)
 *   denseBitOps = K·w·total·B                       (the same layer without its gate)
 *   bAvg        = Bhb + fraction·(B − Bhb)          (= bitOps / (macs·w): the activation bits spent on average)
 */
export interface GateStats {
  /** Outputs that got their low bits. */
  on: number;
  /** All outputs of the layer in this call (batch x positions x channels). */
  total: number;
  /** on / total. */
  fraction: number;
  /** B: the activation bits the gate splits. */
  bits: number;
  /** Bhb: the bits every output gets. */
  highBits: number;
  bAvg: number;
  bitOps: number;
  denseBitOps: number;
}

/** The gates of a whole call (RunStats.gate): MAC-weighted over the layers whose gate acted. */
export interface GateSummary {
  /** Gated layers whose gate acted in this call (their first node's name). */
  layers: string[];
  /** Gated layers that ran dense because their input was not B-bit unsigned codes (other precision). */
  inactive: string[];
  /** MACs of the `layers`. */
  macs: number;
  /** Σ macs·fraction / Σ macs over `layers` (0 when none). */
  fraction: number;
  /** Σ macs·bAvg / Σ macs over `layers` (0 when none). */
  bAvg: number;
  /** Bit-ops the `layers` spent, and what they would have spent without their gates. */
  bitOps: number;
  denseBitOps: number;
}

export interface LayerStats {
  /** Node names this step executed (a quantised layer and what was fused into it). */
  nodes: string[];
  op: string;
  macs: number;
  weightBits: number;
  activationBits: number;
  /** Bit-ops spent: MACs x weight bits x activation bits (float layers count 32 x 32); gated layers: gate.bitOps. */
  bitOps: number;
  ms: number;
  /** Precision-gated layers (when the gate acted in this call). */
  gate?: GateStats;
  /** Layers over dynamically scaled codes: the input's activation scale in this call. */
  activationScale?: number;
}

export interface BitOpsReport {
  precision: Precision;
  /** Dense counts: gated layers are counted at B bits for every output (what a gate can save is per call). */
  layers: Omit<LayerStats, 'ms'>[];
  macs: number;
  bitOps: number;
}

export interface RunStats {
  precision: Precision;
  layers: LayerStats[];
  macs: number;
  /** Bit-ops spent in this call (gated layers count what their gates let through). */
  bitOps: number;
  /** Bit-ops of the same call with every gate open (= bitOps when nothing was gated). */
  denseBitOps: number;
  ms: number;
  /** Present when the graph has gated layers. */
  gate?: GateSummary;
}

/** GateStats of a layer with `perOutput` MACs per output and `wBits`-bit weights. */
export function gateStats(on: number, total: number, perOutput: number, wBits: number, bits: number, highBits: number): GateStats {
  const fraction = total > 0 ? on / total : 0;
  return {
    on, total, fraction, bits, highBits,
    bAvg: highBits + fraction * (bits - highBits),
    bitOps: perOutput * wBits * (total * highBits + on * (bits - highBits)),
    denseBitOps: perOutput * wBits * total * bits,
  };
}

/**
 * The gate of a layer whose float output is y = float32(float32(O) · unit) (O the integer
 * accumulator) as integer thresholds on the high-part accumulator acc_hb (O_hb = acc_hb · 2^low):
 * channel c is on iff acc_hb >= T[c], exactly where float32(float32(acc_hb · 2^low) · unit) >
 * float32(threshold[c] + offset) (monotone in acc_hb, so a binary search over |acc_hb| <= bound
 * finds the edge). T = bound + 1: never; T = −bound: always.
 */
export function gateIntThresholds(threshold: Float32Array, offset: number, unit: number, low: number, bound: number): Float64Array {
  if (!(unit > 0)) throw new RangeError(`unit must be > 0, got ${unit}`);
  const scale = 2 ** low;
  const T = new Float64Array(threshold.length);
  for (let c = 0; c < threshold.length; c++) {
    const delta = fr(threshold[c] + offset);
    const on = (acc: number) => fr(fr(acc * scale) * unit) > delta;
    let lo = -bound, hi = bound + 1;
    if (on(lo)) hi = lo;
    else if (!on(bound)) lo = hi;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (on(mid)) hi = mid;
      else lo = mid;
    }
    T[c] = hi;
  }
  return T;
}

/**
 * The float32 kernel thresholds t for integer ones T (kernel: on iff O_hb > floor(t), O_hb =
 * acc_hb · 2^low): t = (T − 1)·2^low, exact in float32 while |T − 1|·2^low < 2^24; null past that.
 */
export function kernelGateThresholds(T: Float64Array, low: number, bound: number): Float32Array | null {
  const t = new Float32Array(T.length);
  const scale = 2 ** low;
  for (let c = 0; c < T.length; c++) {
    if (T[c] > bound) t[c] = Infinity;
    else if (T[c] <= -bound) t[c] = -Infinity;
    else {
      const v = (T[c] - 1) * scale;
      t[c] = v;
      if (t[c] !== v) return null;
    }
  }
  return t;
}

/** Per-sample shape of every node's output: [H, W, C] for images, [F] for features. */
export function inferShapes(graph: GraphSpec): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const input = graph.inputShape;
  shapes.set('input', input.length === 3 ? [input[1], input[2], input[0]] : [input[0]]);
  for (const node of graph.nodes) {
    const s = shapes.get(node.inputs[0])!;
    const where = `node ${node.name} (${node.op})`;
    const needImage = () => {
      if (s.length !== 3) throw new RangeError(`${where} needs an image input, got shape [${s.join(', ')}]`);
    };
    let out: number[];
    switch (node.op) {
      case 'conv2d':
      case 'qconv2d':
      case 'smconv2d':
      case 'pgconv2d': {
        needImage();
        if (s[2] !== node.inChannels) throw new RangeError(`${where} expects ${node.inChannels} input channels, gets ${s[2]}`);
        const [kh, kw] = node.kernel, [sh, sw] = node.stride, [ph, pw] = node.padding, [dh, dw] = node.dilation;
        const oh = Math.floor((s[0] + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
        const ow = Math.floor((s[1] + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
        if (oh < 1 || ow < 1) throw new RangeError(`${where}: kernel larger than its padded ${s[0]}x${s[1]} input`);
        out = [oh, ow, node.outChannels];
        break;
      }
      case 'linear':
      case 'qlinear':
        if (s.length !== 1 || s[0] !== node.inFeatures) {
          throw new RangeError(`${where} expects [${node.inFeatures}] features, gets [${s.join(', ')}] (flatten first?)`);
        }
        out = [node.outFeatures];
        break;
      case 'batchnorm':
        if (s[s.length - 1] !== node.channels) throw new RangeError(`${where} has ${node.channels} channels, input has ${s[s.length - 1]}`);
        out = s;
        break;
      case 'maxpool2d':
      case 'avgpool2d': {
        needImage();
        const g = ops.poolGeom([1, ...s], node.kernel, node.stride, node.padding);
        if (g.oh < 1 || g.ow < 1) throw new RangeError(`${where}: window larger than its input`);
        out = [g.oh, g.ow, s[2]];
        break;
      }
      case 'globalavgpool':
        needImage();
        out = [s[2]];
        break;
      case 'subsample':
        needImage();
        out = [Math.ceil(s[0] / node.stride[0]), Math.ceil(s[1] / node.stride[1]), node.padChannels[0] + s[2] + node.padChannels[1]];
        break;
      case 'flatten':
        out = [s.reduce((a, b) => a * b, 1)];
        break;
      case 'add': {
        const t = shapes.get(node.inputs[1])!;
        if (t.join() !== s.join()) throw new RangeError(`${where} adds shapes [${s.join(', ')}] and [${t.join(', ')}]`);
        out = s;
        break;
      }
      default:
        out = s;
    }
    shapes.set(node.name, out);
  }
  return shapes;
}

/** MACs per sample of a weighted node. */
export function nodeMacs(node: NodeSpec, shapes: Map<string, number[]>): number {
  const o = shapes.get(node.name)!;
  if (node.op === 'conv2d' || node.op === 'qconv2d' || node.op === 'smconv2d' || node.op === 'pgconv2d') return o[0] * o[1] * o[2] * node.inChannels * node.kernel[0] * node.kernel[1];
  if (node.op === 'linear' || node.op === 'qlinear') return node.inFeatures * node.outFeatures;
  return 0;
}

interface Step {
  nodes: string[];
  op: string;
  output: string;
  macsPerSample: number;
  weightBits: number;
  activationBits: number;
  exec(env: Map<string, Act>, n: number, ctx: RunContext): Act;
}

/** Per-call state a step may read (gate setting) and report into (stats of the step just run). */
interface RunContext {
  gate: GateSetting;
  step?: Partial<LayerStats>;
  /** Gated layers that ran dense in this call (input not B-bit unsigned codes). */
  inactive: string[];
  /** Calibration: per gated layer, the float high-part outputs float32(float32(O_hb)·unit), rows x channels. */
  probe?: Map<string, { channels: number; values: Float32Array[] }>;
}

type Batch = [number, ...number[]];

export class Plan {
  private readonly steps: Step[] = [];
  private readonly outputName: string;
  private readonly codeBits = new Map<string, number>();

  constructor(private readonly graph: GraphSpec, private readonly params: Params,
              readonly precision: Precision, private readonly layerPrecision: (name: string) => Precision) {
    const shapes = inferShapes(graph);
    const consumers = new Map<string, NodeSpec[]>();
    for (const node of graph.nodes) for (const i of node.inputs) consumers.set(i, [...(consumers.get(i) ?? []), node]);
    this.outputName = graph.output ?? graph.nodes[graph.nodes.length - 1].name;
    const soleConsumer = (name: string): NodeSpec | undefined => {
      const c = consumers.get(name) ?? [];
      return c.length === 1 && name !== this.outputName ? c[0] : undefined;
    };
    const fused = new Set<string>();
    // Bits of the codes each node outputs (32: float), to account bit-ops per layer.
    this.codeBits.set('input', 32);
    for (const node of graph.nodes) {
      const inBits = this.codeBits.get(node.inputs[0]) ?? 32;
      let bits = 32;
      if (node.op === 'quantize') bits = layerPrecision(node.name).activations;
      else if (node.op === 'sign') bits = 1;
      else if (node.op === 'dynquantize') bits = node.bits;
      else if (node.op === 'maxpool2d' || node.op === 'flatten' || node.op === 'dropout') bits = inBits;
      this.codeBits.set(node.name, bits);
    }
    for (const node of graph.nodes) {
      if (fused.has(node.name)) continue;
      const prec = layerPrecision(node.name);
      if (QUANTISED_OPS.has(node.op)) {
        // Absorb a following batch norm and activation (quantiser or ReLU) into the epilogue.
        const chain: NodeSpec[] = [node];
        let next = soleConsumer(node.name);
        if (next?.op === 'batchnorm') {
          chain.push(next);
          next = soleConsumer(next.name);
        }
        if (next && (next.op === 'quantize' || next.op === 'relu')) chain.push(next);
        for (const c of chain.slice(1)) fused.add(c.name);
        this.steps.push(this.quantisedStep(chain, shapes, prec));
      } else if (node.op === 'smconv2d' || node.op === 'pgconv2d') {
        this.steps.push(this.signMagnitudeStep(node, shapes));
      } else if (node.op === 'batchnorm' && soleConsumer(node.name)?.op === 'quantize') {
        const q = soleConsumer(node.name)!;
        fused.add(q.name);
        this.steps.push(this.bnQuantizeStep(node, q, shapes));
      } else {
        this.steps.push(this.plainStep(node, shapes, prec));
      }
    }
  }

  private param<T extends Float32Array | Packed>(name: string): T {
    const p = this.params.get(name);
    if (p === undefined) throw new RangeError(`model has no parameter '${name}'`);
    return p as T;
  }

  private bn(node: NodeSpec & { op: 'batchnorm' }): { alpha: Float32Array; beta: Float32Array; key: string } {
    const key = node.switchable ? String(this.layerPrecision(node.name).activations) : 'shared';
    if (node.switchable && !this.params.has(`${node.name}.${key}.alpha`)) {
      throw new RangeError(`batch norm ${node.name} has no parameters for ${key}-bit activations (bit list: ${this.graph.bitList.join(', ')})`);
    }
    return { alpha: this.param(`${node.name}.${key}.alpha`), beta: this.param(`${node.name}.${key}.beta`), key };
  }

  /** A quantised conv/linear, with an optional fused batch norm and activation after it. */
  private quantisedStep(chain: NodeSpec[], shapes: Map<string, number[]>, prec: Precision): Step {
    const node = chain[0] as NodeSpec & ({ op: 'qconv2d' } | { op: 'qlinear' });
    const bnNode = chain.find((c) => c.op === 'batchnorm') as (NodeSpec & { op: 'batchnorm' }) | undefined;
    const act = chain.find((c) => c.op === 'quantize' || c.op === 'relu');
    const outName = chain[chain.length - 1].name;
    const outShape = shapes.get(node.name)!;
    const channels = outShape[outShape.length - 1];
    const wBits = prec.weights;
    const actBits = act?.op === 'quantize' ? this.layerPrecision(act.name).activations : 32;
    const bn = bnNode ? this.bn(bnNode) : undefined;
    const bias = node.op === 'qlinear' && node.bias ? this.param<Float32Array>(`${node.name}.b`) : undefined;
    const E = this.param<Float32Array>(`${node.name}.scale`)[0];
    let weights: Packed | undefined;
    let wPlanes = wBits;
    if (wBits !== 32) {
      const stored = this.graph.weightMode === 'truncate' ? 8 : wBits;
      const p = this.params.get(`${node.name}.q${stored}`);
      if (!(p instanceof Packed)) {
        throw new RangeError(`layer ${node.name} has no ${wBits}-bit weights (bit list: ${this.graph.bitList.join(', ')})`);
      }
      weights = p;
      wPlanes = wBits;
    } else if (!this.params.has(`${node.name}.w32`)) {
      throw new RangeError(`layer ${node.name} has no float weights (32 is not in its bit list)`);
    }
    const isConv = node.op === 'qconv2d';
    const inShape = shapes.get(node.inputs[0])!;
    const k = isConv ? node.inChannels * node.kernel[0] * node.kernel[1] : node.inFeatures;

    // Final per-channel affine after the accumulator's own scale: batch norm, then bias folded in.
    const finish = (accScale: number): { scale: Float32Array; shift: Float32Array } => {
      const scale = new Float32Array(channels), shift = new Float32Array(channels);
      for (let c = 0; c < channels; c++) {
        let s = fr(accScale), t = bias ? bias[c] : 0;
        if (bn) {
          t = fr(fr(t * bn.alpha[c]) + bn.beta[c]);
          s = fr(s * bn.alpha[c]);
        }
        scale[c] = s;
        shift[c] = t;
      }
      return { scale, shift };
    };
    // Float path (32-bit weights or float activations): dequantised weights x float input.
    const floatWeights = (): Float32Array => {
      if (wBits === 32) return this.param<Float32Array>(`${node.name}.w32`);
      const stored = this.graph.weightMode === 'truncate' ? 8 : wBits;
      return dequantWeights(weights!, stored, wBits, E);
    };
    let cachedFloatW: Float32Array | undefined;
    let cachedEpi: Map<string, { scale: Float32Array; shift: Float32Array }> | undefined;

    const gate = node.gate;
    const exec = (env: Map<string, Act>, n: number, ctx: RunContext): Act => {
      const x = env.get(node.inputs[0])!;
      const rows = isConv ? n * outShape[0] * outShape[1] : n;
      let out: Act;
      const denseCodes = (a: Packed, aBitsIn: number, epi: { scale: Float32Array; shift: Float32Array }, aEncoding: kernels.EncodingName = 'unsigned'): Act => {
        const base = { aBits: aBitsIn, bBits: wPlanes, aEncoding, bEncoding: 'bipolar' } as const;
        if (act?.op === 'quantize' && actBits !== 32) {
          const codes = kernels.bitGemm(a, weights!, { ...base, epilogue: { output: 'codes', bits: actBits, scale: epi.scale, shift: epi.shift } });
          return { kind: 'codes', codes, bits: actBits, encoding: 'unsigned', shape: [n, ...outShape] };
        }
        const data = kernels.bitGemm(a, weights!, { ...base, epilogue: { output: 'float', scale: epi.scale, shift: epi.shift, min: act ? 0 : undefined } });
        return { kind: 'float', data, shape: [n, ...outShape] };
      };
      const gated = gate !== undefined && wBits !== 32 && x.kind === 'codes' && x.scale === undefined && x.bits === gate.bits;
      if (gate !== undefined && !gated) ctx.inactive.push(node.name);
      if (gated && x.kind === 'codes' && x.encoding !== 'unsigned') {
        throw new RangeError(`layer ${node.name}: its precision gate needs unsigned activation codes, the input is ${x.encoding}`);
      }
      if (gated && x.kind === 'codes') {
        const a = isConv
          ? kernels.packConv(x.codes, { n, h: inShape[0], w: inShape[1], c: inShape[2] },
              { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation }, x.bits)
          : kernels.pack(x.codes, n, k, x.bits);
        const nw = (1 << wBits) - 1, na = (1 << x.bits) - 1;
        const unit = fr(E / (nw * na));
        cachedEpi ??= new Map();
        const key = `${x.bits}/${x.encoding}`;
        let epi = cachedEpi.get(key);
        if (!epi) cachedEpi.set(key, (epi = finish(unit)));
        const { acc, on } = this.gatedProduct(node.name, a, weights!, wPlanes, gate, unit, k, ctx);
        const total = rows * channels;
        ctx.step = { gate: gateStats(on, total, k, wBits, gate.bits, gate.highBits) };
        ctx.step.bitOps = ctx.step.gate!.bitOps;
        if (acc === null) {
          // 'open': every output gets its low bits, i.e. the dense layer (fused epilogue, no gate work).
          return denseCodes(a, x.bits, epi);
        }
        // The int32 products straight into the native epilogue loops (float32(acc) first, as the
        // dense layer's fused epilogue does).
        if (act?.op === 'quantize' && actBits !== 32) {
          const codes = kernels.quantizeActivations(acc, channels, epi.scale, epi.shift, actBits);
          return { kind: 'codes', codes, bits: actBits, encoding: 'unsigned', shape: [n, ...outShape] };
        }
        const data = kernels.channelAffine(acc, channels, epi.scale, epi.shift, act ? 0 : -Infinity, Infinity);
        return { kind: 'float', data, shape: [n, ...outShape] };
      }
      if (wBits !== 32 && x.kind === 'codes' && x.scale === undefined) {
        // Bipolar codes have no zero (code 0 is -1), so the zero padding of a conv cannot be code 0:
        // padded taps would count as -1. Such inputs go in as signed codes one bit wider (the value
        // 2q - (2^b - 1) in two's complement: +1 -> 01, -1 -> 11 at b = 1), whose code 0 is 0.
        const widen = isConv && x.encoding === 'bipolar' && (node.padding[0] > 0 || node.padding[1] > 0);
        const aBits = widen ? x.bits + 1 : x.bits;
        const aEncoding: kernels.EncodingName = widen ? 'signed' : x.encoding;
        const a = isConv
          ? kernels.packConv(widen ? bipolarToSigned(x.codes, x.bits) : x.codes, { n, h: inShape[0], w: inShape[1], c: inShape[2] },
              { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation }, aBits)
          : kernels.pack(x.codes, n, k, x.bits);
        const nw = (1 << wBits) - 1, na = x.encoding === 'bipolar' ? 1 : (1 << x.bits) - 1;
        const key = `${x.bits}/${x.encoding}`;
        cachedEpi ??= new Map();
        let epi = cachedEpi.get(key);
        if (!epi) cachedEpi.set(key, (epi = finish(fr(E / (nw * na)))));
        out = denseCodes(a, aBits, epi, aEncoding);
        return out;
      }
      // float path
      const xf = ops.toFloat(x);
      const lowered = isConv
        ? kernels.im2colFloat(xf, { n, h: inShape[0], w: inShape[1], c: inShape[2] },
            { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation })
        : xf;
      cachedFloatW ??= floatWeights();
      let y = kernels.floatGemm(lowered, rows, k, cachedFloatW, channels);
      const { scale, shift } = finish(1);
      y = kernels.channelAffine(y, channels, scale, shift, act && (act.op === 'relu' || actBits === 32) ? 0 : -Infinity);
      if (act?.op === 'quantize' && actBits !== 32) {
        const codes = kernels.quantizeActivations(y, channels, null, null, actBits);
        return { kind: 'codes', codes, bits: actBits, encoding: 'unsigned', shape: [n, ...outShape] };
      }
      return { kind: 'float', data: y, shape: [n, ...outShape] };
    };
    return {
      nodes: chain.map((c) => c.name), op: node.op, output: outName,
      macsPerSample: nodeMacs(node, shapes), weightBits: wBits,
      activationBits: wBits === 32 ? 32 : this.codeBits.get(node.inputs[0]) ?? 32,
      exec,
    };
  }

  /**
   * The integer product of a gated layer over B-bit codes `a`: O_hb for every output and O_hb + O_lb
   * where the gate (thresholds in float units, unit = one accumulator step) lets the low bits
   * through, on the native gated GEMM. acc = null for 'open' (the caller runs the dense layer).
   */
  private gatedProduct(name: string, a: Packed, w: Packed, wPlanes: number, gate: PrecisionGate, unit: number, k: number,
                       ctx: RunContext): { acc: Int32Array | null; on: number } {
    const B = gate.bits, hb = gate.highBits, low = B - hb;
    const channels = w.rows;
    const opts = { aBits: B, highBits: hb, bBits: wPlanes, bEncoding: 'bipolar' } as const;
    const never = () => new Float32Array(channels).fill(Infinity);
    if (ctx.probe) {
      const hi = kernels.gatedGemm(a, w, { ...opts, thresholds: never() }).out;
      const v = new Float32Array(hi.length);
      for (let i = 0; i < hi.length; i++) v[i] = fr(fr(hi[i]) * unit);
      let entry = ctx.probe.get(name);
      if (!entry) ctx.probe.set(name, (entry = { channels, values: [] }));
      entry.values.push(v);
    }
    const mode = ctx.gate.mode;
    if (mode === 'open') return { acc: null, on: a.rows * channels };
    let thresholds: Float32Array | null;
    if (mode === 'closed') thresholds = never();
    else {
      const bound = (2 ** hb - 1) * (2 ** wPlanes - 1) * k;
      const T = gateIntThresholds(this.param<Float32Array>(`${name}.threshold`), ctx.gate.offset, unit, low, bound);
      thresholds = kernelGateThresholds(T, low, bound);
      if (thresholds === null) {
        // Thresholds past float32's exact integers (K in the tens of thousands): the same gate,
        // selected here from the high-only and the dense products (no work skipped).
        const hi = kernels.gatedGemm(a, w, { ...opts, thresholds: never() }).out;
        const full = kernels.bitGemm(a, w, { aBits: B, bBits: wPlanes, aEncoding: 'unsigned', bEncoding: 'bipolar' });
        const scale = 2 ** low;
        let on = 0;
        for (let i = 0, c = 0; i < hi.length; i++, c = c + 1 === channels ? 0 : c + 1) {
          if (hi[i] / scale >= T[c]) {
            hi[i] = full[i];
            on++;
          }
        }
        return { acc: hi, on };
      }
    }
    const r = kernels.gatedGemm(a, w, { ...opts, thresholds });
    return { acc: r.out, on: r.on };
  }

  /** Sign-magnitude conv ('smconv2d') or precision-gating conv ('pgconv2d') over dynamic codes. */
  private signMagnitudeStep(node: NodeSpec & ({ op: 'smconv2d' } | { op: 'pgconv2d' }), shapes: Map<string, number[]>): Step {
    const outShape = shapes.get(node.name)!;
    const [h, w, c] = shapes.get(node.inputs[0])!;
    const weights: SignMagnitudePacked = {
      bits: node.weightBits, odd: this.param<Packed>(`${node.name}.wodd`), even: this.param<Packed>(`${node.name}.weven`),
      scale: this.param<Float32Array>(`${node.name}.wscale`)[0],
    };
    const wStep = weights.scale / (2 ** node.weightBits - 1);
    const k = node.inChannels * node.kernel[0] * node.kernel[1];
    const aBits = this.codeBits.get(node.inputs[0]) ?? 32;
    const geom = { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation };
    return {
      nodes: [node.name], op: node.op, output: node.name, macsPerSample: nodeMacs(node, shapes),
      weightBits: node.weightBits, activationBits: aBits,
      exec: (env, n, ctx) => {
        const x = env.get(node.inputs[0])!;
        if (x.kind !== 'codes' || x.encoding !== 'unsigned' || x.scale === undefined) {
          throw new RangeError(`node ${node.name} (${node.op}) must read the codes of a 'dynquantize' node`);
        }
        const unit = (x.scale / (2 ** x.bits - 1)) * wStep;
        let data: Float32Array;
        if (node.op === 'smconv2d') {
          data = signMagnitudeConv(kernels.packConv(x.codes, { n, h, w, c }, geom, x.bits), weights, unit);
          ctx.step = { activationScale: x.scale };
        } else {
          const r = pgConv({ codes: x.codes, shape: { n, h, w, c }, bits: x.bits }, geom, weights,
            { highBits: node.highBits, unit, threshold: this.param<Float32Array>(`${node.name}.threshold`), gate: ctx.gate });
          data = r.out;
          const g = gateStats(r.on, r.total, k, node.weightBits, x.bits, node.highBits);
          ctx.step = { gate: g, activationScale: x.scale, activationBits: x.bits, bitOps: g.bitOps };
        }
        return { kind: 'float', data, shape: [n, ...outShape] };
      },
    };
  }

  private bnQuantizeStep(node: NodeSpec & { op: 'batchnorm' }, q: NodeSpec, shapes: Map<string, number[]>): Step {
    const bits = this.layerPrecision(q.name).activations;
    const { alpha, beta } = this.bn(node);
    const shape = shapes.get(node.name)!;
    return {
      nodes: [node.name, q.name], op: 'batchnorm+quantize', output: q.name, macsPerSample: 0, weightBits: 0, activationBits: 0,
      exec: (env, n) => {
        const x = ops.toFloat(env.get(node.inputs[0])!);
        if (bits === 32) return { kind: 'float', data: kernels.channelAffine(x, node.channels, alpha, beta, 0), shape: [n, ...shape] };
        const codes = kernels.quantizeActivations(x, node.channels, alpha, beta, bits);
        return { kind: 'codes', codes, bits, encoding: 'unsigned', shape: [n, ...shape] };
      },
    };
  }

  private plainStep(node: NodeSpec, shapes: Map<string, number[]>, prec: Precision): Step {
    const shape = shapes.get(node.name)!;
    const inShape = shapes.get(node.inputs[0])!;
    const step = (exec: (x: Act, n: number, env: Map<string, Act>) => Act, macs = 0): Step => ({
      nodes: [node.name], op: node.op, output: node.name, macsPerSample: macs,
      weightBits: macs ? 32 : 0, activationBits: macs ? 32 : 0,
      exec: (env, n) => exec(env.get(node.inputs[0])!, n, env),
    });
    const float = (data: Float32Array, n: number): Act => ({ kind: 'float', data, shape: [n, ...shape] });
    switch (node.op) {
      case 'conv2d':
      case 'linear': {
        const w = this.param<Float32Array>(`${node.name}.w`);
        const bias = node.bias ? this.param<Float32Array>(`${node.name}.b`) : null;
        const isConv = node.op === 'conv2d';
        const k = isConv ? node.inChannels * node.kernel[0] * node.kernel[1] : node.inFeatures;
        const channels = shape[shape.length - 1];
        return step((x, n) => {
          const xf = ops.toFloat(x);
          const lowered = isConv
            ? kernels.im2colFloat(xf, { n, h: inShape[0], w: inShape[1], c: inShape[2] },
                { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation })
            : xf;
          const rows = isConv ? n * shape[0] * shape[1] : n;
          return float(kernels.floatGemm(lowered, rows, k, w, channels, { bias }), n);
        }, nodeMacs(node, shapes));
      }
      case 'batchnorm':
        return step((x, n) => {
          const { alpha, beta } = this.bn(node);
          return float(kernels.channelAffine(ops.toFloat(x), node.channels, alpha, beta), n);
        });
      case 'relu':
        return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, Infinity), n));
      case 'clamp':
        return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, node.min, node.max), n));
      case 'pact': {
        const alpha = this.param<Float32Array>(`${node.name}.alpha`)[0];
        return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, alpha), n));
      }
      case 'subsample':
        return step((x, n) => float(ops.subsample(ops.toFloat(x), n, inShape[0], inShape[1], inShape[2], node.stride,
          node.padChannels[0], node.padChannels[1]), n));
      case 'dynquantize':
        return step((x, n) => {
          const { codes, scale } = quantizeDynamic(ops.toFloat(x), node.bits);
          return { kind: 'codes', codes, bits: node.bits, encoding: 'unsigned', scale, shape: [n, ...shape] };
        });
      case 'quantize': {
        const bits = prec.activations;
        return step((x, n) => {
          if (bits === 32) return float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, Infinity), n);
          const xf = ops.toFloat(x);
          return { kind: 'codes', codes: kernels.quantizeActivations(xf, 1, null, null, bits), bits, encoding: 'unsigned', shape: [n, ...shape] };
        });
      }
      case 'clampact': {
        const hi = prec.activations === 32 ? Infinity : 1;
        return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, hi), n));
      }
      case 'sign':
        return step((x, n) => {
          const xf = ops.toFloat(x);
          const codes = new Uint8Array(xf.length);
          for (let i = 0; i < xf.length; i++) codes[i] = xf[i] >= 0 ? 1 : 0;
          return { kind: 'codes', codes, bits: 1, encoding: 'bipolar', shape: [n, ...shape] };
        });
      case 'maxpool2d':
        return step((x, n) => {
          const dims = { n, h: inShape[0], w: inShape[1], c: inShape[2] };
          const pool = { kernel: node.kernel, stride: node.stride, padding: node.padding };
          if (x.kind === 'codes') return { ...x, codes: kernels.maxPool(x.codes, dims, pool), shape: [n, ...shape] };
          return float(kernels.maxPool(x.data, dims, pool), n);
        });
      case 'avgpool2d':
        return step((x, n) => float(ops.avgPool(ops.toFloat(x), ops.poolGeom([n, ...inShape], node.kernel, node.stride, node.padding)), n));
      case 'globalavgpool':
        return step((x, n) => float(ops.globalAvgPool(ops.toFloat(x), n, inShape[0], inShape[1], inShape[2]), n));
      case 'flatten':
        return step((x, n) => {
          if (inShape.length !== 3) return { ...x, shape: [n, ...shape] };
          const [h, w, c] = inShape;
          if (x.kind === 'codes') return { ...x, codes: ops.nhwcToNchw(x.codes, n, h, w, c), shape: [n, ...shape] };
          return float(ops.nhwcToNchw(x.data, n, h, w, c), n);
        });
      case 'add':
        return step((x, n, env) => float(ops.add(ops.toFloat(x), ops.toFloat(env.get(node.inputs[1])!)), n));
      case 'dropout':
        return step((x) => x);
      case 'softmax':
        return step((x, n) => {
          const f = shape.reduce((a, b) => a * b, 1);
          return float(ops.softmax(ops.toFloat(x), n, f), n);
        });
      default:
        throw new RangeError(`node ${node.name}: op ${node.op} cannot run here`);
    }
  }

  private accountStep(s: Step, n: number): Omit<LayerStats, 'ms'> {
    const macs = s.macsPerSample * n;
    return { nodes: s.nodes, op: s.op, macs, weightBits: s.weightBits, activationBits: s.activationBits,
      bitOps: macs * s.weightBits * s.activationBits };
  }

  /** MACs and bit-ops of every weighted layer for a batch of n, without running anything. */
  account(n: number): BitOpsReport {
    const layers = this.steps.filter((s) => s.macsPerSample > 0).map((s) => this.accountStep(s, n));
    return { precision: this.precision, layers, macs: layers.reduce((a, l) => a + l.macs, 0),
      bitOps: layers.reduce((a, l) => a + l.bitOps, 0) };
  }

  /** Runs one batch: x is [N, ...inputShape] (NCHW for images). */
  run(x: Tensor, collect: boolean, gate: GateSetting = DEFAULT_GATE, probe?: RunContext['probe']): { output: Tensor; stats?: RunStats } {
    const inShape = this.graph.inputShape;
    if (x.shape.length !== inShape.length + 1 || x.shape.slice(1).join() !== inShape.join()) {
      throw new RangeError(`input must have shape [N, ${inShape.join(', ')}], got [${x.shape.join(', ')}]`);
    }
    const n = x.shape[0];
    if (n === 0) throw new RangeError('input batch must hold at least one sample');
    const env = new Map<string, Act>();
    const data = inShape.length === 3 ? ops.nchwToNhwc(x.data, n, inShape[0], inShape[1], inShape[2]) : x.data;
    env.set('input', { kind: 'float', data, shape: inShape.length === 3 ? [n, inShape[1], inShape[2], inShape[0]] : [n, inShape[0]] });
    const layers: LayerStats[] = [];
    const t0 = collect ? performance.now() : 0;
    const ctx: RunContext = { gate, inactive: [], probe };
    for (const s of this.steps) {
      const t = collect ? performance.now() : 0;
      ctx.step = undefined;
      env.set(s.output, s.exec(env, n, ctx));
      if (collect && s.macsPerSample > 0) layers.push({ ...this.accountStep(s, n), ms: performance.now() - t, ...(ctx.step ?? {}) });
    }
    const out = env.get(this.outputName)!;
    let result: Tensor;
    const shape = out.shape;
    if (shape.length === 4) {
      const [, h, w, c] = shape;
      result = new Tensor(ops.nhwcToNchw(ops.toFloat(out), n, h, w, c), [n, c, h, w]);
    } else {
      result = new Tensor(ops.toFloat(out), shape);
    }
    if (!collect) return { output: result };
    const stats: RunStats = {
      precision: this.precision, layers,
      macs: layers.reduce((a, l) => a + l.macs, 0), bitOps: layers.reduce((a, l) => a + l.bitOps, 0),
      denseBitOps: layers.reduce((a, l) => a + (l.gate ? l.gate.denseBitOps : l.bitOps), 0),
      ms: performance.now() - t0,
    };
    if (this.graph.nodes.some(isGated)) {
      const gatedLayers = layers.filter((l) => l.gate);
      const macs = gatedLayers.reduce((a, l) => a + l.macs, 0);
      const weighted = (f: (g: GateStats) => number) => (macs > 0 ? gatedLayers.reduce((a, l) => a + l.macs * f(l.gate!), 0) / macs : 0);
      stats.gate = {
        layers: gatedLayers.map((l) => l.nodes[0]), inactive: ctx.inactive, macs,
        fraction: weighted((g) => g.fraction), bAvg: weighted((g) => g.bAvg),
        bitOps: gatedLayers.reduce((a, l) => a + l.gate!.bitOps, 0),
        denseBitOps: gatedLayers.reduce((a, l) => a + l.gate!.denseBitOps, 0),
      };
    }
    return { output: result, stats };
  }
}

/** Bipolar b-bit codes (value 2q - (2^b - 1)) as (b+1)-bit two's-complement signed codes of the same value. */
function bipolarToSigned(codes: Uint8Array, bits: number): Uint8Array {
  if (bits > 7) throw new RangeError(`bipolar activations of ${bits} bits cannot be zero-padded (at most 7)`);
  const n = (1 << bits) - 1, mask = (1 << (bits + 1)) - 1;
  const lut = new Uint8Array(n + 1).map((_, q) => (2 * q - n) & mask);
  const out = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = lut[codes[i]];
  return out;
}

/** Float weights (E * c / (2^b - 1), c the odd level) of a packed bipolar weight matrix. */
function dequantWeights(p: Packed, stored: number, bits: number, E: number): Float32Array {
  const codes = kernels.unpack(p);
  const out = new Float32Array(codes.length);
  const n = (1 << bits) - 1, shift = stored - bits;
  const level = new Float32Array(n + 1).map((_, q) => fr(fr((2 * q - n) / n) * E));
  for (let i = 0; i < codes.length; i++) out[i] = level[codes[i] >> shift];
  return out;
}
