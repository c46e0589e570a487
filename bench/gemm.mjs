#!/usr/bin/env node
// npm run bench:gemm — anyprec bit-serial GEMM/GEMV against ONNX Runtime, tfjs and plain JS,
// same shapes, one process.
//
// Measured (DESIGN.md §4 "What fast means here"), per shape M×K×N (default: M in {1, 64, 256},
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

import ort from 'onnxruntime-node';

import { loadAnyprec, log, parseBenchArgs, positiveNumber as num, secs } from './lib/cli.mjs';
import { makeCase, measure, plannedMs, planReps, rotate, shuffle, summarize, warmup } from './lib/cases.mjs';
import { machineInfo, saveResults } from './lib/machine.mjs';
import { timeOnce } from './lib/measure.mjs';
import { gemmFp32Model, matMulIntegerModel, singleThreadOptions } from './lib/onnx.mjs';
import {
  bitGemmEntry,
  bitGemmReference,
  makeRng,
  matMulEntry,
  probePositions,
  randomBytes,
  randomFloats,
  randomInt8,
} from './lib/reference.mjs';
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

// ---- small helpers -------------------------------------------------------------------------------

const shapeName = (s) => `${s.m}×${s.k}×${s.n}`;
const pairName = (c) => `${c.aBits}×${c.bBits}${c.aEncoding === 'bipolar' ? ' xnor' : ''}`;

// ---- the cases ---------------------------------------------------------------------------------

/** (aBits, bBits) pairs: unsigned activations × bipolar weights, plus 1×1 bipolar×bipolar. */
function gemmSpecs(bits) {
  const specs = [];
  for (const aBits of bits) {
    for (const bBits of bits) specs.push({ aBits, bBits, aEncoding: 'unsigned', bEncoding: 'bipolar' });
  }
  if (bits.includes(1)) specs.push({ aBits: 1, bBits: 1, aEncoding: 'bipolar', bEncoding: 'bipolar' });
  return specs;
}

/**
 * planReps, then, while the plan is still over `budgetMs`, drops droppable cases. The headline
 * numbers are the best ISA's: the slowest ISA's cases go first (isaRank is the position in
 * availableIsas(), best first), the most expensive first within an ISA. Returns the planned
 * total in ms.
 */
function planRepsOrDrop(cases, opts) {
  let total = planReps(cases, opts);
  const byCost = cases
    .filter((c) => !c.skipped && c.droppable)
    .sort((x, y) => (y.isaRank ?? 0) - (x.isaRank ?? 0) || y.estMs - x.estMs);
  for (const c of byCost) {
    if (total <= opts.budgetMs) break;
    c.skipped = `over the time budget (≈${secs(c.estMs)} per call)`;
    total = plannedMs(cases, opts);
  }
  return total;
}

/** warmup(), reporting a failed output check. */
async function warmupChecked(c) {
  await warmup(c);
  if (c.checkResult && !c.checkResult.ok) log(`  !! ${c.id}: output check FAILED: ${c.checkResult.detail}`);
}

/** summarize(), with `check` (null: none) on every measured case. */
function summary(c) {
  const s = summarize(c);
  return s.skipped ? s : { ...s, check: c.checkResult };
}

// ---- correctness on small shapes -----------------------------------------------------------------

/** Every ISA and spec against the JS reference on an odd small shape (K and N off the tiles). */
function verifyAnyprec(kernels, isas, specs, rng) {
  const m = 5, k = 200, n = 11;
  const codesA = randomBytes(rng, m * k);
  const codesB = randomBytes(rng, n * k);
  const a = kernels.pack(codesA, m, k, 8);
  const b = kernels.pack(codesB, n, k, 8);
  const result = {};
  for (const isa of isas) {
    kernels.setIsa(isa);
    kernels.setThreads(1);
    const failures = [];
    for (const spec of specs) {
      const got = kernels.bitGemm(a, b, spec);
      const want = bitGemmReference(codesA, codesB, m, k, n, spec);
      const bad = want.findIndex((v, i) => v !== got[i]);
      if (bad >= 0) failures.push(`${pairName(spec)}: C[${Math.floor(bad / n)}][${bad % n}] = ${got[bad]}, want ${want[bad]}`);
    }
    result[isa] = { shape: `${m}×${k}×${n}`, specs: specs.length, ok: failures.length === 0, failures };
    const matched = failures.length === 0 ? `all ${specs.length}` : `${specs.length - failures.length}/${specs.length}`;
    log(`  anyprec ${isa}: ${matched} specs match the JS reference`);
    for (const f of failures.slice(0, 5)) log(`    !! ${f}`);
  }
  return result;
}

