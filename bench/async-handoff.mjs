// What handing a call to the kernel thread pool and back costs, alone: one awaited call at a time,
// timed in this process (median µs per call over blocks of calls), interleaved round by round.
//
//   node bench/async-handoff.mjs [--model models/mnist/resnet20-any.anyprec] [--rounds 15] [--compare DIR]
//
// Wall time is what a caller waits; CPU time (this process, all threads: the event loop and the
// kernel pool) moves less with the machine's load, so both are printed.
// Rows:
//   promise        await of an already resolved promise (the floor of any await)
//   setImmediate   one event-loop turn
//   gemm sync      floatGemm of 1x1x1 (a trivial native call, no hand-off)
//   gemm async     floatGemmAsync of 1x1x1: the hand-off to the pool and back, with nothing to compute
//   runSync b1 @2/8   the model at batch 1, 2 and 8 bits, on this thread
//   run     b1 @2/8   the same through run() (the native async job)
// --compare DIR: another built checkout (its dist/ and addon) loaded beside this one; every row is
// timed for both, interleaved (which side goes first alternates), with the after/before ratio.
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log('node bench/async-handoff.mjs [--model FILE] [--rounds 15] [--compare DIR]: the cost of handing a call to the kernel pool and back (wall and CPU µs per awaited call); prints a table, saves nothing');
  process.exit(0);
}
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const rounds = Number(opt('--rounds', '15'));
const modelFile = path.resolve(opt('--model', path.join(here, 'models/mnist/resnet20-any.anyprec')));
const compare = opt('--compare', undefined);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

async function side(root) {
  const lib = require(path.join(root, 'dist'));
  const model = await lib.load(modelFile);
  const input = model.graph.input ?? { shape: model.graph.inputShape, dtype: 'float32' };
  const per = input.shape.reduce((a, b) => a * b, 1);
  const x = input.dtype === 'uint8'
    ? new lib.Uint8Tensor(Uint8Array.from({ length: per }, (_, i) => (i * 7919) % 256), [1, ...input.shape])
    : new lib.Tensor(Float32Array.from({ length: per }, (_, i) => ((i * 7919) % 997) / 997), [1, ...input.shape]);
  const a = new Float32Array([0.5]), b = new Float32Array([2]);
  const k = lib.kernels;
  // [wall, CPU] µs per call of f over `n` sequential calls
  const timeAsync = async (f, n) => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await f();
    const wall = Number(process.hrtime.bigint() - t0) / 1e3 / n;
    const c = process.cpuUsage(c0);
    return [wall, (c.user + c.system) / n];
  };
  const rows = [
    ['promise', 400, () => Promise.resolve()],
    ['setImmediate', 400, () => new Promise((r) => setImmediate(r))],
    ['gemm sync', 400, async () => k.floatGemm(a, 1, 1, b, 1)],
    ['gemm async', 400, () => k.floatGemmAsync(a, 1, 1, b, 1)],
    ['runSync b1 @2', 40, async () => model.runSync(x, { bits: 2 })],
    ['run     b1 @2', 40, () => model.run(x, { bits: 2 })],
    ['runSync b1 @8', 40, async () => model.runSync(x, { bits: 8 })],
    ['run     b1 @8', 40, () => model.run(x, { bits: 8 })],
  ];
  for (const [, n, f] of rows) await timeAsync(f, Math.min(n, 20)); // warm-up (plans, arenas, routes)
  return { rows, timeAsync };
}

const roots = compare ? [path.resolve(compare), here] : [here];
const sides = [];
for (const r of roots) sides.push(await side(r));
const names = sides[0].rows.map((r) => r[0]);
const times = sides.map(() => names.map(() => []));
const cpu = sides.map(() => names.map(() => []));
for (let round = 0; round < rounds; round++) {
  for (let j = 0; j < names.length; j++) {
    const order = round % 2 && sides.length > 1 ? [1, 0] : sides.map((_, i) => i);
    for (const s of order) {
      const [, n, f] = sides[s].rows[j];
      const [wall, c] = await sides[s].timeAsync(f, n);
      times[s][j].push(wall);
      cpu[s][j].push(c);
    }
  }
}
const load = os.loadavg().map((v) => v.toFixed(2)).join(' ');
console.log(`async hand-off, µs per awaited call (median of ${rounds} rounds), load average ${load}, ${os.cpus().length} CPUs`);
const cols = compare ? ['wall before', 'after', 'after÷before', 'CPU before', 'after', 'after÷before'] : ['wall', 'CPU'];
console.log(`${'row'.padEnd(16)}${cols.map((c) => c.padStart(13)).join('')}`);
names.forEach((name, j) => {
  const cells = [];
  for (const t of [times, cpu]) {
    const m = t.map((side) => median(side[j]));
    cells.push(...m.map((v) => v.toFixed(1)));
    if (compare) cells.push((m[1] / m[0]).toFixed(2));
  }
  console.log(`${name.padEnd(16)}${cells.map((c) => c.padStart(13)).join('')}`);
});
