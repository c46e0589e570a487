// A model: one graph, one set of stored weights, run at whatever precision each call asks for.
import { checkBits as checkPrecisionBits, checkFloat32 } from '../core/check';
import { Packed } from '../core/kernels';
import * as kernels from '../core/kernels';
import { Tensor, Uint8Tensor } from '../core/tensor';
import {
  checkOffFraction, findGateOffset, GateCalibration, GateOffsetResult, GateOffsetSearch, GateProbe, GateSetting,
  quantileThresholds, toGateSetting,
} from '../gating';
import { GraphSpec, validateGraph, QUANTISED_OPS, isGated, NodeSpec } from './graph';
import { checkThresholds, compileParams, Param, Params } from './params';
import { modelWriter } from './persist';
import { ArenaBudget } from './arena';
import { Plan } from './plan';
import { NativeRunQueue } from './pool/native-queue';
import { abortError, WorkerPool } from './pool/pool';
import { Precision, PrecisionInput, precisionKey, toPrecision } from './precision';
import { inferShapes } from './shapes';
import { checkModelInput, graphInput } from './steps/preprocess';
import type { ModelState, RunOptions, RunStats } from './types';
import { checkBatch, checkLimits, ModelBudget, ModelLimits, validateModel } from './validate';

export type { ModelState, RunOptions } from './types';
export type { ModelLimits } from './validate';

/** Options of Model.build / fromState and of the model loaders. */
export interface LoadOptions extends ModelLimits {
  /** @internal Named in error messages (the model file's path). */
  source?: string;
}
export type { GateCalibration } from '../gating';

function gateSetting(opts?: RunOptions): GateSetting {
  return toGateSetting(opts?.gate, opts?.gateOffset, opts?.gatePath);
}

/** @internal Kept for code that imported it from here: a bit-width 1..8 or 32 (core/check's checkBits). */
export function checkBits(v: unknown, name: string): number {
  return checkPrecisionBits(v, name, true);
}

function shareArray<T extends Float32Array | BigUint64Array | Int32Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
  s.set(a as never);
  return s;
}

function shareParam(p: Param): Param {
  if (p instanceof Packed) return new Packed(p.rows, p.cols, p.bits, shareArray(p.data), shareArray(p.planePop));
  return shareArray(p);
}

const MAX_PLANS = 64;
const RUN_OPTIONS = ['bits', 'layers', 'gate', 'gateOffset', 'gatePath', 'signal'];

export class Model {
  readonly graph: GraphSpec;
  private readonly params: Params;
  private precision: Precision;
  private readonly overrides = new Map<string, Precision>();
  private readonly plans = new Map<string, Plan>();
  private pool?: WorkerPool;
  private workers = 1;
  /** run() calls of plans compiled to native programs (at most `workers` computing at once). */
  private readonly nativeRuns = new NativeRunQueue(1);
  /** setGateThresholds was called: run() sends the current thresholds to the workers with each call. */
  private thresholdsChanged = false;

