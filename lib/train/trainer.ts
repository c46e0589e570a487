// Training loops: Any-Precision (one model over a bit list, recursive distillation, switchable
// BN) and dedicated fixed-precision; evaluation; checkpoints (lib/io safetensors + JSON metadata).
import * as fs from 'fs';
import type { GraphSpec } from '../nn/graph';
import type { GraphInput } from '../nn/input';
import type { Model } from '../nn/model';
import { readSafetensors } from '../io/safetensors';
import { writeSafetensors } from '../io/safetensors-write';
import type { TensorInput } from '../io/safetensors-write';
import { checkDataset } from './data';
import type { Dataset } from './data';
import { TrainNet } from './net';
import type { NodeHook } from './net';
import { Optimizer, OptimizerName, ScheduleOptions, scheduledRate } from './optim';
import { Rng } from './rng';
import { Tape, crossEntropy, distillationLoss, stepBuffers } from './tape';

/** any / fixed here; sp, pg, ldp from lib/train/methods (registered with registerMethod). */
export type TrainMethod = 'any' | 'fixed' | 'sp' | 'pg' | 'ldp';

export interface TrainConfig {
  method: TrainMethod;
  /** any: every width trained (the top one on labels, each lower one distilled from the next higher); fixed: exactly one. */
  bits: number[];
  epochs: number;
  batch: number;
  lr: number;
  optimizer: OptimizerName;
  weightDecay: number;
  momentum?: number;
  schedule: ScheduleOptions;
  seed: number;
  /** Distillation temperature (1 = the reference's soft cross-entropy). */
  temperature?: number;
  /**
   * any: a weight per width on its loss (its gradient is scaled by it before the sum), keyed by the
   * bit-width ('32' = float); widths not listed weigh 1. The reference sums the widths' losses
   * unweighted. The reported loss stays the unweighted sum.
   */
  lossWeights?: Record<string, number>;
  /**
   * any: whose soft targets a lower width learns from — 'next' (the next higher width: the
   * reference's recursive distillation, default) or 'top' (the highest width, usually float).
   */
  teacher?: 'next' | 'top';
  /** The method's own options (sp, pg, ldp: see lib/train/methods). */
  options?: Record<string, unknown>;
  /**
   * Training samples of the batch-norm re-estimation after every epoch (before validation; see
   * calibrateBatchNorm). 0: the running statistics stay as training's momentum left them.
   * Default 1000 (all of them for a smaller training set).
   */
  bnCalibration?: number;
  /**
   * Random translation of every training image by up to `shift` pixels in x and y (integers drawn
   * uniformly in −shift..shift per image and step; the border row / column is repeated into the
   * space the image leaves), for image inputs [C, H, W]. Evaluation, validation and the batch-norm
   * re-estimation see the images unshifted. The shifts are a function of (seed, epoch, step), so a
   * resumed run draws the same ones. Default 0 (off).
   */
  augment?: { shift: number };
  /**
   * Training digits held out as the validation set by the data loader (the CLI: the last
   * `validation` of the 8,000 training digits; 0 trains on all of them, as the reference code did).
   * Kept in the config so a resumed run loads the same split. Default 1000.
   */
  validation?: number;
}

/** A registered training method's behaviour inside one Trainer. */
export interface MethodImpl {
  /** Replaces nodes of the forward (training and evaluation). */
  hook?: NodeHook;
  /** One optimiser step on a batch (zeroes gradients, runs forward / backward, steps the optimiser). */
  step(x: Float32Array, labels: ArrayLike<number>, n: number): { loss: number; correct: number };
  /** Extra fields of each epoch's record (e.g. per-layer bits, gate fractions). */
  epochInfo?(): Record<string, unknown> | undefined;
  /** The trained network as a runtime model (taking `input`, preprocessed in its graph, when given). */
  toModel(input?: GraphInput): Model;
  /** What the run record adds for this method (e.g. the exported model's gate counts on `test`). */
  summary?(model: Model, test: Dataset): Record<string, unknown>;
}

/** A training method beyond any / fixed: checks its config, shapes the graph, makes its MethodImpl. */
export interface MethodDefinition {
  check(c: TrainConfig): void;
  /** The graph trained (given the user's graph with bitList = the sorted config.bits). */
  graph?(g: GraphSpec, c: TrainConfig): GraphSpec;
  /** Widths evaluated and reported, highest first (default: the graph's bit list). */
  widths?(c: TrainConfig): number[];
  /** Called before the optimiser is made: parameters the method adds to t.net.params are trained and checkpointed. */
  create(t: Trainer): MethodImpl;
}

