// The model graph: a JSON-able list of nodes in execution order. Tensors (weights, BN
// statistics) are referenced by name and live beside the graph (in memory or in a model file).
//
// Layouts follow PyTorch so reference checkpoints map one to one: conv weights [out, in, kh, kw],
// linear weights [out, in], images NCHW at the model boundary. Inside, images run NHWC.

import { isBits, isPositiveInt, WeightMode } from '../core/check';
import { checkGraphInput, GraphInput } from './input';

export type Pair = [number, number];

interface Base {
  /** Unique node name; also the name of its output. */
  name: string;
  /** Names of the nodes (or 'input') this node reads. */
  inputs: string[];
}

export type { WeightMode } from '../core/check';

export interface ConvAttrs {
  inChannels: number;
  outChannels: number;
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  dilation: Pair;
}

/**
 * Precision Gating (Zhang et al., 2020) on a quantised conv / linear layer: every output is first
 * computed from the top `highBits` bit planes of its B-bit input codes (O_hb); only where O_hb
 * exceeds its output channel's threshold Δ_c are the low B − Bhb planes added (O = the dense
 * B-bit result, exactly), and only there is their work done.
 *
 * - `bits` (B, 2..8): the activation bit-width the gate splits; it must be in the graph's bitList.
 *   The gate acts only in calls where the layer's input arrives as unsigned B-bit codes. At any
 *   other activation bit-width (precision switching, 32-bit float activations) the layer runs
 *   dense at that width, exactly as without the gate, and RunStats.gate.inactive names it.
 * - `highBits` (Bhb, 1..B−1): the planes every output gets.
 * - `thresholds`: name of the tensor (one value per output channel) holding Δ_c, in the layer's
 *   float output units BEFORE bias and batch norm (Σ x̂·ŵ of the dequantised input and weights,
 *   the reference's units); default `${name}.threshold`. Output (i, c) is gated on iff
 *   float32(float32(O_hb) · unit) > float32(Δ_c + offset), unit = the float value of one
 *   accumulator step. −Infinity gates every output on, +Infinity none.
 */
export interface PrecisionGate {
  bits: number;
  highBits: number;
  thresholds?: string;
}

