#!/usr/bin/env node
// The anyprec command line.
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import { importReference, kernels, loadSync, Model, REFERENCE_FAMILIES, Tensor, zoo } from '../index';
import type { ReferenceFamily, RunOptions } from '../index';
import { registerTrain } from './train';

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

interface DemoOptions {
  m: number;
  k: number;
  n: number;
  threads: number;
  isa?: string;
}

// Until a trained model is bundled, the demo runs the engine itself: one layer-sized
// bit-serial GEMM (bipolar weights x unsigned activations) at every bit-width.
function demo(o: DemoOptions): void {
  if (o.isa) kernels.setIsa(o.isa);
  kernels.setThreads(o.threads);
  const { m, k, n } = o;
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  const w = new Uint8Array(n * k).map(rand);
  const x = new Uint8Array(m * k).map(rand);
  const W = kernels.pack(w, n, k, 8);
  const X = kernels.pack(x, m, k, 8);
  console.log(`anyprec engine demo: C[${m}x${n}] = X[${m}x${k}] . W[${n}x${k}]^T, isa=${kernels.isa()}, threads=${kernels.threads()}`);
  console.log('one 8-bit pack of each operand; every row below uses its top planes (no repacking)\n');
  const rows: string[][] = [['w bits', 'a bits', 'ms', 'Gop/s', 'bit-ops', 'vs 1x1 time']];
  let base = 0;
  for (const bits of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const opts = { aBits: bits, bBits: bits, aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
    kernels.bitGemm(X, W, opts); // warm-up
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = process.hrtime.bigint();
      kernels.bitGemm(X, W, opts);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const ms = times[2];
    if (bits === 1) base = ms;
    const macs = m * n * k;
    rows.push([String(bits), String(bits), ms.toFixed(3), ((2 * macs) / ms / 1e6).toFixed(1),
      (macs * bits * bits).toExponential(2), (ms / base).toFixed(2) + 'x']);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c])).join('  '));
}

interface ModelDemoOptions {
  model: 'cnn' | 'mlp' | 'resnet20';
  batch: number;
  threads: number;
  isa?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Until a trained model is bundled, run a small network with random weights end to end: one
// stored (truncate-mode) model, every bit-width chosen per call.
function modelDemo(o: ModelDemoOptions): void {
  if (o.isa) kernels.setIsa(o.isa);
  kernels.setThreads(o.threads);
  const graph = o.model === 'mlp' ? zoo.mlp() : o.model === 'resnet20' ? zoo.resnet20([16, 32, 64], 10, { weightMode: 'truncate', bitList: [1, 2, 3, 4, 5, 6, 7, 8, 32] }) : zoo.cnn();
  const model = Model.build(graph, zoo.randomTensors(graph, 7));
  const shape = [o.batch, ...graph.inputShape];
  let seed = 99;
  const x = new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24), shape);
  console.log(`anyprec demo: ${o.model} (random weights; a trained model comes with the training work), batch ${o.batch}, isa=${kernels.isa()}, threads=${kernels.threads()}`);
  console.log('one stored model; the bit-width is chosen per call (weights = activations = bits)\n');
  const rows: string[][] = [['bits', 'ms/batch', 'samples/s', 'Gbit-ops/sample', 'MACs/sample']];
  for (const bits of [1, 2, 3, 4, 5, 6, 7, 8, 32]) {
    model.runSync(x, { bits }); // warm-up (builds the plan)
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = process.hrtime.bigint();
      model.runSync(x, { bits });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const ms = median(times);
    const ops = model.bitOps(1, { bits });
    rows.push([bits === 32 ? 'float' : String(bits), ms.toFixed(2), ((o.batch * 1000) / ms).toFixed(0),
      (ops.bitOps / 1e9).toFixed(3), ops.macs.toExponential(2)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c])).join('  '));
}

function shapeArg(v: string): number[] {
  const dims = v.split(',').map((d) => Number(d.trim()));
  if (dims.length < 2 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new InvalidArgumentError('--shape must be N,C,H,W (or N,F): positive integers separated by commas');
  }
  return dims;
}

function bitsArg(v: string): number {
  const b = Number(v);
  if (!Number.isInteger(b) || !((b >= 1 && b <= 8) || b === 32)) throw new InvalidArgumentError('--bits must be 1..8 or 32');
  return b;
}

interface EvalOptions {
  input: string;
  shape: number[];
  bits?: number;
  gate?: 'trained' | 'open' | 'closed';
  perSample?: boolean;
  labels?: string;
  json?: boolean;
}

function readExact(path: string, bytes: number, what: string): Buffer {
  const st = fs.statSync(path);
  if (st.size !== bytes) throw new RangeError(`${what} ${path} holds ${st.size} bytes, --shape needs ${bytes}`);
  return fs.readFileSync(path);
}

