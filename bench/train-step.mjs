#!/usr/bin/env node
// One Any-Precision training step, anyprec against PyTorch on the same CPU, thread counts,
// network and batch: the issue's speed anchor. The network is zoo.preactResnet (ResNet-20,
// widths 16/32/64, 3x32x32 input), batch 64, widths 32/8/4/2/1 with recursive distillation and
// one Adam step; bench/lib/torch_step.py builds the same step in PyTorch (Debian's
// python3-torch: installed here through apt-get when run as root and missing).
//
// Why many short interleaved rounds: the VM's speed drifts. On a quiet machine PyTorch's own step
// moved between 0.88 and 1.43 s from one run to the next, and ours between 0.92 and 1.20 s, so two
// long measurements taken one after the other compare two different machines. Here the sides
// alternate every few steps (anyprec and torch swap who goes first each round; with --compare DIR
// a second anyprec build, e.g. the baseline checkout, takes its turn too), so a slow spell hits
// all of them alike. The table gives each side's minimum (its speed when nothing interfered: the
// steadiest anchor) and median, wall and CPU time, and the ratios of minima and of medians; every
// round records the load average before and after. Results: bench/results/train-step-<date>.json
// / .md (git-ignored), with torch.__config__.show() and parallel_info().
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { loadAnyprec, log, parseBenchArgs, positiveNumber as num } from './lib/cli.mjs';
import { machineInfo, root, saveResults } from './lib/machine.mjs';
import { median } from './lib/measure.mjs';

const HELP = `npm run bench:train [-- options]
  --rounds N      interleaved rounds (default 10; --quick: 3)
  --steps N       timed steps per side, thread count and round (default 1)
  --compare DIR   also time the anyprec build of another checkout (its dist/, e.g. /work/base) in
                  the same rounds: a before/after of anyprec itself beside PyTorch
  --threads LIST  thread counts (default 1,2)
  --python PATH   the Python with torch (default /usr/bin/python3 if present, else python3)
  --profile       no PyTorch: profile --steps anyprec steps (default 3) at the first thread count
                  with V8's sampling profiler and print where the time goes, by op group and by
                  function (native kernel time counts under the function that calls the addon)
  --identical N   no timing, no PyTorch: train N steps (same seed and batch) with this build and with
                  the --compare build and report whether every parameter, running statistic and
                  loss came out bit for bit the same (a speed-up must not change training)
  --no-save       print only, write nothing under bench/results/`;

const opts = parseBenchArgs(process.argv.slice(2), {
  rounds: { type: 'string' }, steps: { type: 'string' }, threads: { type: 'string' }, python: { type: 'string' },
  compare: { type: 'string' }, identical: { type: 'string' },
  profile: { type: 'boolean', default: false },
}, HELP);
const rounds = num(opts.rounds, 'rounds', opts.quick ? 3 : 10);
const steps = num(opts.steps, 'steps', opts.profile ? 3 : 1);
const threadList = (opts.threads ?? '1,2').split(',').map((t) => num(t, 'threads'));
const python = opts.python ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const APT = 'apt-get install -y --no-install-recommends python3-torch';

