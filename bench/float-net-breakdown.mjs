#!/usr/bin/env node
// Float networks (bits 32) against ORT fp32, one thread, one process: per model × batch the
// median runSync time, ORT's median time (interleaved), their ratio, and runSyncDetailed's
// per-layer times with the unattributed rest (layout conversions, pooling, unfused steps).
//   node bench/float-net-breakdown.mjs [--models resnet20,cnn,conv] [--batches 1,64] [--reps N]
import { loadAnyprec } from './lib/cli.mjs';
import { buildModel, fixturesDir, makeGroup } from './lib/model-setup.mjs';
import { median } from './lib/measure.mjs';
import { makeRng } from './lib/reference.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const models = arg('models', 'resnet20,cnn,conv').split(',');
const batches = arg('batches', '1,64').split(',').map(Number);
const reps = Number(arg('reps', '0'));

const ap = await loadAnyprec();
ap.kernels.setThreads(1);
const opts = { seed: 1, bits: [32], asyncBits: 32, ort: true, js: false, accuracy: false, quick: true };
const ctx = { ap, opts, rng: makeRng(opts.seed * 7919 + 17), fixtures: fixturesDir() };
const now = () => performance.now();
for (const name of models) {
  const m = await buildModel(name, ctx);
  for (const batch of batches) {
    const g = makeGroup(m, batch, ctx);
    const n = reps || (batch === 1 ? 400 : 12);
    const run = () => m.model.runSync(g.xt, { bits: 32 });
    const ortRun = () => m.session.run(g.feeds);
    for (let i = 0; i < 3; i++) { run(); await ortRun(); }
    const a = [], o = [];
    for (let i = 0; i < n; i++) {
      let t = now(); run(); a.push(now() - t);
      t = now(); await ortRun(); o.push(now() - t);
    }
    const ma = median(a), mo = median(o);
    const stats = [];
    for (let i = 0; i < Math.min(n, 15); i++) stats.push(m.model.runSyncDetailed(g.xt, { bits: 32 }).stats);
    const total = median(stats.map((s) => s.ms));
    const rest = median(stats.map((s) => s.ms - s.layers.reduce((acc, l) => acc + l.ms, 0)));
    console.log(`${name} b${batch}: anyprec ${ma.toFixed(3)} ms  ORT ${mo.toFixed(3)} ms  ratio ${(ma / mo).toFixed(3)}  (min ${(Math.min(...a) / Math.min(...o)).toFixed(3)})`);
    for (let i = 0; i < stats[0].layers.length; i++) {
      const l = stats[0].layers[i];
      const ms = median(stats.map((s) => s.layers[i].ms));
      const gf = (2 * l.macs) / (ms * 1e6);
      console.log(`   ${l.nodes.join('+').padEnd(28)} ${String(l.op).padEnd(9)} ${ms.toFixed(3).padStart(8)} ms ${gf.toFixed(1).padStart(6)} GFLOP/s`);
    }
    console.log(`   ${'(rest)'.padEnd(38)} ${rest.toFixed(3).padStart(8)} ms of ${total.toFixed(3)}`);
  }
}