  /** Builds a model from a graph and float tensors named as in the PyTorch state_dict. */
  static build(graph: GraphSpec, tensors: Record<string, Float32Array>, options?: ModelLimits): Model {
    const limits = checkLimits(options);
    if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) {
      throw new TypeError('tensors must be an object { name: Float32Array } (a PyTorch-style state_dict)');
    }
    const g = validateGraph(graph);
    validateModel(g, undefined, limits); // geometry and memory before compiling anything
    return new Model(g, compileParams(g, tensors), true, limits);
  }

  /**
   * Rebuilds a model from Model.state() (e.g. in a worker thread, where memory is shared, not
   * copied). With share = true the parameters are first copied into shared memory.
   */
  static fromState(state: ModelState, share = false, options?: LoadOptions): Model {
    if (state === null || typeof state !== 'object' || !Array.isArray(state.params)) throw new TypeError('state must be { graph, params } (from Model.state())');
    const limits = checkLimits(options ?? state.limits);
    const params: Params = new Map();
    for (const entry of state.params) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') throw new TypeError('state.params must hold [name, tensor] pairs');
      const [name, p] = entry;
      if (p === null || typeof p !== 'object') throw new TypeError(`state parameter '${name}' must be a Float32Array or packed planes, got ${p === null ? 'null' : typeof p}`);
      params.set(name, ArrayBuffer.isView(p) ? p : new Packed(p.rows, p.cols, p.bits, p.data, p.planePop));
    }
    const model = new Model(validateGraph(state.graph), params, share, limits, options?.source);
    if (state.precision !== undefined) model.restorePrecision(state.precision);
    return model;
  }

  /** @internal The stored precision of a state or model file (untrusted): the default and per-layer settings. */
  restorePrecision(p: unknown): void {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new TypeError('state.precision must be an object { model, layers }');
    for (const key of Object.keys(p)) {
      if (key !== 'model' && key !== 'layers') throw new RangeError(`state.precision.${key} is not a precision field (model, layers)`);
    }
    const { model, layers } = p as { model?: unknown; layers?: unknown };
    if (model !== undefined) this.setPrecision(toPrecision(model as PrecisionInput, 'precision.model'));
    if (layers === undefined) return;
    if (layers === null || typeof layers !== 'object' || Array.isArray(layers)) throw new TypeError('state.precision.layers must be an object { layer: precision }');
    for (const [name, lp] of Object.entries(layers)) {
      if (!this.layerNames.includes(name)) throw new RangeError(`precision.layers.${name} is not a layer whose precision can be set (${this.layerNames.length} are)`);
      this.setLayerPrecision(name, toPrecision(lp as PrecisionInput, `precision.layers.${name}`));
    }
  }

  private readonly budget: ModelBudget;
  /** What the plans' kept buffers may hold together: maxMemory less the parameters. */
  private arenaBudget?: ArenaBudget;

  private constructor(graph: GraphSpec, params: Params, share: boolean, limits: Required<ModelLimits>, source?: string) {
    inferShapes(graph); // shape errors (channel mismatches, kernels larger than inputs) surface here
    // Every parameter's kind and length, and the memory bound, before anything is copied or planned.
    this.budget = validateModel(graph, params, limits, source);
    this.graph = graph;
    this.params = share ? new Map([...params].map(([k, v]) => [k, shareParam(v)])) : params;
    for (const node of graph.nodes.filter(isGated)) {
      const t = this.params.get(`${node.name}.threshold`);
      const channels = node.op === 'qlinear' ? node.outFeatures : (node as NodeSpec & { outChannels: number }).outChannels;
      if (!ArrayBuffer.isView(t) || (t as Float32Array).length !== channels) {
        throw new RangeError(`gated layer ${node.name} needs a parameter '${node.name}.threshold' of ${channels} float32 thresholds`);
      }
      checkThresholds(t as Float32Array, `${node.name}.threshold`);
    }
    const top = Math.max(...graph.bitList);
    this.precision = { weights: top, activations: top };
  }

  state(): ModelState {
    return {
      graph: this.graph,
      limits: { maxMemory: this.budget.maxMemory },
      params: [...this.params].map(([k, v]) => [k, v instanceof Packed
        ? { rows: v.rows, cols: v.cols, bits: v.bits, data: v.data, planePop: v.planePop } : v]),
      precision: this.getPrecision(),
    };
  }

  /** Names of the layers whose precision can be set (quantised layers and activation quantisers). */
  get layerNames(): string[] {
    return this.graph.nodes.filter((n) => QUANTISED_OPS.has(n.op) || n.op === 'quantize' || (n.op === 'batchnorm' && n.switchable)).map((n) => n.name);
  }

  /** Sets the default precision of every layer (per-layer settings still win). */
  setPrecision(p: PrecisionInput): this {
    this.precision = toPrecision(p, 'precision', this.precision);
    return this;
  }

  /** Overrides one layer's precision (mixed precision); null removes the override. */
  setLayerPrecision(name: string, p: PrecisionInput | null): this {
    if (typeof name !== 'string' || !this.graph.nodes.some((n) => n.name === name)) {
      throw new RangeError(`name must be a layer of this model, got ${JSON.stringify(name)}`);
    }
    if (p === null) this.overrides.delete(name);
    else this.overrides.set(name, toPrecision(p, `precision of ${name}`, this.overrides.get(name) ?? this.precision));
    return this;
  }

  getPrecision(): { model: Precision; layers: Record<string, Precision> } {
    return { model: { ...this.precision }, layers: Object.fromEntries(this.overrides) };
  }

  private plan(opts?: RunOptions): Plan {
    if (opts !== undefined && (opts === null || typeof opts !== 'object' || Array.isArray(opts))) {
      throw new TypeError('options must be an object { bits?, layers?, gate?, gateOffset?, gatePath?, signal? }');
    }
    // A misspelt option (bit: 4) would otherwise be ignored and the call run at another precision.
    for (const key of Object.keys(opts ?? {})) {
      if (!RUN_OPTIONS.includes(key)) throw new TypeError(`options.${key} is not a run option (${RUN_OPTIONS.join(', ')})`);
    }
    const global = opts?.bits === undefined ? this.precision : toPrecision(opts.bits, 'bits', this.precision);
    const layers: Record<string, Precision> = {};
    for (const [k, v] of this.overrides) layers[k] = v;
    if (opts?.layers !== undefined) {
      if (opts.layers === null || typeof opts.layers !== 'object') throw new TypeError('layers must be an object { name: bits }');
      for (const [k, v] of Object.entries(opts.layers)) {
        if (!this.graph.nodes.some((n) => n.name === k)) throw new RangeError(`layers.${k} is not a layer of this model`);
        layers[k] = toPrecision(v, `layers.${k}`, layers[k] ?? global);
      }
    }
    const key = precisionKey(global, layers);
    let plan = this.plans.get(key);
    if (!plan) {
      this.arenaBudget ??= new ArenaBudget(Math.max(0, this.budget.maxMemory - this.budget.paramBytes));
      plan = new Plan(this.graph, this.params, global, (name) => layers[name] ?? global, this.arenaBudget);
      if (this.plans.size >= MAX_PLANS) {
        const oldest = this.plans.keys().next().value!;
        this.plans.get(oldest)!.releaseBuffers();
        this.plans.delete(oldest);
      }
      this.plans.set(key, plan);
    }
    return plan;
  }

  /** @internal Worker side of run(): thresholds set on the calling thread's model (shared memory, not copied). */
  adoptGateThresholds(thresholds: Array<[string, Float32Array]>): void {
    for (const [layer, t] of thresholds) {
      if (this.params.get(`${layer}.threshold`) !== t) this.params.set(`${layer}.threshold`, t);
    }
  }

  /**
   * Runs on the calling thread (blocks it). x: [N, ...inputShape], NCHW for images — a Tensor, or
   * a Uint8Tensor of [N, ...graph.input.shape] when the model takes uint8 input (graph.input).
   */
  runSync(x: Tensor | Uint8Tensor, opts?: RunOptions): Tensor {
    return this.plan(opts).run(this.checkInput(x), false, gateSetting(opts)).output;
  }

  /** x as this model takes it (Tensor, or Uint8Tensor for uint8 input), its batch within the memory bound. */
  private checkRawInput(x: unknown): Tensor | Uint8Tensor {
    const t = checkModelInput(this.graph, x);
    if (t.shape.length >= 1 && Number.isSafeInteger(t.shape[0])) checkBatch(this.budget, t.shape[0]);
    return t;
  }

  /** checkRawInput, then the preprocessing: the tensor the graph reads (shape errors are the plan's). */
  private checkInput(x: unknown): Tensor {
    return graphInput(this.graph, this.checkRawInput(x));
  }

  /**
   * Bytes a sample's activations need (an estimate, used for the maxMemory bound), the bound, and
   * the bytes of the buffers this thread's plans keep between calls for reuse (keptBytes: within
   * maxMemory less paramBytes, the least recently used dropped first).
   */
  get memory(): { bytesPerSample: number; paramBytes: number; maxMemory: number; keptBytes: number } {
    const { bytesPerSample, paramBytes, maxMemory } = this.budget;
    return { bytesPerSample, paramBytes, maxMemory, keptBytes: this.arenaBudget?.bytes ?? 0 };
  }

  /** runSync plus per-layer MACs, bit-ops and time. */
  runSyncDetailed(x: Tensor | Uint8Tensor, opts?: RunOptions): { output: Tensor; stats: RunStats } {
    const r = this.plan(opts).run(this.checkInput(x), true, gateSetting(opts));
    return { output: r.output, stats: r.stats! };
  }

  /** Runs on a worker thread: the event loop stays free. */
  async run(x: Tensor | Uint8Tensor, opts?: RunOptions): Promise<Tensor> {
    return (await this.runDetailedImpl(x, opts, false)).output;
  }

  async runDetailed(x: Tensor | Uint8Tensor, opts?: RunOptions): Promise<{ output: Tensor; stats: RunStats }> {
    const r = await this.runDetailedImpl(x, opts, true);
    return { output: r.output, stats: r.stats! };
  }

  private runDetailedImpl(x: Tensor | Uint8Tensor, opts: RunOptions | undefined, collect: boolean) {
    x = this.checkRawInput(x);
    const signal = checkSignal(opts?.signal);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const plan = this.plan(opts); // validate the precision (and gate) here, so bad options reject without a round trip
    gateSetting(opts);
    if (plan.native) return this.runNative(plan, x, collect, signal);
    this.pool ??= new WorkerPool(this.state(), this.workers);
    // The workers' models know nothing of setPrecision / setLayerPrecision: send the merged setting.
    const global = opts?.bits === undefined ? this.precision : toPrecision(opts.bits, 'bits', this.precision);
    const layers: Record<string, Precision> = Object.fromEntries(this.overrides);
    for (const [k, v] of Object.entries(opts?.layers ?? {})) layers[k] = toPrecision(v, `layers.${k}`, layers[k] ?? global);
    opts = { ...opts, bits: global, layers };
    delete opts.signal; // stays on this thread: the pool watches it
    const thresholds = this.thresholdsChanged
      ? this.gatedLayers.map((l) => [l, this.params.get(`${l}.threshold`) as Float32Array] as [string, Float32Array]) : undefined;
    return this.pool.run(x, opts, collect, kernels.isa(), kernels.threads(), thresholds, signal);
  }

  /**
   * run() / runDetailed() of a plan compiled to a native program: on the kernel thread pool (no
   * worker thread, no message), at most `workers` calls computing at once; runDetailed's layer
   * times are the summed times of each layer's native ops. The input is copied when the call
   * starts computing, or before it waits in the queue: the caller may reuse or detach it at once.
   */
  private runNative(plan: Plan, raw: Tensor | Uint8Tensor, collect: boolean, signal?: AbortSignal): Promise<{ output: Tensor; stats?: RunStats }> {
    let x: Tensor;
    try {
      x = graphInput(this.graph, raw);
      plan.checkShape(x);
    } catch (e) {
      return Promise.reject(e);
    }
    const own = (): void => {
      if (x.data === raw.data) x = new Tensor(x.data.slice(), x.shape);
    };
    return this.nativeRuns.run(() => plan.runAsync(x, collect)!, own, signal);
  }

  /** @internal Whether runSync / run() at these options run as one native program (every step lowers). */
  runsNatively(opts?: RunOptions): boolean {
    return this.plan(opts).native;
  }

  /** Names of the precision-gated layers (pgconv2d, and qconv2d / qlinear with a gate). */
  get gatedLayers(): string[] {
    return this.graph.nodes.filter(isGated).map((n) => n.name);
  }

  private gatedNode(layer: unknown): NodeSpec {
    if (typeof layer !== 'string') throw new TypeError(`layer must be the name of a gated layer (a string), got ${typeof layer}`);
    const node = this.graph.nodes.find((n) => n.name === layer);
    if (!node || !isGated(node)) {
      throw new RangeError(`layer must be a precision-gated layer of this model (${this.gatedLayers.join(', ') || 'it has none'}), got ${JSON.stringify(layer)}`);
    }
    return node;
  }

  /** A copy of a gated layer's thresholds Δ_c (float units of its output before bias and batch norm). */
  getGateThresholds(layer: string): Float32Array {
    this.gatedNode(layer);
    return (this.params.get(`${layer}.threshold`) as Float32Array).slice();
  }

  /**
   * Replaces a gated layer's thresholds Δ_c: one per output channel, in the layer's float output
   * units before bias and batch norm; ±Infinity allowed (always off / always on), NaN not. The
   * values are copied; later calls (run, runSync, and run() on the worker threads) use them, and
   * save() stores them.
   */
  setGateThresholds(layer: string, thresholds: Float32Array): this {
    const node = this.gatedNode(layer);
    checkFloat32(thresholds, 'thresholds', ` (one value per output channel of ${layer})`);
    const channels = node.op === 'qlinear' ? node.outFeatures : (node as NodeSpec & { outChannels: number }).outChannels;
    if (thresholds.length !== channels) {
      throw new RangeError(`thresholds must hold one value per output channel of ${layer} (${channels}), got ${thresholds.length}`);
    }
    checkThresholds(thresholds, 'thresholds');
    // A fresh shared array each time (never written after): runs in flight keep the one they read.
    const t = new Float32Array(new SharedArrayBuffer(thresholds.byteLength));
    t.set(thresholds);
    this.params.set(`${layer}.threshold`, t);
    this.thresholdsChanged = true;
    return this;
  }

  /**
   * Sets every gated layer's thresholds to per-channel quantiles of its high-part outputs on a
   * calibration batch: channel c's Δ_c is the value with a fraction `off` of that channel's O_hb
   * (float units, before batch norm) at or below it, so about `off` of its outputs are gated off
   * (fewer where values tie). The batch runs with every gate open (the dense network), so each
   * layer sees the inputs the dense network gives it. `off` = 0 sets −Infinity (all on).
   * Returns the thresholds set and the fraction each leaves off on the batch. Applies to the
   * gated qconv2d / qlinear layers; pgconv2d layers (imported, trained thresholds) keep theirs.
   * Throws a RangeError if a gate could not act at the call's precision (activations ≠ its B).
   */
  calibrateGates(x: Tensor | Uint8Tensor, off: number, opts?: Omit<RunOptions, 'gate' | 'gateOffset'>): GateCalibration {
    const input = this.checkInput(x);
    checkOffFraction(off);
    const probe: GateProbe = new Map();
    this.plan(opts).run(input, false, { mode: 'open', offset: 0 }, probe);
    const out = quantileThresholds(probe, off);
    for (const [layer, { thresholds }] of Object.entries(out)) this.setGateThresholds(layer, thresholds);
    const missing = this.gatedLayers.filter((l) => !probe.has(l) && this.graph.nodes.find((n) => n.name === l)!.op !== 'pgconv2d');
    if (missing.length) {
      throw new RangeError(`calibrateGates: the gates of ${missing.join(', ')} did not act at this precision (their inputs were not B-bit codes)`);
    }
    return out;
  }

  /** Worker threads that serve run() (each runs one call at a time); default 1. */
  setWorkers(n: number): this {
    if (typeof n !== 'number') throw new TypeError(`workers must be a number (1..64), got ${n === null ? 'null' : typeof n}`);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`workers must be an integer in 1..64, got ${n}`);
    this.workers = n;
    this.nativeRuns.setLimit(n);
    if (this.pool) {
      void this.pool.close();
      this.pool = undefined;
    }
    return this;
  }

  /**
   * MACs and bit-ops per layer for a batch of `batch`, at a precision (default: current), without
   * running anything: the DENSE count (gated layers at B bits for every output). What a gate
   * saves depends on the data and is reported per call: runDetailed / runSyncDetailed give
   * RunStats.bitOps (spent), RunStats.denseBitOps (this count) and RunStats.gate.
   */
  bitOps(batch = 1, opts?: RunOptions) {
    return this.plan(opts).account(batchArg(batch));
  }

  /**
   * The GEMM route each weighted layer takes in runSync / run() for a batch of `batch` at these
   * options: quantised layers over codes name theirs (route.path 'bitserial' or 'int8', and
   * route.reason: 'forced' by kernels.setGemmPath, 'rule', 'estimate' or 'measured';
   * see setGemmRouting). Builds the native program (and measures routes not yet measured) if it
   * is not built yet. undefined when the model does not run as a native program at these options.
   */
  routes(batch = 1, opts?: RunOptions) {
    return this.plan(opts).routes(batchArg(batch));
  }

  /**
   * The gateOffset (RunOptions.gateOffset) whose MAC-weighted fraction of gated-off outputs on the
   * batch x is closest to `target` (in [0, 1]): what a precision governor sets to trade accuracy
   * for speed. `opts` are the other run options of every trial run (precision, ...).
   */
  findGateOffset(x: Tensor | Uint8Tensor, target: number, opts?: Omit<RunOptions, 'gate' | 'gateOffset'>, search?: GateOffsetSearch): GateOffsetResult {
    this.checkRawInput(x);
    if (this.gatedLayers.length === 0) throw new RangeError('findGateOffset: the model has no precision-gated layers');
    // the gating module only hands x back to runSyncDetailed, which takes either kind
    return findGateOffset(this, x as Tensor, target, { ...opts }, search);
  }

  /** Writes the anyprec model file (safetensors: graph + packed planes + per-bit BN). */
  save(path: string): Promise<void> {
    return modelWriter().save(this, path);
  }

  saveSync(path: string): void {
    modelWriter().saveSync(this, path);
  }

  /** The model file's bytes. */
  serialize(): Uint8Array {
    return modelWriter().serialize(this);
  }

  /** Stops the worker threads (run() starts them again on demand) and rejects native calls still queued. */
  async close(): Promise<void> {
    this.nativeRuns.close();
    const p = this.pool;
    this.pool = undefined;
    await p?.close();
  }
}

function checkSignal(s: unknown): AbortSignal | undefined {
  if (s === undefined) return undefined;
  if (typeof AbortSignal === 'undefined' || !(s instanceof AbortSignal)) throw new TypeError('options.signal must be an AbortSignal');
  return s;
}

/** A batch size argument: a positive integer (TypeError / RangeError otherwise). */
function batchArg(batch: unknown): number {
  if (typeof batch !== 'number') throw new TypeError(`batch must be a number, got ${batch === null ? 'null' : typeof batch}`);
  if (!Number.isSafeInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
  return batch;
}
