// Executes a graph at one precision assignment. A Plan is built once per assignment (fusing
// quantised layers with the batch norm and activation quantiser that follow them, so their
// integer accumulators become the next layer's codes without a float tensor in between) and is
// immutable: concurrent runs at different precisions each use their own plan.
import * as kernels from '../core/kernels';
import { Packed } from '../core/kernels';
import { Tensor } from '../core/tensor';
import { DEFAULT_GATE, GateProbe, GateSetting, GateStats, summarizeGates } from '../gating';
import type { GraphSpec, NodeSpec } from './graph';
import { isGated, QUANTISED_OPS, quantizeClipTensor } from './graph';
import type { Act } from './ops';
import * as ops from './ops';
import type { Params } from './params';
import type { Precision } from './precision';
import { inferShapes } from './shapes';
import { DEFAULT_MAX_MEMORY, estimateActivations } from './validate';
import { ArenaBudget, PlanArena } from './arena';
import { Lowering, NotLowerable } from './lower';
import { gemmRoutingSetting } from './route';
import type { LayerRoute } from './route';
import { bnQuantizeStep, floatLayerStep, plainStep } from './steps/float';
import { quantisedStep } from './steps/quantised';
import type { SumCodes } from './steps/quantised';
import { signMagnitudeStep } from './steps/sign-magnitude';
import { keep, reuse } from './steps/step';
import type { PlanContext, Quantizer, RunContext, Step } from './steps/step';
import type { StepBuffers } from './arena';
import type { BitOpsReport, LayerStats, RunStats } from './types';

/** Ops whose output is their input's codes, rearranged (the same bits, encoding and scale). */
const CODE_PASSING_OPS: ReadonlySet<string> = new Set(['maxpool2d', 'flatten', 'dropout']);

/** Bits of the codes each node outputs (32: float), to account bit-ops per layer. */
function outputCodeBits(graph: GraphSpec, layerPrecision: (name: string) => Precision): Map<string, number> {
  const codeBits = new Map<string, number>([['input', 32]]);
  for (const node of graph.nodes) {
    const inBits = codeBits.get(node.inputs[0]) ?? 32;
    let bits = 32;
    if (node.op === 'quantize') bits = layerPrecision(node.name).activations;
    else if (node.op === 'sign') bits = 1;
    else if (node.op === 'dynquantize') bits = node.bits;
    else if (CODE_PASSING_OPS.has(node.op)) bits = inBits;
    codeBits.set(node.name, bits);
  }
  return codeBits;
}

/**
 * A large batch runs as consecutive slices of at most this many bytes in its largest tensor (the
 * conv lowering, usually). Every op of a graph without batch-wide statistics works sample by
 * sample, so the slices give the same bits; what they save is memory traffic: a whole-batch
 * lowering of tens of MB comes from fresh pages each call and leaves the caches, and on ResNet-20
 * at 250 digits that made a digit 3-7x slower than in a batch of 25.
 */
const SLICE_BYTES = 16 << 20;

/** Native programs a plan keeps (batch sizes x ISA x GEMM path and routing settings x threads), least recently used dropped. */
const PROGRAMS_KEPT = 4;

/** Ops whose output for one sample depends on the other samples of the call. */
const BATCH_WIDE_OPS = new Set(['dynquantize']);

/** Per-layer stats of two slices of one call, summed (gate fractions recomputed from the counts). */
function mergeLayer(a: LayerStats, b: LayerStats): LayerStats {
  const out: LayerStats = { ...a, macs: a.macs + b.macs, bitOps: a.bitOps + b.bitOps, ms: a.ms + b.ms };
  if (a.gate && b.gate) {
    const on = a.gate.on + b.gate.on, total = a.gate.total + b.gate.total;
    const fraction = total > 0 ? on / total : 0;
    const g: GateStats = { ...a.gate, on, total, fraction, bAvg: a.gate.highBits + fraction * (a.gate.bits - a.gate.highBits),
      bitOps: a.gate.bitOps + b.gate.bitOps, denseBitOps: a.gate.denseBitOps + b.gate.denseBitOps };
    out.gate = g;
  }
  return out;
}

