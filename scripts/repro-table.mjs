#!/usr/bin/env node
// The reproduction table: one row per training run record (`anyprec train` writes <out>.json next
// to every model), grouped by method, as Markdown on stdout.
//
//   node scripts/repro-table.mjs [dir-or-record.json ...]   (default: runs/)
//   node scripts/repro-table.mjs runs/ --json                (the rows as JSON instead)
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
const inputs = args.filter((a) => a !== '--json');
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
  const c = r.config, o = c.options ?? {};
  switch (c.method) {
    case 'sp': return `act ${c.bits.join('/')}, ${o.activation ?? 'dorefa'}${o.distill === false ? ', labels (no distillation)' : ''}`;
    case 'pg': return `B/Bhb ${c.bits[0]}/${o.highBits ?? c.bits[0] - 1}, w${o.weightBits ?? 8}, ${o.activation ?? 'dorefa'}` +
      `${o.target !== undefined ? `, δ ${o.target}` : ''}${o.gateOn !== undefined ? `, on→${o.gateOn}` : ''}`;
    case 'ldp': return `λ ${o.penalty ?? 1}, bits ${(o.bitRange ?? [1, 8]).join('..')}${o.target !== undefined ? `, target ${o.target}` : ''}`;
    default: return `bits ${c.bits.join('/')}`;
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

let rows;
try {
  rows = inputs.flatMap(records).map((r) => ({
    method: r.config.method, options: options(r), graph: r.graph ?? '', digits: r.digits?.train ?? '', epochs: r.log?.length ?? r.config.epochs, seed: r.config.seed,
    accuracy: Object.fromEntries(r.results.map((x) => [x.bits, x.accuracy])), extra: extra(r), seconds: r.seconds, file: r.file,
  }));
} catch (e) {
  process.stderr.write(`repro-table: ${e.message}\n`);
  process.exit(1);
}
rows.sort((a, b) => a.method.localeCompare(b.method) || a.options.localeCompare(b.options));

if (json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  console.log('| method | options | network | training digits | epochs | seed | test accuracy by width | method adds | time |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const acc = Object.entries(r.accuracy).sort((a, b) => Number(b[0]) - Number(a[0])).map(([b, a]) => `${b === '32' ? 'float' : b}: ${pct(a)}`).join(', ');
    const time = typeof r.seconds === 'number' ? `${(r.seconds / 60).toFixed(1)} min` : '';
    console.log(`| ${r.method} | ${r.options} | ${r.graph} | ${r.digits} | ${r.epochs} | ${r.seed} | ${acc} | ${r.extra} | ${time} |`);
  }
  if (rows.length === 0) console.log(`\n(no run records in ${inputs.join(', ')})`);
}
