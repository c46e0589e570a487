// `anyprec train`: Any-Precision, fixed-precision, SP-Nets, precision-gating and LDP training on
// MNIST digits, with checkpoints, --resume, a progress line on terminals, a final table and --json.
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import { kernels, zoo } from '../index';
import type { GraphSpec } from '../index';
import { Trainer, defaultConfig, digitInput, loadMnist, RESNET_DIGITS, PLAIN_DIGITS } from '../train';
import type { EpochRecord, Progress, TrainConfig } from '../train';

interface TrainOptions {
  method: string;
  bits?: number[];
  actBits: number[];
  actQuant: string;
  distill?: string;
  highBits?: number;
  weightBits?: number;
  target?: number;
  sigma?: number;
  gateOn?: number;
  gateWeight?: number;
  alpha?: number;
  lossWeights?: Record<string, number>;
  teacher?: string;
  penalty?: number;
  freezeBits?: number;
  bitRange?: number[];
  epochs?: number;
  out: string;
  data: string;
  seed: number;
  bnCalibration: number;
  augmentShift?: number;
  validation?: number;
  weightMode: string;
  resume?: string;
  json?: boolean;
  batch?: number;
  lr?: number;
  optimizer: string;
  weightDecay: number;
  schedule: string;
  arch: string;
  widths: [number, number, number];
  threads: number;
  trainLimit?: number;
  checkpoint?: string;
  progress?: boolean;
}

const int = (name: string, min: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};
const positive = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
const list = (name: string) => (v: string): number[] => {
  const parts = v.split(',').map(Number);
  if (parts.some((b) => !Number.isInteger(b) || b < 1)) throw new InvalidArgumentError(`${name} must be a comma-separated list of positive integers`);
  return parts;
};

/** The networks `anyprec train` builds (names as the zoo and the reference importer use). */
function network(arch: string, widths: [number, number, number]): { graph: GraphSpec; digits: typeof RESNET_DIGITS } {
  // one shortcut batch norm per width (the reference shares it, and loses accuracy at 1 and 32 bits)
  const common = { widths, classes: 10, switchableShortcut: true };
  if (arch === 'resnet20') return { graph: zoo.preactResnet({ ...common, blocks: 3, inChannels: 3, inputSize: 32 }), digits: RESNET_DIGITS };
  if (arch === 'resnet8') return { graph: zoo.preactResnet({ ...common, blocks: 1, inChannels: 1, inputSize: 28 }), digits: PLAIN_DIGITS };
  throw new InvalidArgumentError(`--arch must be resnet20 or resnet8, got ${arch}`);
}

/** config.bits and config.options of a method from the command line. */
function methodConfig(o: TrainOptions): Pick<TrainConfig, 'bits' | 'options'> {
  const one = (what: string) => {
    if (o.bits && o.bits.length !== 1) throw new InvalidArgumentError(`--method ${o.method} takes one --bits value (${what})`);
  };
  switch (o.method) {
    case 'any': case 'fixed': return { bits: o.bits ?? [1, 2, 4, 8, 32] };
    case 'sp': {
      if (o.distill !== undefined && o.distill !== 'on' && o.distill !== 'off') throw new InvalidArgumentError(`--distill must be on or off, got ${o.distill}`);
      // short runs learn from the labels at every switch (the teacher is poor early on; see --distill)
      const distill = o.distill !== undefined ? o.distill === 'on' : !shortRun('sp', o.epochs ?? 15);
      return { bits: o.actBits, options: { activation: o.actQuant, distill, alpha: o.alpha } };
    }
    case 'pg':
      one('B, the activation bits the gate splits');
      return { bits: o.bits ?? [3], options: { highBits: o.highBits, weightBits: o.weightBits, target: o.target, sigma: o.sigma, gateOn: o.gateOn, gateWeight: o.gateWeight, activation: o.actQuant, alpha: o.alpha } };
    case 'ldp': {
      const range = o.bitRange ?? [1, 8];
      if (range.length !== 2 || range[0] > range[1] || range[1] > 8) throw new InvalidArgumentError('--bit-range takes lo,hi with 1 <= lo <= hi <= 8');
      return { bits: [range[1]], options: { penalty: o.penalty, bitRange: range, target: o.target, freezeEpochs: o.freezeBits ?? Math.floor((o.epochs ?? 15) / 5) } };
    }
    default: throw new InvalidArgumentError(`--method must be any or fixed, or one of sp, pg, ldp; got ${o.method}`);
  }
}

