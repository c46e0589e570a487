// Markdown rendering of a bench/gemm.mjs result object (the same object saved as JSON), and
// the small formatting helpers other reports share (sig, pct, ratio, loadavg, table).
import { shapeName } from './reference.mjs';

/** n with 3 significant digits (no exponent for the magnitudes seen here). */
export function sig(n, digits = 3) {
  if (n === undefined || n === null || !Number.isFinite(n)) return '–';
  if (n === 0) return '0';
  const mag = Math.floor(Math.log10(Math.abs(n)));
  const decimals = Math.max(0, digits - 1 - mag);
  return n.toFixed(Math.min(decimals, 6));
}

export const pct = (f) => (Number.isFinite(f) ? `${(100 * f).toFixed(f < 0.1 ? 1 : 0)}%` : '–');
export const ratio = (r) => (Number.isFinite(r) ? `${sig(r)}×` : '–');
export const loadavg = (l) => (l ? l.map((x) => x.toFixed(2)).join(' / ') : '–');
const pairName = (r) => `${r.aBits}×${r.bBits}${r.aEncoding === 'bipolar' ? ' xnor' : ''}`;

/** A markdown table. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const isUxB = (r, a, b) => r.aBits === a && r.bBits === b && r.aEncoding === 'unsigned';
const oneThread = (r) => (r.threads ?? 1) === 1 && !r.forced;

/** The ISA whose 1×1 GEMM was fastest on this shape at one thread (ties: the first listed). */
export function bestIsa(shapeResult, isas) {
  let best = null;
  for (const isa of isas) {
    const r = shapeResult.gemm.find((g) => g.isa === isa && isUxB(g, 1, 1) && oneThread(g));
    if (r?.medianMs && (best === null || r.medianMs < best.ms)) best = { isa, ms: r.medianMs };
  }
  return best?.isa ?? isas[0];
}

