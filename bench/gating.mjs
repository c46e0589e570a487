#!/usr/bin/env node
// npm run bench:gating — the precision-gated GEMM (kernels.gatedGemm) against the dense B-bit
// bitGemm it replaces, one thread, one process.
//
// Measured, per layer-sized shape (M = positions, K = kh*kw*cin, N = cout; default ResNet-like
// 3x3 convolutions at 64x64 positions: 4096x288x64, 4096x576x64, and a larger 4096x1152x128) and
// per (B, Bhb) in {4/2, 4/1, 3/2, 3/1} with 1-bit bipolar weights:
//  * dense: kernels.bitGemm at aBits = B (unsigned activations x bipolar weights);
//  * gated at 50 / 80 / 90 / 95% of the outputs gated off, for each skipping strategy asked for
//    (default 'auto' = the one kept, and 'tiles' = dense low planes on every 8x8 micro-tile with
//    an output on, the alternative it was measured against; 'compact' with --strategies);
//  * gated with every output off (+Infinity thresholds): the high planes and the gate alone.
// Thresholds are set per output column from that column's O_hb distribution so that the asked
// fraction is off (exactly, up to ties in O_hb: the actual fraction is reported and used). The
// activation codes are uniform random, so the on-set is uncorrelated across rows and columns:
// the hard case for skipping (no 8x8 micro-tile is all off).
// Theory: the dense GEMM does B*w plane pairs per output, the gated one Bhb*w for every output
// plus (B-Bhb)*w for the gated-on ones, so the plane-pair speedup is
//   B / (Bhb + (1 - sparsity) * (B - Bhb))          (w, the weight bits, cancels).
// Every case's output is checked against bitGemm: gated-on outputs equal the dense result, the
// others 2^(B-Bhb) x bitGemm at Bhb bits.
// Cases are measured in interleaved rounds (the order shuffled in each round) and summarized by
// the median of all samples; the machine may be shared, so only ratios taken in this run count.
//
// Whole networks (after the layers; --nets, --skip-layers): a gated network against the same
// network without gates, at the dense B bits, one thread, batch --net-batch (default 16):
//  * fixture B: the dnn-gating PG ResNet-20 (9 pgconv2d layers, w8/a3, Bhb 2, trained
//    thresholds) vs the same graph with plain sign-magnitude convs (smconv2d);
//  * zoo: zoo.gatedPreactResnet (Any-Precision ResNet-20, gates B=4/Bhb=2 on its 18 quantised
//    convs, w2/a4, random weights, thresholds = per-channel medians from calibrateGates) vs
//    zoo.preactResnet with the same weights.
// For each target (50/80/90/95% of the gated outputs off, MAC-weighted over the gated layers) the
// gateOffset is searched (bisection on RunStats.gate.fraction); the call at that offset is timed
// against the dense network in interleaved rounds (medians), next to two theories computed from
// the per-layer stats of that call: dense plane pairs ÷ gated plane pairs over all bit-serial
// layers (ungated ones are fixed cost), and the time (Amdahl) bound where only the gated layers'
// dense time shrinks, in proportion to their plane pairs, and everything else stays as measured.
// Sanity: the gated network at gateOffset −1e30 (every gate on, through the gated kernel) must
// equal the dense network bit for bit.
//
// Output: a markdown report on stdout, and bench/results/gating-<date>.{json,md}.
import os from 'node:os';

import { makeCase, measure, planReps, shuffle, summarize, warmup } from './lib/cases.mjs';
import { loadAnyprec, log, parseBenchArgs, positiveNumber, secs } from './lib/cli.mjs';
import { machineInfo, saveResults } from './lib/machine.mjs';
import { makeRng, shapeName } from './lib/reference.mjs';
import { loadavg } from './lib/report.mjs';
import { measureNetworks } from './lib/gating-network-bench.mjs';
import { gatingMarkdown } from './lib/gating-report.mjs';

