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
import { loadavg, ratio, sig, table } from './lib/report.mjs';
import { findOffset, fixtureB, theory as netTheory, zooResnet } from './lib/gating-nets.mjs';

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
  const md = markdown(report);
  console.log(md);
  if (opts.save) {
    const [j, mdPath] = saveResults('gating', started, report, md);
    log(`\nsaved ${j} and ${mdPath}`);
  }
  log(`total ${secs(performance.now() - tStart)}`);
}

/** The whole-network part: see the header. */
async function measureNetworks(opts, rng) {
  if (opts.nets.length === 0) return [];
  const ap = await loadAnyprec();
  const { kernels } = ap;
  // Gating skips bit-serial work, so the networks (gated and dense) run bit-serial; the dense
  // network is also timed on the default path (the int8 dot-product path where the dispatch
  // picks it), the time a user without gates would get.
  const canForce = typeof kernels.setGemmPath === 'function';
  const withPath = (path, fn) => {
    if (!canForce) return fn();
    kernels.setGemmPath(path);
    try {
      return fn();
    } finally {
      kernels.setGemmPath('bitserial');
    }
  };
  if (canForce) kernels.setGemmPath('bitserial');
  const nets = [];
  for (const name of opts.nets) {
    const t0 = performance.now();
    const net = name === 'fixture-b' ? fixtureB(ap, opts.netBatch) : zooResnet(ap, opts.netBatch, opts.seed);
    if (net.skipped) {
      log(`  ${name}: skipped: ${net.skipped}`);
      nets.push({ id: name, skipped: net.skipped });
      continue;
    }
    const { gated, dense, x } = net;
    // Sanity: every gate on through the gated kernel == the dense network, bit for bit.
    const a = gated.runSync(x, { gateOffset: -1e30 }).data, b = dense.runSync(x).data;
    const sane = a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    if (!sane) log(`  !! ${name}: the gated network with every gate on differs from the dense network`);
    const trained = gated.runSyncDetailed(x).stats.gate;
    const targets = opts.sparsities.map((target) => ({ target, ...findOffset(gated, x, target) }));
    log(`  ${name}: thresholds at offset 0 leave ${(100 * (1 - trained.fraction)).toFixed(1)}% off; offsets ` +
      targets.map((t) => `${t.offset.toPrecision(4)} (${(100 * t.off).toFixed(1)}%)`).join(', ') + ` found in ${secs(performance.now() - t0)}`);
    const record = (c) => (r) => {
      (c.stats ??= []).push(r.stats);
      return r;
    };
    const mk = (id, model, runOpts, slots = 1) => {
      const c = makeCase({ id: `${name} ${id}`, slots });
      c.fn = () => record(c)(model.runSyncDetailed(x, runOpts));
      return c;
    };
    const denseCase = mk('dense', dense, {}, 2);
    const closed = mk('all off', gated, { gate: 'closed' });
    const cases = targets.map((t) => ({ ...t, c: mk(`off=${t.target}`, gated, { gateOffset: t.offset }) }));
    const all = [denseCase, closed, ...cases.map((t) => t.c)];
    let denseAuto = null;
    if (canForce) {
      denseAuto = makeCase({ id: `${name} dense (default path)` });
      denseAuto.fn = () => withPath('auto', () => dense.runSync(x));
      all.push(denseAuto);
    }
    nets.push({ id: name, net, sane, trained, denseCase, closed, cases, denseAuto, all });
  }
  const active = nets.filter((n) => !n.skipped);
  const all = active.flatMap((n) => n.all);
  for (const c of all) await warmup(c);
  for (const c of all) c.stats = [];
  const planned = planReps(all, { targetMs: 1, maxReps: 20, rounds: opts.netRounds, budgetMs: opts.netBudgetMs });
  log(`networks: ${all.length} cases, ${opts.netRounds} rounds planned in ${secs(planned)}`);
  const start = performance.now();
  let rounds = 0;
  for (let r = 0; r < opts.netRounds; r++) {
    if (r > 0 && (performance.now() - start) * (1 + 1 / r) > 1.15 * opts.netBudgetMs) {
      log(`  stopping after ${r} rounds: the network time budget is spent`);
      break;
    }
    for (const n of shuffle(active, rng)) {
      await measure(n.denseCase);
      for (const c of shuffle(n.all.filter((x) => x !== n.denseCase), rng)) await measure(c);
      await measure(n.denseCase);
    }
    rounds = r + 1;
    log(`  network round ${r + 1}/${opts.netRounds}: ${secs(performance.now() - start)}`);
  }
  if (canForce) kernels.setGemmPath('auto');
  return nets.map((n) => {
    if (n.skipped) return { id: n.id, skipped: n.skipped };
    const dense = summarize(n.denseCase);
    // Per-layer dense times: medians over the dense samples.
    const layerMs = new Map();
    for (const name of n.denseCase.stats[0].layers.map((l) => l.nodes[0])) {
      const v = n.denseCase.stats.map((s) => s.layers.find((l) => l.nodes[0] === name).ms).sort((p, q) => p - q);
      layerMs.set(name, v[v.length >> 1]);
    }
    // The gated layers' own time (their steps: GEMM + fused BN/activation), medians over samples.
    const gatedNames = new Set(n.net.gatedLayers);
    const gatedLayersMs = (c) => {
      const v = c.stats.map((s) => s.layers.filter((l) => gatedNames.has(l.nodes[0])).reduce((a, l) => a + l.ms, 0)).sort((p, q) => p - q);
      return v[v.length >> 1];
    };
    const denseGatedMs = gatedLayersMs(n.denseCase);
    const row = (c, extra = {}) => {
      const s = summarize(c);
      const st = c.stats[c.stats.length - 1];
      const layersMs = gatedLayersMs(c);
      const th = netTheory(st, layerMs, dense.medianMs);
      const speedup = dense.medianMs / s.medianMs;
      return {
        ...extra, off: 1 - st.gate.fraction, onFraction: st.gate.fraction, bAvg: st.gate.bAvg,
        bitOps: st.bitOps, denseBitOps: st.denseBitOps, gatedBitOps: st.gate.bitOps, gatedDenseBitOps: st.gate.denseBitOps,
        medianMs: s.medianMs, minMs: s.minMs, samples: s.samples, speedup,
        theoryPlanePairs: th.planePairs, theoryTime: th.time, ofTheory: speedup / th.planePairs, ofTheoryTime: speedup / th.time,
        gatedLayersMs: layersMs, gatedLayersDenseMs: denseGatedMs, gatedLayersSpeedup: denseGatedMs / layersMs,
        gatedLayersTheory: st.gate.denseBitOps / st.gate.bitOps,
      };
    };
    return {
      id: n.id, name: n.net.name, batch: opts.netBatch, B: n.net.B, highBits: n.net.highBits, weightBits: n.net.weightBits,
      gatedLayers: n.net.gatedLayers, thresholds: n.net.thresholds, sane: n.sane, rounds,
      trainedOff: 1 - n.trained.fraction,
      dense: { ...dense, bitOps: n.denseCase.stats[0].bitOps },
      denseDefaultPath: n.denseAuto ? summarize(n.denseAuto) : null,
      denseLayerMs: Object.fromEntries(layerMs),
      allOff: row(n.closed),
      sparsity: n.cases.map((t) => row(t.c, { target: t.target, gateOffset: t.offset })),
    };
  });
}