/** Whether op reads buffer id (the fields that name buffers an op reads). */
function readsBuffer(op: kernels.ProgramOp, id: number): boolean {
  const o = op as { op: string; x?: unknown; a?: unknown; b?: unknown; aData?: unknown; aPops?: unknown; residual?: unknown; epilogue?: { residual?: unknown } };
  return o.x === id || o.a === id || (o.op === 'add' && o.b === id) || o.aData === id || o.aPops === id || o.residual === id ||
    o.epilogue?.residual === id;
}

/**
 * The input's layout change and a clamp of all its floats right after it (an affine without scale
 * and shift: a float quantiser at 32 bits) as one pass: the transpose clamps each value as it
 * moves (the same float steps), instead of writing the floats and reading them back to clamp.
 * ops and stepOps (each step's first op) are changed in place.
 */
function fuseInputClamp(ops: kernels.ProgramOp[], stepOps: number[]): void {
  const [first, next] = ops;
  if (first?.op !== 'nchwToNhwc' || next?.op !== 'affine' || next.x !== first.out || next.scale || next.shift) return;
  if (next.count !== first.n * first.c * first.h * first.w || first.min !== undefined || first.max !== undefined) return;
  if (ops.some((o, i) => i > 1 && readsBuffer(o, first.out))) return;
  ops[0] = { ...first, out: next.out, min: next.min, max: next.max };
  ops.splice(1, 1);
  for (let i = 0; i < stepOps.length; i++) if (stepOps[i] > 1) stepOps[i]--;
}

export class Plan {
  private readonly steps: Step[] = [];
  private readonly outputName: string;
  /** Samples per slice of a large batch (Infinity: the graph has batch-wide ops, never sliced). */
  readonly sliceSamples: number;
  /** The buffers the steps write, kept per batch size between calls (see arena.ts). */
  private readonly arena: PlanArena;
  /** Estimated activation bytes of one sample (what a call may allocate, per sample). */
  private readonly bytesPerSample: number;
  /**
   * The plan compiled to native programs (lower.ts), per batch size, ISA and GEMM path setting:
   * undefined until first asked, false when a step cannot lower (the plan keeps its JS path).
   */
  private programs?: Map<string, kernels.Program> | false;
  /** The same with every gated layer lowered as its dense layer (gatePath 'auto' settled on dense everywhere). */
  private densePrograms?: Map<string, kernels.Program> | false;
  /** Per-sample shape of the programs' output (NCHW for images). */
  private programShape: number[] = [];
  /** Per program, the index of each step's first op (and one past the last step's): its ops' times are the step's. */
  private readonly stepOps = new WeakMap<kernels.Program, number[]>();
  /** Per program, each step's GEMM route (quantised layers over codes; undefined for the others). */
  private readonly stepRoutes = new WeakMap<kernels.Program, Array<LayerRoute | undefined>>();