export type NodeSpec =
  /** Full-precision convolution; tensors `${name}.weight` [out,in,kh,kw], optional `${name}.bias`. */
  | (Base & { op: 'conv2d'; bias: boolean } & ConvAttrs)
  /** Any-Precision quantised convolution (weights quantised per call's bit-width). */
  | (Base & { op: 'qconv2d'; gate?: PrecisionGate } & ConvAttrs)
  /** Full-precision linear layer; `${name}.weight` [out,in], optional `${name}.bias`. */
  | (Base & { op: 'linear'; inFeatures: number; outFeatures: number; bias: boolean })
  /** Quantised linear layer; optional float bias `${name}.bias`. */
  | (Base & { op: 'qlinear'; inFeatures: number; outFeatures: number; bias: boolean; gate?: PrecisionGate })
  /**
   * BatchNorm (eval): `${name}.${key}.weight|bias|running_mean|running_var`; switchable BN has one
   * parameter set per activation bit-width (key = the bit-width), plain BN the single key 'shared'.
   */
  | (Base & { op: 'batchnorm'; channels: number; eps: number; switchable: boolean })
  | (Base & { op: 'relu' })
  | (Base & { op: 'clamp'; min: number; max: number })
  /**
   * Activation quantiser Act_b: clamp to [0,1], round to b bits; ReLU when b = 32. Two options
   * (graph version 3; at most one of them):
   * - `clip: true` (PACT, a learned clip per bit-width): one α_b > 0 per bit-width b of bitList,
   *   tensor `${name}.${b}.alpha` (one value; quantizeClipTensor). At b < 32 the node outputs the
   *   b-bit codes of clamp(x/α_b, 0, 1), code q worth q/(2^b − 1)·α_b; at 32 it is clamp(x, 0, α_32).
   * - `oneBit: 'sign'`: at 1 bit the node outputs the sign of x (+1 for x >= 0, else −1: bipolar
   *   codes, as the `sign` op); other bit-widths as without it.
   */
  | (Base & { op: 'quantize'; clip?: boolean; oneBit?: 'sign' })
  /** Clamp to [0, 1] without rounding (ReLU when the call's activations are 32-bit). */
  | (Base & { op: 'clampact' })
  /** 1-bit sign activation (BNN): +1 for x >= 0, else -1 (bipolar codes). */
  | (Base & { op: 'sign' })
  | (Base & { op: 'maxpool2d'; kernel: Pair; stride: Pair; padding: Pair })
  /** Average pooling; the divisor counts padded taps (PyTorch's count_include_pad=True). */
  | (Base & { op: 'avgpool2d'; kernel: Pair; stride: Pair; padding: Pair })
  | (Base & { op: 'globalavgpool' })
  /** Flattens NCHW-ordered (as PyTorch does) to [N, C*H*W]. */
  | (Base & { op: 'flatten' })
  | (Base & { op: 'add' })
  | (Base & { op: 'dropout'; p: number })
  | (Base & { op: 'softmax' })
  /** PACT clip: clamp(x, 0, alpha), alpha = tensor `${param ?? name}.upper_bound` (a module used twice shares it). */
  | (Base & { op: 'pact'; param?: string })
  /**
   * Option-A ResNet shortcut: x[:, :, 0::sh, 0::sw] with padChannels[0] zero channels in front and
   * padChannels[1] behind.
   */
  | (Base & { op: 'subsample'; stride: Pair; padChannels: Pair })
  /**
   * Activation quantiser with a dynamic per-tensor scale s = max|x| + 1e-7 over the whole batch:
   * unsigned `bits`-bit codes of x / s (x >= 0), value (q / (2^bits − 1))·s.
   */
  | (Base & { op: 'dynquantize'; bits: number })
  /**
   * Conv with sign-magnitude weights (levels round(|w|/s_w·(2^wb−1)), s_w = max|w| + 1e-7) over the
   * codes of a 'dynquantize'; tensor `${name}.weight`, no bias.
   */
  | (Base & { op: 'smconv2d'; weightBits: number } & ConvAttrs)
  /**
   * Precision-gating conv (dnn-gating PGConv2d): 'smconv2d' whose outputs use only the top
   * `highBits` planes of the input codes unless that partial result exceeds the channel's
   * threshold `${name}.threshold` [outChannels] (float units, before batch norm).
   */
  | (Base & { op: 'pgconv2d'; weightBits: number; highBits: number } & ConvAttrs);

export type OpName = NodeSpec['op'];

/**
 * A node as the graph builders (zoo, importers) write it: `inputs` may be left out, for the
 * builder to fill in. Omit distributed over the union, so each op keeps its own fields.
 */
export type NodeInit = NodeSpec extends infer N ? (N extends NodeSpec ? Omit<N, 'inputs'> & { inputs?: string[] } : never) : never;

/**
 * The graph versions validateGraph reads. Version 2 adds `input` (what a caller hands the model);
 * version 3 the quantize options `clip` and `oneBit` (a version 1 or 2 reader would ignore them).
 */
export const GRAPH_FORMATS = ['anyprec-graph/1', 'anyprec-graph/2', 'anyprec-graph/3'] as const;

export interface GraphSpec {
  format: (typeof GRAPH_FORMATS)[number];
  /** Shape of one input sample as the first node reads it: [C, H, W] for images or [F] for feature vectors. */
  inputShape: number[];
  /**
   * Version 2 only: the input callers hand the model (uint8 or float32, its raw shape) and the
   * preprocessing that makes `inputShape` of it. Absent: float32 input of `inputShape`.
   */
  input?: GraphInput;
  nodes: NodeSpec[];
  /** Name of the node whose output the model returns (default: the last node). */
  output?: string;
  /** Bit-widths the model supports (switchable BN keys, requant weight codes); 32 = float. */
  bitList: number[];
  weightMode: WeightMode;
}

const OPS: Record<OpName, number> = {
  conv2d: 1, qconv2d: 1, linear: 1, qlinear: 1, batchnorm: 1, relu: 1, clamp: 1, quantize: 1, clampact: 1, sign: 1,
  maxpool2d: 1, avgpool2d: 1, globalavgpool: 1, flatten: 1, add: 2, dropout: 1, softmax: 1,
  pact: 1, subsample: 1, dynquantize: 1, smconv2d: 1, pgconv2d: 1,
};

export const QUANTISED_OPS: ReadonlySet<OpName> = new Set<OpName>(['qconv2d', 'qlinear']);

