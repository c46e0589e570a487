// Ready-made graphs (built in code) and random parameters for them: the MNIST MLP and CNN, and
// the Any-Precision pre-activation ResNet-20 with the reference checkpoint's tensor names.
import type { GraphSpec, NodeInit, NodeSpec, Pair, PrecisionGate, WeightMode } from './graph';
import { gateThresholdTensor } from './graph';
import { bnKeys } from './params';

export interface ZooOptions {
  bitList?: number[];
  weightMode?: WeightMode;
}

const DEFAULT_BITS = [1, 2, 3, 4, 5, 6, 7, 8, 32];

class Builder {
  readonly nodes: NodeSpec[] = [];
  last = 'input';
  add(node: NodeInit): string {
    this.nodes.push({ inputs: [this.last], ...node } as NodeSpec);
    this.last = node.name;
    return node.name;
  }
  conv(name: string, op: 'conv2d' | 'qconv2d', inC: number, outC: number, k: number, stride = 1, pad = 0): string {
    const p = (v: number): Pair => [v, v];
    const base = { name, inChannels: inC, outChannels: outC, kernel: p(k), stride: p(stride), padding: p(pad), dilation: p(1) };
    return op === 'conv2d' ? this.add({ ...base, op, bias: false }) : this.add({ ...base, op });
  }
  bn(name: string, channels: number, switchable = true): string {
    return this.add({ name, op: 'batchnorm', channels, eps: 1e-5, switchable });
  }
}

function graph(b: Builder, inputShape: number[], o: ZooOptions): GraphSpec {
  return { format: 'anyprec-graph/1', inputShape, nodes: b.nodes, bitList: o.bitList ?? DEFAULT_BITS, weightMode: o.weightMode ?? 'truncate' };
}

/**
 * MLP for 28x28 digits: quantise the input, then quantised linear layers with switchable BN and
 * activation quantisers between them; the last layer gives float logits (with bias).
 */
export function mlp(sizes: number[] = [784, 1024, 1024, 10], o: ZooOptions = {}): GraphSpec {
  const b = new Builder();
  b.add({ name: 'q0', op: 'quantize' });
  for (let i = 0; i + 1 < sizes.length; i++) {
    const last = i + 2 === sizes.length;
    b.add({ name: `fc${i}`, op: 'qlinear', inFeatures: sizes[i], outFeatures: sizes[i + 1], bias: last });
    if (!last) {
      b.bn(`bn${i}`, sizes[i + 1]);
      b.add({ name: `q${i + 1}`, op: 'quantize' });
    }
  }
  return graph(b, [sizes[0]], o);
}