  /**
   * `budget`: the bound on the buffers kept by every plan of one model (a model passes its own;
   * default: a bound of its own of DEFAULT_MAX_MEMORY).
   */
  constructor(private readonly graph: GraphSpec, private readonly params: Params,
              readonly precision: Precision, private readonly layerPrecision: (name: string) => Precision,
              budget: ArenaBudget = new ArenaBudget(DEFAULT_MAX_MEMORY)) {
    const ctx = this.context(inferShapes(graph), outputCodeBits(graph, layerPrecision));
    const estimate = estimateActivations(graph);
    this.bytesPerSample = estimate.bytesPerSample;
    this.arena = new PlanArena(budget);
    this.sliceSamples = graph.nodes.some((n) => BATCH_WIDE_OPS.has(n.op))
      ? Infinity : Math.max(1, Math.floor(SLICE_BYTES / (4 * estimate.largestPerSample)));
    this.outputName = graph.output ?? graph.nodes[graph.nodes.length - 1].name;
    const consumers = new Map<string, NodeSpec[]>();
    for (const node of graph.nodes) for (const i of node.inputs) consumers.set(i, [...(consumers.get(i) ?? []), node]);
    const soleConsumer = (name: string): NodeSpec | undefined => {
      const c = consumers.get(name) ?? [];
      return c.length === 1 && name !== this.outputName ? c[0] : undefined;
    };
    // A quantiser an affine epilogue can compute: every one but a sign at 1 bit (oneBit 'sign'),
    // which runs as a step of its own (no affine and clamp makes x >= 0 exactly).
    const fusable = (n?: NodeSpec): boolean => n?.op === 'quantize' && !ctx.quantizer(n).sign;
    // A layer and the batch norm and activation (quantiser or ReLU) its epilogue absorbs, each
    // the sole consumer of the one before; `next`: what follows the layer or its batch norm.
    const epilogueChain = (layer: NodeSpec): { chain: NodeSpec[]; next?: NodeSpec } => {
      const chain: NodeSpec[] = [layer];
      let next = soleConsumer(layer.name);
      if (next?.op === 'batchnorm') {
        chain.push(next);
        next = soleConsumer(next.name);
      }
      if (next && (fusable(next) || next.op === 'relu')) chain.push(next);
      return { chain, next };
    };
    // The batch norm + activation quantiser (to codes; at 32 bits its float ReLU) of a residual
    // sum, when one reads the sum (a pre-activation block's next input): the sum's epilogue writes
    // that output too.
    const quantisedSum = (add: NodeSpec): SumCodes | undefined => {
      const bn = (consumers.get(add.name) ?? []).find((c) => c.op === 'batchnorm' && fusable(soleConsumer(c.name)));
      if (!bn) return undefined;
      return { bn: bn as NodeSpec & { op: 'batchnorm' }, q: soleConsumer(bn.name) as NodeSpec & { op: 'quantize' } };
    };
    const fused = new Set<string>();
    const order = new Map<string, number>([['input', -1]]);
    graph.nodes.forEach((node, i) => order.set(node.name, i));
    for (const node of graph.nodes) {
      if (fused.has(node.name)) continue;
      const prec = layerPrecision(node.name);
      if (QUANTISED_OPS.has(node.op)) {
        const { chain, next } = epilogueChain(node);
        let then: SumCodes | undefined;
        if (chain.length === 1 && next?.op === 'add' && next.inputs.length === 2) {
          // A residual add right after the layer (float out): fused into its epilogue when the
          // other operand is computed before the layer runs.
          const other = next.inputs[0] === node.name ? next.inputs[1] : next.inputs[0];
          if (other !== node.name && (order.get(other) ?? Infinity) < order.get(node.name)!) {
            chain.push(next);
            then = quantisedSum(next);
          }
        }
        for (const c of chain.slice(1)) fused.add(c.name);
        if (then) fused.add(then.bn.name).add(then.q.name);
        this.steps.push(quantisedStep(chain, ctx, prec, then));
      } else if (node.op === 'conv2d' || node.op === 'linear') {
        // A float layer: its batch norm and activation go into the float convolution's epilogue.
        const { chain } = epilogueChain(node);
        for (const c of chain.slice(1)) fused.add(c.name);
        this.steps.push(floatLayerStep(chain, ctx));
      } else if (node.op === 'smconv2d' || node.op === 'pgconv2d') {
        this.steps.push(signMagnitudeStep(node, ctx));
      } else if (node.op === 'batchnorm' && fusable(soleConsumer(node.name))) {
        const q = soleConsumer(node.name) as NodeSpec & { op: 'quantize' };
        fused.add(q.name);
        this.steps.push(bnQuantizeStep(node, q, ctx));
      } else {
        this.steps.push(plainStep(node, ctx, prec));
      }
    }
  }