/** ORT's fp32 MatMul and int8 MatMulInteger models against the JS reference on a small shape. */
async function verifyOrt(rng) {
  const m = 3, k = 77, n = 5;
  const x = randomFloats(rng, m * k);
  const w = randomFloats(rng, k * n, -1, 1);
  const fp32 = await ort.InferenceSession.create(gemmFp32Model(m, k, n, w), singleThreadOptions());
  const y = (await fp32.run({ X: new ort.Tensor('float32', x, [m, k]) })).Y.data;
  let maxErr = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) maxErr = Math.max(maxErr, Math.abs(y[i * n + j] - matMulEntry(x, w, k, n, i, j)));
  }
  await fp32.release();

  const xq = randomBytes(rng, m * k);
  const wq = randomInt8(rng, k * n);
  const xZero = 131, wZero = -3; // nonzero on both sides so the zero-point path is exercised
  const int8 = await ort.InferenceSession.create(matMulIntegerModel(m, k, n, wq, xZero, wZero), singleThreadOptions());
  const yq = (await int8.run({ X: new ort.Tensor('uint8', xq, [m, k]) })).Y.data;
  let mismatches = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) if (yq[i * n + j] !== matMulEntry(xq, wq, k, n, i, j, xZero, wZero)) mismatches++;
  }
  await int8.release();
  const result = {
    shape: `${m}×${k}×${n}`,
    fp32: { maxAbsError: maxErr, ok: maxErr < 1e-4 },
    int8: { mismatches, ok: mismatches === 0 },
  };
  log(`  ORT fp32 Gemm max |err| ${maxErr.toExponential(1)}; int8 MatMulInteger ${mismatches} mismatches`);
  return result;
}

// ---- one shape -----------------------------------------------------------------------------------

