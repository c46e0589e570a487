// Loopback load test of the inference server (packages/server), bounded in time and rate.
//
//   node bench/server.mjs [--model zoo:cnn | model.anyprec] [--seconds 8] [--slo-p95-ms auto]
//     [--factor 1.3] [--deadline-ms 2xSLO] [--workers 1,2] [--clients 16] [--json out.json]
//     [--chart out.svg] [--digits DIR] [--rounds 2] [--pairs 200] [--warmup-ms 500]
//
// The server runs in this process; the load generator runs in a child process (this file with
// --loadgen), open loop: requests leave at seeded Poisson times whatever the answers do, at most
// --max-outstanding in flight, 127.0.0.1 only. It reports, all measured in the same run:
//   1. batch-1 overhead: latency of one request at a time (binary body, 8 bits pinned) seen by a
//      client in its own process, vs the model's own run() time, interleaved (goal: <= 1.3x
//      run() + 0.2 ms), as a waterfall (bench/server-floor.mjs): raw TCP, node:http, bare
//      fastify, each answering a constant or awaiting run(), runSync in the handler, this server
//      and the same with inline runs, with the server process's CPU time per request
//      (--pairs 0: no waterfall);
//   2. the 8-bit throughput (closed loop, --sat-clients 8, best of --sat-tries 3), the objective (--slo-p95-ms, default
//      max(10 ms, 10x run(), 3x the p95 at a quarter of that throughput)) and the rate 8 bits
//      sustains within it (open-loop steps x--step 1.1 from 0.4x the throughput, never above it; a
//      step fails only when it misses twice);
//   3. at --factor (1.3) x that rate: pinned at 8 bits and governor on, alternating, --rounds (2)
//      times each, each on a fresh server after a measure of the 8-bit throughput at that moment:
//      p50 / p95 / p99 of the answers, the p95 of all requests sent with those dropped at the
//      deadline counted as misses (the verdict), the share that missed the objective, the
//      precision mix and a per-second timeline;
//   4. requests/s through anyprec-server at 1 and 2 worker processes (closed loop; --workers 0: none).
// With a model that takes MNIST digits (--model models/mnist/resnet20-any.anyprec, the bundled one),
// 5. the accuracy cost of the precisions the governor chose, on the test digits (--digits DIR, default
// models/mnist/: test-digits.u8 and test-labels.u8): 8 bits pinned vs the governed mix. A zoo model
// has random weights: not measured.
import { fork, spawn } from 'node:child_process';
import os from 'node:os';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { waterfall, formatWaterfall } from './server-floor.mjs';

const require = createRequire(import.meta.url);

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

// ---------------------------------------------------------------- load generator (child process)
async function loadgen() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const send = (port, body, headers) => new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/infer', method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const ms = performance.now() - t0;
        let bits = null;
        try { const j = JSON.parse(text); bits = j.bits ? `w${j.bits.weights}a${j.bits.activations}` : null; } catch { /* error body */ }
        resolve({ status: res.statusCode, ms, bits, t: t0 });
      });
    });
    req.on('error', (e) => resolve({ status: 0, ms: performance.now() - t0, error: e.message, t: t0 }));
    req.end(body);
  });
  process.on('message', async (job) => {
    const body = job.dtype === 'uint8'
      ? Buffer.from(Uint8Array.from({ length: job.sample }, (_, i) => (i * 7919) % 256))
      : Buffer.from(new Float32Array(job.sample).fill(0.5).map((_, i) => ((i * 7919) % 997) / 997).buffer);
    const headers = { 'x-shape': `1,${job.inputShape.join(',')}`, 'x-dtype': job.dtype, ...(job.bits ? { 'x-bits': String(job.bits) } : {}) };
    const results = [];
    const start = performance.now();
    if (job.mode === 'closed') { // `concurrency` clients, each sending its next request when answered
      const loop = async () => {
        while (performance.now() - start < job.seconds * 1000) {
          const x = await send(job.port, body, headers);
          results.push({ ...x, t: x.t - start });
        }
      };
      await Promise.all(Array.from({ length: job.concurrency ?? 1 }, loop));
    } else {
      let s = 12345;
      const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
      let outstanding = 0;
      let skipped = 0;
      const pending = [];
      let t = 0;
      while (t < job.seconds * 1000) {
        t += -Math.log(r()) * 1000 / job.rate;
        const wait = start + t - performance.now();
        if (wait > 1) await new Promise((res) => setTimeout(res, wait));
        if (outstanding >= job.maxOutstanding) { skipped++; continue; }
        outstanding++;
        const h = job.deadlineMs ? { ...headers, 'x-deadline-ms': String(job.deadlineMs) } : headers;
        pending.push(send(job.port, body, h).then((x) => { outstanding--; results.push({ ...x, t: x.t - start }); }));
      }
      await Promise.all(pending);
      results.skipped = skipped;
      process.send({ results, skipped, elapsed: performance.now() - start });
      return;
    }
    process.send({ results, skipped: 0, elapsed: performance.now() - start });
  });
}