/** Small CNN for 1x28x28 digits: float stem, two quantised convs, quantised FC, float classifier. */
export function cnn(o: ZooOptions = {}): GraphSpec {
  const b = new Builder();
  b.conv('conv0', 'conv2d', 1, 32, 3, 1, 1);
  b.bn('bn0', 32);
  b.add({ name: 'q0', op: 'quantize' });
  b.conv('conv1', 'qconv2d', 32, 64, 3, 1, 1);
  b.bn('bn1', 64);
  b.add({ name: 'q1', op: 'quantize' });
  b.add({ name: 'pool1', op: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
  b.conv('conv2', 'qconv2d', 64, 64, 3, 1, 1);
  b.bn('bn2', 64);
  b.add({ name: 'q2', op: 'quantize' });
  b.add({ name: 'pool2', op: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
  b.add({ name: 'flat', op: 'flatten' });
  b.add({ name: 'fc0', op: 'qlinear', inFeatures: 64 * 7 * 7, outFeatures: 256, bias: false });
  b.bn('bn3', 256);
  b.add({ name: 'q3', op: 'quantize' });
  b.add({ name: 'fc1', op: 'linear', inFeatures: 256, outFeatures: 10, bias: true });
  return graph(b, [1, 28, 28], o);
}

export interface PreactResnetOptions extends ZooOptions {
  widths?: [number, number, number];
  /** Residual blocks per stage (3 gives ResNet-20). */
  blocks?: number;
  classes?: number;
  inChannels?: number;
  /** Input height = width. */
  inputSize?: number;
}

/**
 * Any-Precision pre-activation ResNet (SHI-Labs/Any-Precision-DNNs resnet_quan.py) — ResNet-20 by
 * default; node names follow the reference state_dict (`layers.3.bn0.bn_dict.<bits>.weight`).
 */
export function preactResnet(o: PreactResnetOptions = {}): GraphSpec {
  const widths = o.widths ?? [16, 32, 64], blocks = o.blocks ?? 3, inChannels = o.inChannels ?? 3;
  const b = new Builder();
  b.conv('conv0', 'conv2d', inChannels, widths[0], 3, 1, 1);
  let inC = widths[0];
  for (let i = 0; i < 3 * blocks; i++) {
    const outC = widths[Math.floor(i / blocks)];
    const stride = i > 0 && i % blocks === 0 ? 2 : 1;
    const p = `layers.${i}`;
    const x = b.last;
    b.bn(`${p}.bn0.bn_dict`, inC);
    const a = b.add({ name: `${p}.act0`, op: 'quantize' });
    let shortcut = x;
    if (stride !== 1 || inC !== outC) {
      b.conv(`${p}.skip_conv`, 'conv2d', inC, outC, 1, stride, 0);
      shortcut = b.bn(`${p}.skip_bn`, outC, false);
      b.last = a;
    }
    b.conv(`${p}.conv0`, 'qconv2d', inC, outC, 3, stride, 1);
    b.bn(`${p}.bn1.bn_dict`, outC);
    b.add({ name: `${p}.act1`, op: 'quantize' });
    const v = b.conv(`${p}.conv1`, 'qconv2d', outC, outC, 3, 1, 1);
    b.add({ name: `${p}.add`, op: 'add', inputs: [v, shortcut] });
    inC = outC;
  }
  b.bn('bn.bn_dict', inC);
  b.add({ name: 'pool', op: 'globalavgpool' });
  b.add({ name: 'fc', op: 'linear', inFeatures: inC, outFeatures: o.classes ?? 10, bias: true });
  const size = o.inputSize ?? 32;
  return graph(b, [inChannels, size, size], { bitList: [1, 2, 4, 8, 32], weightMode: 'requant', ...o });
}

/** The Any-Precision ResNet-20 (resnet20q) at widths [C1, C2, C3]. */
export function resnet20(widths: [number, number, number] = [16, 32, 64], classes = 10, o: ZooOptions = {}): GraphSpec {
  return preactResnet({ ...o, widths, classes, blocks: 3 });
}

/**
 * Any-Precision SVHN network (svhn_quan.py, `expand` scales the widths); 40x40 inputs. Node names
 * follow the reference state_dict (`layers.<index>`).
 */
export function svhnq(expand = 2, o: ZooOptions & { classes?: number; inputSize?: number } = {}): GraphSpec {
  const e = expand;
  const b = new Builder();
  const bn = (i: number, c: number) => b.bn(`layers.${i}.bn_dict`, c);
  const act = (i: number) => b.add({ name: `layers.${i}`, op: 'quantize' });
  const pool = (i: number) => b.add({ name: `layers.${i}`, op: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
  b.add({ name: 'layers.0', op: 'conv2d', inChannels: 3, outChannels: 6 * e, kernel: [5, 5], stride: [1, 1], padding: [0, 0], dilation: [1, 1], bias: true });
  pool(1);
  act(2);
  b.conv('layers.3', 'qconv2d', 6 * e, 8 * e, 3, 1, 1);
  bn(4, 8 * e);
  act(5);
  b.conv('layers.6', 'qconv2d', 8 * e, 8 * e, 3, 1, 1);
  bn(7, 8 * e);
  pool(8);
  act(9);
  b.conv('layers.10', 'qconv2d', 8 * e, 16 * e, 3, 1, 0);
  bn(11, 16 * e);
  act(12);
  b.conv('layers.13', 'qconv2d', 16 * e, 16 * e, 3, 1, 1);
  bn(14, 16 * e);
  act(15);
  b.conv('layers.16', 'qconv2d', 16 * e, 16 * e, 3, 1, 0);
  bn(17, 16 * e);
  act(18);
  b.add({ name: 'layers.19', op: 'dropout', p: 0.5 });
  b.conv('layers.20', 'qconv2d', 16 * e, 64 * e, 5, 1, 0);
  b.add({ name: 'layers.21', op: 'clampact' });
  b.add({ name: 'flatten', op: 'flatten' });
  b.add({ name: 'fc', op: 'linear', inFeatures: 64 * e, outFeatures: o.classes ?? 10, bias: true });
  const size = o.inputSize ?? 40;
  return graph(b, [3, size, size], { bitList: [1, 2, 4, 8, 32], weightMode: 'requant', ...o });
}

/** B and Bhb of the gates the gated builders add. */
export interface GateChoice {
  /** B: the activation bits the gates split (default 4; must be in the bit list). */
  bits?: number;
  /** Bhb: the bits every output gets (default 2). */
  highBits?: number;
}

/**
 * A copy of `g` with a precision gate { bits, highBits } on its quantised convs and linears
 * (every one, or those named in `layers`); thresholds are tensors `${layer}.threshold`.
 */
export function withGates(g: GraphSpec, gate: GateChoice = {}, layers?: string[]): GraphSpec {
  const spec: PrecisionGate = { bits: gate.bits ?? 4, highBits: gate.highBits ?? 2 };
  const names = layers ? new Set(layers) : undefined;
  if (names) {
    for (const l of names) {
      if (!g.nodes.some((n) => n.name === l && (n.op === 'qconv2d' || n.op === 'qlinear'))) {
        throw new RangeError(`layers: '${l}' is not a qconv2d / qlinear node of the graph`);
      }
    }
  }
  const nodes = g.nodes.map((n) => ((n.op === 'qconv2d' || n.op === 'qlinear') && (!names || names.has(n.name)) ? { ...n, gate: { ...spec } } : n));
  return { ...g, nodes };
}

/**
 * The MNIST CNN (cnn()) with precision gates (default B = 4, Bhb = 2) on its two quantised convs
 * and its quantised FC layer. Thresholds come with randomTensors (0) — set them with
 * model.calibrateGates (per-channel quantiles) or model.setGateThresholds.
 */
export function gatedCnn(o: ZooOptions & GateChoice = {}): GraphSpec {
  return withGates(cnn(o), o);
}

/**
 * The Any-Precision pre-activation ResNet (preactResnet(); ResNet-20 by default, bit list
 * 1, 2, 4, 8, 32) with precision gates (default B = 4, Bhb = 2) on all its quantised convs.
 */
export function gatedPreactResnet(o: PreactResnetOptions & GateChoice = {}): GraphSpec {
  return withGates(preactResnet(o), o);
}

/** Deterministic random parameters for a graph (He-style weights, non-trivial BN statistics). */
export function randomTensors(g: GraphSpec, seed = 1): Record<string, Float32Array> {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const out: Record<string, Float32Array> = {};
  const fill = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  for (const node of g.nodes) {
    if (node.op === 'conv2d' || node.op === 'qconv2d') {
      const fanIn = node.inChannels * node.kernel[0] * node.kernel[1];
      out[`${node.name}.weight`] = fill(node.outChannels * fanIn, () => normal() * Math.sqrt(2 / fanIn));
      if (node.op === 'conv2d' && node.bias) out[`${node.name}.bias`] = fill(node.outChannels, () => normal() * 0.1);
      if (node.op === 'qconv2d' && node.gate) out[gateThresholdTensor(node)] = new Float32Array(node.outChannels);
    } else if (node.op === 'linear' || node.op === 'qlinear') {
      out[`${node.name}.weight`] = fill(node.outFeatures * node.inFeatures, () => normal() * Math.sqrt(2 / node.inFeatures));
      if (node.bias) out[`${node.name}.bias`] = fill(node.outFeatures, () => normal() * 0.1);
      if (node.op === 'qlinear' && node.gate) out[gateThresholdTensor(node)] = new Float32Array(node.outFeatures);
    } else if (node.op === 'batchnorm') {
      for (const key of bnKeys(g, node)) {
        const p = node.switchable ? `${node.name}.${key}` : node.name;
        out[`${p}.weight`] = fill(node.channels, () => 0.2 + 0.1 * uniform());
        out[`${p}.bias`] = fill(node.channels, () => 0.3 + 0.1 * normal());
        out[`${p}.running_mean`] = fill(node.channels, () => 0.1 * normal());
        out[`${p}.running_var`] = fill(node.channels, () => 0.5 + uniform());
      }
    }
  }
  return out;
}