const METHODS = new Map<string, MethodDefinition>();

/** Makes `--method name` available to Trainer (lib/train/methods registers sp, pg and ldp). */
export function registerMethod(name: TrainMethod, def: MethodDefinition): void {
  METHODS.set(name, def);
}

export interface EpochRecord {
  epoch: number;
  steps: number;
  loss: number;
  /** Training accuracy of the top width, over the epoch's batches (train-mode forward). */
  trainAccuracy: number;
  /** What the method adds (sp / pg / ldp), e.g. per-layer bits or gate fractions. */
  extra?: Record<string, unknown>;
  /** Validation accuracy per width, if a validation set was given. */
  validation?: Record<string, number>;
  seconds: number;
}

export interface Progress {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  accuracy: number;
  secondsPerStep: number;
}

export const CHECKPOINT_KIND = 'anyprec-train-checkpoint/1';

export function defaultConfig(o: Partial<TrainConfig> = {}): TrainConfig {
  return {
    method: 'any', bits: [1, 2, 4, 8, 32], epochs: 1, batch: 64, lr: 1e-3, optimizer: 'adam', weightDecay: 0,
    schedule: { name: 'cosine' }, seed: 0, ...o,
  };
}

function checkConfig(c: TrainConfig): void {
  const def = METHODS.get(c.method);
  if (c.method !== 'any' && c.method !== 'fixed' && !def) {
    throw new RangeError(`method must be one of any, fixed${[...METHODS.keys()].map((m) => `, ${m}`).join('')}, got ${String(c.method)}`);
  }
  if (!Array.isArray(c.bits) || c.bits.length === 0) throw new TypeError('bits must be a non-empty array');
  for (const b of c.bits) if (!((Number.isInteger(b) && b >= 1 && b <= 8) || b === 32)) throw new RangeError(`bits must be integers in 1..8 or 32, got ${b}`);
  if (new Set(c.bits).size !== c.bits.length) throw new RangeError('bits must not repeat');
  if (c.method === 'fixed' && c.bits.length !== 1) throw new RangeError('fixed-precision training takes exactly one bit-width (run once per width)');
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw new RangeError(`epochs must be a positive integer, got ${c.epochs}`);
  if (!Number.isInteger(c.batch) || c.batch < 2) throw new RangeError(`batch must be an integer >= 2 (batch norm needs 2 samples), got ${c.batch}`);
  if (!(c.lr > 0)) throw new RangeError(`lr must be positive, got ${c.lr}`);
  if (c.augment !== undefined) {
    if (c.augment === null || typeof c.augment !== 'object') throw new TypeError('augment must be { shift }');
    if (!(Number.isInteger(c.augment.shift) && c.augment.shift >= 0 && c.augment.shift <= 8)) {
      throw new RangeError(`augment.shift must be an integer in 0..8 (pixels), got ${String(c.augment.shift)}`);
    }
  }
  if (c.validation !== undefined && !(Number.isInteger(c.validation) && c.validation >= 0)) {
    throw new RangeError(`validation must be a non-negative integer (digits), got ${c.validation}`);
  }
  if (c.bnCalibration !== undefined && !(Number.isInteger(c.bnCalibration) && c.bnCalibration >= 0)) {
    throw new RangeError(`bnCalibration must be a non-negative integer (samples), got ${c.bnCalibration}`);
  }
  if (c.lossWeights !== undefined) {
    if (c.lossWeights === null || typeof c.lossWeights !== 'object' || Array.isArray(c.lossWeights)) {
      throw new TypeError('lossWeights must be an object of bit-width -> weight');
    }
    if (c.method !== 'any') throw new RangeError(`lossWeights is for method any (one model over several widths), not ${c.method}`);
    for (const [k, v] of Object.entries(c.lossWeights)) {
      if (!c.bits.includes(Number(k))) throw new RangeError(`lossWeights: ${k} is not one of bits (${c.bits.join(',')})`);
      if (typeof v !== 'number' || !(v > 0 && v <= 100)) throw new RangeError(`lossWeights[${k}] must be a number in (0, 100], got ${JSON.stringify(v)}`);
    }
  }
  if (c.teacher !== undefined && c.teacher !== 'next' && c.teacher !== 'top') {
    throw new RangeError(`teacher must be 'next' or 'top', got ${JSON.stringify(c.teacher)}`);
  }
  def?.check(c);
}