/** Name of the tensor holding a gated layer's thresholds. */
export function gateThresholdTensor(node: { name: string; gate?: PrecisionGate }): string {
  return node.gate?.thresholds ?? `${node.name}.threshold`;
}

/** Name of the tensor holding the clip α of quantize node `node` (with `clip`) at `bits`-bit activations. */
export function quantizeClipTensor(node: string, bits: number | string): string {
  return `${node}.${bits}.alpha`;
}

/** @internal What a clip tensor is, for error messages. */
export function clipTensorRole(node: string, bits: number | string): string {
  return `the clip α of quantize ${node} at ${bits} bits, its field clip: true`;
}

/**
 * The lowest graph version that holds everything in `g`, or g.format where that is later:
 * 3 with a quantize `clip` or `oneBit`, 2 with `input`, else 1.
 */
export function graphFormatFor(g: GraphSpec): GraphSpec['format'] {
  const needs = g.nodes.some((n) => n.op === 'quantize' && (n.clip === true || n.oneBit !== undefined)) ? 3 : g.input !== undefined ? 2 : 1;
  const has = GRAPH_FORMATS.indexOf(g.format) + 1;
  return GRAPH_FORMATS[Math.max(needs, has) - 1];
}

/** Nodes whose outputs a precision gate steers: pgconv2d, and qconv2d / qlinear with a gate. */
export function isGated(node: NodeSpec): boolean {
  return node.op === 'pgconv2d' || ((node.op === 'qconv2d' || node.op === 'qlinear') && node.gate !== undefined);
}

function checkGate(gate: unknown, where: string, bitList: number[]): void {
  if (gate === null || typeof gate !== 'object' || Array.isArray(gate)) {
    throw new TypeError(`${where}.gate must be an object { bits, highBits, thresholds? }`);
  }
  const g = gate as Record<string, unknown>;
  for (const key of Object.keys(g)) {
    if (key !== 'bits' && key !== 'highBits' && key !== 'thresholds') {
      throw new RangeError(`${where}.gate.${key} is not a gate option (bits, highBits, thresholds)`);
    }
  }
  if (typeof g.bits !== 'number') throw new TypeError(`${where}.gate.bits must be a number (2..8), got ${g.bits === undefined ? 'nothing' : typeof g.bits}`);
  if (!Number.isInteger(g.bits) || g.bits < 2 || g.bits > 8) throw new RangeError(`${where}.gate.bits must be an integer in 2..8, got ${g.bits}`);
  if (!bitList.includes(g.bits)) {
    throw new RangeError(`${where}.gate.bits ${g.bits} must be one of the graph's bit-widths (bitList: ${bitList.join(', ')})`);
  }
  if (typeof g.highBits !== 'number') throw new TypeError(`${where}.gate.highBits must be a number (1..${g.bits - 1}), got ${g.highBits === undefined ? 'nothing' : typeof g.highBits}`);
  if (!Number.isInteger(g.highBits) || g.highBits < 1 || g.highBits >= g.bits) {
    throw new RangeError(`${where}.gate.highBits must be an integer in 1..${g.bits - 1} (below gate.bits), got ${g.highBits}`);
  }
  if (g.thresholds !== undefined && (typeof g.thresholds !== 'string' || g.thresholds === '')) {
    throw new TypeError(`${where}.gate.thresholds must be the name of a tensor (a non-empty string), got ${typeof g.thresholds}`);
  }
}

function isPair(v: unknown, min: number, max: number): v is Pair {
  return Array.isArray(v) && v.length === 2 && v.every((x) => Number.isSafeInteger(x) && x >= min && x <= max);
}

// Upper bounds on graph fields: far above any real network, low enough that no size product made
// of them overflows before the memory checks (nn/validate) see it.
/** Elements one tensor may hold (per call): the kernels index with 32-bit integers. */
export const MAX_ELEMENTS = 2 ** 31 - 1;
/** Channels, features. */
export const MAX_CHANNELS = 2 ** 20;
/** Kernel, stride, dilation (each side). */
export const MAX_WINDOW = 1024;
/** Height / width of an input image, and (padded) of any image inside. */
export const MAX_SPATIAL = 2 ** 16;
/** Nodes in a graph; characters in a node name. */
export const MAX_NODES = 10000;
export const MAX_NAME = 256;