function hasTorch() {
  try {
    execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** torch importable, installing Debian's python3-torch when we are root; else exits saying how. */
function ensureTorch() {
  if (hasTorch()) return;
  if (process.getuid?.() !== 0) {
    log(`PyTorch is not importable by ${python}. Install Debian's build with:\n  sudo apt-get update && sudo ${APT}`);
    process.exit(2);
  }
  log(`PyTorch missing: ${APT}`);
  execFileSync('apt-get', ['update'], { stdio: 'inherit' });
  execFileSync('apt-get', APT.split(' ').slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!hasTorch()) throw new Error(`${python} still cannot import torch after apt-get`);
}

/** The PyTorch side: a worker answering one JSON line per command. */
function startTorch() {
  const child = spawn(python, [path.join(root, 'bench', 'lib', 'torch_step.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.resolve(JSON.parse(l)));
  child.on('exit', (code) => { for (const w of waiting.splice(0)) w.reject(new Error(`torch worker exited (${code})`)); });
  return {
    ask(cmd) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(JSON.stringify(cmd) + '\n');
      });
    },
    close() { child.stdin.end(); },
  };
}

/** A Trainer over the bench's network, and its batch (fixed pseudo-random images, labels 0..9). */
function benchTrainer(ap) {
  const graph = ap.zoo.preactResnet({ widths: [16, 32, 64], blocks: 3, inChannels: 3, inputSize: 32, classes: 10 });
  const trainer = new ap.train.Trainer(graph, ap.train.defaultConfig({ batch: 64, optimizer: 'adam', lr: 1e-3 }));
  const n = 64, x = new Float32Array(n * 3 * 32 * 32), labels = new Int32Array(n);
  let s = 12345;
  for (let i = 0; i < x.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; x[i] = (s >>> 8) / 2 ** 24 * 2 - 1; }
  for (let i = 0; i < n; i++) labels[i] = i % 10;
  return { trainer, x, labels, n };
}

/** The anyprec side: a Trainer over the same network and batch. */
function anyprecStepper(ap) {
  const { trainer, x, labels, n } = benchTrainer(ap);
  return (threads, count, warmup) => {
    ap.kernels.setThreads(threads);
    for (let i = 0; i < warmup; i++) trainer.step(x, labels, n);
    const seconds = [], cpuSeconds = [];
    for (let i = 0; i < count; i++) {
      const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
      trainer.step(x, labels, n);
      seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const c = process.cpuUsage(c0);
      cpuSeconds.push((c.user + c.system) / 1e6);
    }
    return { seconds, cpuSeconds };
  };
}

const fmt = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');

// --profile: op groups by the function that the profiler charges (JS wrappers of the kernels).
const GROUPS = [
  ['conv forward (direct or lowered)', /^convForward$/],
  ['conv backward (weight + input gradients)', /^(convBackward|fromColumnOrder|addFromColumnOrder|toColumnOrder)$/],
  ['batch norm (moments, affine, backward)', /^(channelMoments|channelAffine|batchNormBackward|foldBn|batchNorm)$/],
  ['activation quantisers + masks', /^(quantizeActivations|codesToFloat|maskedAccumulate|maskedUnary|relu|clamp)$/],
  ['weight quantisers (DoReFa)', /^(weightBackward|quantizeWeights|quantizerFor|values|requant|WeightQuantizer|weightScale)$/],
  ['residual adds, gradient sums', /^(add|accumulate|addInto)$/],
  ['buffers (take, zeroing)', /^(take|buffer|g|freshGrad)$/],
  ['garbage collector', /^\(garbage collector\)$/],
];

/** Profiles `count` anyprec steps; prints self time by op group and the top functions. */
async function profileSteps(ap, threads, count) {
  const { Session } = await import('node:inspector/promises');
  const step = anyprecStepper(ap);
  step(threads, 0, 1); // warm up (JIT, buffers) outside the profile
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  const c0 = process.cpuUsage();
  const res = step(threads, count, 0);
  const cpu = process.cpuUsage(c0);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // The addon's functions share one native callback, so the profiler names them all alike:
  // their time is charged to the JS function that called them (the kernels' typed wrappers).
  const frameOf = (id) => {
    let f = nodes.get(id).callFrame;
    while (f.url === '' && !f.functionName.startsWith('(') && parent.has(id)) {
      id = parent.get(id);
      f = nodes.get(id).callFrame;
    }
    return f;
  };
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0, f = frameOf(id);
    if (f.functionName === '(idle)' || f.functionName === '(program)') return;
    const key = `${f.functionName || '(anonymous)'}\t${f.url.replace(/^.*\/(dist|node_modules)\//, '')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const groups = new Map(GROUPS.map(([g]) => [g, 0]));
  let other = 0;
  for (const [key, t] of self) {
    const name = key.split('\t')[0], g = GROUPS.find(([, re]) => re.test(name));
    if (g) groups.set(g[0], groups.get(g[0]) + t);
    else other += t;
  }
  groups.set('other JS (tape, losses, optimiser, glue)', other);
  const pct = (t) => `${((100 * t) / total).toFixed(1)}%`;
  console.log(`${count} steps, ${threads} thread(s): ${fmt(median(res.seconds))} s wall, ${fmt(median(res.cpuSeconds))} s CPU per step ` +
    `(process CPU ${fmt((cpu.user + cpu.system) / 1e6 / count)} s per step), load average ${fmt(os.loadavg()[0])}\n`);
  console.log('| op group | share of sampled time |\n|---|---:|');
  for (const [g, t] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`| ${g} | ${pct(t)} |`);
  console.log('\ntop functions (self time):');
  for (const [key, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(t).padStart(6)}  ${key.replace('\t', '  ')}`);
}

/** min and median of wall and CPU seconds per step. */
function summary(side) {
  return { minSeconds: Math.min(...side.seconds), medianSeconds: median(side.seconds),
    minCpuSeconds: Math.min(...side.cpuSeconds), medianCpuSeconds: median(side.cpuSeconds) };
}

/** a / b of every field of two summaries. */
function ratios(a, b) {
  return Object.fromEntries(Object.keys(a).map((k) => [k, a[k] / b[k]]));
}

/** --identical: N steps of this build and of `other` from the same start; exits 1 on any difference. */
function checkIdentical(ap, other, count, threads) {
  const bits = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const runs = [ap, other].map((lib) => {
    lib.kernels.setThreads(threads);
    const { trainer, x, labels, n } = benchTrainer(lib);
    const losses = [];
    for (let i = 0; i < count; i++) losses.push(trainer.step(x, labels, n).loss);
    return { tensors: trainer.net.tensors(), losses };
  });
  const [a, b] = runs;
  const names = Object.keys(a.tensors);
  const differ = names.filter((k) => !b.tensors[k] || !bits(a.tensors[k]).equals(bits(b.tensors[k])));
  const lossSame = a.losses.every((l, i) => Object.is(l, b.losses[i]));
  console.log(`${count} step(s), ${threads} thread(s): ${names.length - differ.length} of ${names.length} tensors bit for bit ` +
    `the same${differ.length ? ` (differ: ${differ.slice(0, 8).join(', ')}${differ.length > 8 ? ', ...' : ''})` : ''}; ` +
    `losses ${lossSame ? 'the same' : 'differ'} (${a.losses.join(', ')} vs ${b.losses.join(', ')})`);
  if (differ.length || !lossSame || Object.keys(b.tensors).length !== names.length) process.exitCode = 1;
}

async function main() {
  if (opts.profile) {
    await profileSteps(await loadAnyprec(), threadList[0], steps);
    return;
  }
  const ap = await loadAnyprec();
  let other = null;
  if (opts.compare) {
    const dir = path.resolve(opts.compare);
    try {
      other = await import(path.join(dir, 'dist', 'index.mjs'));
    } catch (err) {
      throw new Error(`--compare: cannot load anyprec from ${dir}/dist (built?)\n${err.message}`);
    }
  }
  if (opts.identical !== undefined) {
    if (!other) throw new RangeError('--identical needs --compare DIR (the build to compare with)');
    checkIdentical(ap, other, num(opts.identical, 'identical'), threadList[0]);
    return;
  }
  ensureTorch();
  const started = new Date();
  const torch = startTorch();
  const torchInfo = await torch.ask({ cmd: 'config' });
  const stepOf = { anyprec: anyprecStepper(ap) };
  if (other) stepOf.compare = anyprecStepper(other);
  const names = [...Object.keys(stepOf), 'torch'];
  const samples = {};
  for (const t of threadList) samples[t] = Object.fromEntries(names.map((n) => [n, { seconds: [], cpuSeconds: [] }]));
  const load = [];
  log(`anyprec${other ? ` and ${opts.compare}` : ''} vs torch ${torchInfo.torch}: ${rounds} rounds x ${steps} steps, threads ${threadList.join(',')}`);
  for (let r = 0; r < rounds; r++) {
    const before = os.loadavg()[0];
    for (const t of threadList) {
      const warmup = r === 0 ? 1 : 0;
      const run = (name) => (name === 'torch' ? torch.ask({ cmd: 'time', threads: t, steps, warmup }) : stepOf[name](t, steps, warmup));
      // each round starts with the next side: every side goes first, second, ... equally often
      const order = names.map((_, i) => names[(i + r) % names.length]);
      for (const name of order) {
        const res = await run(name);
        samples[t][name].seconds.push(...res.seconds);
        samples[t][name].cpuSeconds.push(...res.cpuSeconds);
        log(`  round ${r + 1} threads ${t} ${name}: ${res.seconds.map((v) => v.toFixed(2)).join(' ')} s`);
      }
    }
    load.push({ round: r + 1, loadBefore: before, loadAfter: os.loadavg()[0] });
  }
  torch.close();

  const rows = threadList.map((t) => {
    const sum = Object.fromEntries(names.map((n) => [n, summary(samples[t][n])]));
    const row = { threads: t, ...sum, vsTorch: ratios(sum.anyprec, sum.torch) };
    if (other) {
      row.compareVsTorch = ratios(sum.compare, sum.torch);
      row.vsCompare = ratios(sum.anyprec, sum.compare);
    }
    return row;
  });
  const loads = load.flatMap((l) => [l.loadBefore, l.loadAfter]);
  const machine = machineInfo(ap.kernels);
  const label = { anyprec: 'anyprec', compare: `anyprec ${opts.compare}`, torch: 'PyTorch' };
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const table = [
    line(['threads', 'side', 'min s/step', 'median s/step', 'min CPU s', 'median CPU s']),
    line(['---:', '---', '---:', '---:', '---:', '---:']),
    ...rows.flatMap((r) => names.map((n) => line([r.threads, label[n], fmt(r[n].minSeconds), fmt(r[n].medianSeconds),
      fmt(r[n].minCpuSeconds), fmt(r[n].medianCpuSeconds)]))),
    '',
    line(['threads', 'ratio', 'of minima (wall)', 'of medians (wall)', 'of minima (CPU)', 'of medians (CPU)']),
    line(['---:', '---', '---:', '---:', '---:', '---:']),
    ...rows.flatMap((r) => [['anyprec / PyTorch', r.vsTorch], ...(other ? [[`${opts.compare} / PyTorch`, r.compareVsTorch],
      [`anyprec / ${opts.compare}`, r.vsCompare]] : [])].map(([what, q]) => line([r.threads, what, fmt(q.minSeconds),
      fmt(q.medianSeconds), fmt(q.minCpuSeconds), fmt(q.medianCpuSeconds)]))),
  ].join('\n');
  const loadText = `load average ${fmt(Math.min(...loads))}..${fmt(Math.max(...loads))} during the run ` +
    `(per round, before -> after: ${load.map((l) => `${fmt(l.loadBefore)}->${fmt(l.loadAfter)}`).join(', ')})`;
  const md = [
    `# Training step: anyprec vs PyTorch ${torchInfo.torch} (${started.toISOString()})`, '',
    `ResNet-20 (widths 16/32/64, 3x32x32), batch 64, widths 32/8/4/2/1 with recursive distillation, Adam. ` +
    `${rounds} interleaved rounds of ${steps} step(s) per side (the side that goes first rotates); ratio below 1: anyprec faster. ` +
    `CPU: ${machine.cpuModel} (${machine.logicalCpus} logical CPUs), anyprec ISA ${machine.isa}; ${loadText}.`, '',
    table, '',
    '<details><summary>torch.__config__.show() and parallel_info()</summary>', '', '```',
    torchInfo.config.trim(), '', torchInfo.parallel.trim(), '```', '</details>',
  ].join('\n');
  console.log(table);
  log(loadText);
  if (!opts['no-save']) {
    const report = { kind: 'train-step', date: started.toISOString(), rounds, steps, threads: threadList, compare: opts.compare ?? null,
      rows, samples, load, torch: torchInfo, machine };
    const [json, mdPath] = saveResults('train-step', started, report, md);
    log(`wrote ${json} and ${mdPath}`);
  }
}

main().catch((err) => {
  console.error(err.stack ?? String(err));
  process.exit(1);
});