async function runShape(shape, ctx, budgetMs, threadBudgetMs) {
  const { kernels, opts, isas, specs } = ctx;
  const { m, k, n } = shape;
  const rng = makeRng(opts.seed * 7919 + m * 31 + k * 17 + n);
  const t0 = performance.now();
  log(`\n== ${shapeName(shape)} (M×K×N): budget ${secs(budgetMs)}`);

  // anyprec operands: 8-bit codes packed once (with the best ISA: every ISA packs the same
  // layout); each GEMM uses the top aBits / bBits planes.
  const codesA = randomBytes(rng, m * k);
  const codesB = randomBytes(rng, n * k);
  kernels.setIsa(kernels.availableIsas()[0]);
  const packedA = kernels.pack(codesA, m, k, 8);
  const packedB = kernels.pack(codesB, n, k, 8);
  const positions = probePositions(rng, m, n);
  const checkGemm = (spec) => (c) => {
    for (const [i, j] of positions) {
      const want = bitGemmEntry(codesA, codesB, k, i, j, spec);
      if (c[i * n + j] !== want) return { ok: false, detail: `C[${i}][${j}] = ${c[i * n + j]}, want ${want}` };
    }
    return { ok: true, entries: positions.length };
  };
  // Activation codes at each width, for timing pack(A) the way a layer would call it.
  const codesAt = new Map(ctx.opts.bits.map((b) => [b, codesA.map((q) => q >> (8 - b))]));

  // Blocks of anyprec cases: every ISA at one thread (with its popcount ceiling and pack(A)),
  // then the best ISA at each further thread count.
  const cases = [];
  const blocks = [
    ...isas.map((isa) => ({ key: isa, isa, threads: 1, gemm: [], pack: [], ceiling: null })),
    ...opts.threads.filter((t) => t > 1).map((t) => ({ key: `${isas[0]} ${t}T`, isa: isas[0], threads: t, gemm: [], pack: [], ceiling: null })),
  ];
  for (const block of blocks) {
    const { isa, threads } = block;
    const setup = () => {
      kernels.setIsa(isa);
      kernels.setThreads(threads);
    };
    // Probe: cost grows at most like aBits·bBits plane pairs. The 1×1 call bounds the cost of
    // a pair; a 2×2 call (when affordable) gives a tighter per-pair cost for the bigger cases.
    setup();
    const probe = (aBits, bBits) => {
      const spec = { aBits, bBits, aEncoding: 'unsigned', bEncoding: 'bipolar' };
      return timeOnce(() => kernels.bitGemm(packedA, packedB, spec));
    };
    await probe(1, 1);
    const t11 = await probe(1, 1);
    let perPair = t11;
    if (4 * t11 < opts.capMs / 2 && opts.bits.includes(2)) perPair = Math.min(t11, (await probe(2, 2)) / 4);
    const estimate = (spec) => (spec.aBits * spec.bBits === 1 ? t11 : spec.aBits * spec.bBits * perPair);
    for (const spec of specs) {
      // The path the dispatcher picks (bit-serial or int8 dot products), when anyprec says; and,
      // when the path can be forced, the bit-serial kernel too wherever the pick is another path.
      const path = gemmPathOf(kernels, ctx.path, spec, shape);
      const variants = [{ spec, forced: false }];
      if (ctx.path.option && path && path !== 'bitserial') variants.push({ spec: { ...spec, path: 'bitserial' }, forced: true });
      for (const v of variants) {
        const c = makeCase({
          id: `anyprec ${isa} ${pairName(spec)}${threads > 1 ? ` ${threads}T` : ''}${v.forced ? ' bitserial' : ''}`,
          kind: 'anyprec',
          isa,
          threads,
          // Dropped first when over budget: slower ISAs, then the extra thread counts.
          isaRank: threads > 1 ? 0.5 : isas.indexOf(isa),
          spec: v.spec,
          path: v.forced ? 'bitserial' : path,
          forced: v.forced,
          setup,
          fn: () => kernels.bitGemm(packedA, packedB, v.spec),
          check: checkGemm(spec),
          estMs: estimate(spec),
          droppable: !(spec.aBits === 1 && spec.bBits === 1 && threads === 1 && !v.forced), // 1×1 anchors the cost ratios
        });
        if (c.estMs > opts.capMs) c.skipped = `single call ≈${secs(c.estMs)} > cap ${secs(opts.capMs)}`;
        block.gemm.push(c);
        cases.push(c);
      }
    }
    if (threads !== 1) continue;
    for (const bits of opts.bits) {
      const codes = codesAt.get(bits);
      const c = makeCase({
        id: `pack A ${isa} ${bits}b`,
        kind: 'packA',
        isa,
        bits,
        setup,
        fn: () => kernels.pack(codes, m, k, bits),
      });
      setup();
      c.estMs = await timeOnce(c.fn);
      block.pack.push(c);
      cases.push(c);
    }
    // The ceiling loop, sized to ~ceilingMs per call (calibrated by doubling from a short run).
    let calib = 1000;
    let calibMs = await timeOnce(() => kernels.popcountCeiling(calib));
    while (calibMs < 2) {
      calib *= 2;
      calibMs = await timeOnce(() => kernels.popcountCeiling(calib));
    }
    const iterations = Math.max(1000, Math.round((calib * opts.ceilingMs) / calibMs));
    let bitMacsPerCall = 0;
    const ceil = makeCase({
      id: `ceiling ${isa}`,
      kind: 'ceiling',
      isa,
      iterations,
      setup,
      fn: () => {
        bitMacsPerCall = kernels.popcountCeiling(iterations).bitMacs;
      },
      estMs: opts.ceilingMs,
    });
    ceil.bitMacsPerCall = () => bitMacsPerCall;
    block.ceiling = ceil;
    cases.push(ceil);
  }

  // ---- baselines on the same shape: float X (M×K) in [0,1), W (K×N) in [-1,1).
  // ORT at one thread is the reference every anyprec row is divided by: it is measured in a
  // slot before and after every block. The other baselines (ORT at more threads, anyprec's
  // own float GEMM, tfjs, plain JS) are measured once per round at a rotating position.
  const ortCases = [];
  const extras = [];
  const sessions = [];
  const units = blocks.length + 1; // anyprec blocks + the extras
  const x = randomFloats(rng, m * k);
  const w = randomFloats(rng, k * n, -1, 1);
  const checkFloat = (data) => (out) => {
    const y = data(out);
    for (const [i, j] of positions) {
      const want = matMulEntry(x, w, k, n, i, j);
      if (!(Math.abs(y[i * n + j] - want) <= 1e-3 * Math.sqrt(k))) return { ok: false, detail: `Y[${i}][${j}] = ${y[i * n + j]}, want ${want}` };
    }
    return { ok: true, entries: positions.length };
  };
  if (opts.ort) {
    // int8: uint8 activations with zero point 128 × int8 weights (symmetric, zero point 0, as
    // quantizers make them). The activations are the same bytes anyprec packs.
    const wq = randomInt8(rng, k * n);
    const xZero = 128, wZero = 0;
    const int8Feeds = { X: new ort.Tensor('uint8', codesA, [m, k]) };
    const fp32Feeds = { X: new ort.Tensor('float32', x, [m, k]) };
    for (const threads of opts.threads) {
      // More than one intra-op thread: spinning off (measured here: with 2 threads ORT's spinning
      // workers made its own runs ~2× slower on this 2-vCPU VM, and they steal the CPU from
      // whatever is measured next).
      const sessionOptions = { ...singleThreadOptions(), intraOpNumThreads: threads };
      if (threads > 1) sessionOptions.extra = { session: { intra_op: { allow_spinning: '0' } } };
      const fp32 = await ort.InferenceSession.create(gemmFp32Model(m, k, n, w), sessionOptions);
      const int8 = await ort.InferenceSession.create(matMulIntegerModel(m, k, n, wq, xZero, wZero), sessionOptions);
      sessions.push(fp32, int8);
      const tag = threads > 1 ? ` ${threads}T` : '';
      const pair = [
        makeCase({
          id: `ORT fp32 Gemm${tag}`,
          kind: 'ort-fp32',
          engine: 'ORT fp32 Gemm',
          threads,
          async: true,
          slots: threads === 1 ? units + 1 : 1,
          fn: () => fp32.run(fp32Feeds),
          check: checkFloat((out) => out.Y.data),
        }),
        makeCase({
          id: `ORT int8 MatMulInteger${tag}`,
          kind: 'ort-int8',
          engine: 'ORT int8 MatMulInteger',
          threads,
          async: true,
          slots: threads === 1 ? units + 1 : 1,
          fn: () => int8.run(int8Feeds),
          check: (out) => {
            for (const [i, j] of positions) {
              const want = matMulEntry(codesA, wq, k, n, i, j, xZero, wZero);
              if (out.Y.data[i * n + j] !== want) return { ok: false, detail: `Y[${i}][${j}] = ${out.Y.data[i * n + j]}, want ${want}` };
            }
            return { ok: true, entries: positions.length };
          },
        }),
      ];
      (threads === 1 ? ortCases : extras).push(...pair);
    }
  }
  // anyprec's float GEMM (the path of its full-precision layers): B is the weights N×K.
  const wT = new Float32Array(n * k);
  for (let t = 0; t < k; t++) for (let j = 0; j < n; j++) wT[j * k + t] = w[t * n + j];
  for (const threads of opts.threads) {
    extras.push(makeCase({
      id: `anyprec float${threads > 1 ? ` ${threads}T` : ''}`,
      kind: 'float',
      engine: 'anyprec floatGemm',
      threads,
      setup: () => {
        kernels.setIsa(isas[0]);
        kernels.setThreads(threads);
      },
      fn: () => kernels.floatGemm(x, m, k, wT, n),
      check: checkFloat((out) => out),
    }));
  }
  if (ctx.tfjs) {
    const { tf } = ctx.tfjs;
    const ta = tf.tensor2d(x, [m, k]);
    const tb = tf.tensor2d(w, [k, n]);
    ctx.tfjsTensors = [ta, tb];
    extras.push(makeCase({
      id: 'tfjs wasm matMul',
      kind: 'tfjs',
      engine: `tfjs wasm matMul`,
      threads: ctx.tfjs.threads,
      fn: () => {
        const c = tf.matMul(ta, tb);
        const data = c.dataSync();
        c.dispose();
        return data;
      },
      check: checkFloat((out) => out),
    }));
  }
  let jsSkipped = null;
  if (opts.js) {
    const estMs = (2 * m * k * n) / (ctx.jsGops * 1e6);
    const c = makeCase({
      id: 'plain JS loop',
      kind: 'js',
      engine: 'plain JS float32 loop',
      threads: 1,
      fn: () => jsGemm(x, w, m, k, n),
      check: checkFloat((out) => out),
      estMs,
    });
    if (estMs > opts.jsCapMs) {
      c.skipped = jsSkipped = `plain JS ≈${secs(estMs)} per call (at ${ctx.jsGops.toFixed(2)} Gop/s) > ${secs(opts.jsCapMs)}: only run at small shapes`;
    }
    extras.push(c);
  }
  for (const c of [...ortCases, ...extras]) {
    if (c.skipped) continue;
    c.setup();
    await c.fn();
    c.estMs = Math.max(await timeOnce(c.fn), 0.001);
  }
  cases.push(...ortCases, ...extras);

  // Plan with the estimates (warmups included), warm up, then re-plan with the real times.
  const planOpts = { targetMs: opts.targetMs, maxReps: opts.maxReps, rounds: opts.rounds };
  const setupMs = performance.now() - t0;
  planRepsOrDrop(cases, { ...planOpts, budgetMs: budgetMs - setupMs, withWarmup: true });
  for (const c of cases) await warmupChecked(c);
  const warmupMs = performance.now() - t0 - setupMs;
  const planned = planRepsOrDrop(cases, { ...planOpts, budgetMs: budgetMs - (performance.now() - t0), withWarmup: false });
  const skipped = cases.filter((c) => c.skipped).length;
  log(`  setup ${secs(setupMs)}, warmup ${secs(warmupMs)}; ${cases.length - skipped} cases (${skipped} skipped), ` +
      `${opts.rounds} rounds planned in ${secs(planned)}`);

  // Interleaved rounds: ORT slot, then one unit (an anyprec block: ceiling, shuffled GEMMs,
  // pack; or the shuffled extras), ORT slot, the next unit, ..., the unit order rotating.
  const ortSlot = async (round) => {
    for (const c of round % 2 ? ortCases.slice().reverse() : ortCases) await measure(c);
  };
  const unitList = [...blocks.map((b) => ({ block: b })), { extras: true }];
  let roundsDone = 0;
  const roundsStart = performance.now();
  for (let r = 0; r < opts.rounds; r++) {
    const tr = performance.now();
    // Load from other processes can make rounds slower than planned: stop early (keeping at
    // least two rounds) rather than blow the run's time limit.
    const perRound = (tr - roundsStart) / Math.max(r, 1);
    if (r >= 2 && tr - t0 + perRound > 1.15 * budgetMs) {
      log(`  stopping after ${r} rounds: the shape's budget is spent`);
      break;
    }
    for (const unit of rotate(unitList, r)) {
      await ortSlot(r);
      if (unit.extras) {
        for (const c of shuffle(extras, rng)) await measure(c);
        continue;
      }
      const block = unit.block;
      if (block.ceiling) await measure(block.ceiling);
      for (const c of shuffle(block.gemm, rng)) await measure(c);
      for (const c of block.pack) await measure(c);
    }
    await ortSlot(r + 1);
    roundsDone = r + 1;
    log(`  round ${r + 1}/${opts.rounds}: ${secs(performance.now() - tr)}`);
  }
  kernels.setThreads(1);

  // ---- results of this shape
  const ops = 2 * m * k * n;
  const withGops = (c) => {
    const s = summary(c);
    if (s.medianMs) s.gops = ops / (s.medianMs * 1e6);
    return s;
  };
  const ortResult = {};
  for (const c of ortCases) ortResult[c.kind === 'ort-fp32' ? 'fp32' : 'int8'] = withGops(c);
  const baselines = [...ortCases, ...extras].map((c) => ({ engine: c.engine, kind: c.kind, threads: c.threads, ...withGops(c) }));
  const ortAt = (kind, threads) =>
    baselines.find((b) => b.kind === kind && b.threads === threads && b.medianMs) ?? null;
  const ceilings = {};
  const gemm = [];
  const packA = [];
  for (const block of blocks.filter((b) => b.ceiling)) {
    const cs = summary(block.ceiling);
    cs.iterations = block.ceiling.iterations;
    cs.bitMacsPerCall = block.ceiling.bitMacsPerCall();
    // A ceiling is the best the loop can do; load only ever slows it down, so the ceiling is
    // its fastest sample (the median is kept too). Fractions of it are therefore conservative.
    cs.bitMacsPerSec = cs.bitMacsPerCall / (cs.minMs / 1e3);
    cs.bitMacsPerSecMedian = cs.bitMacsPerCall / (cs.medianMs / 1e3);
    ceilings[block.isa] = cs;
  }
  for (const block of blocks) {
    const { isa, threads } = block;
    const cs = ceilings[isa];
    const t11 = summary(block.gemm.find((c) => c.spec.aBits === 1 && c.spec.bBits === 1 && c.spec.aEncoding === 'unsigned' && !c.forced));
    const fp32 = ortAt('ort-fp32', threads);
    const int8 = ortAt('ort-int8', threads);
    for (const c of block.gemm) {
      const s = summary(c);
      const { path: _forcedPath, ...spec } = c.spec;
      const row = { isa, threads, ...spec, path: c.path, forced: c.forced, ...s };
      if (s.medianMs) {
        const sec = s.medianMs / 1e3;
        row.gops = ops / sec / 1e9;
        row.bitMacsPerSec = (m * n * k * c.spec.aBits * c.spec.bBits) / sec;
        // The ceiling is one core's; with T threads the CPU's limit is T times it (at best).
        // Only a bit-serial row is a fraction of the popcount ceiling (the int8 path is not popcount work).
        if (cs?.bitMacsPerSec && c.path !== 'int8') row.ceilingFraction = row.bitMacsPerSec / (threads * cs.bitMacsPerSec);
        if (fp32) row.vsOrtFp32 = fp32.medianMs / s.medianMs;
        if (int8) row.vsOrtInt8 = int8.medianMs / s.medianMs;
        // time(a×b) / (a·b·time(1×1)): 1 = cost linear in plane pairs, < 1 = cheaper than that.
        if (t11.medianMs) row.costPerPlanePair = s.medianMs / (c.spec.aBits * c.spec.bBits * t11.medianMs);
      }
      gemm.push(row);
    }
    for (const c of block.pack) packA.push({ isa, bits: c.bits, ...summary(c) });
  }

  let threads = null;
  if (threadBudgetMs > 0) {
    const byIsa = new Map(blocks.filter((b) => b.threads === 1).map((b) => [b.isa, b]));
    threads = await threadCheck(ctx, shape, packedA, packedB, byIsa, threadBudgetMs);
  }

  for (const s of sessions) await s.release();
  for (const t of ctx.tfjsTensors ?? []) t.dispose();
  ctx.tfjsTensors = null;
  const elapsedMs = performance.now() - t0;
  log(`  shape done in ${secs(elapsedMs)}`);
  // The int8 kernel variant anyprec's int8 path would run at this M (when it says).
  let int8Kernel = null;
  if (ctx.path.int8Kernel) {
    try {
      kernels.setIsa(isas[0]);
      int8Kernel = kernels.int8Kernel(m);
    } catch (err) {
      int8Kernel = `error: ${err.message}`;
    }
  }
  return { shape: { ...shape }, rounds: roundsDone, elapsedMs, ceilings, ort: ortResult, baselines, jsSkipped, gemm, packA, threads, int8Kernel };
}