// ---------------------------------------------------------------- the bench (server side)
async function main() {
  const anyprec = require('anyprec');
  const { createServer, loadModelSpec } = require('@anyprec/server');
  const spec = arg('model', 'zoo:cnn');
  const seconds = Number(arg('seconds', '8'));
  const factor = Number(arg('factor', '1.3'));
  const sloArg = arg('slo-p95-ms', 'auto');
  const model = await loadModelSpec(spec);
  // what one sample is: a model with an input section (the models `anyprec train` writes) takes
  // raw uint8 values and preprocesses them itself; others take float32
  const input = model.graph.input ?? { shape: model.graph.inputShape, dtype: 'float32' };
  const inputShape = input.shape;
  const dtype = input.dtype;
  const sample = inputShape.reduce((a, b) => a * b, 1);

  const child = fork(fileURLToPath(import.meta.url), ['--loadgen'], { stdio: 'inherit' });
  const job = (j) => new Promise((resolve) => { child.once('message', resolve); child.send(j); });
  const base = { inputShape, dtype, sample, maxOutstanding: Number(arg('max-outstanding', '512')) };

  // 1. batch-1 overhead: the waterfall of bench/server-floor.mjs (raw TCP, node:http, bare fastify,
  // each answering a constant or awaiting run(), runSync in the handler, this server and the same
  // with inline runs), one request at a time from a client in its own process, interleaved
  // with the model's own run() so all see the same machine load.
  let server = createServer(model, { sloP95Ms: 1e6, closeModel: false, defaultMetrics: false });
  let url = new URL(await server.listen({ port: 0 }));
  // --pairs 0: no waterfall (the load test alone; run() timed here for the objective)
  const pairs = Number(arg('pairs', '200'));
  const floor = pairs > 0 ? await waterfall(model, { rounds: pairs, serverUrl: url.href }) : undefined;
  const at = (name) => floor?.rows.find((r) => r.name === name);
  let runMedian = floor?.runMs.median;
  if (!floor) {
    const t = [];
    const xs = dtype === 'uint8' ? new anyprec.Uint8Tensor(new Uint8Array(sample).fill(100), [1, ...inputShape]) : new anyprec.Tensor(new Float32Array(sample).fill(0.5), [1, ...inputShape]);
    for (let i = 0; i < 60; i++) { const t0 = performance.now(); await model.run(xs, { bits: 8 }); if (i >= 10) t.push(performance.now() - t0); }
    runMedian = quantile(t, 0.5);
  }
  const httpMedian = at('server')?.median ?? NaN;

  // 2. what 8 bits sustains within the objective. First its throughput: closed loop, --sat-clients
  // clients each sending the next request when answered, pinned at 8 bits: no rate beyond it can
  // be sustained, whatever the latency. Then open-loop steps on the same warm server, pinned at 8
  // bits, from 0.4x that throughput up by x--step (1.1) until the p95 leaves the objective, never
  // above the throughput. The first quarter second of each step is not counted (connections
  // opening). A step that misses is run again once and fails only if it misses twice: on a shared
  // machine a burst of other work can spoil one step's p95, and a capacity stopped on such a burst
  // is measured low, so that "1.3x" of it may not load 8 bits at all (the pinned runs then pass or
  // fail by chance: what happened in earlier sessions). When even the first step misses (a busy
  // machine), the rate halves until one holds (at most 5 times), then climbs.
  const f = (v) => (Number.isFinite(v) ? v.toFixed(2) : String(v));
  const overheadGoal = 1.3 * runMedian + 0.2;
  console.log(`model ${spec} · isa ${anyprec.kernels.isa()} · ${anyprec.kernels.threads()} kernel threads · ${os.cpus().length} CPUs, load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')} (shared machine: compare within this run only)`);
  if (floor) for (const line of formatWaterfall(floor)) console.log(line);
  // the best of --sat-tries (3) closed-loop measures: other work on a shared machine only ever
  // lowers a throughput measure (one low measure made "1.3x" fall below what 8 bits served a
  // minute later, and a pinned run then passed)
  const saturationTries = [];
  for (let i = 0; i < Number(arg('sat-tries', '3')); i++) {
    const sat = await job({ ...base, port: url.port, mode: 'closed', concurrency: Number(arg('sat-clients', '8')), seconds: Number(arg('sat-seconds', '1.5')), bits: '8' });
    saturationTries.push(sat.results.filter((x) => x.status === 200 && x.t >= 250).length / ((sat.elapsed - 250) / 1000));
  }
  const saturation8 = Math.max(...saturationTries);
  // The objective: max(10 ms, 10x run(), 3x the p95 of a light load: open loop at a quarter of the
  // 8-bit throughput, 2 s, where queueing adds little and the p95 is the machine's own noise).
  // An objective under that noise makes the capacity below a noise figure, not a queueing one: the
  // steps then stop far below the throughput, and "1.3x capacity" does not load 8 bits at all.
  const light = await job({ ...base, port: url.port, mode: 'open', rate: 0.25 * saturation8, seconds: 2, bits: '8' });
  const lightP95 = quantile(light.results.filter((x) => x.status === 200 && x.t >= 250).map((x) => x.ms), 0.95);
  const sloFor = sloArg === 'auto' ? Math.max(10, Math.round(10 * runMedian), Math.ceil(3 * lightP95)) : Number(sloArg);
  const stepSeconds = Number(arg('step-seconds', '2'));
  const stepFactor = Number(arg('step', '1.1'));
  const steps = [];
  let capacity8 = 0;
  let stepRate = Number(arg('start-rate', String(0.4 * saturation8)));
  let halvings = 0;
  const stepP95 = async (rate) => {
    const r = await job({ ...base, port: url.port, mode: 'open', rate, seconds: stepSeconds, bits: '8' });
    return quantile(r.results.filter((x) => x.status === 200 && x.t >= 250).map((x) => x.ms), 0.95);
  };
  for (let i = 0; i < Number(arg('max-steps', '20')); i++) {
    const p95s = [await stepP95(stepRate)];
    if (!(p95s[0] <= sloFor)) p95s.push(await stepP95(stepRate)); // once more: a burst of other work, or overload?
    const held = p95s[p95s.length - 1] <= sloFor;
    steps.push({ rate: stepRate, p95: p95s });
    if (held) {
      capacity8 = stepRate;
      if (stepRate >= saturation8) break;
      stepRate = Math.min(stepRate * stepFactor, saturation8);
    } else if (capacity8 === 0 && halvings < 5) {
      halvings++;
      stepRate /= 2;
    } else break;
  }
  await server.close();
  if (capacity8 === 0) throw new Error(`8 bits missed the ${sloFor} ms objective at every rate tried (${steps.map((x) => `${x.rate.toFixed(1)}/s: p95 ${x.p95.map((v) => v.toFixed(1)).join(' then ')} ms`).join(', ')}): the machine is too busy for this bench now`);

  const slo = sloFor;
  const rate = factor * capacity8;
  // requests carry a deadline (default 2x the objective): one still queued when it passes is
  // dropped (504) rather than computed late: the drop rate is the share answered 504
  const deadlineMs = Number(arg('deadline-ms', String(2 * slo)));
  // Each run starts a fresh server (fresh connections): its first --warmup-ms (500) is left out of
  // the summary, for every run alike (the per-second timeline keeps it). The p95 is taken two
  // ways: over the answered requests, and over all requests sent with a request dropped at its
  // deadline (or failed) counted as a miss, as a client sees it: a server that sheds load can keep
  // the p95 of what it answers low while it fails many requests.
  const warmupMs = Number(arg('warmup-ms', '500'));
  const summarize = (name, r) => {
    const all = r.results.filter((x) => x.t >= warmupMs);
    const ok = all.filter((x) => x.status === 200);
    const dropped = all.filter((x) => x.status === 504).length;
    const lat = ok.map((x) => x.ms);
    const latAll = all.map((x) => (x.status === 200 ? x.ms : Infinity));
    const bits = {};
    for (const x of ok) bits[x.bits] = (bits[x.bits] ?? 0) + 1;
    const timeline = [];
    for (const x of r.results.filter((y) => y.status === 200)) {
      const s = Math.floor(x.t / 1000);
      timeline[s] ??= { second: s, n: 0, lat: [], bitsSum: 0 };
      timeline[s].n++; timeline[s].lat.push(x.ms); timeline[s].bitsSum += Number(/w(\d+)/.exec(x.bits)?.[1] ?? 0);
    }
    const p95All = quantile(latAll, 0.95);
    return {
      name, offeredPerSec: rate, sent: all.length, answered: ok.length, dropped, dropRate: dropped / Math.max(1, all.length),
      errors: all.length - ok.length - dropped, skippedAtCap: r.skipped,
      achievedPerSec: ok.length / ((r.elapsed - warmupMs) / 1000), p50: quantile(lat, 0.5), p95: quantile(lat, 0.95), p99: quantile(lat, 0.99),
      p95All: Number.isFinite(p95All) ? p95All : null, missRate: latAll.filter((v) => !(v <= slo)).length / Math.max(1, latAll.length),
      withinObjective: p95All <= slo, bits,
      timeline: timeline.filter(Boolean).map((s) => ({ second: s.second, n: s.n, p95: quantile(s.lat, 0.95), meanWeightBits: s.bitsSum / s.n })),
    };
  };
  // the 8-bit throughput (closed loop) just before each run, on that run's server: the machine's
  // capacity drifts with other work, and this shows how much (a pinned run on a machine that got
  // much faster may pass: the non-decisive pinned runs of earlier sessions)
  const throughputNow = async (port) => {
    const t = await job({ ...base, port, mode: 'closed', concurrency: Number(arg('sat-clients', '8')), seconds: 1.5, bits: '8' });
    return t.results.filter((x) => x.status === 200 && x.t >= 250).length / ((t.elapsed - 250) / 1000);
  };
  const runAt = async (name, bits) => {
    server = createServer(model, { sloP95Ms: slo, closeModel: false, defaultMetrics: false });
    url = new URL(await server.listen({ port: 0 }));
    const throughput8 = await throughputNow(url.port);
    await server.close();
    server = createServer(model, { sloP95Ms: slo, closeModel: false, defaultMetrics: false });
    url = new URL(await server.listen({ port: 0 }));
    const r = await job({ ...base, port: url.port, mode: 'open', rate, seconds, bits, deadlineMs });
    const out = summarize(name, r);
    out.throughput8Before = throughput8;
    out.governor = server.governor.describe();
    if (bits === undefined && process.env.GOVERNOR_TRACE) {
      const t0 = out.governor.recentChanges[0]?.atMs ?? 0;
      console.log(`${name} changes: ` + out.governor.recentChanges.map((c) => `${((c.atMs - t0) / 1000).toFixed(2)}s ${c.from}->${c.to} ${c.why} r${Math.round(c.ratePerS)} p95 ${c.p95Ms.toFixed(1)}`).join(' | '));
      console.log(`${name} rate limits: ${JSON.stringify(out.governor.rateLimits)}`);
    }
    await server.close();
    return out;
  };
  // each side --rounds times (default 2), alternating (pinned, governed, pinned, governed, ...): a
  // drift in the machine's load shows as different results of the same side
  const rounds = Number(arg('rounds', '2'));
  const runs = [];
  for (let i = 0; i < rounds; i++) {
    const again = i === 0 ? '' : i === 1 ? ' (again)' : ` (${i + 1})`;
    runs.push(await runAt(`pinned at 8 bits${again}`, '8'));
    runs.push(await runAt(`governor on${again}`, undefined));
  }
  const pinnedRuns = runs.filter((_, i) => i % 2 === 0);
  const governedRuns = runs.filter((_, i) => i % 2 === 1);
  const [pinned, governed, pinnedAgain, governedAgain] = runs;
  const mix = {};
  for (const r of governedRuns) for (const [k, v] of Object.entries(r.bits)) mix[k] = (mix[k] ?? 0) + v;
  const accuracy = measureAccuracy(model, dtype, inputShape, mix);
  await model.close();

  // 4. requests/s through anyprec-server at 1 and 2 worker processes (node:cluster): closed loop,
  // --clients connections each sending its next request when answered, 8 bits pinned.
  const rps = [];
  for (const n of String(arg('workers', '1,2')).split(',').map(Number).filter((v) => v > 0)) {
    const bin = fileURLToPath(new URL('../packages/server/bin/anyprec-server.js', import.meta.url));
    const proc = spawn(process.execPath, [bin, spec, '--port', '0', '--workers', String(n), '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise((resolve, reject) => {
      let text = '';
      let seen = 0;
      proc.stdout.on('data', (d) => {
        text += d;
        const m = [...text.matchAll(/listening on http:\/\/127\.0\.0\.1:(\d+)/g)];
        seen = m.length;
        if (seen >= n) resolve(Number(m[0][1]));
      });
      proc.on('exit', (code) => reject(new Error(`anyprec-server exited (${code}) before listening`)));
    });
    const clients = Number(arg('clients', '16'));
    const r = await job({ ...base, port, mode: 'closed', concurrency: clients, seconds: Number(arg('rps-seconds', '5')), bits: '8' });
    const ok = r.results.filter((x) => x.status === 200);
    rps.push({ workers: n, clients, perSec: ok.length / (r.elapsed / 1000), p50: quantile(ok.map((x) => x.ms), 0.5), errors: r.results.length - ok.length });
    await new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGTERM'); });
  }
  child.kill();

  const report = {
    model: spec, isa: anyprec.kernels.isa(), threads: anyprec.kernels.threads(), seconds, factor, loadAverage: os.loadavg(), cpus: os.cpus().length,
    note: 'loopback on a small shared machine: absolute numbers are noisy; compare within this run only',
    batch1: floor ? { rounds: floor.rounds, runMedianMs: runMedian, httpMedianMs: httpMedian, ratio: httpMedian / runMedian, goalMs: overheadGoal, met: httpMedian <= overheadGoal,
      aboveNodeHttpRunMs: httpMedian - at('http+run').median, waterfall: floor } : { runMedianMs: runMedian },
    lightLoadP95Ms: lightP95, saturation8PerSec: saturation8, saturation8Tries: saturationTries, capacity8PerSec: capacity8, capacitySteps: steps, sloP95Ms: slo, offeredPerSec: rate,
    offeredOverSaturation: rate / saturation8, deadlineMs, warmupMs,
    runs, pinned, governed, pinnedAgain, governedAgain, requestsPerSecond: rps,
    accuracy,
  };
  const chart = arg('chart', null);
  if (chart) await writeChart(chart, runs, slo);
  const out = arg('json', null);
  if (out) (await import('node:fs')).writeFileSync(out, JSON.stringify(report, null, 2));
  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  console.log(`8 bits: throughput ${f(saturation8)} req/s (closed loop, best of ${saturationTries.map(f).join(', ')}); held the objective up to ~${f(capacity8)} req/s (steps: ${steps.map((x) => `${f(x.rate)}/s p95 ${x.p95.map(f).join(' then ')}`).join(', ')}) · objective p95 ${slo} ms · offered ${f(rate)} req/s (${factor}x, ${f(rate / saturation8)}x the 8-bit throughput) for ${seconds} s, deadline ${deadlineMs} ms, first ${warmupMs} ms not counted`);
  for (const r of runs) {
    console.log(`${r.name.padEnd(19)} p50 ${f(r.p50)} p95 ${f(r.p95)} p99 ${f(r.p99)} ms (answered) · p95 of all sent ${r.p95All === null ? '> deadline' : f(r.p95All)} ms, ${pct(r.missRate)} missed the objective · 8-bit throughput just before ${f(r.throughput8Before)}/s · ${r.answered}/${r.sent} answered (${f(r.achievedPerSec)}/s), dropped at deadline ${r.dropped} (${pct(r.dropRate)}), ${r.errors} other errors, ${r.skippedAtCap} not sent (cap) · within objective: ${r.withinObjective} · bits ${JSON.stringify(r.bits)}`);
  }
  console.log(`goal 1: governor within the objective in ${governedRuns.filter((r) => r.withinObjective).length}/${governedRuns.length} runs, pinned at 8 bits outside it in ${pinnedRuns.filter((r) => !r.withinObjective).length}/${pinnedRuns.length}` +
    ` (offered ${f(rate)}/s; 8-bit closed-loop throughput just before each pinned run: ${pinnedRuns.map((r) => f(r.throughput8Before)).join(', ')}/s — with 8 clients queued, more than an open-loop load can get within the objective)`);
  for (const g of governedRuns) console.log(`${g.name} timeline (s: n, p95 ms, mean weight bits): ` + g.timeline.map((s) => `${s.second}: ${s.n}, ${f(s.p95)}, ${f(s.meanWeightBits)}`).join(' | '));
  console.log('tradeable precisions (measured ms): ' + governed.governor.tradeable.map((e) => `w${e.weights}a${e.activations} ${f(e.costMs)}`).join(', '));
  for (const r of rps) console.log(`anyprec-server --workers ${r.workers}: ${f(r.perSec)} req/s (${r.clients} clients, closed loop, 8 bits), p50 ${f(r.p50)} ms, ${r.errors} errors`);
  if (typeof accuracy === 'string') console.log(`accuracy cost of the precisions chosen: ${accuracy}`);
  else {
    console.log(`accuracy on ${accuracy.digits} test digits: pinned 8 bits ${pct(accuracy.pinned8)}, governor's mix ${pct(accuracy.governedMix)} ` +
      `(cost ${(100 * (accuracy.pinned8 - accuracy.governedMix)).toFixed(2)} points; per precision: ${Object.entries(accuracy.byPrecision).map(([k, v]) => `${k} ${pct(v)}`).join(', ')})`);
  }
}

