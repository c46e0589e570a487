// A model: one graph, one set of stored weights, run at whatever precision each call asks for.
import { Packed } from '../core/kernels';
import * as kernels from '../core/kernels';
import { Tensor } from '../core/tensor';
import { GraphSpec, validateGraph, QUANTISED_OPS } from './graph';
import { compileParams, Param, Params } from './params';
import { checkBits, LayerPrecisions, Precision, PrecisionInput, precisionKey, toPrecision } from './precision';
import { inferShapes, Plan, RunStats } from './runtime';
import { DEFAULT_GATE, GateMode, GateSetting } from './pg-conv';
import { WorkerPool } from './workers';

export interface RunOptions {
  /** Precision for this call only (whole model); default: the model's current setting. */
  bits?: PrecisionInput;
  /** Per-layer precision for this call only, merged over the model's per-layer settings. */
  layers?: LayerPrecisions;
  /**
   * Precision-gating layers: 'trained' (default) gates by the learned thresholds, 'open' gives
   * every output its low bits, 'closed' none.
   */
  gate?: GateMode;
  /** Added to every gating threshold (float units of each layer's output): > 0 = sparser. */
  gateOffset?: number;
}

function gateSetting(opts?: RunOptions): GateSetting {
  const mode = opts?.gate ?? 'trained';
  if (mode !== 'trained' && mode !== 'open' && mode !== 'closed') {
    throw new RangeError(`gate must be 'trained', 'open' or 'closed', got ${JSON.stringify(mode)}`);
  }
  const offset = opts?.gateOffset ?? 0;
  if (typeof offset !== 'number' || !Number.isFinite(offset)) throw new RangeError(`gateOffset must be a finite number, got ${String(offset)}`);
  return mode === DEFAULT_GATE.mode && offset === 0 ? DEFAULT_GATE : { mode, offset };
}

/** Transferable form of a model: the graph and its runtime parameters (shared memory). */
export interface ModelState {
  graph: GraphSpec;
  params: Array<[string, Float32Array | { rows: number; cols: number; bits: number; data: BigUint64Array; planePop: Int32Array }]>;
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

export class Model {
  readonly graph: GraphSpec;
  private readonly params: Params;
  private precision: Precision;
  private readonly overrides = new Map<string, Precision>();
  private readonly plans = new Map<string, Plan>();
  private pool?: WorkerPool;
  private workers = 1;

  /** Builds a model from a graph and float tensors named as in the PyTorch state_dict. */
  static build(graph: GraphSpec, tensors: Record<string, Float32Array>): Model {
    const g = validateGraph(graph);
    return new Model(g, compileParams(g, tensors));
  }

  /**
   * Rebuilds a model from Model.state() (e.g. in a worker thread, where memory is shared, not
   * copied). With share = true the parameters are first copied into shared memory.
   */
  static fromState(state: ModelState, share = false): Model {
    const params: Params = new Map();
    for (const [name, p] of state.params) {
      params.set(name, ArrayBuffer.isView(p) ? p : new Packed(p.rows, p.cols, p.bits, p.data, p.planePop));
    }
    return new Model(validateGraph(state.graph), params, share);
  }

  private constructor(graph: GraphSpec, params: Params, share = true) {
    inferShapes(graph); // shape errors (channel mismatches, kernels larger than inputs) surface here
    this.graph = graph;
    this.params = share ? new Map([...params].map(([k, v]) => [k, shareParam(v)])) : params;
    const top = Math.max(...graph.bitList);
    this.precision = { weights: top, activations: top };
  }

  state(): ModelState {
    return {
      graph: this.graph,
      params: [...this.params].map(([k, v]) => [k, v instanceof Packed
        ? { rows: v.rows, cols: v.cols, bits: v.bits, data: v.data, planePop: v.planePop } : v]),
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
    if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw new TypeError('options must be an object { bits?, layers? }');
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
      plan = new Plan(this.graph, this.params, global, (name) => layers[name] ?? global);
      if (this.plans.size >= MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
      this.plans.set(key, plan);
    }
    return plan;
  }

  /** Runs on the calling thread (blocks it). x: [N, ...inputShape], NCHW for images. */
  runSync(x: Tensor, opts?: RunOptions): Tensor {
    return this.plan(opts).run(checkTensor(x), false, gateSetting(opts)).output;
  }

  /** runSync plus per-layer MACs, bit-ops and time. */
  runSyncDetailed(x: Tensor, opts?: RunOptions): { output: Tensor; stats: RunStats } {
    const r = this.plan(opts).run(checkTensor(x), true, gateSetting(opts));
    return { output: r.output, stats: r.stats! };
  }

  /** Runs on a worker thread: the event loop stays free. */
  async run(x: Tensor, opts?: RunOptions): Promise<Tensor> {
    return (await this.runDetailedImpl(x, opts, false)).output;
  }

  async runDetailed(x: Tensor, opts?: RunOptions): Promise<{ output: Tensor; stats: RunStats }> {
    const r = await this.runDetailedImpl(x, opts, true);
    return { output: r.output, stats: r.stats! };
  }

  private runDetailedImpl(x: Tensor, opts: RunOptions | undefined, collect: boolean) {
    checkTensor(x);
    this.plan(opts); // validate the precision (and gate) here, so bad options reject without a round trip
    gateSetting(opts);
    this.pool ??= new WorkerPool(this.state(), this.workers);
    return this.pool.run(x, opts, collect, kernels.isa(), kernels.threads());
  }

  /** Worker threads that serve run() (each runs one call at a time); default 1. */
  setWorkers(n: number): this {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`workers must be an integer in 1..64, got ${n}`);
    this.workers = n;
    if (this.pool) {
      void this.pool.close();
      this.pool = undefined;
    }
    return this;
  }

  /** MACs and bit-ops per layer for a batch of `batch`, at a precision (default: current). */
  bitOps(batch = 1, opts?: RunOptions) {
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
    return this.plan(opts).account(batch);
  }

  /** Stops the worker threads (run() starts them again on demand). */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    await p?.close();
  }
}

function checkTensor(x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError('x must be a Tensor');
  return x;
}

export { checkBits };