/** `--loss-weights 32:2,1:1.5` → { '32': 2, '1': 1.5 } (checked against --bits by the trainer). */
function lossWeights(v: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^\s*(\d+)\s*:\s*([0-9.eE+-]+)\s*$/.exec(part);
    const w = m ? Number(m[2]) : NaN;
    if (!m || !(w > 0)) throw new InvalidArgumentError(`--loss-weights takes bits:weight pairs with weights > 0 (e.g. 32:2,1:2), got ${JSON.stringify(v)}`);
    r[String(Number(m[1]))] = w;
  }
  return r;
}

function teacherOf(v: string): 'next' | 'top' {
  if (v !== 'next' && v !== 'top') throw new InvalidArgumentError(`--teacher must be next or top, got ${v}`);
  return v;
}

/** sp, pg and ldp runs shorter than 10 epochs: the defaults below give them more and larger steps. */
function shortRun(method: string, epochs: number): boolean {
  return (method === 'sp' || method === 'pg' || method === 'ldp') && epochs < 10;
}

/**
 * The base learning rate when --lr is not given: sgd 0.1; adam 1e-3 (the reference's), except in
 * short sp / pg / ldp runs: 1e-2/epochs (at least 1e-3), with batches of 32 (not 64). One epoch at
 * 1e-3 and 64 stays far from trained; PG on ResNet-8 (3/2 bits, validation digits after one epoch):
 * 79.8% at 5e-3, 88.0% at 1e-2, 90.2% at 2e-2 with batches of 64, 92.6% at 1e-2 with 32.
 */
function defaultRate(method: string, optimizer: string, epochs: number): number {
  if (optimizer === 'sgd') return 0.1;
  return shortRun(method, epochs) ? Math.max(1e-3, 1e-2 / epochs) : 1e-3;
}

