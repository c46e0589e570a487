#!/usr/bin/env node
// The reproduction table: one row per training run record (`anyprec train` writes <out>.json next
// to every model), grouped by method, as Markdown on stdout.
//
//   node scripts/repro-table.mjs [dir-or-record.json ...]   (default: runs/)
//   node scripts/repro-table.mjs runs/ --json                (the rows as JSON instead)
//   node scripts/repro-table.mjs docs/train-runs --charts docs/train-runs
//       also writes the charts (SVG, vega-lite) to that directory: ldp-vs-uniform.svg (test accuracy
//       vs bit-ops of the LDP runs and the uniform fixed-precision runs of the same sweep settings)
//       and ldp-layer-bits.svg (the weight / activation bits each LDP run chose per layer)
//
// Columns: method, its options, architecture (graph size), training digits (records of older
// versions leave it empty), epochs, the test accuracy per width
// (bits 32 = float; an SP width is the activation switch, weights 1 bit), and what the method
// adds: PG's fraction of outputs gated on (the exported model on the test digits, MAC-weighted),
// LDP's bit-ops relative to every layer at 8/8 bits and its per-layer bits (a fixed b-bit model:
// b²/64, for the comparison). Only finished runs
// write records, so every row is a final result.
import * as fs from 'fs';
import * as path from 'path';

const args = process.argv.slice(2);
const json = args.includes('--json');
const chartsAt = args.indexOf('--charts');
const chartDir = chartsAt >= 0 ? args[chartsAt + 1] : undefined;
if (chartsAt >= 0 && !chartDir) {
  process.stderr.write('repro-table: --charts takes a directory\n');
  process.exit(2);
}
const inputs = args.filter((a, i) => a !== '--json' && (chartsAt < 0 || (i !== chartsAt && i !== chartsAt + 1)));
if (inputs.length === 0) inputs.push('runs');

