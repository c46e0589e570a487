#!/usr/bin/env node
// One Any-Precision training step, anyprec against PyTorch on the same CPU, thread counts,
// network and batch: the speed anchor. The network is zoo.preactResnet (ResNet-20,
// widths 16/32/64, 3x32x32 input), batch 64, widths 32/8/4/2/1 with recursive distillation and
// one Adam step; bench/lib/torch_step.py builds the same step in PyTorch (Debian's
// python3-torch: installed here through apt-get when run as root and missing).
//
// The two run interleaved, round by round (anyprec and torch alternate who goes first), and
// the table reports per-step medians over all rounds, wall and CPU time, with the load average
// of every round: the machine is shared. Results: bench/results/train-step-<date>.json / .md
// (git-ignored), with torch.__config__.show() and parallel_info().
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { loadAnyprec, log, parseBenchArgs, positiveNumber as num } from './lib/cli.mjs';
import { machineInfo, root, saveResults } from './lib/machine.mjs';
import { median } from './lib/measure.mjs';

const HELP = `npm run bench:train [-- options]
  --rounds N      interleaved rounds (default 5; --quick: 2)
  --steps N       timed steps per side, thread count and round (default 2; --quick: 1)
  --threads LIST  thread counts (default 1,2)
  --python PATH   the Python with torch (default /usr/bin/python3 if present, else python3)
  --profile       no PyTorch: profile --steps anyprec steps (default 3) at the first thread count
                  with V8's sampling profiler and print where the time goes, by op group and by
                  function (native kernel time counts under the function that calls the addon)
  --no-save       print only, write nothing under bench/results/`;

const opts = parseBenchArgs(process.argv.slice(2), {
  rounds: { type: 'string' }, steps: { type: 'string' }, threads: { type: 'string' }, python: { type: 'string' },
  profile: { type: 'boolean', default: false },
}, HELP);
const rounds = num(opts.rounds, 'rounds', opts.quick ? 2 : 5);
const steps = num(opts.steps, 'steps', opts.profile ? 3 : opts.quick ? 1 : 2);
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

/** The anyprec side: a Trainer over the same network and batch. */
function anyprecStepper(ap) {
  const graph = ap.zoo.preactResnet({ widths: [16, 32, 64], blocks: 3, inChannels: 3, inputSize: 32, classes: 10 });
  const trainer = new ap.train.Trainer(graph, ap.train.defaultConfig({ batch: 64, optimizer: 'adam', lr: 1e-3 }));
  const n = 64, x = new Float32Array(n * 3 * 32 * 32), labels = new Int32Array(n);
  let s = 12345;
  for (let i = 0; i < x.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; x[i] = (s >>> 8) / 2 ** 24 * 2 - 1; }
  for (let i = 0; i < n; i++) labels[i] = i % 10;
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
  ['conv backward (weight + input gradients)', /^(convBackward|fromColumnOrder|toColumnOrder)$/],
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

async function main() {
  if (opts.profile) {
    await profileSteps(await loadAnyprec(), threadList[0], steps);
    return;
  }
  ensureTorch();
  const ap = await loadAnyprec();
  const started = new Date();
  const torch = startTorch();
  const torchInfo = await torch.ask({ cmd: 'config' });
  const anyprec = anyprecStepper(ap);
  const samples = {};
  for (const t of threadList) samples[t] = { anyprec: { seconds: [], cpuSeconds: [] }, torch: { seconds: [], cpuSeconds: [] } };
  const load = [];
  log(`anyprec vs torch ${torchInfo.torch}: ${rounds} rounds x ${steps} steps, threads ${threadList.join(',')}`);
  for (let r = 0; r < rounds; r++) {
    const before = os.loadavg()[0];
    for (const t of threadList) {
      const warmup = r === 0 ? 1 : 0;
      const sides = [
        ['anyprec', async () => anyprec(t, steps, warmup)],
        ['torch', async () => torch.ask({ cmd: 'time', threads: t, steps, warmup })],
      ];
      if (r % 2) sides.reverse();
      for (const [name, run] of sides) {
        const res = await run();
        samples[t][name].seconds.push(...res.seconds);
        samples[t][name].cpuSeconds.push(...res.cpuSeconds);
        log(`  round ${r + 1} threads ${t} ${name}: ${res.seconds.map((v) => v.toFixed(2)).join(' ')} s`);
      }
    }
    load.push({ round: r + 1, loadBefore: before, loadAfter: os.loadavg()[0] });
  }
  torch.close();

  const rows = threadList.map((t) => {
    const a = samples[t].anyprec, p = samples[t].torch;
    const aw = median(a.seconds), pw = median(p.seconds);
    return { threads: t, anyprecSeconds: aw, torchSeconds: pw, ratio: aw / pw,
      anyprecCpuSeconds: median(a.cpuSeconds), torchCpuSeconds: median(p.cpuSeconds),
      cpuRatio: median(a.cpuSeconds) / median(p.cpuSeconds) };
  });
  const loads = load.flatMap((l) => [l.loadBefore, l.loadAfter]);
  const machine = machineInfo(ap.kernels);
  const table = [
    '| threads | anyprec s/step | PyTorch s/step | ratio (wall) | anyprec CPU s | PyTorch CPU s | ratio (CPU) |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.threads} | ${fmt(r.anyprecSeconds)} | ${fmt(r.torchSeconds)} | ${fmt(r.ratio)} | ${fmt(r.anyprecCpuSeconds)} | ${fmt(r.torchCpuSeconds)} | ${fmt(r.cpuRatio)} |`),
  ].join('\n');
  const md = [
    `# Training step: anyprec vs PyTorch ${torchInfo.torch} (${started.toISOString()})`, '',
    `ResNet-20 (widths 16/32/64, 3x32x32), batch 64, widths 32/8/4/2/1 with recursive distillation, Adam. ` +
    `Medians over ${rounds} interleaved rounds of ${steps} steps; ratio = anyprec / PyTorch (below 1: anyprec faster). ` +
    `CPU: ${machine.cpuModel} (${machine.logicalCpus} logical CPUs), anyprec ISA ${machine.isa}; ` +
    `load average ${fmt(Math.min(...loads))}..${fmt(Math.max(...loads))} during the run.`, '',
    table, '',
    '<details><summary>torch.__config__.show() and parallel_info()</summary>', '', '```',
    torchInfo.config.trim(), '', torchInfo.parallel.trim(), '```', '</details>',
  ].join('\n');
  console.log(table);
  log(`load average ${fmt(Math.min(...loads))}..${fmt(Math.max(...loads))}`);
  if (!opts['no-save']) {
    const report = { kind: 'train-step', date: started.toISOString(), rounds, steps, threads: threadList, rows, samples, load,
      torch: torchInfo, machine };
    const [json, mdPath] = saveResults('train-step', started, report, md);
    log(`wrote ${json} and ${mdPath}`);
  }
}

main().catch((err) => {
  console.error(err.stack ?? String(err));
  process.exit(1);
});