/** Drops undefined options (the method's defaults apply). */
function defined(r: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return r && Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

async function train(o: TrainOptions): Promise<void> {
  kernels.setThreads(o.threads);
  const checkpoint = o.checkpoint ?? `${o.out}.ckpt`;
  let trainer: Trainer;
  let digits = RESNET_DIGITS;
  if (o.resume) {
    trainer = Trainer.loadCheckpoint(o.resume, o.epochs !== undefined ? { epochs: o.epochs } : {});
    digits = trainer.graph.inputShape[0] === 1 ? PLAIN_DIGITS : RESNET_DIGITS;
  } else {
    const m = methodConfig(o);
    const net = network(o.arch, o.widths);
    digits = net.digits;
    const config: TrainConfig = defaultConfig({
      method: o.method as TrainConfig['method'], bits: m.bits, options: defined(m.options), epochs: o.epochs ?? 15, batch: o.batch ?? (shortRun(o.method, o.epochs ?? 15) ? 32 : 64), lr: o.lr ?? defaultRate(o.method, o.optimizer, o.epochs ?? 15),
      optimizer: o.optimizer as TrainConfig['optimizer'], weightDecay: o.weightDecay,
      schedule: { name: o.schedule as TrainConfig['schedule']['name'] }, seed: o.seed, bnCalibration: o.bnCalibration,
      ...(o.augmentShift ? { augment: { shift: o.augmentShift } } : {}),
      ...(o.validation !== undefined ? { validation: o.validation } : {}),
      ...(o.lossWeights ? { lossWeights: o.lossWeights } : {}),
      ...(o.teacher !== undefined ? { teacher: teacherOf(o.teacher) } : {}),
    });
    if (o.weightMode !== 'requant' && o.weightMode !== 'truncate') throw new InvalidArgumentError(`--weight-mode must be requant or truncate, got ${o.weightMode}`);
    if (o.weightMode === 'truncate' && o.method !== 'any' && o.method !== 'fixed') throw new InvalidArgumentError('--weight-mode truncate is for --method any and fixed');
    trainer = new Trainer({ ...net.graph, weightMode: o.weightMode }, config);
  }
  if (o.resume && o.validation !== undefined && o.validation !== (trainer.config.validation ?? 1000)) {
    throw new InvalidArgumentError(`--validation ${o.validation} differs from the checkpoint's ${trainer.config.validation ?? 1000} (a resumed run keeps its split)`);
  }
  const held = trainer.config.validation ?? 1000;
  if (held >= 8000) throw new InvalidArgumentError(`--validation must be below 8000 (the training digits), got ${held}`);
  const data = loadMnist(o.data, digits, held, o.trainLimit !== undefined ? { train: o.trainLimit } : undefined);
  const tty = process.stderr.isTTY === true && !o.json;
  const started = Date.now();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    trainer.requestStop();
    if (tty) process.stderr.write('\ninterrupted: finishing the step and writing a checkpoint (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  const totalSteps = () => trainer.config.epochs;
  const progress = (p: Progress) => {
    if (!tty && !o.progress) return;
    const left = (totalSteps() - p.epoch) * p.stepsPerEpoch - p.step;
    process.stderr.write(`${tty ? '\r' : ''}epoch ${p.epoch + 1}/${trainer.config.epochs}  step ${p.step}/${p.stepsPerEpoch}  loss ${p.loss.toFixed(3)}  ` +
      `acc ${(100 * p.accuracy).toFixed(1)}%  ${p.secondsPerStep.toFixed(2)} s/step  ETA ${duration(left * p.secondsPerStep)}${tty ? '   ' : '\n'}`);
  };
  const epochDone = (r: EpochRecord) => {
    trainer.saveCheckpoint(checkpoint);
    if (o.json) return;
    const val = r.validation ? Object.entries(r.validation).map(([b, a]) => `${b}:${(100 * a).toFixed(2)}`).join(' ') : '';
    process.stderr.write(`${tty ? '\n' : ''}epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, train acc ${(100 * r.trainAccuracy).toFixed(2)}%, ` +
      `${val ? `validation ${val}, ` : ''}${r.seconds.toFixed(0)} s (checkpoint ${checkpoint})\n`);
  };
  await trainer.fitAsync(data.train, data.validation.n > 0 ? data.validation : undefined, progress, epochDone);
  process.off('SIGINT', onSigint);
  if (trainer.stopped) {
    trainer.saveCheckpoint(checkpoint);
    process.stderr.write(`${tty ? '\n' : ''}stopped at epoch ${trainer.epoch + 1}, step ${trainer.stepInEpoch}; checkpoint written to ${checkpoint} ` +
      `(continue with --resume ${checkpoint})\n`);
    process.exitCode = 130;
    return;
  }
  // a checkpoint written by an older version (or an interrupted epoch) gets its statistics
  // re-estimated here; after a finished epoch this repeats the same pass and changes nothing
  trainer.calibrateBatchNorm(data.train);
  // final numbers: the test digits, once
  const results = trainer.widths.map((bits) => ({ bits, accuracy: trainer.evaluate(data.test, bits) }));
  // the digits' preprocessing goes into the graph: the model file takes raw uint8 digits
  trainer.toModel(digitInput(digits)).saveSync(o.out);
  // the method's summary runs the same network on the preprocessed (float) test digits
  const extra = trainer.impl?.summary?.(trainer.toModel(), data.test) ?? {};
  const record = {
    config: trainer.config, graph: trainer.graph.nodes.length + ' nodes', weightMode: trainer.graph.weightMode ?? 'requant', inputShape: trainer.graph.inputShape, model: o.out, log: trainer.log,
    digits: { train: data.train.n, validation: data.validation.n, test: data.test.n },
    results, ...extra, seconds: (Date.now() - started) / 1000, isa: kernels.isa(), threads: kernels.threads(),
  };
  fs.writeFileSync(`${o.out}.json`, JSON.stringify(record, null, 2) + '\n');
  if (o.json) {
    console.log(JSON.stringify({ method: trainer.config.method, epochs: trainer.epoch, model: o.out, results, ...extra }));
    return;
  }
  if (tty) process.stderr.write('\n');
  const rows = [['bits', 'test accuracy'], ...results.map((r) => [r.bits === 32 ? '32 (float)' : String(r.bits), `${(100 * r.accuracy).toFixed(2)}%`])];
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padStart(w[c])).join('  '));
  for (const [k, v] of Object.entries(extra)) console.log(`${k}: ${JSON.stringify(v)}`);
  console.log(`model written to ${o.out} (record ${o.out}.json)`);
}

