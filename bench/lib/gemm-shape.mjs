// bench:gemm, one shape from start to end: operands, the anyprec blocks (gemm-cases.mjs) and
// the baselines (gemm-baselines.mjs), a plan within the shape's budget, the interleaved rounds,
// the per-shape results (ratios to ORT at the same thread count, fraction of the popcount
// ceiling), and the 2-threads-vs-1 check on the largest shape.
import os from 'node:os';

import { log, secs } from './cli.mjs';
import { makeCase, measure, planReps, rotate, shuffle, warmup } from './cases.mjs';
import { anyprecBlocks, planRepsOrDrop, summary, warmupChecked } from './gemm-cases.mjs';
import { baselineCases } from './gemm-baselines.mjs';
import { bitGemmEntry, makeRng, probePositions, randomBytes, shapeName } from './reference.mjs';

export async function runShape(shape, ctx, budgetMs, threadBudgetMs) {
  const { kernels, opts, isas } = ctx;
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
  const { blocks, cases } = await anyprecBlocks(shape, ctx, { packedA, packedB, codesA, check: checkGemm });

  // Baselines on the same shape. ORT at one thread is measured in a slot before and after every
  // block; the other baselines (ORT at more threads, anyprec's own float GEMM, tfjs, plain JS)
  // once per round at a rotating position.
  const units = blocks.length + 1; // anyprec blocks + the extras
  const { ortCases, extras, sessions, jsSkipped } = await baselineCases(shape, ctx, { rng, codesA, positions, units });
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

  const results = shapeResults(shape, { blocks, ortCases, extras });
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
  return { shape: { ...shape }, rounds: roundsDone, elapsedMs, ...results, jsSkipped, threads, int8Kernel };
}

/**
 * The results of one shape's cases: ORT at one thread, every baseline, the popcount ceilings
 * (their fastest sample), and every anyprec row with its Gop/s, bit-MAC rate, fraction of the
 * ceiling, ratios to ORT at the same thread count and cost per plane pair.
 */
function shapeResults(shape, { blocks, ortCases, extras }) {
  const { m, k, n } = shape;
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
    // (absent when --bits leaves out 1: no 1×1 row to compare with)
    const c11 = block.gemm.find((c) => c.spec.aBits === 1 && c.spec.bBits === 1 && c.spec.aEncoding === 'unsigned' && !c.forced);
    const t11 = c11 ? summary(c11) : { skipped: 'not measured' };
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
  return { ceilings, ort: ortResult, baselines, gemm, packA };
}

// ---- 2 threads vs 1 ------------------------------------------------------------------------------

/**
 * 2 kernel threads must never be slower than 1 (docs/benchmarks.md: a 2-vCPU VM's two vCPUs give only
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