  /** What the step builders may read: the graph, shapes, code bits, parameters (read when asked). */
  private context(shapes: Map<string, number[]>, codeBits: Map<string, number>): PlanContext {
    const { graph, params, layerPrecision } = this;
    const param = <T extends Float32Array | Packed>(name: string): T => {
      const p = params.get(name);
      if (p === undefined) throw new RangeError(`model has no parameter '${name}'`);
      return p as T;
    };
    const quantizer = (node: NodeSpec & { op: 'quantize' }): Quantizer => {
      const bits = layerPrecision(node.name).activations;
      const q: Quantizer = { bits, sign: node.oneBit === 'sign' && bits === 1 };
      if (node.clip) {
        const name = quantizeClipTensor(node.name, bits);
        if (!params.has(name)) throw new RangeError(`quantize ${node.name} has no clip for ${bits}-bit activations (bit list: ${graph.bitList.join(', ')})`);
        q.clip = param<Float32Array>(name)[0];
      }
      return q;
    };
    // The codes' fixed scales: a clipped quantiser's below 32 bits, passed on as codeBits passes bits.
    const codeScale = new Map<string, number>();
    for (const node of graph.nodes) {
      let s: number | undefined;
      if (node.op === 'quantize') {
        const q = quantizer(node);
        if (q.bits !== 32 && !q.sign) s = q.clip;
      } else if (CODE_PASSING_OPS.has(node.op)) s = codeScale.get(node.inputs[0]);
      if (s !== undefined) codeScale.set(node.name, s);
    }
    return {
      graph, shapes, codeBits, codeScale, layerPrecision, param, quantizer,
      hasParam: (name) => params.has(name),
      getParam: (name) => params.get(name),
      bn: (node) => {
        const key = node.switchable ? String(layerPrecision(node.name).activations) : 'shared';
        if (node.switchable && !params.has(`${node.name}.${key}.alpha`)) {
          throw new RangeError(`batch norm ${node.name} has no parameters for ${key}-bit activations (bit list: ${graph.bitList.join(', ')})`);
        }
        return { alpha: param(`${node.name}.${key}.alpha`), beta: param(`${node.name}.${key}.beta`), key };
      },
    };
  }

  private accountStep(s: Step, n: number): Omit<LayerStats, 'ms'> {
    const macs = s.macsPerSample * n;
    return { nodes: s.nodes, op: s.op, macs, weightBits: s.weightBits, activationBits: s.activationBits,
      bitOps: macs * s.weightBits * s.activationBits };
  }

  /** Whether runSync / run() of this plan run as native programs (every step lowers). */
  get native(): boolean {
    if (this.programs === undefined) this.program(1, false);
    return this.programs !== false;
  }

  /**
   * The native program of this plan for batch n (built on first use, kept per batch size, ISA,
   * GEMM path and routing settings and thread count), or undefined when a step cannot lower. build = false: only find out
   * whether the plan lowers.
   */
  private program(n: number, build = true, gatesDense = false): kernels.Program | undefined {
    const programs = gatesDense ? this.densePrograms : this.programs;
    if (programs === false) return undefined;
    // Everything a layer's route depends on (route.ts): the forced path, the routing setting,
    // and the ISA and thread count the trials time.
    const key = `${n}/${kernels.isa()}/${kernels.gemmPathSetting()}/${gemmRoutingSetting()}/${kernels.threads()}`;
    const kept = programs?.get(key);
    if (kept) {
      programs!.delete(key); // re-inserted: most recent last
      programs!.set(key, kept);
      return kept;
    }
    let description: kernels.ProgramDescription & { stepOps: number[]; stepRoutes: Array<LayerRoute | undefined> };
    try {
      description = this.lower(n, gatesDense);
    } catch (e) {
      if (!(e instanceof NotLowerable)) throw e;
      if (gatesDense) this.densePrograms = false;
      else this.programs = false;
      return undefined;
    }
    const map = programs ?? new Map<string, kernels.Program>();
    if (gatesDense) this.densePrograms = map;
    else this.programs = map;
    if (!build) return undefined;
    const program = kernels.buildProgram(description);
    if (map.size >= PROGRAMS_KEPT) {
      const oldest = map.keys().next().value!;
      kernels.releaseArenas(map.get(oldest)!);
      map.delete(oldest);
    }
    map.set(key, program);
    this.stepOps.set(program, description.stepOps);
    this.stepRoutes.set(program, description.stepRoutes);
    return program;
  }

