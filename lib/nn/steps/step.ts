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
}

/** A float activation of n samples of shape `shape`. */
export function floatAct(data: Float32Array, n: number, shape: number[]): Act {
  return { kind: 'float', data, shape: [n, ...shape] };
}

/** Unsigned activation codes of n samples. */
export function codesAct(codes: Uint8Array, bits: number, n: number, shape: number[]): Act {
  return { kind: 'codes', codes, bits, encoding: 'unsigned', shape: [n, ...shape] };
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