// eval: logits, argmax, accuracy and gate counts of a model on a raw float32 input file.
function evaluate(modelPath: string, o: EvalOptions): void {
  const model = loadSync(modelPath);
  const count = o.shape.reduce((a, b) => a * b, 1);
  const buf = readExact(o.input, count * 4, '--input');
  const data = new Float32Array(count);
  Buffer.from(data.buffer).set(buf);
  const n = o.shape[0];
  const run: RunOptions = {};
  if (o.bits !== undefined) run.bits = o.bits;
  if (o.gate !== undefined) run.gate = o.gate;
  const per = count / n;
  const logits: number[][] = [];
  const gates = new Map<string, { on: number; total: number }>();
  const batches = o.perSample ? Array.from({ length: n }, (_, i) => [i, i + 1]) : [[0, n]];
  for (const [a, b] of batches) {
    const x = new Tensor(data.slice(a * per, b * per), [b - a, ...o.shape.slice(1)]);
    const { output, stats } = model.runSyncDetailed(x, run);
    const f = output.shape[1];
    for (let i = 0; i < b - a; i++) logits.push(Array.from(output.data.subarray(i * f, (i + 1) * f)));
    for (const l of stats.layers) {
      if (!l.gate) continue;
      const cur = gates.get(l.nodes[0]) ?? { on: 0, total: 0 };
      gates.set(l.nodes[0], { on: cur.on + l.gate.on, total: cur.total + l.gate.total });
    }
  }
  const argmax = logits.map((row) => row.indexOf(Math.max(...row)));
  const result: Record<string, unknown> = { bits: o.bits ?? model.getPrecision().model.activations, logits, argmax };
  if (o.labels) {
    const labels = readExact(o.labels, n, '--labels');
    result.accuracy = argmax.reduce((acc, p, i) => acc + (p === labels[i] ? 1 : 0), 0) / n;
  }
  if (gates.size > 0) result.gates = [...gates].map(([layer, g]) => ({ layer, on: g.on, total: g.total }));
  if (o.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(`bits ${result.bits}; argmax ${argmax.join(' ')}`);
    if (result.accuracy !== undefined) console.log(`accuracy ${((result.accuracy as number) * 100).toFixed(2)}%`);
  }
}

const program = new Command();
program.name('anyprec').description('Any-precision neural-network inference for Node.js');
program
  .command('demo')
  .description('run a small model end to end at every bit-width: latency and bit-ops')
  .option('--model <name>', 'cnn | mlp | resnet20', (v: string) => {
    if (v !== 'cnn' && v !== 'mlp' && v !== 'resnet20') throw new InvalidArgumentError('--model must be cnn, mlp or resnet20');
    return v;
  }, 'cnn')
  .option('--batch <n>', 'samples per call', positiveInt('--batch'), 64)
  .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
  .option('--isa <name>', `force an instruction set (${kernels.availableIsas().join(', ')})`)
  .action((o: ModelDemoOptions) => modelDemo(o));
program
  .command('engine')
  .description('run one layer-sized bit-serial GEMM at every bit-width: latency and bit-ops')
  .option('--m <rows>', 'activation rows (batch)', positiveInt('--m'), 64)
  .option('--k <depth>', 'reduction depth', positiveInt('--k'), 1024)
  .option('--n <cols>', 'output features', positiveInt('--n'), 1024)
  .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
  .option('--isa <name>', `force an instruction set (${kernels.availableIsas().join(', ')})`)
  .action((o: DemoOptions) => demo(o));
program
  .command('import')
  .description('import a reference PyTorch checkpoint (safetensors state_dict) as an anyprec model file')
  .argument('<family>', `one of ${REFERENCE_FAMILIES.join(', ')}`)
  .argument('<input>', 'the checkpoint (.safetensors)')
  .requiredOption('-o, --output <file>', 'the anyprec model file to write')
  .option('--mode <mode>', "weights: 'requant' (the reference's codes per bit-width) or 'truncate' (one 8-bit code); not for pg-resnet20")
  .action((family: string, input: string, o: { output: string; mode?: 'requant' | 'truncate' }) => {
    const model = importReference(family as ReferenceFamily, input, o.mode === undefined ? {} : { weightMode: o.mode });
    model.saveSync(o.output);
    console.log(`${family} -> ${o.output}: bit-widths ${model.graph.bitList.join(', ')}, ${model.graph.weightMode} weights, input [${model.graph.inputShape.join(', ')}]`);
  });
program
  .command('eval')
  .description('run a model file on a raw little-endian float32 input file')
  .argument('<model>', 'an anyprec model file')
  .requiredOption('--input <file>', 'float32 values, NCHW')
  .requiredOption('--shape <dims>', 'N,C,H,W of the input', shapeArg)
  .option('--bits <b>', 'bit-width for weights and activations (default: the model setting)', bitsArg)
  .option('--gate <mode>', 'precision gates: trained | open (all low bits) | closed (none)', (v: string) => {
    if (v !== 'trained' && v !== 'open' && v !== 'closed') throw new InvalidArgumentError('--gate must be trained, open or closed');
    return v;
  })
  .option('--per-sample', 'run the samples one at a time (dynamic activation scales depend on the batch)')
  .option('--labels <file>', 'uint8 labels, one per sample: adds accuracy')
  .option('--json', 'print { bits, logits, argmax, accuracy?, gates? } as JSON')
  .action((model: string, o: EvalOptions) => evaluate(model, o));
program.command('isa').description('print the instruction sets available and the one in use')
  .action(() => console.log(`${kernels.isa()} (available: ${kernels.availableIsas().join(', ')})`));

registerTrain(program); // lib/cli/train.ts

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`anyprec: ${err.message}`);
  process.exit(1);
});
