#!/usr/bin/env node
// npm run bench — the whole benchmark suite in one run: every part on the same machine, one
// after the other, then one summary (goals, headline tables) and the charts.
//
// Parts (each its own script, run as a child process so one part's allocations, worker
// threads and ORT sessions do not disturb the next; each writes its own full report):
//   gemm       bench/gemm.mjs       GEMM/GEMV grid vs ORT fp32/int8, tfjs wasm, plain JS; 1 and 2 threads
//   model      bench/model.mjs      conv layer, MNIST MLP/CNN, fixture ResNet-20 vs ORT fp32/int8; accuracy
//   eventloop  bench/eventloop.mjs  event-loop delay during run() vs runSync()
//   gating     bench/gating.mjs     precision-gated vs dense GEMM (run as it is)
//
// Output: bench/results/<date>.json (the summary + every part's result object), <date>.md,
// <date>-gemm.svg (throughput vs bit-width), <date>-latency-accuracy.svg; with --docs the
// "Latest results" section of docs/benchmarks.md is rewritten from them (README.md is not touched).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Command, Option } from 'commander';

import { loadAnyprec, log } from './lib/cli.mjs';
import { machineInfo, packageVersion, root } from './lib/machine.mjs';
import { gemmChartSpec, judgeGoals, latencyAccuracySpec, renderSvg, suiteMarkdown } from './lib/suite.mjs';

const PARTS = {
  gemm: { script: 'bench/gemm.mjs', prefix: 'gemm' },
  model: { script: 'bench/model.mjs', prefix: 'model' },
  eventloop: { script: 'bench/eventloop.mjs', prefix: 'eventloop' },
  gating: { script: 'bench/gating.mjs', prefix: 'gating' },
};

const program = new Command()
  .name('npm run bench --')
  .description('anyprec benchmark suite: every part in one run, one summary, charts')
  .option('--quick', 'a short pass of every part (a few minutes in all)', false)
  .addOption(new Option('--only <parts>', 'comma-separated parts to run').default(Object.keys(PARTS).join(',')))
  .option('--skip <parts>', 'comma-separated parts to leave out', '')
  .option('--all-isas', 'GEMM: measure every ISA (default: only the best one, plus its ceiling)', false)
  .option('--docs', 'rewrite the "Latest results" section of docs/benchmarks.md from this run', false)
  .option('--readme', 'old name of --docs (it writes docs/benchmarks.md; README.md is left alone)', false)
  .option('--no-save', 'print only; write nothing to bench/results/')
  .option('--part-args <part=args...>', 'extra arguments for one part, e.g. gemm="--rounds 7"')
  .option('--rerender <suite.json>', 'measure nothing: rewrite the summary .md and the charts of an earlier run (and docs/benchmarks.md with --docs)')
  .showHelpAfterError();
program.parse(process.argv);
const opts = program.opts();
opts.docs ||= opts.readme;

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const selected = list(opts.only).filter((p) => !list(opts.skip).includes(p));
for (const p of selected) if (!PARTS[p]) program.error(`unknown part '${p}' (parts: ${Object.keys(PARTS).join(', ')})`);
const extra = Object.fromEntries((opts.partArgs ?? []).map((s) => {
  const i = s.indexOf('=');
  if (i < 0) program.error(`--part-args: '${s}' is not part=args`);
  return [s.slice(0, i), s.slice(i + 1).split(/\s+/).filter(Boolean)];
}));

const resultsDir = path.join(root, 'bench', 'results');

/** Result JSON files of a part's prefix (gemm-<date>.json etc.). */
function partFiles(prefix) {
  if (!fs.existsSync(resultsDir)) return [];
  return fs.readdirSync(resultsDir).filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.json') && !f.includes('.svg'));
}

/** Runs one part as a child process (progress to our stderr, its markdown discarded: it saves its own). */
function runPart(name, args) {
  const { script, prefix } = PARTS[name];
  const before = new Set(partFiles(prefix));
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(root, script), ...args], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code, signal) => {
      const sec = (performance.now() - t0) / 1000;
      if (code !== 0) return resolve({ error: `exit ${code ?? signal}`, seconds: sec, args });
      const fresh = partFiles(prefix).filter((f) => !before.has(f)).sort();
      if (!opts.save) return resolve({ seconds: sec, args, data: null });
      if (!fresh.length) return resolve({ error: 'no result file written', seconds: sec, args });
      const json = fresh[fresh.length - 1];
      const rel = (f) => path.posix.join('bench', 'results', f);
      resolve({
        seconds: sec,
        args,
        files: [rel(json), rel(json.replace(/\.json$/, '.md'))],
        data: JSON.parse(fs.readFileSync(path.join(resultsDir, json), 'utf8')),
      });
    });
  });
}

