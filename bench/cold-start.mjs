#!/usr/bin/env node
// Cold start: what a fresh process pays before its first answer, and what a loaded model costs in
// memory. Each run is a new `node` process (nothing cached in it) that times, in order:
//   require('anyprec')            (the JS, the native addon, its load-time self-test, each kernel
//                                 family's share of it where the build reports them; the minor
//                                 page faults it took: first touches of pages, costly on a VM)
//   loadSync(model)               (reading, validating and preparing the model file)
//   the first runSync (batch 1)   (plans built on first use) and the second one (warm)
// and samples RSS after each step. Reported: the median over --runs processes (default 7), with
// min and max; the process's RSS before the require is the baseline ("node itself").
//
// usage: node bench/cold-start.mjs [--model models/mnist/resnet20-any.anyprec] [--runs 7] [--json]
// (needs the build: npm run build)
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const model = path.resolve(arg('model', path.join(root, 'models', 'mnist', 'resnet20-any.anyprec')));
const runs = Number(arg('runs', '7'));
if (!(Number.isInteger(runs) && runs >= 1)) {
  console.error('usage: node bench/cold-start.mjs [--model FILE] [--runs N >= 1] [--json]');
  process.exit(2);
}

// The child: one cold start, printed as JSON on stdout.
const child = `
const t = () => Number(process.hrtime.bigint()) / 1e6, rss = () => process.memoryUsage().rss / 2 ** 20;
const r = { rssNode: rss() };
const faults = () => process.resourceUsage().minorPageFault;
let f0 = faults(), t0 = t();
const ap = require(${JSON.stringify(root)});
r.requireMs = t() - t0; r.rssRequire = rss(); r.requireFaults = faults() - f0;
t0 = t();
const m = ap.loadSync(${JSON.stringify(model)});
r.loadMs = t() - t0; r.rssLoad = rss();
const inp = m.graph.input ?? { shape: m.graph.inputShape, dtype: 'float32' };
const per = inp.shape.reduce((a, b) => a * b, 1);
const x = inp.dtype === 'uint8' ? new ap.Uint8Tensor(new Uint8Array(per).fill(100), [1, ...inp.shape]) : new ap.Tensor(new Float32Array(per).fill(0.5), [1, ...inp.shape]);
t0 = t(); m.runSync(x); r.firstRunMs = t() - t0; r.rssFirstRun = rss();
t0 = t(); m.runSync(x); r.secondRunMs = t() - t0;
const st = ap.kernels.loadSelfTest();
r.selfTestMicros = st.micros;
for (const [k, v] of Object.entries(st.families ?? {})) r['selfTest.' + k] = v;
r.isa = ap.kernels.isa();
process.stdout.write(JSON.stringify(r));
`;

const samples = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const p = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8' });
  const wall = performance.now() - t0;
  if (p.status !== 0) {
    console.error(p.stderr);
    process.exit(1);
  }
  samples.push({ ...JSON.parse(p.stdout), processMs: wall });
}
const stat = (k) => {
  const v = samples.map((s) => s[k]).sort((a, b) => a - b);
  return { median: v[Math.floor(v.length / 2)], min: v[0], max: v[v.length - 1] };
};
const families = Object.keys(samples[0]).filter((k) => k.startsWith('selfTest.'));
const keys = ['requireMs', 'requireFaults', 'selfTestMicros', ...families, 'loadMs', 'firstRunMs', 'secondRunMs', 'processMs', 'rssNode', 'rssRequire', 'rssLoad', 'rssFirstRun'];
const report = {
  model: path.relative(process.cwd(), model), runs, isa: samples[0].isa, node: process.version, cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model, loadAverage: os.loadavg(), ...Object.fromEntries(keys.map((k) => [k, stat(k)])),
};
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const f = (k, unit = 'ms') => {
    const d = k.startsWith('rss') || k.endsWith('Faults') ? 0 : 2;
    return `${stat(k).median.toFixed(d)}${unit ? ' ' + unit : ''} (${stat(k).min.toFixed(d)}–${stat(k).max.toFixed(d)})`;
  };
  console.log(`cold start of ${report.model}, ${runs} fresh processes, median (min–max); isa ${report.isa}, Node ${report.node}, ${report.cpu}, load ${report.loadAverage.map((v) => v.toFixed(1)).join(' ')}`);
  console.log(`  require('anyprec')       ${f('requireMs')}   of which the load-time self-test ${f('selfTestMicros', 'µs')}; minor page faults ${f('requireFaults', '')}`);
  if (families.length > 0) console.log(`    self-test by family: ${families.map((k) => `${k.slice(9)} ${f(k, 'µs')}`).join(', ')}`);
  console.log(`  loadSync(model)          ${f('loadMs')}`);
  console.log(`  first runSync (batch 1)  ${f('firstRunMs')}   second: ${f('secondRunMs')}`);
  console.log(`  whole process (spawn to exit) ${f('processMs')}`);
  console.log(`  RSS: node itself ${f('rssNode', 'MiB')}, after require ${f('rssRequire', 'MiB')}, after load ${f('rssLoad', 'MiB')}, after the first run ${f('rssFirstRun', 'MiB')}`);
}
