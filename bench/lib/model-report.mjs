// Markdown rendering of a bench/model.mjs result object (the same object saved as JSON).
import { loadavg, pct, ratio, sig, table } from './report.mjs';

const bitsName = (b) => (b === 32 ? '32 (float)' : String(b));
const modelName = (r) => `${r.model.toUpperCase()}, batch ${r.batch}`;

/** Large counts as 1.23 G / 45.6 M / 789 k. */
function count(n) {
  if (!Number.isFinite(n)) return '–';
  for (const [div, unit] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) if (n >= div) return `${sig(n / div)} ${unit}`;
  return sig(n);
}

const rate = (s) => (Number.isFinite(s) ? (s >= 1000 ? Math.round(s).toLocaleString('en-US') : sig(s)) : '–');

/** A one-line judgement of where the time of a profiled run goes (JS loops vs native). */
export function profileVerdict(b) {
  const p = b.profile;
  if (!p) return null;
  const js = p.functions.filter((f) => f.side === 'JS');
  const top = p.functions[0];
  const topJs = js[0];
  const parts = [];
  if (top) parts.push(`the largest single function is \`${top.name}\` (${top.side}) at ${sig(top.medianMs)} ms = ${pct(top.medianMs / p.runMs)} of the run`);
  if (topJs) parts.push(`JS-side ops (dist/nn/ops.js loops) take ${sig(p.jsMs)} ms = ${pct(p.jsMs / p.runMs)} in total, led by \`${topJs.name}\` (${sig(topJs.medianMs)} ms, ${pct(topJs.medianMs / p.runMs)})`);
  parts.push(`native kernels ${sig(p.nativeMs)} ms = ${pct(p.nativeMs / p.runMs)}; untracked runtime glue ${sig(p.otherMs)} ms`);
  let verdict = parts.join('; ') + '.';
  verdict = verdict[0].toUpperCase() + verdict.slice(1);
  if (topJs && (topJs.medianMs / p.runMs >= 0.2 || topJs === top)) {
    verdict = `**A JS-side op dominates: \`${topJs.name}\` takes ${pct(topJs.medianMs / p.runMs)} of the run.** ` + verdict;
  }
  return verdict;
}

/** The int8 kernel family MLAS can pick on this CPU (from its flags): what "ORT int8" ran on. */
export function ortInt8Variant(flags) {
  if (flags.includes('amx_int8')) return 'AMX-INT8 available (MLAS uses AMX tiles for int8 GEMMs on such CPUs)';
  if (flags.includes('avx512_vnni')) return 'AVX-512 VNNI (no AMX)';
  if (flags.includes('avx_vnni')) return 'AVX-VNNI (no AVX-512 VNNI, no AMX)';
  return 'AVX2 or older (no VNNI)';
}

/** The QDQ baseline's section: anyprec ÷ ORT int8 QDQ per bit-width, and what ORT fused each graph into. */
function qdqSection(rep, out) {
  const rs = rep.results.filter((r) => r.ortInt8Qdq?.medianMs);
  if (!rs.length) return;
  const m = rep.machine;
  out.push('## anyprec time ÷ ORT int8 QDQ time (lower is better)');
  out.push('');
  out.push(
    '**ORT int8 QDQ** is each float network (its ORT fp32 graph) quantised post-training as ORT\'s own tool would: ' +
      'QuantizeLinear/DequantizeLinear around every conv, residual Add and fully-connected layer; int8 weights per output ' +
      'channel (symmetric, axis 0) with the batch norms folded in; uint8 activations per tensor (a Clip(0, 1) after a layer ' +
      'becomes its uint8 output at scale 1/255), the other ranges min/max-calibrated. ' +
      `CPU ${m.cpuModel}; anyprec ISA ${rep.isa}; ORT int8 variant: QDQ → MLAS, ${ortInt8Variant(m.cpuFlags)}. ` +
      'What ORT fused each graph into (node types of the optimised graph it saves with the session option ' +
      '`optimizedModelFilePath`):',
  );
  out.push('');
  const seen = new Set();
  for (const r of rs) {
    if (seen.has(r.model) || !r.qdq) continue;
    seen.add(r.model);
    const q = r.qdq;
    const ops = q.optimizedOps ? Object.entries(q.optimizedOps).map(([k, v]) => `${k.replace(/^:/, '')} ×${v}`).join(', ') : 'not read';
    const verdict = q.fused === true
      ? `fully fused (${Object.entries(q.expected ?? {}).map(([k, v]) => `${k} ×${v}`).join(', ')}; no float Conv/Gemm left)`
      : q.fused === false ? '**not fully fused**' : 'fusion unknown';
    out.push(`- ${r.model.toUpperCase()}: ${ops} — ${verdict}. Calibration: ${q.calibration}.`);
  }
  out.push('');
  const bits = [...new Set(rs.flatMap((r) => r.rows.map((x) => x.bits)))].sort((a, b) => a - b);
  out.push(
    table(
      ['bits', ...rs.map(modelName)],
      [
        ...bits.map((b) => [bitsName(b), ...rs.map((r) => ratio(r.rows.find((x) => x.bits === b)?.vsOrtQdq))]),
        ['ORT int8 QDQ ÷ ORT fp32', ...rs.map((r) => ratio(r.ortInt8Qdq.vsOrt))],
        ['ORT int8 QDQ ms', ...rs.map((r) => sig(r.ortInt8Qdq.medianMs))],
        ['ORT fp32 ms', ...rs.map((r) => sig(r.ort?.medianMs))],
      ],
    ),
  );
  out.push('');
}

