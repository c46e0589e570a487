#!/usr/bin/env node
// The anyprec command line.
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { importReference, kernels, loadSync, Model, REFERENCE_FAMILIES, Tensor, zoo } from '../index';
import type { ReferenceFamily, RunOptions } from '../index';
import { registerTrain } from './train';
import { registerServe } from './serve';
import { registerDoctor } from './doctor';

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function isaArg(v: string): string {
  const isas = kernels.availableIsas();
  if (!isas.includes(v)) throw new InvalidArgumentError(`--isa must be one of ${isas.join(', ')} (the instruction sets this CPU runs)`);
  return v;
}

interface DemoOptions {
  m: number;
  k: number;
  n: number;
  threads: number;
  isa?: string;
}

// The engine on its own: one layer-sized GEMM (bipolar weights x unsigned activations) at every
// bit-width, each row labelled with the path the call really takes (bit-serial or int8).
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
  console.log('one 8-bit pack of each operand; every row below uses its top planes (no repacking);');
  console.log('path: the kernel path each call takes (bitserial, or int8:<variant> where int8 dot products are faster)\n');
  const rows: string[][] = [['w bits', 'a bits', 'path', 'ms', 'Gop/s', 'bit-ops', 'vs 1x1 time']];
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
    const route = kernels.gemmPath(bits, bits, m, n, k);
    rows.push([String(bits), String(bits), route === 'int8' ? `int8:${kernels.int8Kernel(m)}` : route, ms.toFixed(3), ((2 * macs) / ms / 1e6).toFixed(1),
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

interface Bits { weights: number; activations: number }

function bitsArg(v: string): Bits {
  const parts = v.split(',').map((s) => s.trim());
  const ok = (s: string) => /^[0-9]+$/.test(s) && ((Number(s) >= 1 && Number(s) <= 8) || Number(s) === 32);
  if (parts.length < 1 || parts.length > 2 || !parts.every(ok)) {
    throw new InvalidArgumentError('--bits must be 1..8 or 32 (both weights and activations), or W,A (e.g. 1,4: 1-bit weights, 4-bit activations)');
  }
  const weights = Number(parts[0]);
  return { weights, activations: parts.length === 2 ? Number(parts[1]) : weights };
}

interface EvalOptions {
  input: string;
  shape: number[];
  bits?: Bits;
  gate?: 'trained' | 'open' | 'closed';
  threads: number;
  isa?: string;
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
  if (o.isa) kernels.setIsa(o.isa);
  kernels.setThreads(o.threads);
  const model = loadSync(modelPath);
  const count = o.shape.reduce((a, b) => a * b, 1);
  const buf = readExact(o.input, count * 4, '--input');
  const data = new Float32Array(count);
  Buffer.from(data.buffer).set(buf);
  const n = o.shape[0];
  const run: RunOptions = {};
  if (o.bits !== undefined) run.bits = o.bits.weights === o.bits.activations ? o.bits.weights : o.bits;
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
  const p = o.bits ?? model.getPrecision().model;
  const bits = p.weights === p.activations ? p.weights : { weights: p.weights, activations: p.activations };
  const result: Record<string, unknown> = { bits, isa: kernels.isa(), threads: kernels.threads(), logits, argmax };
  if (o.labels) {
    const labels = readExact(o.labels, n, '--labels');
    result.accuracy = argmax.reduce((acc, p, i) => acc + (p === labels[i] ? 1 : 0), 0) / n;
  }
  if (gates.size > 0) result.gates = [...gates].map(([layer, g]) => ({ layer, on: g.on, total: g.total }));
  if (o.json) {
    console.log(JSON.stringify(result));
  } else {
    const shown = typeof bits === 'number' ? String(bits) : `${bits.weights} (weights), ${bits.activations} (activations)`;
    console.log(`bits ${shown}; argmax ${argmax.join(' ')}`);
    if (result.accuracy !== undefined) console.log(`accuracy ${((result.accuracy as number) * 100).toFixed(2)}%`);
  }
}

function packageVersion(): string {
  // dist/cli/main.js (or lib/cli/main.ts) -> the package root two floors up
  const file = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * Library errors name API arguments (options.weightMode, importReference()); the command line
 * reports them in its own terms: flags, commands, and what is wrong with a file.
 */
function cliMessage(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string; path?: string };
  let msg = String(e?.message ?? err);
  if (e?.code === 'ENOENT' && e.path) return `cannot read ${e.path}: no such file`;
  if (e?.code === 'EISDIR' && e.path) return `cannot read ${e.path}: it is a directory`;
  if (e?.code === 'EACCES' && e.path) return `cannot read ${e.path}: permission denied`;
  if (e?.name === 'SafetensorsError') {
    // "<file>: header length ..." / "too short for the 8-byte header length" / "header is not ..."
    const m = /^(.*?): (file is \d+ bytes, too short|header length \d+|header is not|header must be)/.exec(msg);
    if (m) return `${m[1]} is not a safetensors file (neither a reference checkpoint nor an anyprec model)`;
    const t = /^(.*?): (.*)$/.exec(msg);
    if (t) return `${t[1]} is a damaged safetensors file: ${t[2]}`;
  }
  msg = msg.replace(/reference checkpoints are imported with importReference\(\)/,
    'import a reference checkpoint first: anyprec import <family> <checkpoint> -o <model>');
  msg = msg.replace(/options\.weightMode/g, '--mode');
  let m = /has no parameters for (\d+)-bit activations \(bit list: ([^)]*)\)/.exec(msg);
  if (m) return `--bits: this model has no ${m[1]}-bit activations; it was stored for ${m[2]} bits (32 = float)`;
  m = /has no (\d+)-bit weights \(bit list: ([^)]*)\)/.exec(msg);
  if (m) return `--bits: this model has no ${m[1]}-bit weights; it was stored for ${m[2]} bits (32 = float)`;
  return msg;
}

