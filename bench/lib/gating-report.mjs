// Markdown rendering of a bench/gating.mjs result object (the same object saved as JSON).
import { loadavg, ratio, sig, table } from './report.mjs';
import { shapeName } from './reference.mjs';

function markdownNetworks(nets) {
  const out = [];
  for (const n of nets) {
    out.push('');
    if (n.skipped) {
      out.push(`## Network ${n.id}: skipped (${n.skipped})`);
      continue;
    }
    out.push(`## Network: ${n.name}`);
    out.push('');
    out.push(`Batch ${n.batch}, one thread, ${n.rounds} interleaved rounds, medians; B = ${n.B}, Bhb = ${n.highBits}, ` +
      `${n.weightBits}-bit weights; ${n.gatedLayers.length} gated layers; thresholds: ${n.thresholds} ` +
      `(they leave ${(100 * n.trainedOff).toFixed(1)}% off at offset 0). Dense network: ${sig(n.dense.medianMs)} ms per call. ` +
      `Every gate on (offset −1e30) == dense network bit for bit: ${n.sane ? 'yes' : '**NO**'}.`);
    out.push('');
    const rows = [n.allOff, ...n.sparsity].map((r) => [
      r.target === undefined ? 'all off (closed)' : `${(100 * r.target).toFixed(0)}%`,
      r.gateOffset === undefined ? "–" : r.gateOffset.toPrecision(3),
      `${(100 * r.off).toFixed(1)}%`, sig(r.bAvg), sig(n.dense.medianMs), sig(r.medianMs), ratio(r.speedup),
      ratio(r.theoryPlanePairs), sig(r.ofTheory, 2), ratio(r.theoryTime), sig(r.ofTheoryTime, 2),
      `${sig(r.gatedLayersDenseMs)} → ${sig(r.gatedLayersMs)} (${ratio(r.gatedLayersSpeedup)} of ${ratio(r.gatedLayersTheory)})`,
    ]);
    out.push(table(['target off', 'gateOffset', 'off (MAC-w.)', 'B_avg', 'dense ms', 'gated ms', 'speedup',
      'theory (plane pairs)', 'of theory', 'theory (time, Amdahl)', 'of time theory',
      'gated layers alone: dense → gated ms (speedup of theory)'], rows));
    if (n.denseDefaultPath) {
      const d = n.denseDefaultPath.medianMs;
      out.push('');
      out.push(`Both networks above run bit-serial (kernels.setGemmPath('bitserial')): gating skips bit-serial plane ` +
        `pairs. The dense network on the default path (the int8 dot-product path where the dispatch picks it): ` +
        `${sig(d)} ms per call; the gated network at each target vs that: ` +
        n.sparsity.map((r) => `${(100 * r.target).toFixed(0)}% ${ratio(d / r.medianMs)}`).join(', ') + '.');
    }
    if (n.auto?.length) {
      const best = Math.min(n.dense.medianMs, n.denseDefaultPath ? n.denseDefaultPath.medianMs : Infinity);
      out.push('');
      out.push(`gatePath 'auto' (each gated layer on whichever of its gated path and its dense path on the default GEMM ` +
        `path its own measured times say is faster; the dense path gives that layer's outputs all their low bits). ` +
        `Goals: ≤ 1.0× the dense ${n.B}-bit network on its best path (the faster of bit-serial and the default: ${sig(best)} ms)` +
        (n.floor ? `, ≤ 1.15× the dense ${n.floor.bits.activations}-bit network on its best path (the floor: ${sig(n.floor.medianMs)} ms)` : '') + '.');
      out.push('');
      out.push(table(['target off', 'gated ms', 'auto ms', 'auto ÷ dense best path', ...(n.floor ? ['auto ÷ floor'] : []), 'layers run dense'],
        n.auto.map((a) => [`${(100 * a.target).toFixed(0)}%`, sig(a.gatedMs), sig(a.medianMs), sig(a.medianMs / best, 3),
          ...(n.floor ? [sig(a.medianMs / n.floor.medianMs, 3)] : []), `${a.denseLayers.length} of ${n.gatedLayers.length}`])));
      for (const a of n.auto) {
        if (a.reasons?.length) out.push('', `Paths at ${(100 * a.target).toFixed(0)}% (last timed call): ${a.reasons.join('; ')}.`);
      }
    }
    if (n.defaultPath?.length) {
      const best = Math.min(n.dense.medianMs, n.denseDefaultPath ? n.denseDefaultPath.medianMs : Infinity);
      const d4 = n.denseDefaultPath ? n.denseDefaultPath.medianMs : n.dense.medianMs;
      out.push('');
      out.push(`gatePath 'gated' on the default GEMM path: every gated layer on its gated kernel, its high part on the ` +
        `route its first call measured (bit-serial, int8 from the planes, or the dense int8 route on the high codes read in place; the same results). Dense ${n.B}-bit on the default path: ${sig(d4)} ms` +
        (n.floor ? `; the floor (dense ${n.floor.bits.activations}-bit, best path): ${sig(n.floor.medianMs)} ms` : '') + '.');
      out.push('');
      out.push(table(['target off', 'off', 'gated ms (default path)', '÷ dense best path', ...(n.floor ? ['÷ floor'] : []), 'high routes (bit-serial / int8 / codes)'],
        n.defaultPath.map((a) => [a.gateOffset === null ? 'all off (closed)' : `${(100 * a.target).toFixed(0)}%`, `${(100 * a.off).toFixed(1)}%`,
          sig(a.medianMs), sig(a.medianMs / best, 3), ...(n.floor ? [sig(a.medianMs / n.floor.medianMs, 3)] : []),
          a.routes ? `${a.routes.bitserial} / ${a.routes.int8} / ${a.routes.codes}` : `${a.int8High} int8 of ${a.layers}`])));
      const first = n.defaultPath[n.defaultPath.length - 1];
      if (first?.reasons?.length) out.push('', `High routes (last call): ${first.reasons.join('; ')}.`);
    }
  }
  return out.join('\n');
}