/** bench:model --threads: per thread count n > 1, n threads' time ÷ one thread's, per model × batch. */
function threadsSection(rep, out) {
  const results = rep.results.filter((r) => r.threads?.length);
  if (!results.length) return;
  const counts = [...new Set(results.flatMap((r) => r.threads.map((t) => t.threads)))];
  for (const n of counts) {
    out.push(`## ${n} threads ÷ 1 thread, time (lower is better; < 1: ${n} threads faster)`);
    out.push('');
    out.push(`anyprec \`kernels.setThreads(${n})\` around each runSync; ORT sessions of the same graphs with ` +
      `intraOpNumThreads = ${n}. Medians from the same interleaved rounds as the one-thread cases. The last rows: ` +
      `anyprec at ${n} threads ÷ ORT int8 QDQ at ${n} threads.`);
    out.push('');
    const at = (r) => r.threads.find((t) => t.threads === n);
    out.push(table(['', ...results.map(modelName)], [
      ...rep.options.bits.map((b) => [`anyprec ${bitsName(b)}`, ...results.map((r) => ratio(at(r)?.rows.find((x) => x.bits === b)?.timeRatio))]),
      ['ORT fp32', ...results.map((r) => ratio(at(r)?.ort?.timeRatio))],
      ['ORT int8 QDQ', ...results.map((r) => ratio(at(r)?.ortInt8Qdq?.timeRatio))],
      ...rep.options.bits.map((b) => [`anyprec ${bitsName(b)} ÷ ORT int8 QDQ`, ...results.map((r) => ratio(at(r)?.rows.find((x) => x.bits === b)?.vsOrtQdq))]),
    ]));
    out.push('');
  }
}