export class Trainer {
  readonly net: TrainNet;
  readonly opt: Optimizer;
  rng: Rng;
  /** Epochs finished. */
  epoch = 0;
  /** Steps finished within the current epoch (resumed mid-epoch from an interrupt checkpoint). */
  stepInEpoch = 0;
  /** Permutation of the current epoch (kept so a mid-epoch resume sees the same batches). */
  private order: Int32Array | null = null;
  readonly log: EpochRecord[] = [];
  private stop = false;

  /** widths in training order: highest first. */
  readonly widths: number[];
  /** The registered method's behaviour (sp, pg, ldp); undefined for any / fixed. */
  readonly impl?: MethodImpl;

  constructor(readonly graph: GraphSpec, readonly config: TrainConfig) {
    checkConfig(config);
    const def = METHODS.get(config.method);
    const bitList = [...config.bits].sort((a, b) => a - b);
    this.graph = { ...graph, bitList };
    if (def && this.graph.weightMode === 'truncate') {
      throw new RangeError(`truncation-consistent training (graph weightMode 'truncate') is for methods any and fixed, not ${config.method}`);
    }
    if (def?.graph) this.graph = def.graph(this.graph, config);
    this.widths = def?.widths ? def.widths(config) : [...bitList].reverse();
    this.net = new TrainNet(this.graph, config.seed);
    this.impl = def?.create(this);
    this.opt = new Optimizer([...this.net.params.values()], {
      name: config.optimizer, lr: config.lr, weightDecay: config.weightDecay, momentum: config.momentum,
    });
    this.rng = new Rng((config.seed ^ 0x5bd1e995) >>> 0);
  }

  /** Asks the running epoch to stop after the current step (e.g. on SIGINT). */
  requestStop(): void { this.stop = true; }
  get stopped(): boolean { return this.stop; }

  /**
   * One optimiser step on a batch: each width's forward and backward (the top width against the
   * labels, each lower one against the next higher width's detached logits), gradients summed.
   */
  step(x: Float32Array, labels: ArrayLike<number>, n: number): { loss: number; correct: number } {
    if (this.impl) return this.impl.step(x, labels, n);
    this.opt.zeroGrad();
    let teacher: Float32Array | null = null, loss = 0, correct = 0;
    for (const bits of this.widths) {
      const tape = new Tape();
      stepBuffers.begin(); // this width's activations and gradients reuse the previous width's buffers
      try {
        const logits = this.net.forward(x, n, { bits, training: true, tape });
        const l = teacher === null ? crossEntropy(tape, logits, labels) : distillationLoss(tape, logits, teacher, this.config.temperature ?? 1);
        const w = this.config.lossWeights?.[String(bits)] ?? 1;
        tape.backward(l, w === 1 ? undefined : Float32Array.of(w));
        loss += l.data[0];
        if (teacher === null) correct = countCorrect(logits.data, labels, n);
        if (teacher === null || this.config.teacher !== 'top') teacher = logits.data.slice();
      } finally {
        stepBuffers.end();
      }
    }
    this.opt.step();
    return { loss, correct };
  }

  /** Trains until config.epochs (or a stop request); returns the log. */
  fit(train: Dataset, validation?: Dataset, onProgress?: (p: Progress) => void, onEpoch?: (r: EpochRecord) => void): EpochRecord[] {
    for (const _ of this.run(train, validation, onProgress, onEpoch)) { /* every step */ }
    return this.log;
  }

  /**
   * fit, returning to the event loop after every step, so signals (SIGINT) and timers are handled
   * while training runs: requestStop() from a handler ends the run after the current step.
   */
  async fitAsync(train: Dataset, validation?: Dataset, onProgress?: (p: Progress) => void, onEpoch?: (r: EpochRecord) => void): Promise<EpochRecord[]> {
    for (const _ of this.run(train, validation, onProgress, onEpoch)) await new Promise((r) => setImmediate(r));
    return this.log;
  }