function checkBounded(v: unknown, where: string, field: string, min: number, max: number): void {
  if (!isPair(v, min, max)) {
    throw new RangeError(`${where}.${field} must be [h, w] of integers in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
}

function checkCount(v: unknown, where: string, field: string, max: number): void {
  if (!isPositiveInt(v) || v > max) throw new RangeError(`${where}.${field} must be an integer in 1..${max}, got ${JSON.stringify(v)}`);
}

/**
 * Conv geometry: kernel, stride, dilation in 1..MAX_WINDOW, padding at most the dilated kernel's
 * extent (a wider pad only adds more outputs that see nothing but zeros).
 */
function checkConvGeometry(node: { kernel: unknown; stride: unknown; padding: unknown; dilation: unknown }, where: string): void {
  checkBounded(node.kernel, where, 'kernel', 1, MAX_WINDOW);
  checkBounded(node.stride, where, 'stride', 1, MAX_WINDOW);
  checkBounded(node.dilation, where, 'dilation', 1, MAX_WINDOW);
  const k = node.kernel as Pair, d = node.dilation as Pair;
  const maxPad = Math.max(d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1);
  checkBounded(node.padding, where, 'padding', 0, maxPad);
  const p = node.padding as Pair;
  for (const i of [0, 1]) {
    if (p[i] > d[i] * (k[i] - 1) + 1) {
      throw new RangeError(`${where}.padding[${i}] must be at most the dilated kernel's extent, dilation x (kernel - 1) + 1 = ${d[i] * (k[i] - 1) + 1}, got ${p[i]}`);
    }
  }
}

/** Pool geometry: kernel, stride in 1..MAX_WINDOW, padding at most half the kernel (as PyTorch requires). */
function checkPoolGeometry(node: { kernel: unknown; stride: unknown; padding: unknown }, where: string): void {
  checkBounded(node.kernel, where, 'kernel', 1, MAX_WINDOW);
  checkBounded(node.stride, where, 'stride', 1, MAX_WINDOW);
  const k = node.kernel as Pair;
  checkBounded(node.padding, where, 'padding', 0, MAX_WINDOW);
  const p = node.padding as Pair;
  for (const i of [0, 1]) {
    if (p[i] > Math.floor(k[i] / 2)) throw new RangeError(`${where}.padding[${i}] must be at most half the kernel (${Math.floor(k[i] / 2)}), got ${p[i]}`);
  }
}

/** The options of a quantize node: `clip` a boolean, `oneBit` 'sign', not both, only in a version-3 graph. */
function checkQuantizeOptions(node: NodeSpec & { op: 'quantize' }, where: string, format: GraphSpec['format']): void {
  const { clip, oneBit } = node as { clip?: unknown; oneBit?: unknown };
  if (clip !== undefined && typeof clip !== 'boolean') {
    throw new TypeError(`${where}.clip must be a boolean (true: a clip α per bit-width, tensors '${quantizeClipTensor(node.name, '<bits>')}'), got ${describe(clip)}`);
  }
  if (oneBit !== undefined && typeof oneBit !== 'string') throw new TypeError(`${where}.oneBit must be the string 'sign' (or absent), got ${describe(oneBit)}`);
  if (oneBit !== undefined && oneBit !== 'sign') throw new RangeError(`${where}.oneBit must be 'sign' (or absent), got ${JSON.stringify(oneBit)}`);
  if (clip === true && oneBit !== undefined) {
    throw new RangeError(`${where}: clip and oneBit cannot be combined (the 1-bit sign takes no clip; use one quantize option)`);
  }
  for (const [field, used] of [['clip', clip === true], ['oneBit', oneBit !== undefined]] as const) {
    if (used && format !== 'anyprec-graph/3') {
      throw new RangeError(`${where}.${field} needs graph.format 'anyprec-graph/3' (version 1 and 2 readers would ignore it), got ${JSON.stringify(format)}`);
    }
  }
}

