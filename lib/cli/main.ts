#!/usr/bin/env node
// The anyprec command line.
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { importReference, kernels, loadSync, REFERENCE_FAMILIES, Tensor, Uint8Tensor } from '../index';
import type { Model, ReferenceFamily, RunOptions } from '../index';
import { isaArg, isaHelp, positiveInt } from './common';
import { registerDemo } from './demo';
import { registerEngine } from './engine';
import { registerTrain } from './train';
import { registerServe } from './serve';
import { registerDoctor } from './doctor';

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
  dtype: 'float32' | 'uint8';
  shape: number[];
  bits?: Bits;
  gate?: 'trained' | 'open' | 'closed';
  threads: number;
  isa?: string;
  perSample?: boolean;
  batch?: number;
  maxMemory?: number;
  labels?: string;
  json?: boolean;
}

function readExact(path: string, bytes: number, what: string): Buffer {
  const st = fs.statSync(path);
  if (st.size !== bytes) throw new RangeError(`${what} ${path} holds ${st.size} bytes, --shape needs ${bytes}`);
  return fs.readFileSync(path);
}

/**
 * How many samples eval runs per call. --batch / --per-sample say it; otherwise all of them when they
 * fit the model's memory bound, else the most that fit. A model whose activation scale is taken over
 * the whole batch (a 'dynquantize' node) answers differently when the samples are split, so it is
 * never split unasked: the error names the flags that split it.
 */
function evalBatch(model: Model, n: number, o: EvalOptions): number {
  if (o.perSample && o.batch !== undefined && o.batch !== 1) throw new RangeError('--per-sample and --batch: give one of them (--per-sample is --batch 1)');
  if (o.perSample) return 1;
  if (o.batch !== undefined) return Math.min(o.batch, n);
  const { bytesPerSample, maxMemory } = model.memory;
  const fit = Math.max(1, Math.floor(maxMemory / bytesPerSample));
  if (fit >= n) return n;
  if (model.graph.nodes.some((node) => node.op === 'dynquantize')) {
    throw new RangeError(`${n} samples need about ${(n * bytesPerSample / 2 ** 20).toFixed(0)} MiB of activations, more than the model's ` +
      `memory bound (${(maxMemory / 2 ** 20).toFixed(0)} MiB; --max-memory raises it), and this model's activation scale is taken ` +
      `over the whole batch, so splitting them changes the answers: give --batch N (at most ${fit}) to split them anyway`);
  }
  return fit;
}

// eval: logits, argmax, accuracy and gate counts of a model on a raw float32 or uint8 input file.
function evaluate(modelPath: string, o: EvalOptions): void {
  if (o.isa) kernels.setIsa(o.isa);
  kernels.setThreads(o.threads);
  const model = loadSync(modelPath, o.maxMemory === undefined ? undefined : { maxMemory: o.maxMemory * 1024 * 1024 });
  const count = o.shape.reduce((a, b) => a * b, 1);
  const buf = readExact(o.input, count * (o.dtype === 'uint8' ? 1 : 4), '--input');
  const data = o.dtype === 'uint8' ? new Uint8Array(count) : new Float32Array(count);
  Buffer.from(data.buffer).set(buf);
  const n = o.shape[0];
  const run: RunOptions = {};
  if (o.bits !== undefined) run.bits = o.bits.weights === o.bits.activations ? o.bits.weights : o.bits;
  if (o.gate !== undefined) run.gate = o.gate;
  const per = count / n;
  const logits: number[][] = [];
  const gates = new Map<string, { on: number; total: number }>();
  const step = evalBatch(model, n, o);
  const batches: Array<[number, number]> = [];
  for (let a = 0; a < n; a += step) batches.push([a, Math.min(n, a + step)]);
  for (const [a, b] of batches) {
    const shape = [b - a, ...o.shape.slice(1)];
    const x = data instanceof Uint8Array ? new Uint8Tensor(data.slice(a * per, b * per), shape) : new Tensor(data.slice(a * per, b * per), shape);
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
  let d = /^x must be a (?:Uint8Tensor|Tensor) \(this model takes (uint8|float32) input of shape \[N, ([^\]]*)\]\)/.exec(msg);
  if (d) return `--dtype: this model takes ${d[1]} input (--dtype ${d[1]} --shape N,${d[2].replace(/ /g, '')})`;
  d = /^input must have shape \[N, ([^\]]*)\], got \[([^\]]*)\]/.exec(msg);
  if (d) return `--shape: this model takes N,${d[1].replace(/ /g, '')}, got ${d[2].replace(/ /g, '')}`;
  let m = /has no parameters for (\d+)-bit activations \(bit list: ([^)]*)\)/.exec(msg);
  if (m) return `--bits: this model has no ${m[1]}-bit activations; it was stored for ${m[2]} bits (32 = float)`;
  m = /has no (\d+)-bit weights \(bit list: ([^)]*)\)/.exec(msg);
  if (m) return `--bits: this model has no ${m[1]}-bit weights; it was stored for ${m[2]} bits (32 = float)`;
  return msg;
}

const program = new Command();
program.name('anyprec').description('Any-precision neural-network inference for Node.js')
  .version(packageVersion(), '-V, --version', 'print the anyprec version');
registerEngine(program); // lib/cli/engine.ts
registerDemo(program); // lib/cli/demo.ts
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
  .description('run a model file on a raw input file: little-endian float32, or uint8 (e.g. MNIST digits) for models that take bytes')
  .argument('<model>', 'an anyprec model file')
  .requiredOption('--input <file>', 'the samples, NCHW (or N,F), as --dtype values')
  .option('--dtype <type>', "float32 | uint8: what --input holds; a model takes one of them (its graph's input.dtype)", (v: string) => {
    if (v !== 'float32' && v !== 'uint8') throw new InvalidArgumentError('--dtype must be float32 or uint8');
    return v;
  }, 'float32')
  .requiredOption('--shape <dims>', 'N,C,H,W of the input', shapeArg)
  .option('--bits <b>', 'bit-width for weights and activations (1..8, 32 = float), or W,A for each (e.g. 1,4); default: the model setting', bitsArg)
  .option('--gate <mode>', 'precision gates: trained | open (all low bits) | closed (none)', (v: string) => {
    if (v !== 'trained' && v !== 'open' && v !== 'closed') throw new InvalidArgumentError('--gate must be trained, open or closed');
    return v;
  })
  .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
  .option('--isa <name>', isaHelp(), isaArg)
  .option('--per-sample', 'run the samples one at a time (dynamic activation scales depend on the batch)')
  .option('--batch <n>', 'samples per run (default: all of them, or as many as fit the memory bound; models with batch-wide activation scales are split only when asked)', positiveInt('--batch'))
  .option('--max-memory <MiB>', 'the memory bound of the model\'s activations per run, MiB (default 4096)', positiveInt('--max-memory'))
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
