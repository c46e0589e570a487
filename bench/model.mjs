#!/usr/bin/env node
// npm run bench:model — whole-model latency: anyprec at every bit-width against float32
// references of the same network, one thread each, one process.
//
// Measured, per model (zoo.mlp() 784-1024-1024-10 and zoo.cnn() on 1×28×28) and batch (1, 64):
//  * anyprec Model.runSync(x, { bits }) for bits 1..8 and 32 (the float path). Truncate mode:
//    one 8-bit stored model, the top `bits` weight planes used per call. Random weights
//    (zoo.randomTensors), inputs uniform in [0, 1).
//  * anyprec `await model.run(x, { bits: 2 })` (worker thread): the async overhead.
//  * ONNX Runtime fp32 running the same topology with the same tensors (graph built in code,
//    bench/lib/nets.mjs): Conv / Gemm with batch norm folded in, quantisers as Clip(0, 1),
//    MaxPool, Flatten. A float reference of the same network, not a quantised one.
//    intraOpNumThreads = interOpNumThreads = 1.
//  * ONNX Runtime int8 of every network: the integer-op export (bench/lib/nets.mjs, resnet-onnx.mjs:
//    QLinearConv where a quantiser follows a conv, else ConvInteger + Cast + Mul / MatMulInteger),
//    and the QDQ graph a user would deploy (bench/lib/resnet-qdq.mjs, nets-qdq.mjs: the float
//    network quantised post-training, per-channel int8 weights, uint8 activations calibrated on
//    MNIST train digits), which ORT fuses into QLinearConv / QLinearAdd / QGemm; the fused node
//    types are read back from the optimised model ORT saves, and its accuracy is measured.
//  * a plain-JS float32 forward pass of the MLP (same folded weights).
// kernels.setThreads(1); the ISA is the addon's default (kernels.isa(), printed). With --threads
// LIST, each thread count n > 1 adds, per model×batch, anyprec runSync at every bit-width at n
// kernel threads and ORT fp32 / int8 QDQ sessions with intraOpNumThreads = n (measured in the same
// rounds), their outputs checked bit for bit against one thread, and a report section of n÷1 ratios. Cases are
// measured in interleaved rounds (ORT before and after each model×batch block, the other cases
// shuffled, the block order rotated) and summarized by the median of all samples.
// Afterwards, per model×batch at 2 bits: runSyncDetailed per-layer times, and a function-level
// profile of the same run (the exported functions of dist/nn/ops.js — JS loops — and
// dist/core/kernels/*.js — native — wrapped with timers).
//
// Output: a markdown report on stdout, and bench/results/model-<date>.{json,md}.
import os from 'node:os';

import { loadAnyprec, log, parseBenchArgs, positiveNumber as num, secs } from './lib/cli.mjs';
import { measure, planReps, rotate, shuffle, summarize, warmup } from './lib/cases.mjs';
import { machineInfo, saveResults } from './lib/machine.mjs';
import { timeOnce } from './lib/measure.mjs';
import { accuracyPass, breakdown, makeProfiler } from './lib/model-detail.mjs';
import { modelMarkdownReport } from './lib/model-report.mjs';
import { addThreadCases, buildModel, fixturesDir, makeGroup, verifyGroup } from './lib/model-setup.mjs';
import { makeRng } from './lib/reference.mjs';

const MODELS = ['mlp', 'cnn', 'conv', 'resnet20'];

// ---- options -----------------------------------------------------------------------------------

const HELP = `usage: node bench/model.mjs [options]      (npm run bench:model -- [options])

  --quick            short pass (~1.5 min): 3 rounds, shorter measurements
  --models LIST      comma-separated, of mlp, cnn, conv (one 3×3 conv layer 64→64 on 32×32 + BN +
                     quantiser), resnet20 (fixture A, imported) (default mlp,cnn,conv,resnet20)
  --batches LIST     comma-separated batch sizes (default 1,64)
  --bits LIST        bit-widths for runSync, of 1..8 and 32 (default 1,2,3,4,5,6,7,8,32)
  --async-bits N     bit-width of the run() (worker thread) case and the breakdown (default 2)
  --threads LIST     kernel / ORT intra-op thread counts to compare (default 1; e.g. 1,2: one
                     thread and two; 'all' = the machine's hardware threads)
  --rounds N         interleaved rounds (default 11, quick 3)
  --budget SEC       time budget for the whole run (default 300, quick 60)
  --detail-reps N    runs for the per-layer breakdown and the profile (default 7, quick 3)
  --skip-ort         no ONNX Runtime references (fp32 and int8)
  --skip-accuracy    no accuracy pass on the MNIST test split
  --skip-js          no plain-JS reference
  --no-save          print only; do not write bench/results/
  --seed N           seed for weights and inputs (default 1)
  -h, --help         this text`;