export function modelMarkdownReport(rep) {
  const m = rep.machine;
  const out = [];
  const anyOrt = rep.results.some((r) => r.ort?.medianMs);
  out.push('# anyprec models vs ONNX Runtime fp32 and int8 exports of the same networks (and plain JS), one thread');
  out.push('');
  const dirty = m.git.dirty.length ? `; uncommitted: ${m.git.dirty.map((l) => `\`${l.trim()}\``).join(', ')}` : '';
  out.push(
    `${rep.date} · ${m.cpuModel} (${m.logicalCpus} vCPUs; ${m.cpuFlags.join(', ')}) · Node ${m.node} · ` +
      `onnxruntime-node ${m.onnxruntimeNode} · tinybench ${m.tinybench} · anyprec git \`${m.git.head ?? 'unknown'}\`${dirty}` +
      (m.addon ? ` · addon \`${m.addon.path}\` built ${m.addon.builtAt} (sha256 ${m.addon.sha256}…)` : ''),
  );
  out.push('');
  out.push(
    `**ISA that ran: ${rep.isa}** (available: ${m.anyprecIsas.join(', ')}); anyprec kernel threads ${rep.kernelThreads}; ` +
      `ORT intraOpNumThreads = interOpNumThreads = 1. ${rep.rounds} interleaved rounds; every time is the median of all ` +
      `samples of that case; total run ${rep.durationSec.toFixed(0)} s. Load average (1/5/15 min) ` +
      `${loadavg(m.loadAverageStart)} at start, ${loadavg(rep.loadAverageEnd)} at end; CPU time / wall time of this ` +
      `process during the rounds ${sig(rep.cpuPerWall)} (≈ 1: it had a vCPU to itself; lower: other processes ` +
      'took it, and the times are inflated and noisier — compare the ratios, and "fastest" against "median").',
  );
  out.push('');
  out.push(
    `anyprec: \`Model.runSync(x, { bits })\`, truncate mode (one 8-bit stored model, the top \`bits\` weight planes per ` +
      `call), random weights (\`zoo.randomTensors\`), inputs uniform in [0, 1); 32 = the float path. ` +
      `\`run()\` = \`await model.run(x, { bits })\` on a worker thread. ` +
      `**ORT fp32 is a float reference of the same topology, not a quantised model**: the same tensors, batch norm ` +
      `(32-bit set) folded into Conv/Gemm, every activation quantiser replaced by Clip(0, 1). **ORT int8** is the same folded ` +
      `network with 8-bit activation codes (scale 1/255, exactly anyprec's 8-bit quantiser) and per-channel int8 weights on ORT's ` +
      `integer operators (QLinearConv where a quantiser follows a conv, MatMulInteger for linear layers, ConvInteger with uint8 ` +
      `weights otherwise — the integer-op export, slower than a QDQ graph where ConvInteger runs); float layers stay float. ` +
      `**ORT int8 QDQ**: the float network quantised into a QDQ graph, see its section. JS fp32: plain-JS ` +
      `float32 loops of the same MLP. "/ ORT" = anyprec time ÷ ORT time (lower is better; < 1 = anyprec faster). ` +
      `bit-ops/sample = \`model.bitOps(batch, { bits })\` ÷ batch (MACs × weight bits × activation bits; float layers ` +
      `count 32 × 32).`,
  );
  out.push('');

  // ---- checks
  const checks = rep.results.map((r) => {
    const v = r.verification;
    const e = (x) => (x === undefined ? null : x.toExponential(1));
    const parts = [];
    if (v.ortReluVsAnyprec32 !== undefined) parts.push(`ORT (ReLU variant) vs anyprec 32: ${e(v.ortReluVsAnyprec32)}`);
    if (v.jsReluVsAnyprec32 !== undefined) parts.push(`JS vs anyprec 32: ${e(v.jsReluVsAnyprec32)}`);
    if (v.jsClipVsOrtClip !== undefined) parts.push(`JS vs ORT (Clip): ${e(v.jsClipVsOrtClip)}`);
    if (v.ortInt8VsOrtFp32 !== undefined) parts.push(`ORT int8 vs ORT fp32: ${e(v.ortInt8VsOrtFp32)}`);
    if (v.ortQdqVsOrtFp32 !== undefined) parts.push(`ORT int8 QDQ vs ORT fp32: ${e(v.ortQdqVsOrtFp32)}`);
    if (v.asyncVsSyncMaxAbsDiff !== undefined) parts.push(`run() vs runSync(): ${v.asyncVsSyncMaxAbsDiff === 0 ? 'identical' : `max |diff| ${v.asyncVsSyncMaxAbsDiff}`}`);
    return `${modelName(r)}: ${parts.join(', ')}${v.ok ? '' : ' — **CHECK FAILED**'}`;
  });
  out.push(
    'Same-network checks (max |difference| ÷ max |reference|; the ReLU variant of the ORT graph is exactly ' +
      'anyprec\'s bits = 32 function): ' + checks.join('; ') + '.',
  );
  out.push('');

  // ---- summary grid
  if (anyOrt) {
    const bits = rep.options.bits;
    out.push('## anyprec time ÷ ORT fp32 time (lower is better)');
    out.push('');
    out.push(`(anyprec time ÷ ORT int8 time: in the per-model tables, columns "/ ORT int8 QDQ" and "/ ORT int8 (integer ops)"; anyprec ÷ ORT int8 QDQ in its own section below.)`);
    out.push('');
    out.push(
      table(
        ['bits', ...rep.results.map(modelName)],
        [
          ...bits.map((b) => [bitsName(b), ...rep.results.map((r) => ratio(r.rows.find((x) => x.bits === b)?.vsOrt))]),
          [`run() at ${rep.options.asyncBits}`, ...rep.results.map((r) => ratio(r.async?.vsOrt))],
          ['ORT int8 (integer-op export)', ...rep.results.map((r) => ratio(r.ortInt8?.vsOrt))],
          ['ORT int8 QDQ', ...rep.results.map((r) => ratio(r.ortInt8Qdq?.vsOrt))],
          ['JS fp32', ...rep.results.map((r) => ratio(r.js?.vsOrt))],
          ['ORT fp32 ms', ...rep.results.map((r) => sig(r.ort?.medianMs))],
          ['ORT int8 (integer-op export) ms', ...rep.results.map((r) => sig(r.ortInt8?.medianMs))],
          ['ORT int8 QDQ ms', ...rep.results.map((r) => sig(r.ortInt8Qdq?.medianMs))],
        ],
      ),
    );
    out.push('');
  }
  qdqSection(rep, out);
  threadsSection(rep, out);

  // ---- one table per model × batch
  for (const r of rep.results) {
    out.push(`## ${r.description}, batch ${r.batch}`);
    out.push('');
    const i8 = r.ortInt8?.medianMs;
    const iq = r.ortInt8Qdq?.medianMs;
    const over = (ms, ref) => (ms && ref ? ratio(ms / ref) : '–');
    // The GEMM route of the quantised layers at each bit-width (bench/model.mjs routeCounts).
    const routes = (x) => (x.routes && Object.keys(x.routes).length
      ? ` [${Object.entries(x.routes).map(([k, n]) => `${n}× ${k}`).join(', ')}]` : '');
    const rows = r.rows.map((x) => [
      `runSync ${bitsName(x.bits)}${routes(x)}`,
      sig(x.medianMs),
      sig(x.minMs),
      rate(x.samplesPerSec),
      ratio(x.vsOrt),
      ...(iq ? [ratio(x.vsOrtQdq)] : []),
      ratio(x.vsOrtInt8),
      count(x.bitOpsPerSample),
      String(x.samples ?? '–'),
    ]);
    if (r.async?.medianMs) {
      rows.push([`run() ${r.async.bits} (worker)`, sig(r.async.medianMs), sig(r.async.minMs), rate(r.async.samplesPerSec), ratio(r.async.vsOrt),
        ...(iq ? [over(r.async.medianMs, iq)] : []), over(r.async.medianMs, i8),
        count(r.rows.find((x) => x.bits === r.async.bits)?.bitOpsPerSample), String(r.async.samples)]);
    }
    if (r.ort?.medianMs) rows.push(['ORT fp32', sig(r.ort.medianMs), sig(r.ort.minMs), rate(r.ort.samplesPerSec), '1×', ...(iq ? [over(r.ort.medianMs, iq)] : []), over(r.ort.medianMs, i8), '–', String(r.ort.samples)]);
    if (iq) rows.push(['ORT int8 QDQ', sig(iq), sig(r.ortInt8Qdq.minMs), rate(r.ortInt8Qdq.samplesPerSec), ratio(r.ortInt8Qdq.vsOrt), '1×', over(iq, i8), '–', String(r.ortInt8Qdq.samples)]);
    if (i8) rows.push(['ORT int8 (integer-op export)', sig(i8), sig(r.ortInt8.minMs), rate(r.ortInt8.samplesPerSec), ratio(r.ortInt8.vsOrt), ...(iq ? [over(i8, iq)] : []), '1×', '–', String(r.ortInt8.samples)]);
    if (r.js?.medianMs) rows.push(['JS fp32 (Clip)', sig(r.js.medianMs), sig(r.js.minMs), rate(r.js.samplesPerSec), ratio(r.js.vsOrt), ...(iq ? [over(r.js.medianMs, iq)] : []), over(r.js.medianMs, i8), '–', String(r.js.samples)]);
    out.push(table(['case', 'median ms', 'fastest ms', 'samples/s', '/ ORT fp32', ...(iq ? ['/ ORT int8 QDQ'] : []), '/ ORT int8 (integer ops)', 'bit-ops/sample', 'samples'], rows));
    if (r.async?.overheadMs !== null && r.async?.overheadMs !== undefined) {
      out.push('');
      out.push(
        `run() overhead at ${r.async.bits} bits: ${sig(r.async.overheadMs)} ms per call over runSync ` +
          `(${ratio(r.async.overheadRatio)} its time): the input copied to the worker, the output transferred back, ` +
          'two thread hand-offs, and on a busy machine the wait for a free vCPU for the worker.',
      );
    }
    out.push('');
  }

  // ---- accuracy
  const acc = Object.entries(rep.accuracy ?? {});
  const pc = (f) => (Number.isFinite(f) ? `${(100 * f).toFixed(1)}%` : '–');
  if (acc.length) {
    out.push('## Accuracy on the MNIST test split (2,000 digits), next to latency');
    out.push('');
    out.push(
      'Top-1 accuracy against the labels, and top-1 agreement with anyprec\'s own 32-bit output. **The MLP and CNN ' +
        'have random weights** (no trained MNIST MLP/CNN is bundled): their accuracy is chance level and only the ' +
        'agreement column means something. ResNet-20 is fixture A (trained); "reference" is the PyTorch reference\'s own ' +
        'test accuracy from expected.json. Latency = median ms per batch of 64 from the tables above.',
    );
    out.push('');
    for (const [name, a] of acc) {
      const r64 = rep.results.find((r) => r.model === name && r.batch === 64) ?? rep.results.find((r) => r.model === name);
      const lat = (bits) => sig(r64?.rows.find((x) => x.bits === bits)?.medianMs);
      const rows = a.anyprec.map((x) => [`anyprec ${bitsName(x.bits)}`, pc(x.accuracy), pc(x.agreement32),
        a.reference ? pc(a.reference[x.bits]) : '–', lat(x.bits)]);
      if (a.ortFp32) rows.push(['ORT fp32', pc(a.ortFp32.accuracy), pc(a.ortFp32.agreement32), '–', sig(r64?.ort?.medianMs)]);
      if (a.ortInt8Qdq) rows.push(['ORT int8 QDQ', pc(a.ortInt8Qdq.accuracy), pc(a.ortInt8Qdq.agreement32), '–', sig(r64?.ortInt8Qdq?.medianMs)]);
      if (a.ortInt8) rows.push(['ORT int8 (integer-op export)', pc(a.ortInt8.accuracy), pc(a.ortInt8.agreement32), '–', sig(r64?.ortInt8?.medianMs)]);
      out.push(`**${name.toUpperCase()}** (${a.samples} digits; batch ${r64?.batch ?? '–'} latency)`);
      out.push('');
      out.push(table(['engine', 'accuracy', 'agrees with anyprec 32', 'reference', 'ms / batch'], rows));
      out.push('');
    }
  }

  // ---- breakdowns
  const big = [...rep.breakdowns].sort((a, b) => (a.model === 'cnn' ? 0 : 1) - (b.model === 'cnn' ? 0 : 1) || b.batch - a.batch);
  const main = big[0];
  if (main) {
    out.push(`## Where the time goes: ${main.model.toUpperCase()}, batch ${main.batch}, ${main.bits} bits`);
    out.push('');
    out.push(
      `\`runSyncDetailed\`, median of ${main.runs} runs: ${sig(main.totalMs)} ms per run. Only steps with MACs are ` +
        'listed by runSyncDetailed; "other steps" is the rest of the run (input NCHW→NHWC, batch norm + quantiser ' +
        'steps that are not fused into a layer, pooling, flatten, output layout).',
    );
    out.push('');
    out.push(
      table(
        ['step (fused nodes)', 'op', 'w/a bits', 'MACs', 'bit-ops', 'ms', 'share'],
        [
          ...main.layers.map((l) => [
            l.nodes.join(' + '),
            l.op,
            `${l.weightBits}/${l.activationBits}`,
            count(l.macs),
            count(l.bitOps),
            sig(l.medianMs),
            pct(l.medianMs / main.totalMs),
          ]),
          ['other steps', '', '', '', '', sig(main.unattributedMs), pct(main.unattributedMs / main.totalMs)],
        ],
      ),
    );
    out.push('');
    const p = main.profile;
    if (p) {
      out.push(
        `Function-level profile of the same call (\`runSync\`, median of ${main.runs} runs, ${sig(p.runMs)} ms per run): ` +
          'every exported function of dist/nn/ops.js (JS loops) and dist/core/kernels/*.js (argument checks + native addon) ' +
          'wrapped with a timer.',
      );
      out.push('');
      out.push(
        table(
          ['function', 'side', 'calls/run', 'ms/run', 'share'],
          [
            ...p.functions.map((f) => [`\`${f.name}\``, f.side, String(f.calls), sig(f.medianMs), pct(f.medianMs / p.runMs)]),
            ['(runtime glue: plans, env, allocation)', 'JS', '', sig(p.otherMs), pct(p.otherMs / p.runMs)],
          ],
        ),
      );
      out.push('');
      out.push(profileVerdict(main));
      out.push('');
    } else if (rep.profileError) {
      out.push(`(Function-level profile skipped: ${rep.profileError}.)`);
      out.push('');
    }
    const others = big.slice(1).filter((b) => b.profile);
    if (others.length) {
      out.push(`Other model × batch runs at ${main.bits} bits (top functions):`);
      out.push('');
      for (const b of others) {
        const fns = b.profile.functions.slice(0, 3).map((f) => `\`${f.name}\` ${sig(f.medianMs)} ms (${pct(f.medianMs / b.profile.runMs)})`);
        out.push(`- ${b.model.toUpperCase()}, batch ${b.batch}: ${sig(b.profile.runMs)} ms per run; ${fns.join(', ')}; JS-side ops ${pct(b.profile.jsMs / b.profile.runMs)}.`);
      }
      out.push('');
    }
  }
  return out.join('\n').trimEnd();
}
