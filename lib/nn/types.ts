// The types a model's callers see: run options, per-layer and per-call statistics, the
// transferable model state.
import type { GateMode, GatePath, GateStats, GateSummary } from '../gating';
import type { GraphSpec } from './graph';
import type { LayerPrecisions, Precision, PrecisionInput } from './precision';
import type { LayerRoute } from './route';

export type { GateStats, GateSummary } from '../gating';

export interface RunOptions {
  /** Precision for this call only (whole model); default: the model's current setting. */
  bits?: PrecisionInput;
  /** Per-layer precision for this call only, merged over the model's per-layer settings. */
  layers?: LayerPrecisions;
  /**
   * Precision-gated layers (pgconv2d, and qconv2d / qlinear with a `gate`): 'trained' (default)
   * gates by the layers' thresholds, 'open' gives every output its low bits (the dense layer,
   * bit for bit), 'closed' none (the high bits only).
   */
  gate?: GateMode;
  /**
   * Added to every gating threshold (float32(Δ_c + offset)), in each layer's float output units
   * before batch norm: > 0 = sparser and faster, < 0 = denser. Only with gate 'trained'.
   */
  gateOffset?: number;
  /**
   * Gated qconv2d / qlinear layers under a trained gate: 'gated' (default) the gate's results;
   * 'auto' runs each layer on whichever of its gated and dense paths its own measured times say
   * is faster — never slower than not gating; a layer run dense gives every output its low bits,
   * as gate 'open' does, and says so in GateStats.path / pathReason and RunStats.gate.dense;
   * 'dense' runs every gated layer without its gate.
   */
  gatePath?: GatePath;
  /**
   * run() / runDetailed() only: aborting the signal cancels the call. A call aborted before it
   * starts (already aborted, or still queued for a busy worker) is never computed; one aborted
   * while its worker computes rejects at once and its result is discarded. Either way the promise
   * rejects with an Error named 'AbortError' (the signal's reason as its cause). runSync ignores it.
   */
  signal?: AbortSignalLike;
}

/**
 * What run() needs of an AbortSignal (Node's and the DOM's both fit; declared here so that the
 * package's types need neither @types/node nor the DOM library).
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Transferable form of a model: the graph and its runtime parameters (shared memory). */
export interface ModelState {
  graph: GraphSpec;
  /** The memory bound the model was loaded with (worker threads keep it). */
  limits?: { maxMemory: number };
  params: Array<[string, Float32Array | { rows: number; cols: number; bits: number; data: BigUint64Array; planePop: Int32Array }]>;
  /** The model's precision settings (setPrecision / setLayerPrecision); restored by fromState and stored in model files. */
  precision?: { model: Precision; layers: Record<string, Precision> };
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
  /** Quantised layers over codes: the GEMM route they took (bit-serial or int8) and why. */
  route?: LayerRoute;
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