/** C = X·W in float32 with plain JS loops (X M×K, W K×N row-major; i-t-j order, contiguous inner loop). */
function jsGemm(x, w, m, k, n) {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = out.subarray(i * n, (i + 1) * n);
    for (let t = 0; t < k; t++) {
      const v = x[i * k + t];
      const base = t * n;
      for (let j = 0; j < n; j++) row[j] += v * w[base + j];
    }
  }
  return out;
}

/** The plain-JS loop's Gop/s on a small shape, to predict which shapes it can afford. */
async function jsRate() {
  const m = 16, k = 256, n = 256;
  const x = new Float32Array(m * k).fill(0.5), w = new Float32Array(k * n).fill(0.25);
  jsGemm(x, w, m, k, n);
  let best = Infinity;
  for (let r = 0; r < 5; r++) best = Math.min(best, await timeOnce(() => jsGemm(x, w, m, k, n)));
  return (2 * m * k * n) / (best * 1e6);
}

/**
 * What anyprec says about GEMM paths, feature-detected so the suite runs before and after the
 * int8 dot-product path lands: `gemmPath` = kernels.gemmPath exists; `option` = bitGemm accepts
 * `path: 'bitserial'` and rejects a bogus path (an option it ignored would accept both).
 */
function detectPaths(kernels) {
  const result = { gemmPath: typeof kernels.gemmPath === 'function', option: false, int8Kernel: typeof kernels.int8Kernel === 'function' };
  try {
    const a = kernels.pack(new Uint8Array(2 * 64), 2, 64, 8);
    const spec = { aBits: 2, bBits: 2, aEncoding: 'unsigned', bEncoding: 'bipolar' };
    let forcedOk = false, bogusRejected = false;
    try {
      kernels.bitGemm(a, a, { ...spec, path: 'bitserial' });
      forcedOk = true;
    } catch { /* not supported */ }
    try {
      kernels.bitGemm(a, a, { ...spec, path: 'no-such-path' });
    } catch {
      bogusRejected = true;
    }
    result.option = forcedOk && bogusRejected;
  } catch { /* leave false */ }
  return result;
}

