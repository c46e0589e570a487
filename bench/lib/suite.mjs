// The suite's summary (bench/run.mjs): goals judged from the parts' result objects, the
// headline table, and the SVG charts (vega-lite compiled to vega, rendered headless: no canvas).
import { shapeName } from './reference.mjs';
import { bestIsa } from './report.mjs';
import { loadavg, ratio, sig, table } from './report.mjs';

const isPair = (r, a, w, enc = 'unsigned') => r.aBits === a && r.bBits === w && r.aEncoding === enc && (r.threads ?? 1) === 1 && !r.forced;

/** anyprec rows of the fastest ISA at one thread, per shape. */
function bestRows(shape, gemm) {
  const isa = bestIsa(shape, gemm.machine.measuredIsas);
  return { isa, rows: shape.gemm.filter((r) => r.isa === isa && (r.threads ?? 1) === 1 && !r.forced) };
}

/**
 * The issue's goals, judged on every shape measured (GEMM) and every MNIST model × batch
 * (latency). Each entry: { goal, where, value, target, met } — value null when not measured.
 */
export function judgeGoals(parts) {
  const goals = [];
  const gemm = parts.gemm;
  if (gemm) {
    for (const s of gemm.shapes) {
      const { rows } = bestRows(s, gemm);
      const where = shapeName(s.shape);
      const get = (a, w, enc) => rows.find((r) => isPair(r, a, w, enc));
      const g = (goal, value, target) => goals.push({ goal, where, value: Number.isFinite(value) ? value : null, target, met: Number.isFinite(value) ? value >= target : null });
      g('1×1 ≥ 20× ORT fp32', get(1, 1)?.vsOrtFp32, 20);
      g('1×1 XNOR ≥ 20× ORT fp32', get(1, 1, 'bipolar')?.vsOrtFp32, 20);
      g('1×1 ≥ 5× ORT int8', get(1, 1)?.vsOrtInt8, 5);
      g('1×1 XNOR ≥ 5× ORT int8', get(1, 1, 'bipolar')?.vsOrtInt8, 5);
      g('2×2 ≥ 1.5× ORT int8', get(2, 2)?.vsOrtInt8, 1.5);
      const measured = rows.filter((r) => r.aEncoding === 'unsigned' && Number.isFinite(r.vsOrtInt8));
      const worst = measured.reduce((w, r) => (w === null || r.vsOrtInt8 < w.vsOrtInt8 ? r : w), null);
      const below = measured.filter((r) => r.vsOrtInt8 < 1);
      goals.push({
        goal: 'every (a, w) ≥ 1× ORT int8 (worst pair)',
        where,
        value: worst ? worst.vsOrtInt8 : null,
        target: 1,
        met: worst ? below.length === 0 : null,
        detail: worst ? `${measured.length - below.length}/${measured.length} pairs ≥ 1×` +
          (below.length ? `, below: ${below.map((r) => `${r.aBits}×${r.bBits}`).join(' ')}` : '') : 'not measured',
      });
    }
  }
  const model = parts.model;
  if (model) {
    for (const r of model.results.filter((x) => x.model === 'mlp' || x.model === 'cnn')) {
      const row = r.rows.find((x) => x.bits === 2);
      const v = row?.vsOrt;
      goals.push({
        goal: 'MNIST model at 2 bits ≤ 0.2× ORT fp32 latency',
        where: `${r.model.toUpperCase()} batch ${r.batch}`,
        value: Number.isFinite(v) ? v : null,
        target: 0.2,
        met: Number.isFinite(v) ? v <= 0.2 : null,
        lowerIsBetter: true,
      });
    }
  }
  return goals;
}

const verdict = (g) => (g.met === null ? 'not measured' : g.met ? 'met' : '**NOT met**');