/**
 * Accuracy at 8 bits and at the governor's mix (answers per precision, e.g. { w8a8: 120, w2a2: 40 })
 * on --digits (default: models/mnist/test-digits.u8 and test-labels.u8 beside this repository's
 * bundled model). Only for a model that takes 28x28 uint8 digits; otherwise a reason string.
 */
function measureAccuracy(model, dtype, inputShape, mix) {
  const fs = require('node:fs');
  const path = require('node:path');
  const anyprec = require('anyprec');
  if (dtype !== 'uint8' || inputShape.join(',') !== '1,28,28') return 'not measured: the model does not take MNIST digits (pass --model with a model written by anyprec train, e.g. models/mnist/resnet20-any.anyprec)';
  const dir = arg('digits', fileURLToPath(new URL('../models/mnist/', import.meta.url)));
  const digitsFile = path.join(dir, 'test-digits.u8'), labelsFile = path.join(dir, 'test-labels.u8');
  if (!fs.existsSync(digitsFile) || !fs.existsSync(labelsFile)) return `not measured: no ${digitsFile} / ${labelsFile}`;
  const digits = fs.readFileSync(digitsFile), labels = fs.readFileSync(labelsFile);
  const n = labels.length;
  const at = (bits) => {
    let correct = 0;
    for (let s = 0; s < n; s += 250) {
      const m = Math.min(250, n - s);
      const y = model.runSync(new anyprec.Uint8Tensor(new Uint8Array(digits.subarray(s * 784, (s + m) * 784)), [m, 1, 28, 28]), { bits });
      const k = y.data.length / m;
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let j = 1; j < k; j++) if (y.data[i * k + j] > y.data[i * k + best]) best = j;
        if (best === labels[s + i]) correct++;
      }
    }
    return correct / n;
  };
  const byPrecision = {};
  let answered = 0, weighted = 0;
  for (const [key, count] of Object.entries(mix)) {
    const m = /^w(\d+)a(\d+)$/.exec(key);
    if (!m) continue;
    byPrecision[key] = at({ weights: Number(m[1]), activations: Number(m[2]) });
    answered += count;
    weighted += count * byPrecision[key];
  }
  return { digits: n, pinned8: at(8), governedMix: answered ? weighted / answered : NaN, byPrecision };
}

