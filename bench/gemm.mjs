#!/usr/bin/env node
// npm run bench:gemm — anyprec bit-serial GEMM/GEMV against ONNX Runtime, tfjs and plain JS,
// same shapes, one process.
//
// Measured (docs/benchmarks.md says what each number means), per shape M×K×N (default: M in {1, 64, 256},
// K = N in {1024, 4096}; M = 1 is the GEMV):
//  * anyprec kernels.bitGemm for every available ISA (setIsa) at one thread, and the best ISA
//    at each further thread count (--threads, default 1,2), for every (aBits, bBits) in
//    {1,2,3,4,8}²: A = activations (unsigned codes), B = weights (bipolar, i.e. the ±1 planes of
//    Any-Precision; the top bBits planes of one 8-bit pack), plus 1×1 bipolar×bipolar (the XNOR
//    case). Also the time to pack A at aBits, since a real layer packs its activations on every
//    call. When anyprec exposes kernels.gemmPath, each row says which path the dispatcher took;
//    when bitGemm accepts `path`, rows dispatched to another path are also run forced to
//    'bitserial'.
//  * each ISA's popcount ceiling (kernels.popcountCeiling: register-only AND+popcount+add),
//    in the same rounds, so "fraction of ceiling" compares numbers taken under the same load.
//  * baselines: ONNX Runtime fp32 Gemm and int8 MatMulInteger (uint8 activations with a zero
//    point × int8 weights), weights as initializers, intraOpNumThreads = each --threads value;
//    anyprec's own floatGemm (its full-precision path) at each thread count; tfjs-core 4.22
//    matMul on the wasm backend (threads are not available to it in Node: reported); a plain
//    JS float32 loop where one call fits --js-cap.
//  * 2 kernel threads vs 1 on the largest shape at 1×1 and 4×4, with CPU/wall time.
// The machine is shared and noisy: every case is measured in several interleaved rounds
// (ORT 1-thread slots alternate with each block, the block order rotates, cases are shuffled)
// and summarized by the median of all its samples. Claims are ratios taken in this run.
//
// Output: a markdown table on stdout, and bench/results/gemm-<date>.{json,md}.
import os from 'node:os';

import { loadAnyprec, log, parseBenchArgs, positiveNumber as num, secs } from './lib/cli.mjs';
import { detectPaths, gemmSpecs, verifyAnyprec } from './lib/gemm-cases.mjs';
import { jsRate, loadTfjs, verifyOrt } from './lib/gemm-baselines.mjs';
import { runShape } from './lib/gemm-shape.mjs';
import { machineInfo, saveResults } from './lib/machine.mjs';
import { makeRng, shapeName } from './lib/reference.mjs';
import { markdownReport } from './lib/report.mjs';

// ---- options -----------------------------------------------------------------------------------

const HELP = `usage: node bench/gemm.mjs [options]      (npm run bench:gemm -- [options])

  --quick            short pass (~1 min): fewer rounds, shorter measurements, lower caps
  --isa LIST         comma-separated ISAs to measure (default: all of kernels.availableIsas())
  --shapes LIST      comma-separated MxKxN (default: M 1,64,256 × K=N 1024,4096)
  --bits LIST        comma-separated plane counts for aBits and bBits (default 1,2,3,4,8)
  --threads LIST     thread counts for anyprec, ORT and anyprec float (default 1,2)
  --rounds N         interleaved rounds per shape (default 5, quick 3)
  --budget SEC       time budget for all measurements (default 600, quick 75)
  --js-cap SEC       run the plain-JS loop only where one call is estimated below this (default 2, quick 0.5)
  --skip-tfjs        no tfjs baseline
  --skip-js          no plain-JS baseline
  --cap SEC          skip a case whose single call is estimated above this (default 1.5, quick 0.6)
  --skip-ort         do not run the ONNX Runtime baselines
  --skip-threads     do not run the 2-thread vs 1-thread check
  --no-save          print only; do not write bench/results/
  --seed N           PRNG seed for the data (default 1)
  -h, --help         this text`;