  private *run(train: Dataset, validation?: Dataset, onProgress?: (p: Progress) => void, onEpoch?: (r: EpochRecord) => void): Generator<void> {
    const classes = this.classes();
    checkDataset(train, classes, 'train');
    if (validation) checkDataset(validation, classes, 'validation');
    const want = this.graph.inputShape.join(',');
    if (train.sampleShape.join(',') !== want) throw new RangeError(`train.sampleShape must be the model's input shape [${want}], got [${train.sampleShape.join(',')}]`);
    const per = train.x.length / train.n, bs = this.config.batch;
    const stepsPerEpoch = Math.floor(train.n / bs);
    if (stepsPerEpoch < 1) throw new RangeError(`the training set (${train.n}) is smaller than one batch (${bs})`);
    const shift = this.config.augment?.shift ?? 0;
    if (shift > 0 && train.sampleShape.length !== 3) {
      throw new RangeError(`augment.shift needs image samples [C, H, W], got sampleShape [${train.sampleShape.join(',')}]`);
    }
    while (this.epoch < this.config.epochs && !this.stop) {
      if (this.stepInEpoch === 0 || this.order === null) this.order = this.rng.permutation(train.n);
      const t0 = Date.now();
      let lossSum = 0, correct = 0, seen = 0;
      const s0 = this.stepInEpoch;
      const xb = new Float32Array(bs * per), lb = new Int32Array(bs);
      while (this.stepInEpoch < stepsPerEpoch) {
        if (this.stop) return;
        const s = this.stepInEpoch;
        const aug = shift > 0 ? stepRng(this.config.seed, this.epoch, s) : null;
        for (let i = 0; i < bs; i++) {
          const j = this.order[s * bs + i];
          const src = train.x.subarray(j * per, (j + 1) * per);
          if (aug) {
            const dx = Math.floor(aug.next() * (2 * shift + 1)) - shift, dy = Math.floor(aug.next() * (2 * shift + 1)) - shift;
            shiftImage(src, xb.subarray(i * per, (i + 1) * per), train.sampleShape, dx, dy);
          } else {
            xb.set(src, i * per);
          }
          lb[i] = train.labels[j];
        }
        this.opt.lr = scheduledRate(this.config.schedule, this.config.lr, this.epoch + s / stepsPerEpoch, this.config.epochs);
        const r = this.step(xb, lb, bs);
        this.stepInEpoch++;
        lossSum += r.loss;
        correct += r.correct;
        seen += bs;
        onProgress?.({ epoch: this.epoch, step: this.stepInEpoch, stepsPerEpoch, loss: r.loss, accuracy: correct / seen,
          secondsPerStep: (Date.now() - t0) / 1000 / (this.stepInEpoch - s0) });
        yield;
      }
      const rec: EpochRecord = {
        epoch: this.epoch + 1, steps: stepsPerEpoch, loss: lossSum / Math.max(1, seen / bs), trainAccuracy: correct / Math.max(1, seen),
        seconds: (Date.now() - t0) / 1000,
      };
      this.calibrateBatchNorm(train);
      if (validation) rec.validation = Object.fromEntries(this.widths.map((b) => [String(b), this.evaluate(validation, b)]));
      const extra = this.impl?.epochInfo?.();
      if (extra) rec.extra = extra;
      this.epoch++;
      this.stepInEpoch = 0;
      this.order = null;
      this.log.push(rec);
      onEpoch?.(rec);
    }
  }

  /** Classes of the model's output (the last linear layer's outputs). */
  private classes(): number {
    const out = this.graph.output ?? this.graph.nodes[this.graph.nodes.length - 1].name;
    const node = this.graph.nodes.find((n) => n.name === out);
    return node && (node.op === 'linear' || node.op === 'qlinear') ? node.outFeatures : 2 ** 31;
  }

  /**
   * Re-estimates the batch norms' running statistics of every width from the first
   * config.bnCalibration samples of `d` (default 1000; 0: nothing is done), one batch-statistics
   * pass per width (TrainNet.calibrateBatchNorm). Training itself never reads running statistics,
   * so this changes what evaluation and the exported model compute, not the training run; the same
   * data gives the same statistics (it may be repeated).
   */
  calibrateBatchNorm(d: Dataset): void {
    const m = Math.min(d.n, this.config.bnCalibration ?? 1000);
    if (m < 2) return;
    const per = d.x.length / d.n;
    for (const bits of this.widths) this.net.calibrateBatchNorm(d.x.subarray(0, m * per), m, bits, this.impl?.hook);
  }

  /** Accuracy (fraction 0..1) at one width, eval mode (running statistics, fake-quantised forward). */
  evaluate(d: Dataset, bits: number, batch = 250): number {
    const per = d.x.length / d.n;
    let correct = 0;
    for (let s = 0; s < d.n; s += batch) {
      const m = Math.min(batch, d.n - s);
      const logits = this.net.forward(d.x.subarray(s * per, (s + m) * per), m, { bits, training: false, hook: this.impl?.hook });
      correct += countCorrect(logits.data, d.labels.subarray(s, s + m), m);
    }
    return correct / d.n;
  }

  /** The trained network as a runtime model (the method's export for sp / pg / ldp). */
  toModel(input?: GraphInput): Model {
    return this.impl ? this.impl.toModel(input) : this.net.toModel(input);
  }

  // ---- checkpoints ---------------------------------------------------------------------------

