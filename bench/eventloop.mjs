#!/usr/bin/env node
// Event-loop delay while a model runs on its worker threads (Model.run): the main thread should
// stay free, so timers fire on time. Measured with perf_hooks.monitorEventLoopDelay over a run of
// back-to-back async inferences; reported, never asserted (timings depend on the machine and its load).
//
// usage: node bench/eventloop.mjs [--calls 200] [--batch 32] [--workers 1] [--json]
// (needs the build: npm run build)
import { createRequire } from 'module';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { fileURLToPath } from 'url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Model, Tensor, zoo } = require(path.join(root, 'dist'));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const calls = arg('calls', 200), batch = arg('batch', 32), workers = arg('workers', 1);
const json = process.argv.includes('--json');

const g = zoo.cnn({ bitList: [2, 4, 8, 32] });
const model = Model.build(g, zoo.randomTensors(g, 1)).setWorkers(workers);
const x = new Tensor(Float32Array.from({ length: batch * 784 }, (_, i) => (i % 97) / 97), [batch, 1, 28, 28]);
await model.run(x); // start the workers, build the plans
for (const b of [2, 4, 8, 32]) await model.run(x, { bits: b });

const t0 = performance.now();
const syncOne = performance.now();
model.runSync(x, { bits: 8 });
const syncMs = performance.now() - syncOne;

// The floor of this machine: the same histogram over 2 s with nothing running in this process
// (on a busy machine the main thread also waits for a core: that shows here, not the library).
const idle = monitorEventLoopDelay({ resolution: 1 });
idle.enable();
await new Promise((r) => setTimeout(r, 2000));
idle.disable();

const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
const start = performance.now();
const bits = [2, 4, 8, 32];
for (let i = 0; i < calls; i += workers) {
  await Promise.all(Array.from({ length: Math.min(workers, calls - i) }, (_, k) => model.run(x, { bits: bits[(i + k) % 4] })));
}
const wall = performance.now() - start;
h.disable();
await model.close();
const ms = (ns) => +(ns / 1e6).toFixed(3);
const r = { calls, batch, workers, wallMs: +wall.toFixed(1), oneSyncCallMs: +syncMs.toFixed(1),
  delayMs: { min: ms(h.min), mean: ms(h.mean), p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) },
  idleDelayMs: { p50: ms(idle.percentile(50)), p99: ms(idle.percentile(99)), max: ms(idle.max) },
  totalMs: +(performance.now() - t0).toFixed(1) };
if (json) console.log(JSON.stringify(r));
else console.log(`event-loop delay over ${calls} async calls (CNN, batch ${batch}, ${workers} worker(s), ${r.wallMs} ms; one runSync call blocks ${r.oneSyncCallMs} ms): ` +
  `p50 ${r.delayMs.p50} ms, p99 ${r.delayMs.p99} ms, max ${r.delayMs.max} ms (resolution 1 ms: the floor is ~1 ms); ` +
  `idle for 2 s before: p50 ${r.idleDelayMs.p50} ms, p99 ${r.idleDelayMs.p99} ms, max ${r.idleDelayMs.max} ms`);