function parseOptions(argv) {
  const values = parseBenchArgs(
    argv,
    {
      models: { type: 'string' },
      batches: { type: 'string' },
      bits: { type: 'string' },
      'async-bits': { type: 'string' },
      threads: { type: 'string' },
      rounds: { type: 'string' },
      budget: { type: 'string' },
      'detail-reps': { type: 'string' },
      'skip-js': { type: 'boolean', default: false },
      'skip-accuracy': { type: 'boolean', default: false },
    },
    HELP,
  );
  const quick = values.quick;
  const list = (text, name, fallback, ok) =>
    (text ?? fallback).split(',').map((s) => {
      const v = ok === 'model' ? s.trim() : Number(s);
      if (ok === 'model' ? !MODELS.includes(v) : !ok(v)) throw new RangeError(`--${name}: '${s}' is not valid`);
      return v;
    });
  const bitsOk = (b) => Number.isInteger(b) && ((b >= 1 && b <= 8) || b === 32);
  const bits = [...new Set(list(values.bits, 'bits', '1,2,3,4,5,6,7,8,32', bitsOk))].sort((a, b) => a - b);
  const asyncBits = list(values['async-bits'], 'async-bits', '2', bitsOk)[0];
  const threads = [...new Set(list(values.threads?.replace(/\ball\b/g, String(os.availableParallelism())), 'threads', '1',
    (t) => Number.isInteger(t) && t >= 1 && t <= 1024))].sort((a, b) => a - b);
  return {
    quick,
    models: [...new Set(list(values.models, 'models', MODELS.join(','), 'model'))],
    accuracy: !values['skip-accuracy'],
    batches: [...new Set(list(values.batches, 'batches', '1,64', (b) => Number.isInteger(b) && b >= 1 && b <= 4096))],
    bits,
    asyncBits,
    threads,
    rounds: Math.max(2, Math.round(num(values.rounds, 'rounds', quick ? 3 : 11))),
    budgetMs: 1000 * num(values.budget, 'budget', quick ? 60 : 300),
    detailReps: Math.round(num(values['detail-reps'], 'detail-reps', quick ? 3 : 7)),
    // Time aimed at per case and round, and the most calls per case and round.
    targetMs: quick ? 40 : 300,
    maxReps: quick ? 15 : 80,
    ort: !values['skip-ort'],
    js: !values['skip-js'],
    save: !values['no-save'],
    seed: Math.round(num(values.seed, 'seed', 1)),
  };
}

// ---- thread counts -----------------------------------------------------------------------------

/**
 * Per thread count n > 1 of group g: anyprec's median at each bit-width and ORT fp32 / int8 QDQ at n
 * threads, each with its ratio to the same case at one thread (timeRatio < 1: n threads faster) and
 * anyprec's ratio to ORT int8 QDQ at n threads.
 */
