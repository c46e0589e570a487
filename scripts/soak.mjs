#!/usr/bin/env node
// Soak: N inferences on a small model (sync and async calls, precisions switching), RSS sampled
// after a warm-up. Fails (exit 1) on any wrong result, or when RSS grows by more than
// --max-growth percent (default 25) from the start of the measured part to its end (the median of
// its first three samples against the median of its last three). A leak of one buffer per call
// shows as steady growth; a flat line is what a healthy process gives.
//
// V8's young generation starts small and doubles as a program allocates, in the main thread and
// in each worker: steps of 8-16 MiB of RSS that came at unpredictable points in the first ~300,000
// calls here (no leak: the JS heap in use after a full GC stays at ~5 MiB throughout). So the soak
// runs node with the young generation fixed at its full size (--min-semi-space-size =
// --max-semi-space-size = 16 MiB, for every thread) and a full GC before each sample
// (--expose-gc): RSS then reaches its working size within ~10,000 calls and stays flat.
// --natural-heap runs without those flags (to see the warm-up itself).
//
// usage: node scripts/soak.mjs [--n 100000] [--batch 4] [--max-growth 25] [--warm W] [--natural-heap] [--json]
// (needs the build: npm run build)
import { spawnSync } from 'child_process';
import { createRequire } from 'module';
import * as path from 'path';
import { fileURLToPath } from 'url';

const heapFlags = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];
if (!process.argv.includes('--natural-heap') && !heapFlags.every((f) => process.execArgv.includes(f))) {
  const r = spawnSync(process.execPath, [...heapFlags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

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
  console.error('usage: node scripts/soak.mjs [--n N >= 100] [--batch B] [--max-growth PCT] [--warm W < N] [--natural-heap] [--json]');
  process.exit(2);
}

const g = zoo.mlp([64, 48, 10], { bitList: [1, 2, 4, 8, 32] });
const model = Model.build(g, zoo.randomTensors(g, 1));
const x = new Tensor(Float32Array.from({ length: batch * 64 }, (_, i) => Math.sin(i) * 0.5 + 0.5), [batch, 64]);
const bits = [1, 2, 4, 8, 32];
const reference = bits.map((b) => model.runSync(x, { bits: b }).data);
const gc = globalThis.gc;
const rss = () => { gc?.(); return process.memoryUsage().rss; };

// Warm-up: with the young generation fixed, RSS rises while its pages are first touched and is flat
// from ~20,000-25,000 calls on (measured: 106.8 MiB at call 4,000, 131.8 at 20,000, 134.9-137.6
// from 24,000 to 100,000). So the first 25,000 calls (or a fifth of n if more) are warm-up; a run
// shorter than 50,000 calls measures its second half, which includes part of the warm-up.
const warm = arg('warm', n >= 50000 ? Math.max(25000, Math.floor(n / 5)) : Math.floor(n / 2));
if (!(Number.isInteger(warm) && warm >= 0 && warm < n)) {
  console.error(`--warm must be an integer in 0..${n - 1}, got ${warm}`);
  process.exit(2);
}
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
const median3 = (xs) => xs.map((x) => x.rss).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median3(samples.slice(0, 3)), last = median3(samples.slice(-3)), peak = Math.max(...samples.map((s) => s.rss));
const growth = ((last - base) / base) * 100;
const result = { inferences: done, batch, seconds: (Date.now() - t0) / 1000, wrong, rssAfterWarmupMiB: +(base / 2 ** 20).toFixed(1),
  rssFinalMiB: +(last / 2 ** 20).toFixed(1), rssPeakMiB: +(peak / 2 ** 20).toFixed(1), growthPct: +growth.toFixed(2), maxGrowthPct: maxGrowth, gc: !!gc, fixedYoungGeneration: heapFlags.every((f) => process.execArgv.includes(f)),
  samplesMiB: samples.map((x) => [x.at, +(x.rss / 2 ** 20).toFixed(1)]) };
if (json) console.log(JSON.stringify(result));
else console.log(`soak: ${done} inferences (batch ${batch}) in ${result.seconds.toFixed(1)} s, ${wrong} wrong results; RSS after warm-up ` +
  `${result.rssAfterWarmupMiB} MiB, final ${result.rssFinalMiB} MiB, peak ${result.rssPeakMiB} MiB: growth ${result.growthPct}% (limit ${maxGrowth}%)`);
process.exit(wrong > 0 || growth > maxGrowth ? 1 : 0);