  /** Every step's kernel calls for a batch of n, from the NCHW (or [n, F]) input to the output floats. */
  private lower(n: number, gatesDense = false): kernels.ProgramDescription & { stepOps: number[]; stepRoutes: Array<LayerRoute | undefined> } {
    const b = new Lowering(n, gatesDense);
    const inShape = this.graph.inputShape;
    const input = b.buffer(4 * n * inShape.reduce((a, d) => a * d, 1));
    if (inShape.length === 3) {
      const [c, h, w] = inShape;
      b.op({ op: 'nchwToNhwc', x: input, out: b.set('input', b.value([h, w, c])).buf, n, c, h, w });
    } else if (inShape.length === 1) {
      b.set('input', { kind: 'float', buf: input, shape: [n, ...inShape] });
    } else {
      throw new NotLowerable(`input of ${inShape.length} dimensions`);
    }
    const stepOps: number[] = [];
    const stepRoutes: Array<LayerRoute | undefined> = [];
    for (const s of this.steps) {
      if (!s.lower) throw new NotLowerable(`step ${s.op} has no native form`);
      stepOps.push(b.ops.length);
      b.route = undefined;
      s.lower(b);
      stepRoutes.push(b.route);
    }
    stepOps.push(b.ops.length);
    fuseInputClamp(b.ops, stepOps);
    const out = b.get(this.outputName);
    let output: number;
    if (out.shape.length === 4) {
      const [, h, w, c] = out.shape;
      const x = b.floats(this.outputName);
      output = b.buffer(4 * n * h * w * c);
      b.op({ op: 'transpose', x, out: output, n, rows: h * w, cols: c, elemBytes: 4 });
      this.programShape = [c, h, w];
    } else {
      output = b.floats(this.outputName);
      this.programShape = out.shape.slice(1);
    }
    if (output === input) throw new NotLowerable('the output is the input');
    return { buffers: b.buffers, input, output, ops: b.ops, stepOps, stepRoutes };
  }

  /**
   * Whether program p (for batch n) may keep its arena between runs: its bytes held in this plan's
   * buffers for n, within the model's memory budget (evicted sets free it).
   */
  private keepArena(p: kernels.Program, n: number): boolean {
    return this.arena.use(n, p.arenaBytes, (buffers) =>
      buffers?.hold('program', p, p.arenaBytes, () => kernels.releaseArenas(p)) ?? false);
  }

  /**
   * The GEMM route each weighted layer of the native program for a batch of n takes (building the
   * program, and measuring routes not yet measured, if it is not built yet); undefined when the
   * plan does not lower. A batch larger than sliceSamples runs as slices: the first slice's program.
   */
  routes(n: number): Array<{ nodes: string[]; op: string; route?: LayerRoute }> | undefined {
    const p = this.program(Math.min(n, this.sliceSamples));
    if (!p) return undefined;
    const routes = this.stepRoutes.get(p)!;
    return this.steps.flatMap((s, i) => (s.macsPerSample > 0 ? [{ nodes: s.nodes, op: s.op, ...(routes[i] ? { route: routes[i] } : {}) }] : []));
  }

  /**
   * gatePath 'auto' where every gated layer's measured choice is its dense path for this call (no
   * measuring, no re-check due): the whole call as a native program with the gated layers lowered
   * dense — what those layers would run, the same bits, without the JS steps between them. The
   * choosers count the call. Undefined otherwise (the JS steps run and choose per layer).
   */
  private runSettledDense(x: Tensor, gate: GateSetting): Tensor | undefined {
    if (gate.mode !== 'trained' || gate.path !== 'auto') return undefined;
    const choosers = this.steps.flatMap((s) => (s.gatePath ? [s.gatePath()] : []));
    if (choosers.length === 0 || !choosers.every((c) => c.settledDense(gate.offset))) return undefined;
    const out = this.runNative(x, true);
    if (out) for (const c of choosers) c.skip();
    return out;
  }

  /** runSync on the native programs, slice by slice (undefined when the plan does not lower). */
  private runNative(x: Tensor, gatesDense = false): Tensor | undefined {
    const n = x.shape[0], slice = this.sliceSamples;
    if (n <= slice) {
      const p = this.program(n, true, gatesDense);
      return p && new Tensor(kernels.runProgram(p, x.data, this.keepArena(p, n)), [n, ...this.programShape]);
    }
    const per = x.data.length / n;
    let out: Float32Array | undefined, outPer = 0;
    for (let s = 0; s < n; s += slice) {
      const m = Math.min(slice, n - s);
      const p = this.program(m, true, gatesDense);
      if (!p) return undefined;
      if (!out) {
        // Each slice's program writes its part of the one output in place (no per-slice array, no
        // copy), which they fill in full: memory left as allocated, not zero-filled first.
        outPer = p.outputCount / m;
        out = new Float32Array(Buffer.allocUnsafeSlow(4 * outPer * n).buffer, 0, outPer * n);
      }
      kernels.runProgram(p, x.data.subarray(s * per, (s + m) * per), this.keepArena(p, m), out.subarray(outPer * s, outPer * (s + m)));
    }
    return new Tensor(out!, [n, ...this.programShape]);
  }

