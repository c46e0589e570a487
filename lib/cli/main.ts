#!/usr/bin/env node
// The anyprec command line.
import { Command, InvalidArgumentError } from 'commander';
import { kernels } from '../index';

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

const program = new Command();
program.name('anyprec').description('Any-precision neural-network inference for Node.js');
program
  .command('demo')
  .description('run the engine at every bit-width and print latency and bit-ops')
  .option('--m <rows>', 'activation rows (batch)', positiveInt('--m'), 64)
  .option('--k <depth>', 'reduction depth', positiveInt('--k'), 1024)
  .option('--n <cols>', 'output features', positiveInt('--n'), 1024)
  .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
  .option('--isa <name>', `force an instruction set (${kernels.availableIsas().join(', ')})`)
  .action((o: DemoOptions) => demo(o));
program.command('isa').description('print the instruction sets available and the one in use')
  .action(() => console.log(`${kernels.isa()} (available: ${kernels.availableIsas().join(', ')})`));

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`anyprec: ${err.message}`);
  process.exit(1);
});