const HELP = `usage: node bench/gating.mjs [options]      (npm run bench:gating -- [options])

  --quick            short pass (~1 min): first shape only, 3 rounds
  --isa NAME         ISA to run on (default: the addon's default, kernels.isa())
  --shapes LIST      comma-separated MxKxN (default 4096x288x64,4096x576x64,4096x1152x128)
  --cases LIST       comma-separated B/Bhb (default 4/2,4/1,3/2,3/1)
  --wbits LIST       weight planes (bipolar), default 1,8 (1: the least work per output, the
                     hardest case for gating; 8: fixture B's weights)
  --sparsity LIST    fractions of outputs gated off (default 0.5,0.8,0.9,0.95)
  --strategies LIST  of auto, compact, tiles, hybrid (default auto,tiles)
  --rounds N         interleaved rounds (default 11, quick 3)
  --budget SEC       time budget for the measurements (default 200, quick 45)
  --nets LIST        whole networks: fixture-b, zoo, none (default fixture-b,zoo)
  --net-batch N      samples per network call (default 16, quick 8)
  --net-rounds N     interleaved rounds for the networks (default 21, quick 3)
  --net-budget SEC   time budget for the network measurements (default 150, quick 40)
  --skip-layers      only the whole networks
  --no-save          print only; do not write bench/results/
  --seed N           seed for the codes (default 1)
  -h, --help         this text`;

function parseOptions(argv) {
  const values = parseBenchArgs(argv, {
    isa: { type: 'string' },
    shapes: { type: 'string' },
    cases: { type: 'string' },
    wbits: { type: 'string' },
    sparsity: { type: 'string' },
    strategies: { type: 'string' },
    rounds: { type: 'string' },
    budget: { type: 'string' },
    nets: { type: 'string' },
    'net-batch': { type: 'string' },
    'net-rounds': { type: 'string' },
    'net-budget': { type: 'string' },
    'skip-layers': { type: 'boolean', default: false },
  }, HELP);
  const quick = values.quick;
  const num = positiveNumber;
  const defaultShapes = quick ? '4096x288x64' : '4096x288x64,4096x576x64,4096x1152x128';
  const shapes = (values.shapes ?? defaultShapes).split(',').map((s) => {
    const d = s.trim().toLowerCase().split('x').map(Number);
    if (d.length !== 3 || !d.every((x) => Number.isInteger(x) && x > 0)) throw new RangeError(`--shapes: '${s}' is not MxKxN`);
    return { m: d[0], k: d[1], n: d[2] };
  });
  const cases = (values.cases ?? '4/2,4/1,3/2,3/1').split(',').map((s) => {
    const [B, hb] = s.split('/').map(Number);
    if (!Number.isInteger(B) || !Number.isInteger(hb) || hb < 1 || hb >= B || B > 8) {
      throw new RangeError(`--cases: '${s}' is not B/Bhb with 1 <= Bhb < B <= 8`);
    }
    return { B, hb };
  });
  const sparsities = (values.sparsity ?? '0.5,0.8,0.9,0.95').split(',').map((s) => {
    const v = Number(s);
    if (!(v >= 0 && v < 1)) throw new RangeError(`--sparsity: '${s}' is not in [0, 1)`);
    return v;
  });
  const strategies = (values.strategies ?? 'auto,tiles').split(',').map((s) => s.trim());
  for (const s of strategies) {
    if (!['auto', 'compact', 'tiles', 'hybrid'].includes(s)) throw new RangeError(`--strategies: unknown '${s}'`);
  }
  const nets = (values.nets ?? 'fixture-b,zoo').split(',').map((x) => x.trim()).filter((x) => x && x !== 'none');
  for (const n of nets) if (!['fixture-b', 'zoo'].includes(n)) throw new RangeError(`--nets: unknown '${n}' (fixture-b, zoo, none)`);
  const wbits = (values.wbits ?? '1,8').split(',').map((x) => {
    const v = Number(x);
    if (!Number.isInteger(v) || v < 1 || v > 8) throw new RangeError(`--wbits: '${x}' is not an integer in 1..8`);
    return v;
  });
  return {
    quick,
    isa: values.isa ?? null,
    shapes,
    cases,
    wbits,
    sparsities,
    strategies,
    rounds: Math.max(2, Math.round(num(values.rounds, 'rounds', quick ? 3 : 11))),
    budgetMs: 1000 * num(values.budget, 'budget', quick ? 45 : 200),
    targetMs: quick ? 10 : 40, // per case and round
    maxReps: 50,
    save: !values['no-save'],
    skipLayers: values['skip-layers'],
    nets,
    netBatch: Math.round(num(values['net-batch'], 'net-batch', quick ? 8 : 16)),
    netRounds: Math.max(2, Math.round(num(values['net-rounds'], 'net-rounds', quick ? 3 : 21))),
    netBudgetMs: 1000 * num(values['net-budget'], 'net-budget', quick ? 40 : 150),
    seed: Math.round(num(values.seed, 'seed', 1)),
  };
}

const theory = (B, hb, off) => B / (hb + (1 - off) * (B - hb));

