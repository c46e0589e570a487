#!/usr/bin/env node
// npm run bench -- --only eventloop — how much anyprec inference delays Node's event loop.
//
// perf_hooks.monitorEventLoopDelay (a libuv timer sampling every --resolution ms; its histogram
// holds how late each tick ran) in three phases of equal length, one after the other:
//  * idle: nothing runs (the floor: timer jitter of this machine);
//  * run(): a stream of `await model.run(x, { bits })` calls (worker thread), one in flight;
//  * runSync(): a stream of `model.runSync(x, { bits })` calls with `await setImmediate()`
//    between them — the loop gets a turn between calls but is blocked for the whole of each.
// Reported: p50 / p99 / max / mean delay in ms and the calls per second of each phase.
// Expected: run() stays near idle; runSync() delays by about one call's duration.
//
// Output: a markdown table on stdout, and bench/results/eventloop-<date>.{json,md}.
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';

import { loadAnyprec, log, parseBenchArgs, positiveNumber as num } from './lib/cli.mjs';
import { machineInfo, saveResults } from './lib/machine.mjs';
import { makeRng, randomFloats } from './lib/reference.mjs';
import { loadavg, sig, table } from './lib/report.mjs';

const HELP = `usage: node bench/eventloop.mjs [options]

  --quick            short pass (3 × 1.5 s)
  --model NAME       zoo model: cnn or mlp (default cnn)
  --batch N          batch size (default 64)
  --bits N           bit-width of the calls (default 2)
  --seconds S        length of each phase (default 4, quick 1.5)
  --resolution MS    sampling interval of the monitor (default 1)
  --no-save          print only
  -h, --help         this text`;

function parseOptions(argv) {
  const v = parseBenchArgs(argv, {
    model: { type: 'string' },
    batch: { type: 'string' },
    bits: { type: 'string' },
    seconds: { type: 'string' },
    resolution: { type: 'string' },
  }, HELP);
  const model = v.model ?? 'cnn';
  if (!['cnn', 'mlp'].includes(model)) throw new RangeError(`--model: '${model}' is not cnn or mlp`);
  return {
    quick: v.quick,
    model,
    batch: Math.round(num(v.batch, 'batch', 64)),
    bits: Math.round(num(v.bits, 'bits', 2)),
    seconds: num(v.seconds, 'seconds', v.quick ? 1.5 : 4),
    resolution: Math.max(1, Math.round(num(v.resolution, 'resolution', 1))),
    save: !v['no-save'],
  };
}

const ms = (ns) => ns / 1e6;

/** Runs `body(until)` for `seconds` under a fresh delay monitor; returns the histogram summary. */
async function phase(name, seconds, resolution, body) {
  const h = monitorEventLoopDelay({ resolution });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  h.enable();
  const calls = await body(t0 + seconds * 1000);
  h.disable();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const r = {
    phase: name,
    seconds: wall / 1000,
    calls,
    callsPerSec: calls ? calls / (wall / 1000) : null,
    p50Ms: ms(h.percentile(50)),
    p99Ms: ms(h.percentile(99)),
    maxMs: ms(h.max),
    meanMs: ms(h.mean),
    ticks: h.count,
    mainThreadCpuPerWall: (cpu.user + cpu.system) / 1e3 / wall, // process-wide (includes the worker)
  };
  log(`  ${name}: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${r.maxMs.toFixed(2)} ms, ${calls} calls`);
  return r;
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const started = new Date();
  const ap = await loadAnyprec();
  ap.kernels.setThreads(1);
  const machine = machineInfo(ap.kernels);
  log(`anyprec event-loop delay — ${opts.model} batch ${opts.batch} at ${opts.bits} bits, ${opts.seconds} s per phase`);
  const graph = opts.model === 'mlp' ? ap.zoo.mlp() : ap.zoo.cnn();
  const model = ap.Model.build(graph, ap.zoo.randomTensors(graph, 1));
  const shape = [opts.batch, ...graph.inputShape];
  const x = new ap.Tensor(randomFloats(makeRng(7), shape.reduce((a, b) => a * b, 1)), shape);
  const run = { bits: opts.bits };
  // Warm both paths (plans, the worker).
  await model.run(x, run);
  model.runSync(x, run);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) model.runSync(x, run);
  const callMs = (performance.now() - t0) / 5;
  log(`  one runSync call ≈ ${callMs.toFixed(2)} ms`);

  const phases = [];
  phases.push(await phase('idle', opts.seconds, opts.resolution, async (until) => {
    while (performance.now() < until) await sleep(50);
    return 0;
  }));
  phases.push(await phase('run() (async, worker thread)', opts.seconds, opts.resolution, async (until) => {
    let n = 0;
    while (performance.now() < until) {
      await model.run(x, run);
      n++;
    }
    return n;
  }));
  phases.push(await phase('runSync() (main thread)', opts.seconds, opts.resolution, async (until) => {
    let n = 0;
    while (performance.now() < until) {
      model.runSync(x, run);
      n++;
      await yieldToLoop();
    }
    return n;
  }));
  await model.close();

  const report = {
    schema: 'anyprec-bench-eventloop/1',
    date: started.toISOString(),
    options: opts,
    machine,
    loadAverageEnd: os.loadavg(),
    runSyncCallMs: callMs,
    phases,
  };
  const md = [
    '# Event-loop delay during inference',
    '',
    `${report.date} · ${machine.cpuModel} · Node ${machine.node} · anyprec git \`${machine.git.head}\` · load average ${loadavg(machine.loadAverageStart)} at start, ${loadavg(report.loadAverageEnd)} at end.`,
    '',
    `\`perf_hooks.monitorEventLoopDelay\` (resolution ${opts.resolution} ms) over ${opts.seconds} s per phase; model ${opts.model.toUpperCase()} (zoo, random weights), batch ${opts.batch}, ${opts.bits} bits, 1 kernel thread; one runSync call ≈ ${sig(callMs)} ms. Node records the whole interval between two ticks of the monitor's ${opts.resolution} ms timer, so ${opts.resolution} ms is the floor (idle).`,
    '',
    table(['phase', 'calls/s', 'p50 ms', 'p99 ms', 'max ms', 'mean ms'],
      phases.map((p) => [p.phase, p.callsPerSec ? sig(p.callsPerSec) : '–', sig(p.p50Ms), sig(p.p99Ms), sig(p.maxMs), sig(p.meanMs)])),
  ].join('\n');
  console.log(md);
  if (opts.save) {
    const [j, m] = saveResults('eventloop', started, report, md);
    log(`saved ${j} and ${m}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