/** A value named for an error message: its type, and its value where it is a primitive. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return typeof v === 'string' ? `the string ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`;
}

/** Checks a graph description; throws an Error naming the node and the field at fault. */
export function validateGraph(g: unknown): GraphSpec {
  if (g === null || typeof g !== 'object') throw new TypeError('graph must be an object');
  const spec = g as GraphSpec;
  if (!GRAPH_FORMATS.includes(spec.format)) {
    const names = GRAPH_FORMATS.map((f) => `'${f}'`);
    throw new RangeError(`graph.format must be ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}, got ${JSON.stringify(spec.format)}`);
  }
  if (!Array.isArray(spec.inputShape) || spec.inputShape.length < 1 || !spec.inputShape.every(isPositiveInt)) {
    throw new RangeError('graph.inputShape must be [C, H, W] or [F] of positive integers');
  }
  if (spec.inputShape.length !== 1 && spec.inputShape.length !== 3) {
    throw new RangeError(`graph.inputShape must have 1 or 3 dimensions, got ${spec.inputShape.length}`);
  }
  if (spec.inputShape.length === 3) {
    checkCount(spec.inputShape[0], 'graph', 'inputShape[0] (channels)', MAX_CHANNELS);
    checkCount(spec.inputShape[1], 'graph', 'inputShape[1] (height)', MAX_SPATIAL);
    checkCount(spec.inputShape[2], 'graph', 'inputShape[2] (width)', MAX_SPATIAL);
  } else {
    checkCount(spec.inputShape[0], 'graph', 'inputShape[0] (features)', MAX_CHANNELS);
  }
  if (spec.inputShape.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) {
    throw new RangeError(`graph.inputShape [${spec.inputShape.join(', ')}] holds more than ${MAX_ELEMENTS} elements`);
  }
  if (spec.input !== undefined) {
    if (spec.format === 'anyprec-graph/1') throw new RangeError(`graph.input needs graph.format 'anyprec-graph/2' or later (version 1 readers would ignore it), got ${JSON.stringify(spec.format)}`);
    checkGraphInput(spec.input, spec.inputShape, { maxChannels: MAX_CHANNELS, maxSpatial: MAX_SPATIAL, maxElements: MAX_ELEMENTS });
  }
  if (!Array.isArray(spec.bitList) || spec.bitList.length === 0 ||
      !spec.bitList.every((b) => Number.isInteger(b) && ((b >= 1 && b <= 8) || b === 32))) {
    throw new RangeError('graph.bitList must list bit-widths in 1..8 or 32');
  }
  if (spec.weightMode !== 'truncate' && spec.weightMode !== 'requant') {
    throw new RangeError(`graph.weightMode must be 'truncate' or 'requant', got ${JSON.stringify(spec.weightMode)}`);
  }
  if (!Array.isArray(spec.nodes) || spec.nodes.length === 0) throw new RangeError('graph.nodes must be a non-empty array');
  if (spec.nodes.length > MAX_NODES) throw new RangeError(`graph.nodes must hold at most ${MAX_NODES} nodes, got ${spec.nodes.length}`);
  const seen = new Set<string>(['input']);
  for (const [i, node] of spec.nodes.entries()) {
    const where = `graph.nodes[${i}]${node && typeof node.name === 'string' ? ` (${node.name})` : ''}`;
    if (node === null || typeof node !== 'object') throw new TypeError(`${where} must be an object`);
    if (typeof node.name !== 'string' || node.name === '') throw new TypeError(`${where}.name must be a non-empty string`);
    if (node.name.length > MAX_NAME || node.name.includes('::')) throw new RangeError(`${where}.name must be at most ${MAX_NAME} characters without '::'`);
    if (seen.has(node.name)) throw new RangeError(`${where}.name '${node.name}' is used twice (or is 'input')`);
    if (!(node.op in OPS)) throw new RangeError(`${where}.op must be one of ${Object.keys(OPS).join(', ')}, got ${JSON.stringify(node.op)}`);
    if (!Array.isArray(node.inputs) || node.inputs.length !== OPS[node.op]) {
      throw new RangeError(`${where}.inputs must name ${OPS[node.op]} input(s)`);
    }
    for (const inp of node.inputs) {
      if (!seen.has(inp)) throw new RangeError(`${where} reads '${inp}', which is not 'input' or an earlier node`);
    }
    switch (node.op) {
      case 'conv2d':
      case 'qconv2d':
      case 'smconv2d':
      case 'pgconv2d':
        if (node.op === 'smconv2d' || node.op === 'pgconv2d') {
          if (!isBits(node.weightBits)) throw new RangeError(`${where}.weightBits must be an integer in 1..8`);
          if (node.op === 'pgconv2d' && !(isBits(node.highBits) && node.highBits < 8)) throw new RangeError(`${where}.highBits must be an integer in 1..7`);
        }
        if (!isPositiveInt(node.inChannels) || !isPositiveInt(node.outChannels)) throw new RangeError(`${where} needs positive inChannels and outChannels`);
        checkCount(node.inChannels, where, 'inChannels', MAX_CHANNELS);
        checkCount(node.outChannels, where, 'outChannels', MAX_CHANNELS);
        if (!isPair(node.kernel, 1, Infinity) || !isPair(node.stride, 1, Infinity) || !isPair(node.padding, 0, Infinity) || !isPair(node.dilation, 1, Infinity)) {
          throw new RangeError(`${where} needs kernel, stride, dilation as [h, w] positive and padding as [h, w] >= 0`);
        }
        checkConvGeometry(node, where);
        if ('gate' in node && node.gate !== undefined) {
          if (node.op !== 'qconv2d') throw new RangeError(`${where}.gate: only qconv2d and qlinear nodes take a gate (${(node as NodeSpec).op} does not)`);
          checkGate(node.gate, where, spec.bitList);
        }
        break;
      case 'linear':
      case 'qlinear':
        if (!isPositiveInt(node.inFeatures) || !isPositiveInt(node.outFeatures)) throw new RangeError(`${where} needs positive inFeatures and outFeatures`);
        checkCount(node.inFeatures, where, 'inFeatures', MAX_ELEMENTS);
        checkCount(node.outFeatures, where, 'outFeatures', MAX_CHANNELS);
        if ('gate' in node && node.gate !== undefined) {
          if (node.op !== 'qlinear') throw new RangeError(`${where}.gate: only qconv2d and qlinear nodes take a gate (${(node as NodeSpec).op} does not)`);
          checkGate(node.gate, where, spec.bitList);
        }
        break;
      case 'batchnorm':
        if (!isPositiveInt(node.channels) || !(typeof node.eps === 'number' && node.eps >= 0)) throw new RangeError(`${where} needs channels > 0 and eps >= 0`);
        checkCount(node.channels, where, 'channels', MAX_CHANNELS);
        if (!Number.isFinite(node.eps)) throw new RangeError(`${where}.eps must be finite, got ${node.eps}`);
        if (typeof node.switchable !== 'boolean') throw new TypeError(`${where}.switchable must be a boolean`);
        break;
      case 'clamp':
        if (!(typeof node.min === 'number' && typeof node.max === 'number' && node.min <= node.max)) throw new RangeError(`${where} needs min <= max`);
        break;
      case 'maxpool2d':
      case 'avgpool2d':
        if (!isPair(node.kernel, 1, Infinity) || !isPair(node.stride, 1, Infinity) || !isPair(node.padding, 0, Infinity)) {
          throw new RangeError(`${where} needs kernel, stride [h, w] >= 1 and padding >= 0`);
        }
        checkPoolGeometry(node, where);
        break;
      case 'quantize':
        checkQuantizeOptions(node, where, spec.format);
        break;
      case 'pact':
        if (node.param !== undefined && (typeof node.param !== 'string' || node.param === '')) throw new TypeError(`${where}.param must be a non-empty string`);
        break;
      case 'subsample':
        if (!isPair(node.stride, 1, MAX_WINDOW) || !isPair(node.padChannels, 0, MAX_CHANNELS)) {
          throw new RangeError(`${where} needs stride [h, w] in 1..${MAX_WINDOW} and padChannels [front, back] in 0..${MAX_CHANNELS}`);
        }
        break;
      case 'dynquantize':
        if (!isBits(node.bits)) throw new RangeError(`${where}.bits must be an integer in 1..8`);
        break;
      case 'dropout':
        if (!(typeof node.p === 'number' && node.p >= 0 && node.p < 1)) throw new RangeError(`${where}.p must be in [0, 1)`);
        break;
      default:
        break;
    }
    if ('gate' in node && node.gate !== undefined && !['conv2d', 'qconv2d', 'linear', 'qlinear', 'smconv2d', 'pgconv2d'].includes(node.op)) {
      throw new RangeError(`${where}.gate: only qconv2d and qlinear nodes take a gate (${node.op} does not)`);
    }
    seen.add(node.name);
  }
  if (spec.output !== undefined && !spec.nodes.some((n) => n.name === spec.output)) {
    throw new RangeError(`graph.output '${spec.output}' is not a node`);
  }
  return spec;
}