function records(p) {
  if (!fs.existsSync(p)) throw new Error(`${p}: no such file or directory`);
  if (fs.statSync(p).isDirectory()) return fs.readdirSync(p).filter((f) => f.endsWith('.json')).sort().flatMap((f) => records(path.join(p, f)));
  let r;
  try {
    r = JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch (e) {
    throw new Error(`${p}: not JSON (${e.message})`);
  }
  if (!r || typeof r !== 'object' || !r.config || !Array.isArray(r.results)) return []; // not a run record
  return [{ file: p, ...r }];
}

const pct = (a) => (typeof a === 'number' ? `${(100 * a).toFixed(2)}%` : '');

function options(r) {
  const shift = r.config.augment?.shift ? `, shifts ±${r.config.augment.shift} px` : '';
  return methodOptions(r) + recipe(r.config) + shift;
}

/**
 * The optimiser recipe where it is not the method's Adam default: SGD (rate, schedule, batch), an Adam
 * batch other than the default for the run's length (`anyprec train --batch`), and weight decay.
 */
function recipe(c) {
  const defaultBatch = c.epochs < 10 && ['sp', 'pg', 'ldp'].includes(c.method) ? 32 : 64;
  const sgd = c.optimizer === 'sgd' ? `, SGD ${c.lr} ${c.schedule?.name ?? ''}, batch ${c.batch}`
    : c.batch !== defaultBatch ? `, batch ${c.batch}` : '';
  return sgd + (c.weightDecay ? `, weight decay ${c.weightDecay}` : '');
}

function methodOptions(r) {
  const c = r.config, o = c.options ?? {};
  switch (c.method) {
    case 'sp': return `act ${c.bits.join('/')}, ${o.activation ?? 'dorefa'}${o.distill === false ? ', labels (no distillation)' : ''}`;
    case 'pg': return `B/Bhb ${c.bits[0]}/${o.highBits ?? c.bits[0] - 1}, w${o.weightBits ?? 8}, ${o.activation ?? 'dorefa'}` +
      `${o.alpha !== undefined ? ` (α₀ ${o.alpha})` : ''}${o.target !== undefined ? `, δ ${o.target}` : ''}${o.gateOn !== undefined ? `, on→${o.gateOn}` : ''}`;
    case 'ldp': return `λ ${o.penalty ?? 1}, bits ${(o.bitRange ?? [1, 8]).join('..')}${o.target !== undefined ? `, target ${o.target}` : ''}${o.freezeEpochs ? `, bits frozen for the last ${o.freezeEpochs} epochs` : ''}`;
    default: {
      const w = Object.entries(c.lossWeights ?? {}).map(([b, x]) => `${b === '32' ? 'float' : b}×${x}`);
      return `bits ${c.bits.join('/')}${w.length ? `, loss weights ${w.join(' ')}` : ''}${c.teacher === 'top' ? ', teacher: top width' : ''}`;
    }
  }
}

function extra(r) {
  if (r.gate) return `on ${pct(r.gate.fraction)}`;
  // a uniform fixed-precision model: every quantised layer at b/b bits, b²/64 of 8/8's bit-ops (LDP's measure)
  if (r.config.method === 'fixed' && r.config.bits[0] <= 8) return `bit-ops ${pct(r.config.bits[0] ** 2 / 64)} of 8/8`;
  if (r.layers) {
    const layers = Object.entries(r.layers).filter(([, p]) => p.weights !== undefined)
      .map(([name, p]) => `${name} ${p.weights}/${p.activations}`);
    return `bit-ops ${pct(r.bitOps)} of 8/8; ${layers.join(', ')}`;
  }
  return '';
}

/** Bit-ops relative to every quantised layer at 8/8 bits: LDP's own measure, b²/64 for a uniform b-bit model. */
function bitOpsOf(r) {
  if (r.config.method === 'ldp') return r.bitOps;
  if (r.config.method === 'fixed' && r.config.bits.length === 1 && r.config.bits[0] <= 8) return r.config.bits[0] ** 2 / 64;
  return undefined;
}

/** Training time: the epochs' own times when logged (a resumed run's `seconds` counts only its last process). */
function trainingSeconds(r) {
  const logged = Array.isArray(r.log) ? r.log.map((e) => e.seconds) : [];
  return logged.length && logged.every((x) => typeof x === 'number') ? logged.reduce((a, b) => a + b, 0) : r.seconds;
}

let rows;
try {
  rows = inputs.flatMap(records).map((r) => ({
    method: r.config.method, options: options(r), graph: r.graph ?? '', digits: r.digits?.train ?? '', epochs: r.log?.length ?? r.config.epochs, seed: r.config.seed,
    accuracy: Object.fromEntries(r.results.map((x) => [x.bits, x.accuracy])), extra: extra(r), seconds: trainingSeconds(r), file: r.file,
    bitOps: bitOpsOf(r), layers: r.config.method === 'ldp' ? r.layers : undefined,
  }));
} catch (e) {
  process.stderr.write(`repro-table: ${e.message}\n`);
  process.exit(1);
}
rows.sort((a, b) => a.method.localeCompare(b.method) || a.options.localeCompare(b.options));

if (chartDir) {
  try {
    await writeCharts(rows, chartDir);
  } catch (e) {
    process.stderr.write(`repro-table: charts: ${e.message}\n`);
    process.exit(1);
  }
}

if (json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  console.log('| method | options | network | training digits | epochs | seed | test accuracy by width | method adds | training time (epochs) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const acc = Object.entries(r.accuracy).sort((a, b) => Number(b[0]) - Number(a[0])).map(([b, a]) => `${b === '32' ? 'float' : b}: ${pct(a)}`).join(', ');
    const time = typeof r.seconds === 'number' ? `${(r.seconds / 60).toFixed(1)} min` : '';
    console.log(`| ${r.method} | ${r.options} | ${r.graph} | ${r.digits} | ${r.epochs} | ${r.seed} | ${acc} | ${r.extra} | ${time} |`);
  }
  if (rows.length === 0) console.log(`\n(no run records in ${inputs.join(', ')})`);
  const sp = spVsDedicated(rows);
  if (sp.length) {
    console.log('\nSP switches vs dedicated models (SP with one switch: the same 1-bit weights quantiser, activation bits and steps; the same setting and seed):\n');
    console.log('| setting | seed | activation bits | SP switch | dedicated | SP − dedicated |');
    console.log('|---|---|---|---|---|---|');
    for (const v of sp) console.log(`| ${v.setting} | ${v.seed} | ${v.bits === '32' ? 'float' : v.bits} | ${pct(v.sp)} | ${pct(v.dedicated)} | ${(100 * (v.sp - v.dedicated)).toFixed(2)} points |`);
  }
  const vs = ldpVsUniform(rows);
  if (vs.length) {
    console.log('\nLDP vs uniform precision (the same sweep setting; uniform: the mean over its seeds, linear in log bit-ops between neighbouring bit-widths):\n');
    console.log('| LDP run | setting | seed | bit-ops | test accuracy | uniform at these bit-ops | LDP − uniform | uniform bit-ops for this accuracy | LDP saves | same-seed uniform at these bit-ops |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const v of vs) {
      const diff = v.uniformAccuracy === undefined ? '' : `${(100 * (v.accuracy - v.uniformAccuracy)).toFixed(2)} points`;
      const saves = v.uniformBitOps === undefined ? '' : `${(100 * (1 - v.bitOps / v.uniformBitOps)).toFixed(0)}%`;
      console.log(`| ${v.options} | ${v.setting} | ${v.seed} | ${pct(v.bitOps)} | ${pct(v.accuracy)} | ${pct(v.uniformAccuracy)} | ${diff} | ${pct(v.uniformBitOps)} | ${saves} | ${pct(v.sameSeedAccuracy)} |`);
    }
    const groups = new Map();
    for (const v of vs) if (v.uniformAccuracy !== undefined) groups.set(`${v.options}|${v.setting}`, [...(groups.get(`${v.options}|${v.setting}`) ?? []), v]);
    const several = [...groups.values()].filter((g) => g.length >= 2);
    if (several.length > 0) {
      console.log('\nLDP over its seeds (configurations run with two or more seeds; each run against the uniform curve at its own bit-ops):\n');
      console.log('| LDP configuration | setting | seeds | mean bit-ops | mean accuracy | mean LDP − uniform | lowest / highest run |');
      console.log('|---|---|---|---|---|---|---|');
      const mean = (xs) => xs.reduce((a, x) => a + x, 0) / xs.length;
      for (const g of several) {
        const d = g.map((v) => 100 * (v.accuracy - v.uniformAccuracy));
        console.log(`| ${g[0].options} | ${g[0].setting} | ${g.map((v) => v.seed).join(', ')} | ${pct(mean(g.map((v) => v.bitOps)))} | ` +
          `${pct(mean(g.map((v) => v.accuracy)))} | ${mean(d).toFixed(2)} points | ${Math.min(...d).toFixed(2)} / ${Math.max(...d).toFixed(2)} |`);
      }
    }
  }
}

/** Each switch of a multi-switch SP run against the one-switch SP run at its activation bits (same setting, seed, quantiser). */
function spVsDedicated(all) {
  const sp = all.filter((r) => r.method === 'sp');
  const key = (r) => `${setting(r)}|${r.seed}|${r.options.replace(/^act [^,]*/, '')}`;
  return sp.filter((r) => Object.keys(r.accuracy).length > 1).flatMap((r) => Object.entries(r.accuracy).flatMap(([bits, a]) => {
    const d = sp.find((x) => key(x) === key(r) && Object.keys(x.accuracy).length === 1 && x.accuracy[bits] !== undefined);
    return d ? [{ setting: setting(r), seed: r.seed, bits, sp: a, dedicated: d.accuracy[bits] }] : [];
  })).sort((a, b) => Number(b.bits) - Number(a.bits));
}

/**
 * Each LDP run against the uniform curve of its sweep setting (seed means per bit-width): the
 * curve's accuracy at the run's bit-ops, and the bit-ops at which the curve reaches the run's
 * accuracy (undefined outside the curve's range).
 */
function ldpVsUniform(all) {
  const out = [];
  for (const r of all.filter((x) => x.method === 'ldp' && typeof x.bitOps === 'number')) {
    const uniform = all.filter((x) => x.method === 'fixed' && x.bitOps !== undefined && setting(x) === setting(r));
    const curve = uniformCurve(uniform), sameSeed = uniformCurve(uniform.filter((u) => u.seed === r.seed));
    if (curve.length < 2) continue;
    const accuracy = Object.values(r.accuracy)[0];
    out.push({ options: r.options, setting: setting(r), seed: r.seed, bitOps: r.bitOps, accuracy, ...along(curve, r.bitOps, accuracy),
      sameSeedAccuracy: along(sameSeed, r.bitOps, accuracy).uniformAccuracy });
  }
  return out;
}

/** [log bit-ops, mean accuracy over the seeds] per bit-width, in order of bit-ops. */
function uniformCurve(runs) {
  const byBits = new Map();
  for (const u of runs) byBits.set(u.bitOps, [...(byBits.get(u.bitOps) ?? []), Object.values(u.accuracy)[0]]);
  return [...byBits].map(([b, a]) => [Math.log(b), a.reduce((s, x) => s + x, 0) / a.length]).sort((a, b) => a[0] - b[0]);
}

/** The curve's accuracy at `bitOps` and the bit-ops where it first reaches `accuracy` (undefined outside it). */
function along(curve, bitOps, accuracy) {
  let uniformAccuracy, uniformBitOps;
  const x = Math.log(bitOps);
  for (let i = 1; i < curve.length; i++) {
    const [[x0, y0], [x1, y1]] = [curve[i - 1], curve[i]];
    if (uniformAccuracy === undefined && x >= x0 && x <= x1) uniformAccuracy = y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
    if (uniformBitOps === undefined && accuracy >= Math.min(y0, y1) && accuracy <= Math.max(y0, y1) && y1 !== y0) {
      uniformBitOps = Math.exp(x0 + ((x1 - x0) * (accuracy - y0)) / (y1 - y0));
    }
  }
  return { uniformAccuracy, uniformBitOps };
}

/** The sweep setting a row belongs to: ResNet-8 sweeps only compare runs of the same network, digits and epochs. */
function setting(r) { return `${r.graph}, ${r.digits} training digits, ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}`; }

async function writeCharts(all, dir) {
  // the sweep settings with both LDP runs and uniform runs
  const uniform = new Set(all.filter((r) => r.method === 'fixed' && r.bitOps !== undefined).map(setting));
  const ldp = all.filter((r) => r.method === 'ldp' && typeof r.bitOps === 'number' && uniform.has(setting(r)));
  const settings = new Set(ldp.map(setting));
  const points = all.filter((r) => r.bitOps !== undefined && settings.has(setting(r))).map((r) => {
    const bits = r.method === 'fixed' ? Number(Object.keys(r.accuracy)[0]) : undefined;
    return {
      setting: setting(r), kind: r.method === 'ldp' ? 'LDP' : 'uniform', bitOps: r.bitOps, accuracy: Object.values(r.accuracy)[0], seed: r.seed,
      label: r.method === 'ldp' ? r.options.replace(/, bits 1\.\.8/, '') : `${bits}/${bits}`,
    };
  });
  if (points.length === 0) throw new Error('no LDP run records with bit-ops to chart');
  const vsUniform = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'LDP vs uniform precision: test accuracy vs bit-ops', subtitle: 'uniform: every layer at b/b bits (the line joins the seeds\' means); LDP points labelled by penalty' },
    data: { values: points },
    facet: { field: 'setting', type: 'nominal', title: null },
    columns: 1,
    spec: {
      width: 480, height: 240,
      layer: [
        { transform: [{ filter: "datum.kind === 'uniform'" }, { aggregate: [{ op: 'mean', field: 'accuracy', as: 'accuracy' }], groupby: ['bitOps', 'kind'] }],
          mark: { type: 'line', point: false, strokeDash: [4, 3] },
          encoding: { x: { field: 'bitOps', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' }, color: { field: 'kind', type: 'nominal' } } },
        { mark: { type: 'point', filled: true, size: 60 },
          encoding: {
            x: { field: 'bitOps', type: 'quantitative', title: 'bit-ops (fraction of every layer at 8/8 bits)', scale: { type: 'log' }, axis: { format: '.1%' } },
            y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy', axis: { format: '.0%' }, scale: { zero: false } },
            color: { field: 'kind', type: 'nominal', title: null }, shape: { field: 'seed', type: 'nominal', title: 'seed' },
          } },
        { mark: { type: 'text', dx: 10, dy: -8, fontSize: 9, align: 'left' },
          encoding: { x: { field: 'bitOps', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' }, text: { field: 'label' } } },
      ],
    },
  };
  const bars = ldp.flatMap((r) => Object.entries(r.layers ?? {}).flatMap(([layer, p]) => [
    { run: `${r.options.replace(/, bits 1\.\.8/, '')}, seed ${r.seed} (${setting(r)}): ${(100 * r.bitOps).toFixed(1)}% bit-ops, ${(100 * Object.values(r.accuracy)[0]).toFixed(1)}%`, layer, what: 'weights', bits: p.weights },
    { run: `${r.options.replace(/, bits 1\.\.8/, '')}, seed ${r.seed} (${setting(r)}): ${(100 * r.bitOps).toFixed(1)}% bit-ops, ${(100 * Object.values(r.accuracy)[0]).toFixed(1)}%`, layer, what: 'activations', bits: p.activations },
  ]));
  const layerBits = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'The bits each layer chose (LDP, final epoch)', subtitle: 'weights and the activations the layer reads' },
    data: { values: bars },
    facet: { row: { field: 'run', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelOrient: 'top' } } },
    spec: {
      width: 480, height: 90,
      mark: 'bar',
      encoding: {
        x: { field: 'layer', type: 'nominal', sort: null, title: null, axis: { labelAngle: -30 } },
        xOffset: { field: 'what', type: 'nominal' },
        y: { field: 'bits', type: 'quantitative', scale: { domain: [0, 8] }, axis: { tickCount: 4 } },
        color: { field: 'what', type: 'nominal', title: null },
      },
    },
  };
  const { renderSvg } = await import('../bench/lib/suite.mjs');
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, spec] of [['ldp-vs-uniform.svg', vsUniform], ['ldp-layer-bits.svg', layerBits]]) {
    fs.writeFileSync(path.join(dir, file), await renderSvg(spec));
    process.stderr.write(`wrote ${path.join(dir, file)}\n`);
  }
}