  /** The checkpoint's bytes: master weights, running statistics, optimiser state, RNG, log. */
  checkpointBytes(): Uint8Array {
    const tensors: Record<string, TensorInput> = {};
    for (const [k, v] of Object.entries(this.net.tensors())) tensors[`net/${k}`] = { dtype: 'F32', shape: [v.length], data: v };
    for (const [k, bufs] of this.opt.state) bufs.forEach((b, i) => { tensors[`opt/${i}/${k}`] = { dtype: 'F32', shape: [b.length], data: b }; });
    if (this.order) tensors['order'] = { dtype: 'I32', shape: [this.order.length], data: this.order };
    const meta = {
      kind: CHECKPOINT_KIND, graph: JSON.stringify(this.graph), config: JSON.stringify(this.config),
      epoch: String(this.epoch), stepInEpoch: String(this.stepInEpoch), optimizerSteps: String(this.opt.steps),
      rng: JSON.stringify(Array.from(this.rng.s)), log: JSON.stringify(this.log),
    };
    return writeSafetensors(tensors, meta);
  }

  /** Writes the checkpoint atomically (a temporary file renamed over `path`). */
  saveCheckpoint(path: string): void {
    const tmp = `${path}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, this.checkpointBytes());
    fs.renameSync(tmp, path);
  }

  /** A trainer in the state a checkpoint recorded; `override` may change epochs (to extend a run). */
  static fromCheckpoint(bytes: Uint8Array, override: Partial<Pick<TrainConfig, 'epochs'>> = {}): Trainer {
    const f = readSafetensors(bytes);
    const m = f.metadata;
    if (m.kind !== CHECKPOINT_KIND) throw new RangeError(`not an anyprec training checkpoint (kind ${JSON.stringify(m.kind)})`);
    const config = { ...(JSON.parse(m.config) as TrainConfig), ...override };
    const t = new Trainer(JSON.parse(m.graph) as GraphSpec, config);
    const net: Record<string, Float32Array> = {};
    for (const [k, v] of f.tensors) {
      if (k.startsWith('net/')) net[k.slice(4)] = Float32Array.from(v.data as Float32Array);
      else if (k.startsWith('opt/')) {
        const rest = k.slice(4), slash = rest.indexOf('/');
        const i = Number(rest.slice(0, slash)), name = rest.slice(slash + 1);
        const st = t.opt.state.get(name) ?? [];
        st[i] = Float32Array.from(v.data as Float32Array);
        t.opt.state.set(name, st);
      } else if (k === 'order') t.order = Int32Array.from(v.data as Int32Array);
    }
    t.net.loadTensors(net);
    t.epoch = Number(m.epoch);
    t.stepInEpoch = Number(m.stepInEpoch);
    t.opt.steps = Number(m.optimizerSteps);
    t.rng = new Rng(Uint32Array.from(JSON.parse(m.rng) as number[]));
    t.log.push(...(JSON.parse(m.log) as EpochRecord[]));
    return t;
  }

  static loadCheckpoint(path: string, override: Partial<Pick<TrainConfig, 'epochs'>> = {}): Trainer {
    return Trainer.fromCheckpoint(new Uint8Array(fs.readFileSync(path)), override);
  }
}

export function countCorrect(logits: Float32Array, labels: ArrayLike<number>, n: number): number {
  const k = logits.length / n;
  let c = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    if (best === labels[i]) c++;
  }
  return c;
}

/** The generator of one step's augmentation draws: a function of (seed, epoch, step) alone. */
function stepRng(seed: number, epoch: number, step: number): Rng {
  let h = (seed ^ 0x27d4eb2f) >>> 0;
  for (const v of [epoch, step]) h = (Math.imul(h ^ v, 0x9e3779b1) + 0x7f4a7c15) >>> 0;
  return new Rng(h);
}

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { max, min } = Math;

/**
 * `src` (one image [C, H, W]) moved by dx columns and dy rows into `dst`: dst[c][y][x] =
 * src[c][clamp(y − dy)][clamp(x − dx)], the border repeated into the space the image leaves.
 */
export function shiftImage(src: Float32Array, dst: Float32Array, shape: readonly number[], dx: number, dy: number): void {
  const [c, h, w] = shape;
  for (let ch = 0; ch < c; ch++) {
    const o = ch * h * w;
    for (let y = 0; y < h; y++) {
      const sy = min(h - 1, max(0, y - dy));
      const srow = o + sy * w, drow = o + y * w;
      for (let x = 0; x < w; x++) dst[drow + x] = src[srow + min(w - 1, max(0, x - dx))];
    }
  }
}
