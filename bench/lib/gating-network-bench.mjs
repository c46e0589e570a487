// bench:gating, the whole-network part (see bench/gating.mjs's header): a gated network against
// the same network without gates, at each target sparsity, in interleaved rounds.
import { makeCase, measure, planReps, shuffle, summarize, warmup } from './cases.mjs';
import { loadAnyprec, log, secs } from './cli.mjs';
import { findOffset, fixtureB, theory as netTheory, zooResnet } from './gating-nets.mjs';

/** Calls of a gatePath 'auto' case before the timed ones: the choosers' measuring calls and more. */
const AUTO_WARM = 8;

/** The whole-network part: see the header. */
export async function measureNetworks(opts, rng) {
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
    // gemmPath: the GEMM path of the dense layers in the call ('auto': the default dispatch).
    const mk = (id, model, runOpts, slots = 1, gemmPath = 'bitserial') => {
      const c = makeCase({ id: `${name} ${id}`, slots });
      c.fn = () => withPath(gemmPath, () => record(c)(model.runSyncDetailed(x, runOpts)));
      return c;
    };
    const denseCase = mk('dense', dense, {}, 2);
    const closed = mk('all off', gated, { gate: 'closed' });
    const cases = targets.map((t) => ({ ...t, c: mk(`off=${t.target}`, gated, { gateOffset: t.offset }) }));
    // gatePath 'auto': each gated layer on whichever of its gated and dense (default GEMM path)
    // paths its measured times say is faster. Each target runs its own model instance, as a user
    // at one setting would: a model shared between targets would see a new gate offset on every
    // call, and each layer's GatePathChooser would re-measure its gated path for ever (never
    // comparing). Warm-up: AUTO_WARM calls (the choosers' measuring calls) before the timed ones.
    const autoCases = targets.map((t) => {
      const model = net.makeGated();
      const same = model.runSync(x, { gateOffset: t.offset, gatePath: 'gated' }).data;
      const ref = gated.runSync(x, { gateOffset: t.offset, gatePath: 'gated' }).data;
      if (!same.every((v, i) => Object.is(v, ref[i]))) log(`  !! ${name}: a fresh gated model differs from the first at offset ${t.offset}`);
      // Timed with runSync as a user runs it (a plan whose gated layers all settled on dense runs as a
      // native program, which runSyncDetailed never does); the stats from one detailed call after.
      const c = mk(`off=${t.target} auto`, model, { gateOffset: t.offset, gatePath: 'auto' }, 1, 'auto');
      c.fn = () => withPath('auto', () => model.runSync(x, { gateOffset: t.offset, gatePath: 'auto' }));
      c.statsFn = () => withPath('auto', () => record(c)(model.runSyncDetailed(x, { gateOffset: t.offset, gatePath: 'auto' })));
      c.warmCalls = AUTO_WARM;
      return { ...t, c };
    });
    // gatePath 'gated' on the default GEMM path: the gated kernel with each layer's high part on
    // its measured route (bit-serial or int8, HighRouteChooser), and every gate closed likewise.
    const defaultCases = [{ target: 1, offset: null }, ...targets].map((t) => ({ ...t,
      c: mk(t.offset === null ? 'all off (default path)' : `off=${t.target} gated (default path)`, gated,
        t.offset === null ? { gate: 'closed' } : { gateOffset: t.offset }, 1, 'auto') }));
    // The floor: the dense network at Bhb bits, bit-serial and on the default path (the best counts).
    const floorCases = net.floor ? ['bitserial', 'auto'].map((p) => mk(`dense at ${net.floor.activations} bits (${p})`, dense, { bits: net.floor }, 1, p)) : [];
    const all = [denseCase, closed, ...cases.map((t) => t.c), ...autoCases.map((t) => t.c), ...defaultCases.map((t) => t.c), ...floorCases];
    let denseAuto = null;
    if (canForce) {
      denseAuto = makeCase({ id: `${name} dense (default path)` });
      denseAuto.fn = () => withPath('auto', () => dense.runSync(x));
      all.push(denseAuto);
    }
    nets.push({ id: name, net, sane, trained, denseCase, closed, cases, autoCases, defaultCases, floorCases, denseAuto, all });
  }
  const active = nets.filter((n) => !n.skipped);
  const all = active.flatMap((n) => n.all);
  for (const c of all) {
    await warmup(c);
    for (let i = 1; i < (c.warmCalls ?? 1); i++) await c.fn();
  }
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
  for (const c of all) if (c.statsFn) c.statsFn();
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
      floor: n.floorCases.length ? { bits: n.net.floor, ...n.floorCases.map(summarize).reduce((p, q) => (q.medianMs < p.medianMs ? q : p)) } : null,
      defaultPath: n.defaultCases.map((t) => {
        const st = t.c.stats[t.c.stats.length - 1];
        const highs = st.layers.filter((l) => l.gate?.high).map((l) => l.gate.high);
        return { target: t.target, gateOffset: t.offset, ...summarize(t.c), off: 1 - st.gate.fraction,
          int8High: highs.filter((h) => h === 'int8').length, layers: highs.length,
          routes: Object.fromEntries(['bitserial', 'int8', 'codes'].map((r) => [r, highs.filter((h) => h === r).length])),
          reasons: st.layers.filter((l) => l.gate?.high).map((l) => `${l.nodes[0]}: ${l.gate.high} (${l.gate.highReason})`) };
      }),
      auto: n.autoCases.map((t) => {
        const st = t.c.stats[t.c.stats.length - 1];
        const gatedMs = summarize(n.cases.find((g) => g.target === t.target).c).medianMs;
        return {
          target: t.target, gateOffset: t.offset, ...summarize(t.c), gatedMs,
          denseLayers: st.gate.dense ?? [], reasons: st.layers.filter((l) => l.gate).map((l) => `${l.nodes[0]}: ${l.gate.path} (${l.gate.pathReason})`),
        };
      }),
    };
  });
}