/** The suite's markdown: machine, goals, headline GEMM table, models, event loop, gating, part files. */
export function suiteMarkdown(rep) {
  const out = [];
  const m = rep.machine;
  out.push(`# anyprec benchmark suite — ${rep.date}`);
  out.push('');
  out.push(`${m.cpuModel} (${m.logicalCpus} vCPUs; ${m.cpuFlags.join(', ')}) · ${m.os} · Node ${m.node} · onnxruntime-node ${m.onnxruntimeNode} · ` +
    `tfjs ${rep.versions?.tfjs ?? '–'} · anyprec git \`${m.git.head}\`${m.git.dirty.length ? ' (uncommitted changes)' : ''} · ` +
    `command \`${rep.command}\` · ${(rep.durationSec / 60).toFixed(1)} min.`);
  out.push('');
  out.push(`Load average (1/5/15 min): ${loadavg(rep.loadAverageStart)} at start, ${loadavg(rep.loadAverageEnd)} at end. ` +
    'The machine is shared (other builds and benchmarks run at the same time): absolute times are noisy, the ratios ' +
    'below come from both sides measured interleaved in one process, medians over repetitions.');
  out.push('');
  for (const [name, p] of Object.entries(rep.parts)) {
    if (p.error) out.push(`- **${name}: FAILED** — ${p.error}`);
  }
  out.push('');

  // ---- goals: one row per goal, one column per place it is judged
  if (rep.goals.length) {
    out.push('## Goals (from the issue) on this machine');
    out.push('');
    out.push('Each cell: the measured ratio, then ✓ (met) or ✗ (**not met**). GEMM goals: fastest ISA, one thread, ' +
      'each anyprec case vs ORT on the same shape at one thread. MNIST goal: anyprec latency ÷ ORT fp32 latency of the same network.');
    out.push('');
    const groups = [['GEMM', rep.goals.filter((g) => !g.lowerIsBetter)], ['MNIST', rep.goals.filter((g) => g.lowerIsBetter)]];
    for (const [, goals] of groups) {
      if (!goals.length) continue;
      const wheres = [...new Set(goals.map((g) => g.where))];
      const names = [...new Set(goals.map((g) => g.goal))];
      out.push(table(['goal', ...wheres], names.map((name) => [name, ...wheres.map((w) => {
        const g = goals.find((x) => x.goal === name && x.where === w);
        if (!g || g.value === null) return '–';
        return `${ratio(g.value)} ${g.met ? '✓' : '✗'}`;
      })])));
      out.push('');
    }
    const details = rep.goals.filter((g) => g.detail && g.met === false);
    if (details.length) {
      out.push('Every-bit-width goal, pairs below 1× ORT int8 (a×w): ' + details.map((g) => `${g.where}: ${g.detail}`).join('; ') + '.');
      out.push('');
    }
    const met = rep.goals.filter((g) => g.met === true).length, not = rep.goals.filter((g) => g.met === false).length;
    out.push(`**${met} met, ${not} not met**${rep.goals.length - met - not ? `, ${rep.goals.length - met - not} not measured` : ''} (of ${rep.goals.length} goal × place checks).`);
    out.push('');
  }

  // ---- GEMM headline
  const gemm = rep.parts.gemm?.data;
  if (gemm) {
    out.push('## GEMM / GEMV, one thread: anyprec (fastest ISA) vs ONNX Runtime');
    out.push('');
    // The ceiling loop's best rate over the whole run (load only slows it, so per-shape ceilings
    // measured under load understate it): fractions of it are conservative.
    const ceilingOf = (isa) => Math.max(...gemm.shapes.map((s) => s.ceilings?.[isa]?.bitMacsPerSec).filter(Number.isFinite));
    out.push('Cells: speedup over ORT int8 MatMulInteger (over ORT fp32 Gemm); > 1 = anyprec faster. "of ceiling" = the case\'s ' +
      'bit-MAC rate (M·N·K·a·w / time) as a fraction of this CPU\'s popcount ceiling (one core): the fastest the ' +
      '`kernels.popcountCeiling` register-only loop ran anywhere in this run' +
      (gemm.machine.measuredIsas.length ? ` (${gemm.machine.measuredIsas.map((i) => `${i} ${sig(ceilingOf(i) / 1e9)} Gbit-MAC/s`).join(', ')})` : '') +
      '. Baselines in Gop/s (2·M·K·N / time).');
    out.push('');
    const pairs = [[1, 1], [2, 2], [3, 3], [4, 4], [8, 8], [2, 4], [4, 8]];
    const rows = gemm.shapes.map((s) => {
      const { isa, rows: r } = bestRows(s, gemm);
      const cell = (a, w) => {
        const x = r.find((y) => isPair(y, a, w));
        return x?.medianMs ? `${ratio(x.vsOrtInt8)} (${ratio(x.vsOrtFp32)})${x.path === 'int8' ? 'ⁱ' : ''}` : '–';
      };
      const frac = (a, w) => {
        const x = r.find((y) => isPair(y, a, w));
        if (x?.path === 'int8') return 'int8 path';
        return x?.bitMacsPerSec ? `${(100 * x.bitMacsPerSec / ceilingOf(isa)).toFixed(0)}%` : '–';
      };
      const b = (engine, t = 1) => sig(s.baselines?.find((x) => x.engine === engine && (x.threads ?? 1) === t)?.gops);
      return [shapeName(s.shape), isa, ...pairs.map(([a, w]) => cell(a, w)),
        `${frac(1, 1)} / ${frac(2, 2)} / ${frac(8, 8)}`,
        b('ORT int8 MatMulInteger'), b('ORT fp32 Gemm'), b('tfjs wasm matMul'), b('plain JS float32 loop'), b('anyprec floatGemm')];
    });
    out.push(table(['M×K×N', 'ISA', ...pairs.map(([a, w]) => `a${a}×w${w}`), 'of ceiling: 1×1 / 2×2 / 8×8', 'ORT int8 Gop/s', 'ORT fp32 Gop/s', 'tfjs wasm Gop/s', 'JS Gop/s', 'anyprec float Gop/s'], rows));
    out.push('');
    const t2 = gemm.shapes.flatMap((s) => s.gemm.filter((r) => (r.threads ?? 1) === 2 && isPair({ ...r, threads: 1 }, 1, 1)).map((r) => [s, r]));
    if (t2.length) {
      out.push('Two threads (anyprec setThreads(2) vs ORT intraOpNumThreads 2), 1×1: ' +
        t2.map(([s, r]) => `${shapeName(s.shape)} ${ratio(r.vsOrtInt8)} int8 / ${ratio(r.vsOrtFp32)} fp32`).join('; ') +
        '. This VM\'s 2 vCPUs give little parallel speedup (docs/benchmarks.md, "Reading the numbers"); see the full GEMM report.');
      out.push('');
    }
    // ORT int8 above the AVX-512 VNNI bound (vpdpbusd zmm: 64 u8×s8 MACs, 2 per cycle = 128 MAC/cycle)
    // can only come from AMX-INT8 tiles: say so when the numbers show it.
    const mhz = gemm.machine.nominalMHz;
    const int8Best = Math.max(...gemm.shapes.flatMap((s) => (s.baselines ?? []).filter((b) => b.kind === 'ort-int8' && (b.threads ?? 1) === 1).map((b) => b.gops ?? 0)));
    if (mhz && int8Best > (2 * 128 * mhz) / 1e3) {
      out.push(`ORT int8 reached ${sig(int8Best)} Gop/s on one thread, above the AVX-512 VNNI bound of ${sig((2 * 128 * mhz) / 1e3)} Gop/s ` +
        `(128 MAC/cycle at the nominal ${mhz} MHz; turbo clocks could explain part of it): its MLAS int8 GEMM most ` +
        'likely runs on this CPU\'s AMX-INT8 tiles — a higher bar for the bit-serial kernels than the VNNI-class ORT int8 that ' +
        'the project measured on an AMD Zen 5 core (~600 Gop/s; docs/benchmarks.md, "Reading the numbers").');
      out.push('');
    }
    const tf = gemm.tfjs;
    out.push(`tfjs: ${tf?.backend ? `wasm backend, ${tf.threads} thread${tf.threads > 1 ? 's' : ''}${tf.note ? ` (${tf.note})` : ''}` : `not measured (${tf?.unavailable})`}. ` +
      `Plain JS runs only where one call fits its cap (${sig(gemm.options.jsCapMs / 1000)} s); elsewhere "–". ` +
      `GEMM path reporting: kernels.gemmPath ${gemm.paths?.gemmPath ? 'present (cells marked ⁱ ran anyprec\'s int8 dot-product path)' : 'absent (every anyprec cell is the bit-serial kernel)'}, ` +
      `path option ${gemm.paths?.option ? 'present (bit-serial-forced rows in the full GEMM report)' : 'absent'}.`);
    out.push('');
  }

  // ---- models
  const model = rep.parts.model?.data;
  if (model) {
    out.push('## Models, one thread: anyprec time ÷ ORT time (lower is better)');
    out.push('');
    const bitsAll = [...new Set(model.results.flatMap((r) => r.rows.map((x) => x.bits)))].sort((a, b) => a - b);
    out.push('ORT int8 here: the QDQ graph of the float network (fused by ORT into QLinearConv / QLinearAdd / QGemm) where the ' +
      'run has one, else the older integer-op export (QLinearConv / ConvInteger / MatMulInteger); the full model report has both.');
    out.push('');
    const i8 = (r) => r.ortInt8Qdq ?? r.ortInt8;
    out.push(table(['model, batch', 'ORT fp32 ms', 'ORT int8 ms (kind)', ...bitsAll.map((b) => `${b === 32 ? 'float' : `${b} bit`} ÷ fp32 (÷ int8)`)],
      model.results.map((r) => [`${r.model.toUpperCase()}, ${r.batch}`, sig(r.ort?.medianMs),
        `${sig(i8(r)?.medianMs)} (${r.ortInt8Qdq ? 'QDQ' : 'integer ops'})`,
        ...bitsAll.map((b) => {
          const x = r.rows.find((y) => y.bits === b);
          return x?.medianMs ? `${ratio(x.vsOrt)} (${ratio(r.ortInt8Qdq ? x.vsOrtQdq : x.vsOrtInt8)})` : '–';
        })])));
    out.push('');
    const acc = model.accuracy?.resnet20;
    if (acc) {
      const pc = (f) => (Number.isFinite(f) ? `${(100 * f).toFixed(1)}%` : '–');
      out.push(`ResNet-20 (fixture A) accuracy on the 2,000 MNIST test digits: ` +
        acc.anyprec.map((x) => `${x.bits === 32 ? 'float' : `${x.bits} bit`} ${pc(x.accuracy)}${acc.reference?.[x.bits] != null ? ` (reference ${pc(acc.reference[x.bits])})` : ''}`).join(', ') +
        `; ORT fp32 ${pc(acc.ortFp32?.accuracy)}, ORT int8 QDQ ${pc(acc.ortInt8Qdq?.accuracy)}, ORT int8 integer-op export ${pc(acc.ortInt8?.accuracy)}. The MNIST MLP/CNN have random weights (no trained one is bundled): only their agreement with their own 32-bit output is reported.`);
      out.push('');
    }
  }

  // ---- event loop
  const ev = rep.parts.eventloop?.data;
  if (ev) {
    out.push(`## Event-loop delay (${ev.options.model.toUpperCase()} batch ${ev.options.batch}, ${ev.options.bits} bits; one runSync ≈ ${sig(ev.runSyncCallMs)} ms)`);
    out.push('');
    out.push(`\`perf_hooks.monitorEventLoopDelay\` (${ev.options.resolution} ms resolution: Node records the whole interval between ` +
      `two ticks, so ~${ev.options.resolution} ms is the floor) over ${ev.options.seconds} s per phase: idle, a stream of ` +
      '`await model.run()` (worker thread), a stream of `runSync()` with a turn of the loop between calls.');
    out.push('');
    out.push(table(['phase', 'calls/s', 'p50 ms', 'p99 ms', 'max ms'], ev.phases.map((p) => [p.phase, p.callsPerSec ? sig(p.callsPerSec) : '–', sig(p.p50Ms), sig(p.p99Ms), sig(p.maxMs)])));
    out.push('');
  }

  // ---- gating
  const gat = rep.parts.gating?.data;
  if (gat) {
    out.push('## Precision gating (bench/gating.mjs)');
    out.push('');
    out.push(gatingSummary(gat));
    out.push('');
  }

  out.push('## Files');
  out.push('');
  for (const [name, p] of Object.entries(rep.parts)) {
    out.push(`- ${name}: ${p.files ? p.files.map((f) => `[${f}](${f.replace(/^bench\/results\//, '')})`).join(', ') : p.error ? `failed: ${p.error}` : p.seconds !== undefined ? 'ran (--no-save: no result file, so not summarized here)' : 'not run'}`);
  }
  for (const c of rep.charts ?? []) out.push(`- chart: [${c}](${c.replace(/^bench\/results\//, '')})`);
  return out.join('\n');
}

/**
 * Gated vs dense from the gating part's result (its schema, anyprec-bench-gating/1, belongs to
 * bench/gating.mjs: read defensively). Cells: dense time ÷ gated time of the kept strategy.
 */
function gatingSummary(g) {
  try {
    const results = g.results ?? [];
    const strategy = g.options?.strategies?.[0] ?? 'auto';
    const targets = [...new Set(results.flatMap((r) => (r.sparsity ?? []).map((x) => x.target)))].sort((a, b) => a - b);
    if (!results.length || !targets.length) return 'See the gating report (linked below).';
    const rows = results.map((r) => [
      r.shape, `${r.B}/${r.highBits}`, String(r.weightBits),
      ...targets.map((t) => {
        const x = (r.sparsity ?? []).find((y) => y.target === t);
        const st = x?.strategies?.[strategy];
        return st?.speedup ? `${ratio(st.speedup)} (theory ${ratio(x.theory)})` : '–';
      }),
      r.allOff?.speedup ? ratio(r.allOff.speedup) : '–',
    ]);
    return `Dense B-bit bitGemm time ÷ gated time (strategy '${strategy}'), one thread, ${g.isa ?? ''}; > 1 = gating saves time.\n\n` +
      table(['M×K×N', 'B/Bhb', 'w bits', ...targets.map((t) => `${Math.round(100 * t)}% off`), 'all off'], rows);
  } catch {
    return 'See the gating report (linked below).';
  }
}

// ---- charts ------------------------------------------------------------------------------------

/** vega-lite spec: GEMM throughput vs bit-width (a = w), per shape, baselines as horizontal rules. */
export function gemmChartSpec(gemm) {
  const points = [];
  const rules = [];
  for (const s of gemm.shapes) {
    const shape = shapeName(s.shape);
    const isa = bestIsa(s, gemm.machine.measuredIsas);
    for (const r of s.gemm) {
      if (r.isa !== isa || r.aEncoding !== 'unsigned' || r.forced || r.aBits !== r.bBits || !r.gops) continue;
      points.push({ shape, bits: r.aBits, gops: r.gops, series: `anyprec ${isa}, ${r.threads ?? 1} thread${(r.threads ?? 1) > 1 ? 's' : ''}` });
    }
    for (const b of s.baselines ?? []) {
      if (!b.gops || (b.threads ?? 1) !== 1) continue; // the chart shows the 1-thread baselines
      rules.push({ shape, gops: b.gops, series: `${b.engine} (1 thread)` });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'GEMM throughput vs bit-width (a = w bits), one process, medians', subtitle: 'solid: anyprec (fastest ISA); dashed horizontal lines: 1-thread baselines on the same shape' },
    data: { values: [...points.map((p) => ({ ...p, kind: 'anyprec' })), ...rules.map((r) => ({ ...r, kind: 'baseline' }))] },
    facet: { field: 'shape', type: 'nominal', title: 'M×K×N', sort: gemm.shapes.map((s) => shapeName(s.shape)) },
    columns: 3,
    spec: {
      width: 220,
      height: 180,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'baseline'" }],
          mark: { type: 'rule', strokeDash: [4, 3] },
          encoding: { y: { field: 'gops', type: 'quantitative' }, color: { field: 'series', type: 'nominal', title: null } },
        },
        {
          transform: [{ filter: "datum.kind === 'anyprec'" }],
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'bits', type: 'quantitative', title: 'bits (a = w)', scale: { type: 'log', base: 2 }, axis: { values: [1, 2, 3, 4, 8] } },
            y: { field: 'gops', type: 'quantitative', title: 'Gop/s (2·M·K·N / time)', scale: { type: 'log' } },
            color: { field: 'series', type: 'nominal', title: null },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
    config: { legend: { orient: 'bottom', columns: 2, labelLimit: 400, symbolType: 'stroke' } },
  };
}

/** vega-lite spec: latency (batch 64) vs accuracy, per model; anyprec points labelled by bits. */
export function latencyAccuracySpec(model) {
  const values = [];
  for (const [name, a] of Object.entries(model.accuracy ?? {})) {
    const r = model.results.find((x) => x.model === name && x.batch === 64) ?? model.results.find((x) => x.model === name);
    if (!r) continue;
    const metric = a.labelsMeaningful ? 'accuracy' : 'agreement32';
    const label = `${name.toUpperCase()}, batch ${r.batch}${a.labelsMeaningful ? ' — top-1 accuracy' : ' — random weights: agreement with its 32-bit output'}`;
    for (const x of a.anyprec) {
      const row = r.rows.find((y) => y.bits === x.bits);
      if (row?.medianMs) values.push({ model: label, engine: 'anyprec', label: x.bits === 32 ? 'f32' : `${x.bits}b`, ms: row.medianMs, value: x[metric] });
    }
    if (a.ortFp32 && r.ort?.medianMs) values.push({ model: label, engine: 'ORT fp32', label: 'ORT fp32', ms: r.ort.medianMs, value: a.ortFp32[metric] });
    if (a.ortInt8Qdq && r.ortInt8Qdq?.medianMs) values.push({ model: label, engine: 'ORT int8', label: 'ORT int8 QDQ', ms: r.ortInt8Qdq.medianMs, value: a.ortInt8Qdq[metric] });
    else if (a.ortInt8 && r.ortInt8?.medianMs) values.push({ model: label, engine: 'ORT int8', label: 'ORT int8', ms: r.ortInt8.medianMs, value: a.ortInt8[metric] });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Latency vs accuracy on the 2,000 MNIST test digits (one thread)', subtitle: 'anyprec points labelled by bit-width' },
    data: { values },
    facet: { field: 'model', type: 'nominal', title: null },
    columns: 1,
    spec: {
      width: 460,
      height: 200,
      layer: [
        {
          mark: { type: 'point', filled: true, size: 70 },
          encoding: {
            x: { field: 'ms', type: 'quantitative', title: 'ms per batch (median)', scale: { type: 'log' } },
            y: { field: 'value', type: 'quantitative', title: 'top-1', axis: { format: '.0%' }, scale: { zero: false } },
            color: { field: 'engine', type: 'nominal', title: null },
          },
        },
        {
          mark: { type: 'text', dx: 14, dy: -8, fontSize: 10 },
          encoding: {
            x: { field: 'ms', type: 'quantitative' },
            y: { field: 'value', type: 'quantitative' },
            text: { field: 'label' },
          },
        },
      ],
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  };
}

/** SVG text of a vega-lite spec, rendered headless (renderer 'none': no canvas, no DOM). */
export async function renderSvg(spec) {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