/** Adds the `train` command to the anyprec command line. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train an any-precision (or fixed-precision) model on MNIST digits')
    .requiredOption('--out <file>', 'model file to write (an anyprec model; also <file>.json, the run record)')
    .requiredOption('--data <dir>', 'directory with mnist10k.bin, mnist10k-labels.bin and split.json')
    .option('--method <m>', 'any (one model, every width, recursive distillation) | fixed (one dedicated width) | ' +
      'sp (switchable precision: 1-bit weights, --act-bits switches) | pg (precision gating) | ldp (learned per-layer precision)', 'any')
    .option('--bits <list>', 'bit-widths (32 = float; default 1,2,4,8,32); pg: B, the activation bits (default 3)', list('--bits'))
    .option('--act-bits <list>', 'sp: the activation switches (32 = float)', list('--act-bits'), [32, 8, 4, 2, 1])
    .option('--act-quant <q>', 'sp: activation quantiser dorefa | pact | sign (sign: the 1-bit switch); pg: dorefa | pact', 'dorefa')
    .option('--distill <on|off>', 'sp: the lower switches learn from the top switch\'s soft targets (on) or from the labels (off); ' +
      'default off under 10 epochs (early on the top switch is a poor teacher: one epoch fell short of 90% with it), on otherwise')
    .option('--high-bits <n>', 'pg: Bhb, the bits every output gets (default B-1)', int('--high-bits', 1))
    .option('--weight-bits <n>', 'pg: weight bits (default 8)', int('--weight-bits', 1))
    .option('--target <x>', 'pg: δ of the threshold penalty (default 0); ldp: bit-op target, a fraction of 8-bit cost (default 0.25)', Number)
    .option('--sigma <x>', 'pg: weight σ of the threshold penalty (default 1e-3)', Number)
    .option('--gate-on <f>', 'pg: wanted fraction of outputs gated on (0..1), a penalty on the soft fraction', Number)
    .option('--gate-weight <x>', 'pg: weight λ of the --gate-on penalty λ·(fraction on − f)² (default 1)', Number)
    .option('--alpha <x>', 'sp / pg with --act-quant pact: the initial PACT clip of every activation (default: sp 6, pg 1; PG\'s reference starts at 6)', positive('--alpha'))
    .option('--penalty <x>', 'ldp: weight λ of the bit-op penalty (default 1)', Number)
    .option('--bit-range <lo,hi>', 'ldp: the bits a layer may take (default 1,8)', list('--bit-range'))
    .option('--freeze-bits <n>', 'ldp: train the last n epochs at the bits the layers reached, without the penalty (default: a fifth of the epochs, rounded down; 3 of 15)', int('--freeze-bits', 0))
    .option('--loss-weights <list>', 'any: weights of the widths\' losses as bits:weight pairs, e.g. 32:2,1:2 (unlisted widths 1; default all 1)', lossWeights)
    .option('--teacher <w>', 'any: a lower width learns from the next higher width\'s soft targets (next, the reference\'s recursive distillation) or from the top width\'s (top)')
    .option('--epochs <n>', 'epochs (default 15; with --resume: extends the run)', int('--epochs', 1))
    .option('--batch <n>', 'batch size (default 64; 32 for sp / pg / ldp runs under 10 epochs)', int('--batch', 2))
    .option('--lr <rate>', 'base learning rate (default: sgd 0.1; adam 1e-3, for sp / pg / ldp max(1e-3, 1e-2 / epochs))', positive('--lr'))
    .option('--optimizer <name>', 'adam | sgd (momentum 0.9)', 'adam')
    .option('--weight-decay <d>', 'L2 weight decay on conv / linear weights', Number, 0)
    .option('--schedule <s>', 'cosine | step | constant', 'cosine')
    .option('--arch <name>', 'resnet20 (3x32x32 input, the reference preprocessing) | resnet8 (1x28x28)', 'resnet20')
    .option('--widths <c1,c2,c3>', 'stage widths', (v: string) => {
      const l = list('--widths')(v);
      if (l.length !== 3) throw new InvalidArgumentError('--widths takes three numbers');
      return l as [number, number, number];
    }, [16, 32, 64] as [number, number, number])
    .option('--seed <n>', 'random seed (weights, shuffling)', int('--seed', 0), 0)
    .option('--weight-mode <m>', 'any / fixed: requant (each width rounds the weights itself, the reference) | truncate (every width is the top bits of one 8-bit copy: the model stores one copy)', 'requant')
    .option('--bn-calibration <n>', 'training digits of the batch-norm re-estimation after each epoch (one pass per width; 0: off)', int('--bn-calibration', 0), 1000)
    .option('--augment-shift <n>', 'shift each training digit by up to n pixels in x and y (random per image and step; default 0: off)', (v: string) => {
      const n = int('--augment-shift', 0)(v);
      if (n > 8) throw new InvalidArgumentError('--augment-shift must be an integer in 0..8 (pixels)');
      return n;
    })
    .option('--validation <n>', 'training digits held out for validation (the last n of the 8,000; default 1000; 0: train on all 8,000, as the reference did — for a final run after tuning)', int('--validation', 0))
    .option('--threads <n>', 'kernel threads', int('--threads', 1), kernels.hardwareThreads())
    .option('--train-limit <n>', 'use only the first n training digits (quick runs)', int('--train-limit', 2))
    .option('--checkpoint <file>', 'checkpoint written every epoch and on Ctrl-C (default <out>.ckpt)')
    .option('--resume <ckpt>', 'continue a run from its checkpoint (its configuration is used)')
    .option('--progress', 'print the progress line every step even when stderr is not a terminal (one line each)')
    .option('--json', 'print {"method","epochs","model","results":[{"bits","accuracy"}]} (pg adds "gate", ldp "layers" and "bitOps")')
    .action((o: TrainOptions) => train(o));
}