const program = new Command();
program.name('anyprec').description('Any-precision neural-network inference for Node.js')
  .version(packageVersion(), '-V, --version', 'print the anyprec version');
program
  .command('demo')
  .description('run a small model end to end at every bit-width: latency and bit-ops')
  .option('--model <name>', 'cnn | mlp | resnet20', (v: string) => {
    if (v !== 'cnn' && v !== 'mlp' && v !== 'resnet20') throw new InvalidArgumentError('--model must be cnn, mlp or resnet20');
    return v;
  }, 'cnn')
  .option('--batch <n>', 'samples per call', positiveInt('--batch'), 64)
  .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
  .option('--isa <name>', `force an instruction set (${kernels.availableIsas().join(', ')})`, isaArg)
  .action((o: ModelDemoOptions) => modelDemo(o));
program
  .command('engine')
  .description('run one layer-sized GEMM at every bit-width: the kernel path taken, latency and bit-ops')
  .option('--m <rows>', 'activation rows (batch)', positiveInt('--m'), 64)
  .option('--k <depth>', 'reduction depth', positiveInt('--k'), 1024)
  .option('--n <cols>', 'output features', positiveInt('--n'), 1024)
  .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
  .option('--isa <name>', `force an instruction set (${kernels.availableIsas().join(', ')})`, isaArg)
  .action((o: DemoOptions) => demo(o));
program
  .command('import')
  .description('import a reference PyTorch checkpoint (safetensors state_dict) as an anyprec model file')
  .argument('<family>', `one of ${REFERENCE_FAMILIES.join(', ')}`)
  .argument('<input>', 'the checkpoint (.safetensors)')
  .requiredOption('-o, --output <file>', 'the anyprec model file to write')
  .option('--mode <mode>', "weights: 'requant' (the reference's codes per bit-width) or 'truncate' (one 8-bit code); not for pg-resnet20", (v: string) => {
    if (v !== 'requant' && v !== 'truncate') throw new InvalidArgumentError('--mode must be requant or truncate');
    return v;
  })
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
  .option('--bits <b>', 'bit-width for weights and activations (1..8, 32 = float), or W,A for each (e.g. 1,4); default: the model setting', bitsArg)
  .option('--gate <mode>', 'precision gates: trained | open (all low bits) | closed (none)', (v: string) => {
    if (v !== 'trained' && v !== 'open' && v !== 'closed') throw new InvalidArgumentError('--gate must be trained, open or closed');
    return v;
  })
  .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
  .option('--isa <name>', `force an instruction set (${kernels.availableIsas().join(', ')})`, isaArg)
  .option('--per-sample', 'run the samples one at a time (dynamic activation scales depend on the batch)')
  .option('--labels <file>', 'uint8 labels, one per sample: adds accuracy')
  .option('--json', 'print { bits, isa, threads, logits, argmax, accuracy?, gates? } as JSON')
  .action((model: string, o: EvalOptions) => evaluate(model, o));
program.command('isa').description('print the instruction sets available and the one in use')
  .action(() => console.log(`${kernels.isa()} (available: ${kernels.availableIsas().join(', ')})`));

registerTrain(program); // lib/cli/train.ts
registerServe(program); // lib/cli/serve.ts
registerDoctor(program); // lib/cli/doctor.ts

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`anyprec: ${cliMessage(err)}`);
  process.exit(1);
});