function parseOptions(argv) {
  const values = parseBenchArgs(
    argv,
    {
      isa: { type: 'string' },
      shapes: { type: 'string' },
      bits: { type: 'string' },
      rounds: { type: 'string' },
      budget: { type: 'string' },
      cap: { type: 'string' },
      threads: { type: 'string' },
      'js-cap': { type: 'string' },
      'skip-tfjs': { type: 'boolean', default: false },
      'skip-js': { type: 'boolean', default: false },
      'skip-threads': { type: 'boolean', default: false },
    },
    HELP,
  );
  const quick = values.quick;
  const defaultShapes = '1x1024x1024,64x1024x1024,256x1024x1024,1x4096x4096,64x4096x4096,256x4096x4096';
  const shapes = (values.shapes ?? defaultShapes).split(',').map((s) => {
    const dims = s.trim().toLowerCase().split('x').map(Number);
    if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
      throw new RangeError(`--shapes: '${s}' is not MxKxN`);
    }
    return { m: dims[0], k: dims[1], n: dims[2] };
  });
  const bits = (values.bits ?? '1,2,3,4,8').split(',').map((s) => {
    const b = Number(s);
    if (!Number.isInteger(b) || b < 1 || b > 8) throw new RangeError(`--bits: '${s}' is not in 1..8`);
    return b;
  });
  return {
    quick,
    isas: values.isa ? values.isa.split(',').map((s) => s.trim()) : null,
    shapes,
    bits: [...new Set(bits)].sort((a, b) => a - b),
    rounds: Math.round(num(values.rounds, 'rounds', quick ? 3 : 5)),
    budgetMs: 1000 * num(values.budget, 'budget', quick ? 75 : 600),
    threads: [...new Set((values.threads ?? '1,2').split(',').map((s) => {
      const t = Number(s);
      if (!Number.isInteger(t) || t < 1 || t > 64) throw new RangeError(`--threads: '${s}' is not a thread count`);
      return t;
    }))].sort((a, b) => a - b),
    jsCapMs: 1000 * num(values['js-cap'], 'js-cap', quick ? 0.5 : 2),
    tfjs: !values['skip-tfjs'],
    js: !values['skip-js'],
    capMs: 1000 * num(values.cap, 'cap', quick ? 0.6 : 1.5),
    // Time aimed at per case and round, and the most calls per case and round.
    targetMs: quick ? 25 : 120,
    maxReps: quick ? 20 : 100,
    ceilingMs: quick ? 10 : 25, // one popcountCeiling call
    ort: !values['skip-ort'],
    threadCheck: !values['skip-threads'],
    save: !values['no-save'],
    seed: Math.round(num(values.seed, 'seed', 1)),
  };
}

