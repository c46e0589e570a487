#!/usr/bin/env node
// Soak: N inferences on a small model (sync and async calls, precisions switching), RSS sampled
// after a warm-up. Fails (exit 1) when RSS grows by more than --max-growth percent (default 25)
// from the first sample after warm-up to the last. A leak of one buffer per call shows as steady
// growth; a flat line is what a healthy process gives.
//
// usage: node scripts/soak.mjs [--n 100000] [--batch 4] [--max-growth 25] [--json]
// (needs the build: npm run build; with node --expose-gc the samples are taken after a full GC)
import { createRequire } from 'module';
import * as path from 'path';
import { fileURLToPath } from 'url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Model, Tensor, zoo } = require(path.join(root, 'dist'));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const n = arg('n', 100000), batch = arg('batch', 4), maxGrowth = arg('max-growth', 25);
const json = process.argv.includes('--json');
if (!(Number.isInteger(n) && n >= 100 && Number.isInteger(batch) && batch >= 1)) {
  console.error('usage: node scripts/soak.mjs [--n N >= 100] [--batch B] [--max-growth PCT] [--json]');
  process.exit(2);
}

const g = zoo.mlp([64, 48, 10], { bitList: [1, 2, 4, 8, 32] });
const model = Model.build(g, zoo.randomTensors(g, 1));
const x = new Tensor(Float32Array.from({ length: batch * 64 }, (_, i) => Math.sin(i) * 0.5 + 0.5), [batch, 64]);
const bits = [1, 2, 4, 8, 32];
const reference = bits.map((b) => model.runSync(x, { bits: b }).data);
const gc = globalThis.gc;
const rss = () => { gc?.(); return process.memoryUsage().rss; };

// Warm-up: the allocator's arenas and the worker thread's heap grow to their working size over the
// first ~100,000 calls (measured: RSS then stays flat for 500,000 more), so the baseline is taken
// half-way: a leak of even a few bytes per call still shows as growth over the second half.
const warm = Math.max(1000, Math.floor(n / 2));
const sampleEvery = Math.max(1, Math.floor((n - warm) / 20));
const samples = [];
let wrong = 0, done = 0;
const t0 = Date.now();
while (done < n) {
  // 7 of 8 calls synchronous, 1 of 8 through the worker pool (8 at a time)
  const i = done % bits.length;
  if (done % 64 < 56) {
    const out = model.runSync(x, { bits: bits[i] });
    if (!out.data.every((v, j) => Object.is(v, reference[i][j]))) wrong++;
    done++;
  } else {
    const calls = Array.from({ length: 8 }, (_, k) => model.run(x, { bits: bits[(i + k) % bits.length] }));
    const outs = await Promise.all(calls);
    outs.forEach((o, k) => { if (!o.data.every((v, j) => Object.is(v, reference[(i + k) % bits.length][j]))) wrong++; });
    done += 8;
  }
  if (done >= warm && (samples.length === 0 || done - samples[samples.length - 1].at >= sampleEvery)) samples.push({ at: done, rss: rss() });
}
samples.push({ at: done, rss: rss() });
await model.close();
const base = samples[0].rss, last = samples[samples.length - 1].rss, peak = Math.max(...samples.map((s) => s.rss));
const growth = ((last - base) / base) * 100;
const result = { inferences: done, batch, seconds: (Date.now() - t0) / 1000, wrong, rssAfterWarmupMiB: +(base / 2 ** 20).toFixed(1),
  rssFinalMiB: +(last / 2 ** 20).toFixed(1), rssPeakMiB: +(peak / 2 ** 20).toFixed(1), growthPct: +growth.toFixed(2), maxGrowthPct: maxGrowth, gc: !!gc,
  samplesMiB: samples.map((x) => [x.at, +(x.rss / 2 ** 20).toFixed(1)]) };
if (json) console.log(JSON.stringify(result));
else console.log(`soak: ${done} inferences (batch ${batch}) in ${result.seconds.toFixed(1)} s, ${wrong} wrong results; RSS after warm-up ` +
  `${result.rssAfterWarmupMiB} MiB, final ${result.rssFinalMiB} MiB, peak ${result.rssPeakMiB} MiB: growth ${result.growthPct}% (limit ${maxGrowth}%)`);
process.exit(wrong > 0 || growth > maxGrowth ? 1 : 0);