export function markdownReport(rep) {
  const m = rep.machine;
  const isas = m.measuredIsas;
  const bits = rep.options.bits;
  const out = [];

  out.push('# anyprec bitGemm vs ONNX Runtime, tfjs and plain JS');
  out.push('');
  const dirty = m.git.dirty.length ? `; uncommitted under native/: ${m.git.dirty.map((l) => `\`${l.trim()}\``).join(', ')}` : '';
  out.push(
    `${rep.date} · ${m.cpuModel} (${m.logicalCpus} vCPUs; ${m.cpuFlags.join(', ')}) · Node ${m.node} · ` +
      `onnxruntime-node ${m.onnxruntimeNode} · anyprec git \`${m.git.head ?? 'unknown'}\`${dirty}` +
      (m.addon ? ` · addon built ${m.addon.builtAt} (sha256 ${m.addon.sha256}…)` : ''),
  );
  out.push('');
  out.push(
    `ISAs measured: ${isas.join(', ')}. Interleaved rounds: ` +
      `${rep.shapes.map((s) => `${s.rounds} on ${shapeName(s.shape)}`).join(', ')}; every number is the ` +
      `median of all samples of that case; total run ${rep.durationSec.toFixed(0)} s. ` +
      `Load average (1/5/15 min) ${loadavg(m.loadAverageStart)} at start, ${loadavg(rep.loadAverageEnd)} at end.`,
  );
  out.push('');
  out.push(
    `A (M×K) = activations, unsigned; B (N×K) = weights, bipolar (±1 planes, the top bBits of one 8-bit pack); ` +
      `C = A·Bᵀ. Gop/s = 2·M·K·N / time; bit-MAC/s = M·N·K·aBits·bBits / time; "×ORT" = ORT time / anyprec time ` +
      `(> 1: anyprec faster); cost/pair = time(a×b) / (a·b·time(1×1)). ORT: ${rep.setup.ort}.`,
  );
  out.push('');

  // ---- correctness
  const v = rep.verification;
  const apOk = Object.entries(v.anyprec).map(([isa, r]) => `${isa} ${r.ok ? 'ok' : `**FAILED** (${r.failures.length})`}`);
  let bigChecks = 0, bigFails = 0;
  for (const s of rep.shapes) {
    for (const r of s.gemm) if (r.check) (r.check.ok ? bigChecks++ : bigFails++);
    for (const r of Object.values(s.ort)) if (r.check) (r.check.ok ? bigChecks++ : bigFails++);
  }
  out.push(
    `Correctness: bitGemm vs JS reference on ${Object.values(v.anyprec)[0]?.shape ?? '–'} (all specs): ${apOk.join(', ')}. ` +
      (v.ort
        ? `ORT vs JS reference on ${v.ort.shape}: fp32 max |err| ${v.ort.fp32.maxAbsError.toExponential(1)}, ` +
          `int8 ${v.ort.int8.mismatches} mismatches (nonzero zero points). `
        : '') +
      `At the benchmark shapes, 8 output entries of every measured case were spot-checked: ` +
      (bigFails ? `**${bigFails} FAILED**, ${bigChecks} ok.` : `${bigChecks} cases ok.`),
  );
  out.push('');

  // ---- ceilings and baselines
  out.push('## Popcount ceiling (register-only AND + popcount + add loop, one thread)');
  out.push('');
  out.push(
    'Fastest sample of the ceiling loop in the rounds of each shape; "of ceiling" below = a case\'s median bit-MAC/s ÷ (threads × this): with T threads the CPU\'s limit is at best T times one core\'s.',
  );
  out.push('');
  const mhz = m.nominalMHz;
  out.push(
    table(
      ['ISA', ...rep.shapes.map((s) => `Gbit-MAC/s during ${shapeName(s.shape)}`), `bit-MAC/cycle at nominal ${mhz ?? '?'} MHz`],
      isas.map((isa) => {
        const rates = rep.shapes.map((s) => s.ceilings[isa]?.bitMacsPerSec);
        const best = Math.max(...rates.filter(Number.isFinite));
        return [isa, ...rates.map((r) => sig(r / 1e9)), mhz ? sig(best / (mhz * 1e6)) : '–'];
      }),
    ),
  );
  out.push('');
  if (rep.shapes.some((s) => s.baselines?.length)) {
    out.push('## Baselines (same shape, same process)');
    out.push('');
    const tf = rep.tfjs;
    out.push(
      `tfjs: ${tf?.backend ? `tfjs-core ${tf.version}, wasm backend, ${tf.threads} thread(s)${tf.note ? ` — ${tf.note}` : ''}` : `not measured (${tf?.unavailable ?? 'skipped'})`}. ` +
        `Plain JS: float32 i-t-j loops${rep.jsGopsSmall ? ` (${sig(rep.jsGopsSmall)} Gop/s on 16×256×256)` : ''}, run only where a call is predicted under ${sig(rep.options.jsCapMs / 1000)} s.`,
    );
    out.push('');
    const rows = [];
    for (const s of rep.shapes) {
      for (const b of s.baselines ?? []) {
        rows.push([shapeName(s.shape), b.engine, String(b.threads ?? 1), b.medianMs ? sig(b.medianMs) : `skipped: ${b.skipped}`,
          sig(b.gops), b.check && !b.check.ok ? '**WRONG**' : b.check ? 'ok' : '–']);
      }
    }
    out.push(table(['M×K×N', 'engine', 'threads', 'ms', 'Gop/s', 'output check'], rows));
    out.push('');
  }

  // ---- speedup grids for the best ISA
  const threadCounts = [...new Set(rep.shapes.flatMap((s) => s.gemm.map((r) => r.threads ?? 1)))].sort((a, b) => a - b);
  for (const t of threadCounts) {
    out.push(`## Speedups of the fastest ISA at ${t} thread${t > 1 ? 's' : ''}: anyprec vs ORT int8 (vs ORT fp32), both at ${t} thread${t > 1 ? 's' : ''}`);
    out.push('');
    for (const s of rep.shapes) {
      const isa = bestIsa(s, isas);
      const rows = s.gemm.filter((r) => r.isa === isa && (r.threads ?? 1) === t && !r.forced);
      if (!rows.length) continue;
      const cell = (r) => (r?.medianMs ? `${ratio(r.vsOrtInt8)} (${ratio(r.vsOrtFp32)})${r.path === 'int8' ? 'ⁱ' : ''}` : r?.skipped ? 'skipped' : '–');
      const int8Pairs = rows.filter((r) => r.path === 'int8' && r.aEncoding === 'unsigned').map((r) => `${r.aBits}×${r.bBits}`);
      out.push(`**${shapeName(s.shape)}** on ${isa}; rows = activation bits, columns = weight bits.` +
        (rows.some((r) => r.path) ? ` Path (kernels.gemmPath): int8 dot products for ${int8Pairs.length ? int8Pairs.join(' ') : 'none'}` +
          `${s.int8Kernel ? ` (int8 kernel ${s.int8Kernel})` : ''}, bit-serial for the rest; cells marked ⁱ ran the int8 path.` : ''));
      out.push('');
      out.push(
        table(
          ['a \\ w', ...bits.map(String)],
          bits.map((a) => [String(a), ...bits.map((b) => cell(rows.find((r) => isUxB(r, a, b))))]),
        ),
      );
      const xnor = rows.find((r) => r.aEncoding === 'bipolar');
      if (xnor) out.push(`\n1×1 bipolar×bipolar (XNOR): ${cell(xnor)}.`);
      const forced = s.gemm.filter((r) => r.isa === isa && (r.threads ?? 1) === t && r.forced && r.medianMs);
      if (forced.length) {
        out.push(`\nThe same pairs forced to the bit-serial kernel (\`path: 'bitserial'\`), vs ORT int8 (vs ORT fp32): ` +
          forced.map((r) => `${pairName(r)} ${ratio(r.vsOrtInt8)} (${ratio(r.vsOrtFp32)})`).join(', ') + '.');
      }
      out.push('');
    }
  }

  // ---- threads
  const th = rep.threads;
  if (th) {
    out.push(`## 2 threads vs 1 (${shapeName(th.shape)}, ${th.isa}; ${m.hardwareThreads} hardware threads)`);
    out.push('');
    out.push(
      table(
        ['a×b', '1 thread ms', '2 threads ms', 'time(1T) / time(2T)', 'CPU/wall with 2 threads'],
        th.rows.map((r) => [
          `${r.aBits}×${r.bBits}`,
          r.oneThread.medianMs ? sig(r.oneThread.medianMs) : r.oneThread.skipped,
          r.twoThreads.medianMs ? sig(r.twoThreads.medianMs) : r.twoThreads.skipped,
          r.speedup ? `${sig(r.speedup)}${r.speedup < 0.95 ? ' **slower with 2**' : ''}` : '–',
          sig(r.twoThreads.cpuPerWall),
        ]),
      ),
    );
    out.push('');
    out.push(
      'CPU/wall ≈ 2 means both threads had a core; ≈ 1 means another process held the second vCPU, ' +
        `so 2 threads could not beat 1 (load average then: ${loadavg(th.loadAverage)}).`,
    );
    out.push('');
  }

  // ---- every case
  out.push('## All cases');
  for (const s of rep.shapes) {
    out.push('');
    out.push(`### ${shapeName(s.shape)} (M×K×N)`);
    out.push('');
    const rows = [];
    for (const isa of isas) {
      for (const r of s.gemm.filter((g) => g.isa === isa)) {
        const path = r.path ? `${r.path}${r.forced ? ' (forced)' : ''}` : '–';
        if (!r.medianMs) {
          rows.push([isa, String(r.threads ?? 1), pairName(r), path, `skipped: ${r.skipped}`, '', '', '', '', '', '']);
          continue;
        }
        rows.push([
          isa,
          String(r.threads ?? 1),
          pairName(r) + (r.check && !r.check.ok ? ' **WRONG**' : ''),
          path,
          sig(r.medianMs),
          sig(r.gops),
          sig(r.bitMacsPerSec / 1e9),
          pct(r.ceilingFraction),
          ratio(r.vsOrtFp32),
          ratio(r.vsOrtInt8),
          sig(r.costPerPlanePair),
        ]);
      }
    }
    out.push(table(['ISA', 'threads', 'a×b', 'path', 'ms', 'Gop/s', 'Gbit-MAC/s', 'of ceiling', '×ORT fp32', '×ORT int8', 'cost/pair'], rows));
  }
  out.push('');
  out.push('## pack(A) at aBits, ms (not included in the GEMM times above)');
  out.push('');
  const packRows = [];
  for (const s of rep.shapes) {
    for (const isa of isas) {
      packRows.push([
        shapeName(s.shape),
        isa,
        ...bits.map((b) => sig(s.packA.find((p) => p.isa === isa && p.bits === b)?.medianMs)),
      ]);
    }
  }
  out.push(table(['M×K×N', 'ISA', ...bits.map((b) => `${b} bit`)], packRows));
  return out.join('\n');
}