export function gatingMarkdown(rep) {
  const m = rep.machine;
  const strategies = rep.options.strategies;
  const out = [];
  out.push('# Precision-gated GEMM vs dense bitGemm, one thread');
  out.push('');
  const dirty = m.git.dirty.length ? `; uncommitted: ${m.git.dirty.map((l) => `\`${l.trim()}\``).join(', ')}` : '';
  out.push(
    `${rep.date} · ${m.cpuModel} (${m.logicalCpus} vCPUs; ${m.cpuFlags.join(', ')}) · Node ${m.node} · ISA ${rep.isa} · ` +
      `anyprec git \`${m.git.head ?? 'unknown'}\`${dirty}` + (m.addon ? ` · addon sha256 ${m.addon.sha256}…` : ''),
  );
  out.push('');
  out.push(
    `${rep.rounds} interleaved rounds, medians; total ${rep.durationSec.toFixed(0)} s; load average ` +
      `${loadavg(m.loadAverageStart)} at start, ${loadavg(rep.loadAverageEnd)} at end. ` +
      `A: ${rep.setup.activations}; W: ${rep.setup.weights}; thresholds ${rep.setup.thresholds}. ` +
      `speedup = dense time / gated time; theory = ${rep.setup.theory}; "of theory" = speedup / theory. ` +
      `'auto' is the strategy kept (Compact: the gated-on outputs of each 16×16 group listed, one per SIMD lane); ` +
      `'tiles' runs the low planes densely on every 8×8 micro-tile with an output on (skips only all-off ones). ` +
      `The 'all off' rows (every threshold +∞: the high planes, the gate and the output alone) bound what any sparsity ` +
      `can reach; their theory is B/Bhb.`,
  );
  out.push('');
  const bad = rep.results.flatMap((r) => r.sparsity.flatMap((s) => Object.values(s.strategies).filter((c) => c.check && !c.check.ok)));
  const insane = rep.results.filter((r) => !r.sane);
  out.push(
    `Correctness: every gated case checked against bitGemm (on: the dense result, off: 2^(B−Bhb) × bitGemm at Bhb bits): ` +
      (bad.length || insane.length ? `**${bad.length + insane.length} FAILED**.` : 'all ok.'),
  );
  const groups = [...new Set(rep.results.map((r) => `${r.shape}|${r.weightBits}`))];
  for (const group of groups) {
    const [shape, wb] = group.split('|');
    out.push('');
    out.push(`## ${shape} (M×K×N), ${wb}-bit weights`);
    out.push('');
    const rows = [];
    for (const r of rep.results.filter((x) => x.shape === shape && String(x.weightBits) === wb)) {
      rows.push([
        `${r.B}/${r.highBits}`, 'all off (+∞)', sig(r.denseMs), sig(r.allOff.medianMs), ratio(r.allOff.speedup), ratio(r.allOff.theory),
        `${sig(r.allOff.speedup / r.allOff.theory, 2)}`, ...strategies.slice(1).map(() => ''),
      ]);
      for (const s of r.sparsity) {
        const a = s.strategies[strategies[0]];
        rows.push([
          `${r.B}/${r.highBits}`, `${(100 * s.off).toFixed(1)}%`, sig(r.denseMs), sig(a.medianMs), ratio(a.speedup), ratio(s.theory),
          sig(a.ofTheory, 2) + (a.check && !a.check.ok ? ' **WRONG**' : ''),
          ...strategies.slice(1).map((name) => {
            const c = s.strategies[name];
            return `${ratio(c.speedup)} (${sig(c.ofTheory, 2)})` + (c.check && !c.check.ok ? ' **WRONG**' : '');
          }),
        ]);
      }
    }
    out.push(table(['B/Bhb', 'off', 'dense ms', `${strategies[0]} ms`, 'speedup', 'theory', 'of theory',
      ...strategies.slice(1).map((name) => `${name}: speedup (of theory)`)], rows));
    const withDefault = rep.results.filter((x) => x.shape === shape && String(x.weightBits) === wb && x.denseDefault);
    if (withDefault.length) {
      out.push('');
      out.push('"dense" is the bit-serial GEMM (path \'bitserial\'). The dense GEMM on the default path: ' +
        withDefault.map((r) => `${r.B}/${r.highBits}: ${sig(r.denseDefault.medianMs)} ms (${r.denseDefault.path})`).join(', ') + '.');
    }
  }
  if (rep.networks.length) {
    out.push('');
    out.push('# Whole networks: gated vs the same network without gates, one thread');
    out.push('');
    out.push('off = MAC-weighted fraction of the gated layers\' outputs gated off in the timed call; B_avg = the MAC-weighted ' +
      'activation bits spent by the gated layers; theory (plane pairs) = dense ÷ gated plane pairs over every bit-serial ' +
      'layer (ungated layers as fixed cost; float layers left out); theory (time) = the dense call\'s time with only the ' +
      'gated layers\' dense time scaled by their plane-pair ratio (float layers, element-wise ops, packing, ungated layers ' +
      'kept as measured): the ceiling for a gated kernel whose time is proportional to its plane pairs. The last column ' +
      'sums the steps of the gated layers only (their GEMM with what is fused into it: BN, activation quantiser; ' +
      'per-step times from RunStats, medians), against their own plane-pair ratio.');
    out.push(markdownNetworks(rep.networks));
  }
  return out.join('\n');
}