function markdownNetworks(nets) {
  const out = [];
  for (const n of nets) {
    out.push('');
    if (n.skipped) {
      out.push(`## Network ${n.id}: skipped (${n.skipped})`);
      continue;
    }
    out.push(`## Network: ${n.name}`);
    out.push('');
    out.push(`Batch ${n.batch}, one thread, ${n.rounds} interleaved rounds, medians; B = ${n.B}, Bhb = ${n.highBits}, ` +
      `${n.weightBits}-bit weights; ${n.gatedLayers.length} gated layers; thresholds: ${n.thresholds} ` +
      `(they leave ${(100 * n.trainedOff).toFixed(1)}% off at offset 0). Dense network: ${sig(n.dense.medianMs)} ms per call. ` +
      `Every gate on (offset −1e30) == dense network bit for bit: ${n.sane ? 'yes' : '**NO**'}.`);
    out.push('');
    const rows = [n.allOff, ...n.sparsity].map((r) => [
      r.target === undefined ? 'all off (closed)' : `${(100 * r.target).toFixed(0)}%`,
      r.gateOffset === undefined ? "–" : r.gateOffset.toPrecision(3),
      `${(100 * r.off).toFixed(1)}%`, sig(r.bAvg), sig(n.dense.medianMs), sig(r.medianMs), ratio(r.speedup),
      ratio(r.theoryPlanePairs), sig(r.ofTheory, 2), ratio(r.theoryTime), sig(r.ofTheoryTime, 2),
      `${sig(r.gatedLayersDenseMs)} → ${sig(r.gatedLayersMs)} (${ratio(r.gatedLayersSpeedup)} of ${ratio(r.gatedLayersTheory)})`,
    ]);
    out.push(table(['target off', 'gateOffset', 'off (MAC-w.)', 'B_avg', 'dense ms', 'gated ms', 'speedup',
      'theory (plane pairs)', 'of theory', 'theory (time, Amdahl)', 'of time theory',
      'gated layers alone: dense → gated ms (speedup of theory)'], rows));
    if (n.denseDefaultPath) {
      const d = n.denseDefaultPath.medianMs;
      out.push('');
      out.push(`Both networks above run bit-serial (kernels.setGemmPath('bitserial')): gating skips bit-serial plane ` +
        `pairs. The dense network on the default path (the int8 dot-product path where the dispatch picks it): ` +
        `${sig(d)} ms per call; the gated network at each target vs that: ` +
        n.sparsity.map((r) => `${(100 * r.target).toFixed(0)}% ${ratio(d / r.medianMs)}`).join(', ') + '.');
    }
  }
  return out.join('\n');
}