/** Per column, the threshold with `off` of that column's O_hb values at or below it. */
function thresholdsFor(ohb, m, n, off) {
  const thr = new Float32Array(n);
  const offCount = Math.min(m, Math.round(off * m));
  const col = new Int32Array(m);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < m; i++) col[i] = ohb[i * n + j];
    col.sort();
    thr[j] = offCount === 0 ? -Infinity : col[offCount - 1];
  }
  return thr;
}

/** Gated output against the dense and the high-only results. */
function checkGated(r, dense, ohb) {
  let bad = 0, on = 0;
  for (let x = 0; x < dense.length; x++) {
    const want = r.mask[x] ? dense[x] : ohb[x];
    if (r.out[x] !== want) bad++;
    on += r.mask[x];
  }
  return { ok: bad === 0 && on === r.on, wrong: bad, on: r.on };
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const started = new Date();
  const tStart = performance.now();
  const { kernels } = await loadAnyprec();
  if (opts.isa) kernels.setIsa(opts.isa);
  kernels.setThreads(1);
  const isa = kernels.isa();
  const machine = machineInfo(kernels, ['native', 'lib', 'bench/gating.mjs']);
  log(`anyprec ${isa}, 1 thread; load average ${loadavg(os.loadavg())}`);
  const rng = makeRng(opts.seed);

  // ---- data, thresholds, cases ----
  const blocks = [];
  for (const shape of opts.skipLayers ? [] : opts.shapes) {
    const { m, k, n } = shape;
    for (const w of opts.wbits) for (const { B, hb } of opts.cases) {
      const ac = new Uint8Array(m * k), bc = new Uint8Array(n * k);
      for (let i = 0; i < ac.length; i++) ac[i] = (rng() * (1 << B)) | 0;
      for (let i = 0; i < bc.length; i++) bc[i] = (rng() * (1 << w)) | 0;
      const A = kernels.pack(ac, m, k, B), W = kernels.pack(bc, n, k, w);
      const base = { highBits: hb, bEncoding: 'bipolar' };
      // Dense = the bit-serial GEMM (gating skips its plane pairs); where bitGemm has an int8
      // dot-product path the dense GEMM on the default path is timed too (denseDefault).
      const hasPath = typeof kernels.gemmPath === 'function';
      const denseOpts = { aBits: B, aEncoding: 'unsigned', bEncoding: 'bipolar', ...(hasPath ? { path: 'bitserial' } : {}) };
      const dense = kernels.bitGemm(A, W, denseOpts);
      const high = kernels.gatedGemm(A, W, { ...base, thresholds: new Float32Array(n).fill(Infinity) });
      const ohb = high.out;
      // Sanity: +Infinity is 2^(B-Bhb) x bitGemm at Bhb bits, -Infinity the dense result.
      const highRef = kernels.bitGemm(A, W, { ...denseOpts, aBits: hb });
      const all = kernels.gatedGemm(A, W, { ...base, thresholds: new Float32Array(n).fill(-Infinity) });
      const sane = highRef.every((v, i) => v * 2 ** (B - hb) === ohb[i]) && all.out.every((v, i) => v === dense[i]);
      if (!sane) log(`  !! ${shapeName(shape)} w${w} ${B}/${hb}: gated ±Infinity does not match bitGemm`);
      const block = { shape, w, B, hb, sane, cases: [], sparsity: [] };
      // The dense case is the denominator of every ratio: measured twice per round (slots).
      block.dense = makeCase({ id: `${shapeName(shape)} w${w} ${B}/${hb} dense`, fn: () => kernels.bitGemm(A, W, denseOpts), slots: 2 });
      block.highOnly = makeCase({
        id: `${shapeName(shape)} w${w} ${B}/${hb} all off`,
        fn: () => kernels.gatedGemm(A, W, { ...base, thresholds: new Float32Array(n).fill(Infinity) }),
      });
      block.cases.push(block.dense, block.highOnly);
      if (hasPath) {
        block.defaultPath = kernels.gemmPath(B, w, m, n, k);
        block.denseDefault = makeCase({
          id: `${shapeName(shape)} w${w} ${B}/${hb} dense (default path)`,
          fn: () => kernels.bitGemm(A, W, { aBits: B, aEncoding: 'unsigned', bEncoding: 'bipolar' }),
        });
        block.cases.push(block.denseDefault);
      }
      for (const off of opts.sparsities) {
        const thresholds = thresholdsFor(ohb, m, n, off);
        const entry = { target: off, cases: {} };
        for (const strategy of opts.strategies) {
          const c = makeCase({
            id: `${shapeName(shape)} w${w} ${B}/${hb} off=${off} ${strategy}`,
            fn: () => kernels.gatedGemm(A, W, { ...base, thresholds, strategy }),
            check: (r) => checkGated(r, dense, ohb),
          });
          entry.cases[strategy] = c;
          block.cases.push(c);
        }
        block.sparsity.push(entry);
      }
      blocks.push(block);
    }
  }

  // ---- warmup, planning, interleaved rounds ----
  const all = blocks.flatMap((b) => b.cases);
  for (const c of all) {
    const out = await warmup(c);
    if (c.check && !c.checkResult.ok) log(`  !! ${c.id}: output check FAILED (${c.checkResult.wrong} wrong)`);
    if (out && out.mask) c.onCount = out.on;
  }
  const planned = all.length ? planReps(all, { targetMs: opts.targetMs, maxReps: opts.maxReps, rounds: opts.rounds, budgetMs: opts.budgetMs }) : 0;
  if (all.length) log(`${all.length} cases, ${opts.rounds} rounds planned in ${secs(planned)}`);
  let roundsDone = 0;
  const roundsStart = performance.now();
  for (let r = 0; r < (all.length ? opts.rounds : 0); r++) {
    if (r > 0 && performance.now() - roundsStart + (performance.now() - roundsStart) / r > 1.15 * opts.budgetMs) {
      log(`  stopping after ${r} rounds: the time budget is spent`);
      break;
    }
    const tr = performance.now();
    for (const b of shuffle(blocks, rng)) {
      // Dense first and last in its block: slow phases of a shared machine hit both sides.
      await measure(b.dense);
      for (const c of shuffle(b.cases.filter((x) => x !== b.dense), rng)) await measure(c);
      await measure(b.dense);
    }
    roundsDone = r + 1;
    log(`  round ${r + 1}/${opts.rounds}: ${secs(performance.now() - tr)}`);
  }

  // ---- results ----
  const results = blocks.map((b) => {
    const { m, n } = b.shape;
    const dense = summarize(b.dense), highOnly = summarize(b.highOnly);
    return {
      shape: shapeName(b.shape),
      B: b.B,
      highBits: b.hb,
      weightBits: b.w,
      sane: b.sane,
      denseMs: dense.medianMs,
      dense,
      denseDefault: b.denseDefault ? { path: b.defaultPath, ...summarize(b.denseDefault) } : null,
      allOff: { ...highOnly, speedup: dense.medianMs / highOnly.medianMs, theory: b.B / b.hb },
      sparsity: b.sparsity.map((e) => {
        const first = Object.values(e.cases)[0];
        const off = 1 - first.onCount / (m * n);
        const th = theory(b.B, b.hb, off);
        const strategies = {};
        for (const [name, c] of Object.entries(e.cases)) {
          const s = summarize(c);
          const speedup = dense.medianMs / s.medianMs;
          strategies[name] = { ...s, speedup, ofTheory: speedup / th };
        }
        return { target: e.target, off, theory: th, strategies };
      }),
    };
  });
  const report = {
    schema: 'anyprec-bench-gating/1',
    date: started.toISOString(),
    durationSec: (performance.now() - tStart) / 1000,
    argv: process.argv.slice(2),
    options: { ...opts, shapes: opts.shapes.map(shapeName), cases: opts.cases.map((c) => `${c.B}/${c.hb}`) },
    machine,
    isa,
    rounds: roundsDone,
    loadAverageEnd: os.loadavg(),
    setup: {
      activations: 'A (M×K): uniform unsigned B-bit codes, packed at B planes',
      weights: `B (N×K): uniform bipolar codes of ${opts.wbits.join(' and ')} bits (each table says which)`,
      thresholds: 'per column, from the O_hb distribution of that column, so that the target fraction is off (up to ties)',
      theory: 'B / (Bhb + (1 - off) * (B - Bhb)): dense plane pairs / gated plane pairs (weight bits cancel)',
      statistic: 'median of all samples pooled over interleaved rounds; ratios of medians taken in this run',
    },
    results,
    networks: await measureNetworks(opts, rng),
  };
  const md = gatingMarkdown(report);
  console.log(md);
  if (opts.save) {
    const [j, mdPath] = saveResults('gating', started, report, md);
    log(`\nsaved ${j} and ${mdPath}`);
  }
  log(`total ${secs(performance.now() - tStart)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