/** kernels.gemmPath(aBits, bBits, m, n, k) when it exists, else null. */
function gemmPathOf(kernels, paths, spec, shape) {
  if (!paths.gemmPath) return null;
  try {
    const p = kernels.gemmPath(spec.aBits, spec.bBits, shape.m, shape.n, shape.k, spec);
    return typeof p === 'string' ? p : (p?.path ?? String(p));
  } catch (err) {
    return `error: ${err.message}`;
  }
}

/**
 * tfjs-core with the wasm backend (its .wasm files ship inside the npm package, so nothing is
 * fetched). Threads: the wasm backend's threaded build needs browser workers; in Node it stays
 * at one thread, which getThreadsCount() reports after asking for the most threads we measure.
 * tfjs prints an advert for tfjs-node on first use: it is kept off stdout (the report).
 */
async function loadTfjs(threadCounts) {
  const saved = { log: console.log, warn: console.warn, info: console.info };
  console.log = console.warn = console.info = () => {};
  try {
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const want = Math.max(...threadCounts);
    wasm.setThreadsCount(want);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
    tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync(); // the advert is printed here
    const threads = wasm.getThreadsCount();
    return {
      tf,
      backend: 'wasm',
      version: tf.version_core,
      threads,
      note: threads < want ? `asked for ${want} threads, the wasm backend runs ${threads} in Node (no threaded build without browser workers)` : null,
    };
  } catch (err) {
    log(`  tfjs wasm backend unavailable: ${err.message}`);
    return null;
  } finally {
    Object.assign(console, saved);
  }
}