function markdown(rep) {
  const m = rep.machine;
  const strategies = rep.options.strategies;
  const out = [];
  out.push('# Precision-gated GEMM vs dense bitGemm, one thread');
  out.push('');
  const dirty = m.git.dirty.length ? `; uncommitted: ${m.git.dirty.map((l) => `\`${l.trim()}\``).join(', ')}` : '';
  out.push(
    `${rep.date} · ${m.cpuModel} (${m.logicalCpus} vCPUs; ${m.cpuFlags.join(', ')}) · Node ${m.node} · ISA ${rep.isa} · ` +
      `anyprec git \`${m.git.head ?? 'unknown'}\`${dirty}` + (m.addon ? ` · addon sha256 ${m.addon.sha256}…` : ''),
  );
  out.push('');
  out.push(
    `${rep.rounds} interleaved rounds, medians; total ${rep.durationSec.toFixed(0)} s; load average ` +
      `${loadavg(m.loadAverageStart)} at start, ${loadavg(rep.loadAverageEnd)} at end. ` +
      `A: ${rep.setup.activations}; W: ${rep.setup.weights}; thresholds ${rep.setup.thresholds}. ` +
      `speedup = dense time / gated time; theory = ${rep.setup.theory}; "of theory" = speedup / theory. ` +
      `'auto' is the strategy kept (Compact: the gated-on outputs of each 16×16 group listed, one per SIMD lane); ` +
      `'tiles' runs the low planes densely on every 8×8 micro-tile with an output on (skips only all-off ones). ` +
      `The 'all off' rows (every threshold +∞: the high planes, the gate and the output alone) bound what any sparsity ` +
      `can reach; their theory is B/Bhb.`,
  );
  out.push('');
  const bad = rep.results.flatMap((r) => r.sparsity.flatMap((s) => Object.values(s.strategies).filter((c) => c.check && !c.check.ok)));
  const insane = rep.results.filter((r) => !r.sane);
  out.push(
    `Correctness: every gated case checked against bitGemm (on: the dense result, off: 2^(B−Bhb) × bitGemm at Bhb bits): ` +
      (bad.length || insane.length ? `**${bad.length + insane.length} FAILED**.` : 'all ok.'),
  );
  const groups = [...new Set(rep.results.map((r) => `${r.shape}|${r.weightBits}`))];
  for (const group of groups) {
    const [shape, wb] = group.split('|');
    out.push('');
    out.push(`## ${shape} (M×K×N), ${wb}-bit weights`);
    out.push('');
    const rows = [];
    for (const r of rep.results.filter((x) => x.shape === shape && String(x.weightBits) === wb)) {
      rows.push([
        `${r.B}/${r.highBits}`, 'all off (+∞)', sig(r.denseMs), sig(r.allOff.medianMs), ratio(r.allOff.speedup), ratio(r.allOff.theory),
        `${sig(r.allOff.speedup / r.allOff.theory, 2)}`, ...strategies.slice(1).map(() => ''),
      ]);
      for (const s of r.sparsity) {
        const a = s.strategies[strategies[0]];
        rows.push([
          `${r.B}/${r.highBits}`, `${(100 * s.off).toFixed(1)}%`, sig(r.denseMs), sig(a.medianMs), ratio(a.speedup), ratio(s.theory),
          sig(a.ofTheory, 2) + (a.check && !a.check.ok ? ' **WRONG**' : ''),
          ...strategies.slice(1).map((name) => {
            const c = s.strategies[name];
            return `${ratio(c.speedup)} (${sig(c.ofTheory, 2)})` + (c.check && !c.check.ok ? ' **WRONG**' : '');
          }),
        ]);
      }
    }
    out.push(table(['B/Bhb', 'off', 'dense ms', `${strategies[0]} ms`, 'speedup', 'theory', 'of theory',
      ...strategies.slice(1).map((name) => `${name}: speedup (of theory)`)], rows));
    const withDefault = rep.results.filter((x) => x.shape === shape && String(x.weightBits) === wb && x.denseDefault);
    if (withDefault.length) {
      out.push('');
      out.push('"dense" is the bit-serial GEMM (path \'bitserial\'). The dense GEMM on the default path: ' +
        withDefault.map((r) => `${r.B}/${r.highBits}: ${sig(r.denseDefault.medianMs)} ms (${r.denseDefault.path})`).join(', ') + '.');
    }
  }
  if (rep.networks.length) {
    out.push('');
    out.push('# Whole networks: gated vs the same network without gates, one thread');
    out.push('');
    out.push('off = MAC-weighted fraction of the gated layers\' outputs gated off in the timed call; B_avg = the MAC-weighted ' +
      'activation bits spent by the gated layers; theory (plane pairs) = dense ÷ gated plane pairs over every bit-serial ' +
      'layer (ungated layers as fixed cost; float layers left out); theory (time) = the dense call\'s time with only the ' +
      'gated layers\' dense time scaled by their plane-pair ratio (float layers, element-wise ops, packing, ungated layers ' +
      'kept as measured): the ceiling for a gated kernel whose time is proportional to its plane pairs. The last column ' +
      'sums the steps of the gated layers only (their GEMM with what is fused into it: BN, activation quantiser; ' +
      'per-step times from RunStats, medians), against their own plane-pair ratio.');
    out.push(markdownNetworks(rep.networks));
  }
  return out.join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