  /**
   * The plan's native programs on the kernel thread pool (undefined when the plan does not
   * lower). The input is copied before this returns (a large batch: once, then slice by slice).
   * collect: the stats runSyncDetailed gives, each layer's time the sum of its ops' times.
   */
  runAsync(x: Tensor, collect = false): Promise<{ output: Tensor; stats?: RunStats }> | undefined {
    this.checkShape(x);
    if (!this.native) return undefined;
    const n = x.shape[0], slice = this.sliceSamples;
    const one = async (data: Float32Array, m: number): Promise<{ output: Float32Array; stats?: RunStats }> => {
      const p = this.program(m)!;
      if (!collect) return { output: await kernels.runProgramAsync(p, data, this.keepArena(p, m)) };
      const r = await kernels.runProgramTimedAsync(p, data, this.keepArena(p, m));
      return { output: r.output, stats: this.timedStats(p, r.times, m) };
    };
    const finish = (output: Float32Array, stats?: RunStats) => ({ output: new Tensor(output, [n, ...this.programShape]), stats });
    if (n <= slice) return one(x.data, n).then((r) => finish(r.output, r.stats));
    const data = x.data.slice(), per = data.length / n;
    return (async () => {
      let out: Float32Array | undefined, stats: RunStats | undefined;
      for (let s = 0; s < n; s += slice) {
        const m = Math.min(slice, n - s);
        const r = await one(data.subarray(s * per, (s + m) * per), m);
        out ??= new Float32Array((r.output.length / m) * n);
        out.set(r.output, (r.output.length / m) * s);
        if (r.stats) stats = stats ? this.mergeStats(stats, r.stats) : r.stats;
      }
      return finish(out!, stats);
    })();
  }

  /** RunStats of a timed program run of m samples: per weighted step, its ops' summed times. */
  private timedStats(p: kernels.Program, times: Float64Array, m: number): RunStats {
    const bounds = this.stepOps.get(p)!, routes = this.stepRoutes.get(p)!;
    const layers: LayerStats[] = [];
    let ms = 0;
    this.steps.forEach((s, i) => {
      let t = 0;
      for (let o = bounds[i]; o < bounds[i + 1]; o++) t += times[o];
      ms += t;
      if (s.macsPerSample > 0) layers.push({ ...this.accountStep(s, m), ms: t, ...(routes[i] ? { route: routes[i] } : {}) });
    });
    const bitOps = layers.reduce((a, l) => a + l.bitOps, 0);
    return { precision: this.precision, layers, macs: layers.reduce((a, l) => a + l.macs, 0), bitOps, denseBitOps: bitOps, ms };
  }

  /** Bytes of the buffers this plan keeps between calls (every batch size). */
  get keptBytes(): number {
    return this.arena.bytes;
  }

  /** Drops the kept buffers (the model no longer caches this plan). */
  releaseBuffers(): void {
    this.arena.release();
  }

  /** MACs and bit-ops of every weighted layer for a batch of n, without running anything. */
  account(n: number): BitOpsReport {
    const layers = this.steps.filter((s) => s.macsPerSample > 0).map((s) => this.accountStep(s, n));
    return { precision: this.precision, layers, macs: layers.reduce((a, l) => a + l.macs, 0),
      bitOps: layers.reduce((a, l) => a + l.bitOps, 0) };
  }