function stampOf(date) {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

const DOCS = path.join(root, 'docs', 'benchmarks.md');

/** Replaces the text between the bench markers of docs/benchmarks.md with `section`. */
function updateDocs(section) {
  const text = fs.existsSync(DOCS) ? fs.readFileSync(DOCS, 'utf8') : '# Benchmarks\n';
  const start = '<!-- bench:start -->', end = '<!-- bench:end -->';
  const block = `${start}\n${section}\n${end}`;
  const i = text.indexOf(start), j = text.indexOf(end);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n## Latest results\n\n${block}\n`;
  fs.mkdirSync(path.dirname(DOCS), { recursive: true });
  fs.writeFileSync(DOCS, next);
}

/** The docs section: machine, commit, command, charts, goals, headline tables (links relative to docs/). */
function docsSection(rep, md, stamp) {
  // The summary without its title and file list, one heading level down (the section is ##).
  const body = md.slice(0, md.indexOf('\n## Files') >= 0 ? md.indexOf('\n## Files') : md.length)
    .split('\n').filter((l) => !l.startsWith('# ')).map((l) => (l.startsWith('## ') ? `#${l}` : l)).join('\n').trim();
  const charts = (rep.charts ?? []).map((c) => `![${path.basename(c, '.svg')}](../${c})`).join('\n\n');
  return [
    `Latest full run: **${rep.date}**, anyprec commit \`${rep.machine.git.head}\`, on ${rep.machine.cpuModel} ` +
      `(${rep.machine.logicalCpus} vCPUs, shared with other jobs). Reproduce with \`npm run build && npm run bench\` ` +
      `(\`npm run bench -- --quick\` for a short pass; \`--only gemm,model,eventloop,gating\`). ` +
      `Summary: [bench/results/${stamp}.md](../bench/results/${stamp}.md).`,
    '',
    charts,
    '',
    body,
  ].join('\n');
}

/** Writes the summary markdown, charts and (with --docs) docs/benchmarks.md from a suite report. */
async function render(rep, data, parts, stamp) {
  rep.charts = [];
  const charts = [];
  if (data.gemm) charts.push([`${stamp}-gemm.svg`, gemmChartSpec(data.gemm)]);
  if (data.model?.accuracy && Object.keys(data.model.accuracy).length) charts.push([`${stamp}-latency-accuracy.svg`, latencyAccuracySpec(data.model)]);
  const svgs = [];
  for (const [file, spec] of charts) {
    try {
      svgs.push([file, await renderSvg(spec)]);
      rep.charts.push(path.posix.join('bench', 'results', file));
    } catch (err) {
      log(`  !! chart ${file} failed: ${err.message}`);
    }
  }
  const md = suiteMarkdown({ ...rep, parts: Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, { ...p, data: data[k] }])) });
  console.log(md);
  if (opts.save) {
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, `${stamp}.json`), JSON.stringify({ ...rep, results: data }, null, 2) + '\n');
    fs.writeFileSync(path.join(resultsDir, `${stamp}.md`), md + '\n');
    for (const [file, svg] of svgs) fs.writeFileSync(path.join(resultsDir, file), svg);
    log(`\nsaved bench/results/${stamp}.json, ${stamp}.md${svgs.map(([f]) => `, ${f}`).join('')}`);
    if (opts.docs) {
      updateDocs(docsSection(rep, md, stamp));
      log('docs/benchmarks.md: "Latest results" section updated');
    }
  }
}

async function rerender(file) {
  const full = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { results: data, ...rep } = full;
  const stamp = stampOf(new Date(rep.date));
  rep.goals = judgeGoals(data);
  await render(rep, data, rep.parts, stamp);
}

async function main() {
  if (opts.rerender) return rerender(opts.rerender);
  const started = new Date();
  const t0 = performance.now();
  const ap = await loadAnyprec();
  const machine = machineInfo(ap.kernels);
  log(`anyprec bench suite — parts: ${selected.join(', ')}${opts.quick ? ' (quick)' : ''}`);
  log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const parts = {};
  for (const name of selected) {
    const args = [];
    if (opts.quick) args.push('--quick');
    if (!opts.save) args.push('--no-save');
    if (name === 'gemm' && !opts.allIsas) args.push('--isa', ap.kernels.availableIsas()[0]);
    args.push(...(extra[name] ?? []));
    log(`\n######## ${name}: node ${PARTS[name].script} ${args.join(' ')}`);
    parts[name] = await runPart(name, args);
    log(`######## ${name}: ${parts[name].error ? `FAILED (${parts[name].error})` : 'done'} in ${parts[name].seconds.toFixed(0)} s`);
  }
  const data = Object.fromEntries(Object.entries(parts).filter(([, p]) => p.data).map(([k, p]) => [k, p.data]));
  const stamp = stampOf(started);
  const rep = {
    schema: 'anyprec-bench-suite/1',
    date: started.toISOString(),
    command: `npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    durationSec: (performance.now() - t0) / 1000,
    machine,
    versions: { tfjs: packageVersion('@tensorflow/tfjs-core'), vega: packageVersion('vega'), vegaLite: packageVersion('vega-lite') },
    loadAverageStart: machine.loadAverageStart,
    loadAverageEnd: os.loadavg(),
    goals: judgeGoals(data),
    charts: [],
    parts: Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, { ...p, data: undefined }])),
  };
  await render(rep, data, parts, stamp);
  const failed = Object.entries(parts).filter(([, p]) => p.error);
  log(`total ${((performance.now() - t0) / 60000).toFixed(1)} min${failed.length ? `; FAILED parts: ${failed.map(([k]) => k).join(', ')}` : ''}`);
  if (failed.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