/**
 * --chart FILE: an SVG of the offered-load runs over time (per second: p95 latency against the
 * objective, and the mean weight bits answered), pinned vs governed; vega and vega-lite are
 * development dependencies of this repository.
 */
async function writeChart(file, runs, slo) {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const values = runs.flatMap((r) => r.timeline.map((t) => ({ run: r.name, second: t.second, p95: t.p95, bits: t.meanWeightBits })));
  const color = { field: 'run', type: 'nominal', title: null };
  const x = { field: 'second', type: 'quantitative', title: 'seconds into the run' };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Offered load 1.3x what 8 bits sustains: pinned vs the precision governor', subtitle: `objective p95 ${slo} ms (dashed)` },
    data: { values },
    vconcat: [
      { width: 480, height: 180, layer: [
        { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'p95', type: 'quantitative', title: 'p95 latency (ms) per second' }, color } },
        { data: { values: [{ slo }] }, mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { field: 'slo', type: 'quantitative' } } },
      ] },
      { width: 480, height: 120, mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'bits', type: 'quantitative', title: 'mean weight bits', scale: { domain: [0, 8] } }, color } },
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  (await import('node:fs')).writeFileSync(file, await view.toSVG());
  view.finalize();
}

if (process.argv.includes('--loadgen')) loadgen();
else main().catch((e) => { console.error(e); process.exit(1); });
