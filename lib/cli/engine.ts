// `anyprec engine`: the kernels and the runtime without a trained model. Without --model, one
// layer-sized GEMM at every bit-width (each row labelled with the path the call really takes:
// bit-serial or int8); with --model, a zoo network with random weights end to end.
import { Command, InvalidArgumentError } from 'commander';
import { kernels, Model, Tensor, zoo } from '../index';
import { isaArg, isaHelp, median, positiveInt, printTable, timeMs } from './common';

interface EngineOptions {
  m: number;
  k: number;
  n: number;
  threads: number;
  isa?: string;
  model?: 'cnn' | 'mlp' | 'resnet20';
  batch: number;
}

/** A deterministic byte generator (a linear congruential sequence). */
function bytes(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
}

function gemm(o: EngineOptions): void {
  const { m, k, n } = o;
  const w = new Uint8Array(n * k).map(bytes(12345));
  const x = new Uint8Array(m * k).map(bytes(54321));
  const W = kernels.pack(w, n, k, 8);
  const X = kernels.pack(x, m, k, 8);
  console.log(`anyprec engine: C[${m}x${n}] = X[${m}x${k}] . W[${n}x${k}]^T, isa=${kernels.isa()}, threads=${kernels.threads()}`);
  console.log('one 8-bit pack of each operand; every row below uses its top planes (no repacking);');
  console.log('path: the kernel path each call takes (bitserial, or int8:<variant> where int8 dot products are faster)\n');
  const rows: string[][] = [['w bits', 'a bits', 'path', 'ms', 'Gop/s', 'bit-ops', 'vs 1x1 time']];
  let base = 0;
  for (const bits of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const opts = { aBits: bits, bBits: bits, aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
    kernels.bitGemm(X, W, opts); // warm-up
    const ms = median(Array.from({ length: 5 }, () => timeMs(() => kernels.bitGemm(X, W, opts))));
    if (bits === 1) base = ms;
    const macs = m * n * k;
    const route = kernels.gemmPath(bits, bits, m, n, k);
    rows.push([String(bits), String(bits), route === 'int8' ? `int8:${kernels.int8Kernel(m)}` : route, ms.toFixed(3), ((2 * macs) / ms / 1e6).toFixed(1),
      (macs * bits * bits).toExponential(2), (ms / base).toFixed(2) + 'x']);
  }
  printTable(rows);
}

// A zoo network with random weights: one stored (truncate-mode) model, every bit-width chosen per call.
function network(o: EngineOptions & { model: 'cnn' | 'mlp' | 'resnet20' }): void {
  const graph = o.model === 'mlp' ? zoo.mlp() : o.model === 'resnet20'
    ? zoo.resnet20([16, 32, 64], 10, { weightMode: 'truncate', bitList: [1, 2, 3, 4, 5, 6, 7, 8, 32] }) : zoo.cnn();
  const model = Model.build(graph, zoo.randomTensors(graph, 7));
  const shape = [o.batch, ...graph.inputShape];
  const next = bytes(99);
  const x = new Tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => next() / 256), shape);
  console.log(`anyprec engine: ${o.model} with RANDOM weights (speed only; \`anyprec demo\` runs a trained model), batch ${o.batch}, ` +
    `isa=${kernels.isa()}, threads=${kernels.threads()}`);
  console.log('one stored model; the bit-width is chosen per call (weights = activations = bits)\n');
  console.log('routes: the GEMM route each quantised layer over codes took in these runs (bitserial or int8) and why ' +
    '(measured: both timed when the program was built; estimate: the rule\'s estimate was clear; rule; forced)\n');
  const rows: string[][] = [['bits', 'ms/batch', 'samples/s', 'Gbit-ops/sample', 'MACs/sample', 'routes']];
  for (const bits of [1, 2, 3, 4, 5, 6, 7, 8, 32]) {
    model.runSync(x, { bits }); // warm-up (builds the plan and its native program, choosing the routes)
    const ms = median(Array.from({ length: 5 }, () => timeMs(() => model.runSync(x, { bits }))));
    const ops = model.bitOps(1, { bits });
    rows.push([bits === 32 ? 'float' : String(bits), ms.toFixed(2), ((o.batch * 1000) / ms).toFixed(0),
      (ops.bitOps / 1e9).toFixed(3), ops.macs.toExponential(2), routeSummary(model.routes(o.batch, { bits }))]);
  }
  printTable(rows);
}

/** "12 int8 (measured), 7 bitserial (estimate)": the routes of a program's layers, counted ('-': none; 'step path': no program). */
function routeSummary(layers: ReturnType<Model['routes']>): string {
  if (!layers) return 'step path';
  const counts = new Map<string, number>();
  for (const { route } of layers) {
    if (!route) continue;
    const key = `${route.path} (${route.reason})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts.size ? [...counts].map(([k, n]) => `${n} ${k}`).join(', ') : '-';
}

/** Adds the `engine` command to the anyprec command line. */
export function registerEngine(program: Command): void {
  program
    .command('engine')
    .description('the kernels without a trained model: one layer-sized GEMM at every bit-width (path taken, latency, bit-ops), ' +
      'or with --model a zoo network with random weights')
    .option('--m <rows>', 'activation rows (batch)', positiveInt('--m'), 64)
    .option('--k <depth>', 'reduction depth', positiveInt('--k'), 1024)
    .option('--n <cols>', 'output features', positiveInt('--n'), 1024)
    .option('--model <name>', 'run a whole network with random weights instead: cnn | mlp | resnet20', (v: string) => {
      if (v !== 'cnn' && v !== 'mlp' && v !== 'resnet20') throw new InvalidArgumentError('--model must be cnn, mlp or resnet20');
      return v;
    })
    .option('--batch <n>', 'samples per call (with --model)', positiveInt('--batch'), 64)
    .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
    .option('--isa <name>', isaHelp(), isaArg)
    .action((o: EngineOptions) => {
      if (o.isa) kernels.setIsa(o.isa);
      kernels.setThreads(o.threads);
      if (o.model) network({ ...o, model: o.model });
      else gemm(o);
    });
}
