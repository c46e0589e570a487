// What a compiled step is, what it may read from its plan, and the per-call context it runs in.
import type { Packed } from '../../core/kernels';
import type { GatePathChooser, GateProbe, GateSetting } from '../../gating';
import type { GraphSpec, NodeSpec } from '../graph';
import type { Act } from '../ops';
import * as ops from '../ops';
import type { Precision } from '../precision';
import type { StepBuffers } from '../arena';
import type { Lowering } from '../lower';
import type { LayerStats } from '../types';

/** One executable step of a plan: a node, or a quantised layer with what was fused into it. */
export interface Step {
  nodes: string[];
  op: string;
  output: string;
  macsPerSample: number;
  weightBits: number;
  activationBits: number;
  exec(env: Map<string, Act>, n: number, ctx: RunContext): Act;
  /**
   * Emits the kernel calls exec makes for a batch of b.n into a native program (lower.ts), with
   * the same bits; absent, or throwing NotLowerable, where the step cannot (the plan then keeps
   * its JS path).
   */
  lower?(b: Lowering): void;
  /**
   * A gated layer's measured gated/dense path choice (gatePath 'auto'), for the plan to run the
   * whole call as a native program with every gated layer dense when each of them says so.
   */
  gatePath?(): GatePathChooser;
}

/** Per-call state a step may read (gate setting) and report into (stats of the step just run). */
export interface RunContext {
  gate: GateSetting;
  step?: Partial<LayerStats>;
  /** Gated layers that ran dense in this call (input not B-bit unsigned codes). */
  inactive: string[];
  /** Calibration: per gated layer, the float high-part outputs. */
  probe?: GateProbe;
  /** The plan's kept buffers for this batch size (absent: every output freshly allocated). */
  buffers?: StepBuffers;
}

/** What the step builders read from the plan being compiled. */
export interface PlanContext {
  readonly graph: GraphSpec;
  /** Per-sample output shape of every node. */
  readonly shapes: Map<string, number[]>;
  /** Bits of the codes each node outputs (32: float). */
  readonly codeBits: Map<string, number>;
  layerPrecision(name: string): Precision;
  /** A parameter (read when called: gate thresholds may be replaced between calls). */
  param<T extends Float32Array | Packed>(name: string): T;
  hasParam(name: string): boolean;
  getParam(name: string): Float32Array | Packed | undefined;
  /** The batch norm parameters for the node's current activation bits. */
  bn(node: NodeSpec & { op: 'batchnorm' }): { alpha: Float32Array; beta: Float32Array; key: string };
  /** What a quantize node does at its current activation bits. */
  quantizer(node: NodeSpec & { op: 'quantize' }): Quantizer;
  /**
   * The fixed scale of the codes a node outputs, where it has one: a clipped quantiser's α (its
   * codes q are worth q/(2^b − 1)·α), through the nodes that pass codes on (pools, flatten).
   */
  readonly codeScale: Map<string, number>;
}

/** A quantize node at one bit-width (its options resolved for that width). */
export interface Quantizer {
  /** Activation bits (32: float). */
  bits: number;
  /** `clip`: α of this width (b < 32: the codes' scale; 32: the float clamp's upper end). */
  clip?: number;
  /** `oneBit: 'sign'` at 1 bit: bipolar sign codes (never fused into an affine: see plan.ts). */
  sign: boolean;
}

/**
 * The scale and shift of an affine that makes a clipped quantiser's codes: the affine's own divided
 * by α, so clamp(y/α, 0, 1) is quantised (y/α = x·(s/α) + t/α). scale null: 1, shift null: 0;
 * `channels` values each.
 */
export function clipAffine(scale: Float32Array | null, shift: Float32Array | null, alpha: number, channels: number): { scale: Float32Array; shift: Float32Array | null } {
  const s = new Float32Array(channels), t = shift ? new Float32Array(channels) : null;
  for (let c = 0; c < channels; c++) {
    s[c] = (scale ? scale[c] : 1) / alpha;
    if (t) t[c] = shift![c] / alpha;
  }
  return { scale: s, shift: t };
}

/**
 * A float clamp's upper end as an optional field of a kernel's options or a program op: none where
 * there is no bound (undefined or +Infinity, the kernels' default), so such ops stay as they were.
 */
export function maxField(max: number | undefined): { max?: number } {
  return max === undefined || max === Infinity ? {} : { max };
}

/** Bipolar 1-bit codes of the sign of x: 1 (+1) for x >= 0, else 0 (−1); NaN gives −1. */
export function signCodes(x: Float32Array): Uint8Array {
  const codes = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) codes[i] = x[i] >= 0 ? 1 : 0;
  return codes;
}

/** A float activation of n samples of shape `shape`. */
export function floatAct(data: Float32Array, n: number, shape: number[]): Act {
  return { kind: 'float', data, shape: [n, ...shape] };
}

/** Unsigned activation codes of n samples (with `scale`: code q is worth q/(2^bits − 1)·scale). */
export function codesAct(codes: Uint8Array, bits: number, n: number, shape: number[], scale?: number): Act {
  const a: Act = { kind: 'codes', codes, bits, encoding: 'unsigned', shape: [n, ...shape] };
  if (scale !== undefined) a.scale = scale;
  return a;
}

type ArrayType = Float32ArrayConstructor | Uint8ArrayConstructor;

/**
 * A step's output array for this call: the one kept under `key` by an earlier call at this batch
 * size if it fits (type, length), else undefined (the kernel allocates; pass the result to keep).
 */
export function reuse<T extends Float32Array | Uint8Array>(rc: RunContext | undefined, key: string, type: ArrayType, length: number): T | undefined {
  return rc?.buffers?.array(key, type as unknown as new (n: number) => T, length);
}

/** Keeps a step's output under `key` for the next call (when the plan keeps buffers); returns it. */
export function keep<T extends Float32Array | Uint8Array | Packed>(rc: RunContext | undefined, key: string, v: T): T {
  rc?.buffers?.keep(key, v);
  return v;
}

/** Float values of an activation (ops.toFloat), a decoded one written into a kept buffer. */
export function floatsOf(a: Act, rc: RunContext | undefined, key: string): Float32Array {
  if (a.kind === 'float') return a.data;
  return keep(rc, key, ops.toFloat(a, reuse(rc, key, Float32Array, a.codes.length)));
}