// ---- main ----------------------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const started = new Date();
  const tStart = performance.now();
  const { kernels } = await loadAnyprec();
  const available = kernels.availableIsas();
  const isas = opts.isas ?? available;
  for (const isa of isas) {
    if (!available.includes(isa)) throw new RangeError(`--isa ${isa} is not available here (available: ${available.join(', ')})`);
  }
  const specs = gemmSpecs(opts.bits);
  // Uncommitted kernel sources mean the numbers belong to work in progress.
  const machine = { ...machineInfo(kernels, ['native']), measuredIsas: isas };
  const ctx = { kernels, opts, isas, specs, path: detectPaths(kernels), tfjs: null, jsGops: null };
  if (opts.tfjs) ctx.tfjs = await loadTfjs(opts.threads);
  if (opts.js) ctx.jsGops = await jsRate();
  log(`GEMM paths: kernels.gemmPath ${ctx.path.gemmPath ? 'present' : 'absent'}, bitGemm path option ${ctx.path.option ? 'present' : 'absent'}, ` +
      `kernels.int8Kernel ${ctx.path.int8Kernel ? `present (${kernels.int8Kernel()})` : 'absent'}`);
  log(`tfjs: ${ctx.tfjs ? `${ctx.tfjs.backend} ${ctx.tfjs.version}, ${ctx.tfjs.threads} thread(s)${ctx.tfjs.note ? ` (${ctx.tfjs.note})` : ''}` : opts.tfjs ? 'unavailable' : 'skipped'}`);
  log(`anyprec bench:gemm — ${machine.cpuModel}, ${machine.node}, ORT ${machine.onnxruntimeNode}, ISAs ${isas.join(', ')}`);
  log(`git ${machine.git.head}${machine.git.dirty.length ? ` (uncommitted: ${machine.git.dirty.join('; ')})` : ''}`);
  log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  log('\ncorrectness:');
  const rng = makeRng(opts.seed);
  const verification = { anyprec: verifyAnyprec(kernels, isas, specs, rng) };
  if (opts.ort) verification.ort = await verifyOrt(rng);

  // Cheap shapes first, so the largest one inherits whatever budget they leave; it also gets
  // a double share (it has the slowest calls and the ORT model that takes longest to build).
  const order = opts.shapes.map((s, i) => ({ s, i })).sort((x, y) => x.s.m * x.s.k * x.s.n - y.s.m * y.s.k * y.s.n);
  const weights = order.map((_, idx) => (idx === order.length - 1 && order.length > 1 ? 2 : 1));
  const threadShape = order[order.length - 1].s;
  const threadBudgetMs = opts.threadCheck ? 0.06 * opts.budgetMs : 0;
  let remainingMs = opts.budgetMs - threadBudgetMs - (performance.now() - tStart);
  const results = new Array(opts.shapes.length);
  for (let idx = 0; idx < order.length; idx++) {
    const { s, i } = order[idx];
    const share = (remainingMs * weights[idx]) / weights.slice(idx).reduce((a, b) => a + b, 0);
    const r = await runShape(s, ctx, share, s === threadShape ? threadBudgetMs : 0);
    remainingMs -= r.elapsedMs - (r.threads?.elapsedMs ?? 0); // the thread check has its own budget
    results[i] = r;
  }
  kernels.setThreads(1);

  const report = {
    schema: 'anyprec-bench-gemm/1',
    date: started.toISOString(),
    durationSec: (performance.now() - tStart) / 1000,
    argv: process.argv.slice(2),
    options: { ...opts, shapes: opts.shapes.map(shapeName) },
    machine,
    loadAverageEnd: os.loadavg(),
    setup: {
      activations: 'A (M×K): unsigned codes, top aBits of 8-bit codes, packed once at 8 bits',
      weights: 'B (N×K): bipolar codes (±1 planes), top bBits of one 8-bit any-precision pack',
      xnorCase: '1×1 bipolar×bipolar',
      gops: '2·M·K·N / time (equivalent ops)',
      bitMacs: 'M·N·K·aBits·bBits / time',
      ort: 'fp32 Gemm; int8 MatMulInteger uint8 X (zero point 128) × int8 W (zero point 0); inter-op 1 thread, intra-op = the row\'s thread count (with > 1: session.intra_op.allow_spinning = 0); weights as initializers',
      tfjs: 'tfjs-core matMul on the wasm backend, float32, output read back with dataSync()',
      js: 'plain-JS float32 i-t-j loops, one thread',
      statistic: 'median of all samples pooled over interleaved rounds',
    },
    verification,
    paths: ctx.path,
    tfjs: ctx.tfjs ? { backend: ctx.tfjs.backend, version: ctx.tfjs.version, threads: ctx.tfjs.threads, note: ctx.tfjs.note } : { unavailable: ctx.tfjsError ?? (opts.tfjs ? 'failed to load' : 'skipped') },
    jsGopsSmall: ctx.jsGops,
    shapes: results,
    threads: results.find((r) => r.threads)?.threads ?? null,
  };
  const md = markdownReport(report);
  console.log(md);
  if (opts.save) {
    const [j, m] = saveResults('gemm', started, report, md);
    log(`\nsaved ${j} and ${m}`);
  }
  log(`total ${secs(performance.now() - tStart)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});