function threadRows(g, bySync, ortS, ortqS) {
  const counts = [...new Set(g.cases.filter((c) => c.threads).map((c) => c.threads))];
  const ratio = (a, b) => (a?.medianMs && b?.medianMs ? a.medianMs / b.medianMs : null);
  return counts.map((threads) => {
    const at = (kind) => g.cases.filter((c) => c.threads === threads && c.kind === kind);
    const ort = at('ort-threads')[0], ortq = at('ortq-threads')[0];
    const ortT = ort ? summarize(ort) : null, ortqT = ortq ? summarize(ortq) : null;
    return {
      threads,
      rows: at('sync-threads').map((c) => {
        const s = summarize(c);
        return { bits: c.bits, ...s, timeRatio: ratio(s, bySync.get(c.bits)), vsOrtQdq: ratio(s, ortqT) };
      }),
      ort: ortT && { ...ortT, timeRatio: ratio(ortT, ortS) },
      ortInt8Qdq: ortqT && { ...ortqT, timeRatio: ratio(ortqT, ortqS) },
    };
  });
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const started = new Date();
  const tStart = performance.now();
  const ap = await loadAnyprec();
  const { kernels } = ap;
  kernels.setThreads(1);
  const machine = machineInfo(kernels);
  const rng = makeRng(opts.seed * 7919 + 17);
  const ctx = { ap, opts, rng, fixtures: fixturesDir() };
  if (!ctx.fixtures) log('  !! shared fixtures not found: no resnet20, no accuracy pass');
  log(`anyprec bench:model — ${machine.cpuModel}, ${machine.node}, ORT ${machine.onnxruntimeNode}`);
  log(`ISA ${kernels.isa()} (available: ${kernels.availableIsas().join(', ')}), kernel threads ${kernels.threads()}`);
  log(`git ${machine.git.head}${machine.git.dirty.length ? ` (uncommitted: ${machine.git.dirty.join('; ')})` : ''}`);
  log(`addon ${machine.addon ? `${machine.addon.path} (built ${machine.addon.builtAt})` : 'unknown'}`);
  if (machine.addon?.path !== 'build/Release/anyprec.node') log('  !! the addon loaded is not build/Release/anyprec.node (being rebuilt?)');
  log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  log('\nsetup:');
  const models = [];
  for (const name of opts.models) models.push(await buildModel(name, ctx));
  const groups = [];
  for (const m of models) for (const batch of opts.batches) groups.push(makeGroup(m, batch, ctx));
  for (const t of opts.threads) if (t !== 1) for (const g of groups) await addThreadCases(g, t, ctx);

  // Warmup (one call per case: plans, worker start, ORT's first run) and output checks.
  log('warmup and checks:');
  for (const g of groups) {
    const outs = new Map();
    for (const c of g.all) {
      c.prime?.();
      const out = await warmup(c);
      outs.set(c.kind === 'sync' ? `sync ${c.bits}` : c.kind === 'sync-threads' ? `sync ${c.bits} t${c.threads}` : c.kind, out);
    }
    // A second call: the first also paid one-off costs (worker start, ORT allocations).
    for (const c of g.all) c.estMs = Math.max(await timeOnce(c.fn), 0.001);
    g.verification = await verifyGroup(g, outs, opts);
    const v = g.verification;
    if (opts.threads.length > 1) {
      // More threads split the same work: the outputs must be the one-thread bits.
      v.threadsBitIdentical = g.cases.filter((c) => c.kind === 'sync-threads').every((c) => {
        const a = outs.get(`sync ${c.bits} t${c.threads}`)?.data, b = outs.get(`sync ${c.bits}`)?.data;
        return a && b && a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
      });
      v.ok &&= v.threadsBitIdentical;
    }
    const f = (e) => (e === undefined ? '–' : e.toExponential(1));
    log(`  ${g.m.name} b${g.batch}: ORT(ReLU) vs anyprec(32) rel err ${f(v.ortReluVsAnyprec32)}, ` +
        `JS vs anyprec(32) ${f(v.jsReluVsAnyprec32)}, JS vs ORT (Clip) ${f(v.jsClipVsOrtClip)}, ` +
        `run() vs runSync() max |diff| ${v.asyncVsSyncMaxAbsDiff}` +
      `${v.threadsBitIdentical === undefined ? '' : `, threads ${opts.threads.join('/')} bit-identical ${v.threadsBitIdentical}`}` +
      `${v.ok ? '' : '  !! CHECK FAILED'}`);
  }
  for (const m of models) {
    if (m.reluSession && m.reluSession !== m.session) await m.reluSession.release();
    m.reluSession = null;
  }

  // Plan: measurement budget = total − setup so far − the breakdown (≈ 2·detailReps runs at
  // asyncBits per group, plus margin).
  const allCases = groups.flatMap((g) => g.all);
  const detailEst = groups.reduce((a, g) => a + 2.4 * opts.detailReps * g.cases.find((c) => c.kind === 'async').estMs, 0);
  const measureBudget = opts.budgetMs - (performance.now() - tStart) - detailEst - 1500;
  const planned = planReps(allCases, { targetMs: opts.targetMs, maxReps: opts.maxReps, rounds: opts.rounds, budgetMs: measureBudget });
  log(`setup + warmup ${secs(performance.now() - tStart)}; ${allCases.length} cases, ${opts.rounds} rounds planned in ` +
      `${secs(planned)} (budget ${secs(measureBudget)})`);

  // Interleaved rounds.
  let roundsDone = 0;
  const roundsStart = performance.now();
  const cpuStart = process.cpuUsage();
  const deadline = tStart + opts.budgetMs - detailEst - 1000;
  for (let r = 0; r < opts.rounds; r++) {
    const tr = performance.now();
    const perRound = (tr - roundsStart) / Math.max(r, 1);
    if (r >= 2 && tr + perRound > deadline) {
      log(`  stopping after ${r} rounds: the time budget is spent`);
      break;
    }
    for (const g of rotate(groups, r)) {
      const refs = [g.ort, g.ort8, g.ortq].filter(Boolean);
      for (const c of r % 2 ? refs.slice().reverse() : refs) await measure(c);
      for (const c of shuffle(g.cases, rng)) await measure(c);
      for (const c of r % 2 ? refs : refs.slice().reverse()) await measure(c);
    }
    roundsDone = r + 1;
    log(`  round ${r + 1}/${opts.rounds}: ${secs(performance.now() - tr)}`);
  }

  // CPU time this process got per second of wall time: ≈ 1 when the benchmark had a vCPU to
  // itself (everything is single-threaded and sequential), well below 1 when others took it.
  const cpu = process.cpuUsage(cpuStart);
  const cpuPerWall = (cpu.user + cpu.system) / 1e3 / (performance.now() - roundsStart);
  log(`  process CPU / wall during the rounds: ${cpuPerWall.toFixed(2)}`);

  // Breakdown at asyncBits: per layer (runSyncDetailed) and per function (profile).
  log('breakdown:');
  const { profiler, error: profileError } = makeProfiler(ap);
  if (profileError) log(`  profile skipped: ${profileError}`);
  const breakdowns = [];
  try {
    for (const g of groups) {
      const b = await breakdown(g, ctx, profiler);
      breakdowns.push({ model: g.m.name, batch: g.batch, ...b });
      log(`  ${g.m.name} b${g.batch} @${b.bits}: ${b.totalMs.toFixed(2)} ms`);
    }
  } finally {
    profiler?.restore();
  }

  // Results. Per bit-width, the GEMM routes the timed program's quantised layers took (the
  // program is built and its routes chosen by then, so this measures nothing new).
  const routeCounts = (model, batch, bits) => {
    const layers = model.routes(batch, { bits });
    if (!layers) return null;
    const counts = {};
    for (const { route } of layers) {
      if (!route) continue;
      const key = `${route.path} (${route.reason})`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };
  const results = groups.map((g) => {
    const ortS = g.ort ? summarize(g.ort) : null;
    const ort8S = g.ort8 ? summarize(g.ort8) : null;
    const ortqS = g.ortq ? summarize(g.ortq) : null;
    const bySync = new Map();
    const rows = g.cases.filter((c) => c.kind === 'sync').map((c) => {
      const s = summarize(c);
      const acct = g.m.model.bitOps(g.batch, { bits: c.bits });
      bySync.set(c.bits, s);
      return {
        bits: c.bits,
        ...s,
        samplesPerSec: g.batch / (s.medianMs / 1e3),
        vsOrt: ortS?.medianMs ? s.medianMs / ortS.medianMs : null,
        vsOrtInt8: ort8S?.medianMs ? s.medianMs / ort8S.medianMs : null,
        vsOrtQdq: ortqS?.medianMs ? s.medianMs / ortqS.medianMs : null,
        bitOpsPerSample: acct.bitOps / g.batch,
        macsPerSample: acct.macs / g.batch,
        bitOpsPerCall: acct.bitOps,
        routes: routeCounts(g.m.model, g.batch, c.bits),
      };
    });
    const a = summarize(g.cases.find((c) => c.kind === 'async'));
    const syncA = bySync.get(opts.asyncBits);
    const js = g.cases.find((c) => c.kind === 'js');
    const jsS = js ? summarize(js) : null;
    const withRate = (s) => (s?.medianMs ? { ...s, samplesPerSec: g.batch / (s.medianMs / 1e3), vsOrt: ortS?.medianMs ? s.medianMs / ortS.medianMs : null } : s);
    return {
      model: g.m.name,
      description: g.m.description,
      batch: g.batch,
      inputShape: g.shape,
      buildMs: g.m.buildMs,
      rows,
      async: {
        bits: opts.asyncBits,
        ...withRate(a),
        overheadMs: a.medianMs && syncA?.medianMs ? a.medianMs - syncA.medianMs : null,
        overheadRatio: a.medianMs && syncA?.medianMs ? a.medianMs / syncA.medianMs : null,
      },
      ort: withRate(ortS),
      ortInt8: withRate(ort8S),
      ortInt8Qdq: withRate(ortqS),
      qdq: g.m.qdq,
      weights: g.m.weights,
      int8Layers: g.m.int8Layers,
      bits: g.m.bits,
      js: withRate(jsS),
      verification: g.verification,
      ...(opts.threads.length > 1 ? { threads: threadRows(g, bySync, ortS, ortqS) } : {}),
    };
  });
  // Accuracy on the MNIST test split (latency vs accuracy): every bit-width and both ORT exports.
  const accuracy = {};
  if (opts.accuracy) {
    log('accuracy:');
    kernels.setThreads(kernels.hardwareThreads());
    for (const m of models) {
      const a = await accuracyPass(m, ctx);
      if (!a) continue;
      accuracy[m.name] = a;
      log(`  ${m.name}: ${a.anyprec.map((r) => `${r.bits}b ${(100 * r.accuracy).toFixed(1)}%`).join(', ')}; ORT fp32 ` +
          `${a.ortFp32 ? (100 * a.ortFp32.accuracy).toFixed(1) : '–'}%, int8 ${a.ortInt8 ? (100 * a.ortInt8.accuracy).toFixed(1) : '–'}%` +
          `${a.ortInt8Qdq ? `, int8 QDQ ${(100 * a.ortInt8Qdq.accuracy).toFixed(1)}%` : ''}`);
    }
    kernels.setThreads(1);
  }
  for (const m of models) await m.session?.release();
  for (const m of models) await m.int8Session?.release();
  for (const m of models) await m.qdqSession?.release();
  for (const m of models) for (const s of m.threadSessions ?? []) await s.release();
  for (const m of models) await m.model.close();

  const report = {
    schema: 'anyprec-bench-model/1',
    date: started.toISOString(),
    durationSec: (performance.now() - tStart) / 1000,
    argv: process.argv.slice(2),
    options: opts,
    machine,
    isa: kernels.isa(),
    kernelThreads: kernels.threads(),
    rounds: roundsDone,
    cpuPerWall,
    loadAverageEnd: os.loadavg(),
    setup: {
      weightMode: 'truncate: one 8-bit stored model, the top `bits` planes used per call',
      weights: `zoo.randomTensors(graph, ${opts.seed})`,
      inputs: 'uniform in [0, 1)',
      anyprec: 'Model.runSync(x, { bits }) on the main thread; run() = await model.run(x, { bits }) on one worker thread',
      ort: 'fp32, same topology and tensors: Conv/Gemm with folded batch norm (32-bit set), quantisers as Clip(0, 1), MaxPool, Flatten; intra = inter = 1 thread; graph optimization all',
      ortInt8Qdq: 'the fp32 graph quantised to QDQ (QuantizeLinear/DequantizeLinear around every conv, residual Add and the FC; int8 per-channel symmetric weights with batch norm folded in; uint8 per-tensor activations, min/max calibrated on MNIST train digits); ORT fuses it into QLinearConv/QLinearAdd/QGemm',
      js: 'plain-JS float32 loops (MLP only), same folded weights, Clip(0, 1)',
      statistic: 'median of all samples pooled over interleaved rounds; ratios of medians taken in this run',
      bitOps: 'model.bitOps(batch, { bits }): MACs × weight bits × activation bits per layer (float layers count 32 × 32), divided by the batch',
    },
    results,
    accuracy,
    breakdowns,
    profileError: profileError ?? null,
  };
  const md = modelMarkdownReport(report);
  console.log(md);
  if (opts.save) {
    const [j, m] = saveResults('model', started, report, md);
    log(`\nsaved ${j} and ${m}`);
  }
  log(`total ${secs(performance.now() - tStart)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