// ---- 2 threads vs 1 ------------------------------------------------------------------------------

/**
 * 2 kernel threads must never be slower than 1 (DESIGN.md §4: this VM's two vCPUs give only
 * 1.05–1.45× when both are busy, so scaling cannot be shown here, but a slowdown would mean
 * spinning or contention). Measured on the first (best) ISA at 1×1 and 4×4, alternating.
 */
async function threadCheck(ctx, shape, packedA, packedB, byIsa, budgetMs) {
  const { kernels, opts, isas } = ctx;
  const isa = isas[0];
  const cases = [];
  for (const [aBits, bBits] of [
    [1, 1],
    [4, 4],
  ]) {
    if (!opts.bits.includes(aBits) || !opts.bits.includes(bBits)) continue;
    const spec = { aBits, bBits, aEncoding: 'unsigned', bEncoding: 'bipolar' };
    const oneThread = byIsa.get(isa).gemm.find((c) => c.spec.aBits === aBits && c.spec.bBits === bBits && c.spec.aEncoding === 'unsigned');
    const t11 = byIsa.get(isa).gemm.find((c) => c.spec.aBits === 1 && c.spec.bBits === 1 && c.spec.aEncoding === 'unsigned');
    const est = oneThread && !oneThread.skipped ? oneThread.estMs : t11.estMs * aBits * bBits;
    for (const threads of [1, 2]) {
      cases.push(
        makeCase({
          id: `threads ${isa} ${aBits}×${bBits} ${threads}T`,
          spec,
          threads,
          setup: () => {
            kernels.setIsa(isa);
            kernels.setThreads(threads);
          },
          fn: () => kernels.bitGemm(packedA, packedB, spec),
          estMs: est,
          // CPU time / wall time while measuring: ~2 when both threads got a core, ~1 when
          // another process held the second vCPU (then 2 threads cannot beat 1 here).
          trackCpu: true,
        }),
      );
    }
  }
  const t0 = performance.now();
  log(`  threads check (${isa}, 1 vs 2 threads): budget ${secs(budgetMs)}`);
  // Skip a pair whose calls cannot fit the budget even once per round.
  for (let i = 0; i < cases.length; i += 2) {
    const need = cases[i].estMs * 2 * (opts.rounds + 1);
    if (cases[i].estMs > 3 * opts.capMs || need > budgetMs) {
      cases[i].skipped = cases[i + 1].skipped = `≈${secs(need)} needed > ${secs(budgetMs)} budget`;
    }
  }
  const planOpts = { targetMs: opts.targetMs, maxReps: opts.maxReps, rounds: opts.rounds };
  planReps(cases, { ...planOpts, budgetMs, withWarmup: true });
  for (const c of cases) await warmup(c);
  planReps(cases, { ...planOpts, budgetMs: budgetMs - (performance.now() - t0), withWarmup: false });
  for (let r = 0; r < opts.rounds; r++) {
    for (let i = 0; i < cases.length; i += 2) {
      const pair = r % 2 ? [cases[i + 1], cases[i]] : [cases[i], cases[i + 1]];
      for (const c of pair) await measure(c);
    }
  }
  kernels.setThreads(1);
  const rows = [];
  for (let i = 0; i < cases.length; i += 2) {
    const one = summary(cases[i]);
    const two = summary(cases[i + 1]);
    const cpuPerWall = (c) => (c.wallMs ? c.cpuMs / c.wallMs : null);
    rows.push({
      aBits: cases[i].spec.aBits,
      bBits: cases[i].spec.bBits,
      oneThread: { ...one, cpuPerWall: cpuPerWall(cases[i]) },
      twoThreads: { ...two, cpuPerWall: cpuPerWall(cases[i + 1]) },
      speedup: one.medianMs && two.medianMs ? one.medianMs / two.medianMs : null,
    });
  }
  return { isa, shape: { ...shape }, rows, loadAverage: os.loadavg(), elapsedMs: performance.now() - t0 };
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