  /**
   * Runs one batch: x is [N, ...inputShape] (NCHW for images). A batch larger than sliceSamples
   * runs slice by slice (the same output bits; stats summed over the slices).
   */
  run(x: Tensor, collect: boolean, gate: GateSetting = DEFAULT_GATE, probe?: GateProbe): { output: Tensor; stats?: RunStats } {
    this.checkShape(x);
    const n = x.shape[0];
    // Without stats or a calibration probe, a plan whose every step lowers runs natively.
    const native = collect || probe ? undefined : this.runNative(x) ?? this.runSettledDense(x, gate);
    if (native) return { output: native };
    const slice = this.sliceSamples;
    if (n <= slice || probe) return this.runBatch(x, collect, gate, probe);
    const per = x.data.length / n;
    let output: Tensor | undefined, stats: RunStats | undefined;
    for (let s = 0; s < n; s += slice) {
      const m = Math.min(slice, n - s);
      const r = this.runBatch(new Tensor(x.data.subarray(s * per, (s + m) * per), [m, ...x.shape.slice(1)]), collect, gate);
      if (!output) output = new Tensor(new Float32Array((r.output.data.length / m) * n), [n, ...r.output.shape.slice(1)]);
      output.data.set(r.output.data, (r.output.data.length / m) * s);
      if (r.stats) stats = stats ? this.mergeStats(stats, r.stats) : r.stats;
    }
    return { output: output!, stats };
  }

  /** @internal x has the plan's input shape and at least one sample (RangeError otherwise). */
  checkShape(x: Tensor): void {
    const inShape = this.graph.inputShape;
    if (x.shape.length !== inShape.length + 1 || x.shape.slice(1).join() !== inShape.join()) {
      throw new RangeError(`input must have shape [N, ${inShape.join(', ')}], got [${x.shape.join(', ')}]`);
    }
    if (x.shape[0] === 0) throw new RangeError('input batch must hold at least one sample');
  }

  private mergeStats(a: RunStats, b: RunStats): RunStats {
    const layers = a.layers.map((l, i) => mergeLayer(l, b.layers[i]));
    const out: RunStats = { ...a, layers, macs: a.macs + b.macs, bitOps: a.bitOps + b.bitOps, denseBitOps: a.denseBitOps + b.denseBitOps, ms: a.ms + b.ms };
    if (a.gate) out.gate = summarizeGates(layers, a.gate.inactive);
    return out;
  }

  private runBatch(x: Tensor, collect: boolean, gate: GateSetting, probe?: GateProbe): { output: Tensor; stats?: RunStats } {
    // A calibration probe runs on fresh buffers (it is rare, and keeps what it records).
    if (probe) return this.runWith(x, collect, gate, undefined, probe);
    const n = x.shape[0];
    return this.arena.use(n, n * this.bytesPerSample, (buffers) => this.runWith(x, collect, gate, buffers));
  }

  private runWith(x: Tensor, collect: boolean, gate: GateSetting, buffers: StepBuffers | undefined,
                  probe?: GateProbe): { output: Tensor; stats?: RunStats } {
    const inShape = this.graph.inputShape;
    const n = x.shape[0];
    const env = new Map<string, Act>();
    const ctx: RunContext = { gate, inactive: [], probe, buffers };
    const data = inShape.length === 3
      ? keep(ctx, 'input', kernels.nchwToNhwc(x.data, n, inShape[0], inShape[1], inShape[2], reuse(ctx, 'input', Float32Array, x.data.length)))
      : x.data;
    env.set('input', { kind: 'float', data, shape: inShape.length === 3 ? [n, inShape[1], inShape[2], inShape[0]] : [n, inShape[0]] });
    const layers: LayerStats[] = [];
    const t0 = collect ? performance.now() : 0;
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
      // A copy when the values are the activation's own array (a kept buffer, or the input).
      const values = ops.toFloat(out);
      result = new Tensor(out.kind === 'float' ? values.slice() : values, shape);
    }
    if (!collect) return { output: result };
    const stats: RunStats = {
      precision: this.precision, layers,
      macs: layers.reduce((a, l) => a + l.macs, 0), bitOps: layers.reduce((a, l) => a + l.bitOps, 0),
      denseBitOps: layers.reduce((a, l) => a + (l.gate ? l.gate.denseBitOps : l.bitOps), 0),
      ms: performance.now() - t0,
    };
    if (this.graph.nodes.some(isGated)) stats.gate = summarizeGates(layers, ctx.inactive);
    return { output: result, stats };
  }
}
