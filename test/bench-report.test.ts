// The benchmark suite's report and chart code (bench/lib/*.mjs, ESM) on synthetic numbers:
// valid markdown, goals judged the right way round, and charts that render to SVG headless.
// It measures nothing (benchmarks are `npm run bench`, not part of the tests). Run in a child
// node process because the bench modules are ESM and jest here transforms to CommonJS.
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');

const script = `
import { markdownReport } from './bench/lib/report.mjs';
import { judgeGoals, suiteMarkdown, gemmChartSpec, latencyAccuracySpec, renderSvg } from './bench/lib/suite.mjs';
const machine = { cpuModel: 'Test CPU', logicalCpus: 2, cpuFlags: ['avx2'], os: 'Linux', node: 'v20', onnxruntimeNode: '1.30.0',
  git: { head: 'abc1234', dirty: [] }, measuredIsas: ['avx512'], anyprecIsas: ['avx512'], nominalMHz: 2000, hardwareThreads: 2,
  loadAverageStart: [1, 1, 1] };
const shape = { m: 64, k: 1024, n: 1024 };
const ortFp32 = 2.0, ortInt8 = 0.4;
const gemmRows = [];
for (const a of [1, 2]) for (const b of [1, 2]) {
  const ms = 0.02 * a * b;
  gemmRows.push({ isa: 'avx512', threads: 1, aBits: a, bBits: b, aEncoding: 'unsigned', bEncoding: 'bipolar', path: null, forced: false,
    medianMs: ms, gops: 2 * 64 * 1024 * 1024 / ms / 1e6, bitMacsPerSec: 1e12, ceilingFraction: 0.5, vsOrtFp32: ortFp32 / ms, vsOrtInt8: ortInt8 / ms, costPerPlanePair: 1 });
}
const gemm = { date: '2026-01-01T00:00:00Z', durationSec: 10, options: { bits: [1, 2], jsCapMs: 500 }, machine, loadAverageEnd: [1, 1, 1],
  setup: { ort: 'test' }, tfjs: { backend: 'wasm', version: '4.22.0', threads: 1, note: null }, paths: { gemmPath: false, option: false }, jsGopsSmall: 0.4,
  verification: { anyprec: { avx512: { shape: '5×200×11', ok: true, failures: [] } } },
  shapes: [{ shape, rounds: 3, ceilings: { avx512: { bitMacsPerSec: 2e12 } }, ort: { fp32: { medianMs: ortFp32 }, int8: { medianMs: ortInt8 } },
    baselines: [{ engine: 'ORT fp32 Gemm', kind: 'ort-fp32', threads: 1, medianMs: ortFp32, gops: 67 }, { engine: 'ORT int8 MatMulInteger', kind: 'ort-int8', threads: 1, medianMs: ortInt8, gops: 335 },
      { engine: 'plain JS float32 loop', kind: 'js', threads: 1, skipped: 'too slow' }],
    gemm: gemmRows, packA: [], threads: null }], threads: null };
const model = { results: [{ model: 'mlp', batch: 64, rows: [{ bits: 2, medianMs: 0.1, vsOrt: 0.1, vsOrtInt8: 0.5 }, { bits: 32, medianMs: 2, vsOrt: 1 }], ort: { medianMs: 1 }, ortInt8: { medianMs: 0.2 } }],
  accuracy: { mlp: { samples: 10, labelsMeaningful: false, anyprec: [{ bits: 2, accuracy: 0.1, agreement32: 0.9 }, { bits: 32, accuracy: 0.1, agreement32: 1 }], ortFp32: { accuracy: 0.1, agreement32: 1 }, ortInt8: { accuracy: 0.1, agreement32: 0.99 } } } };
const goals = judgeGoals({ gemm, model });
const md = markdownReport(gemm);
const suite = suiteMarkdown({ date: gemm.date, machine, command: 'npm run bench', durationSec: 60, loadAverageStart: [1, 1, 1], loadAverageEnd: [2, 2, 2], goals,
  parts: { gemm: { data: gemm, files: ['bench/results/gemm-x.json'] }, model: { data: model, files: [] } }, charts: [] });
const svg1 = await renderSvg(gemmChartSpec(gemm));
const svg2 = await renderSvg(latencyAccuracySpec(model));
console.log(JSON.stringify({ goals, md, suite, svg1, svg2 }));
`;

describe('benchmark report and charts (synthetic numbers)', () => {
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 }));

  it('judges the goals from the ratios, the right way round', () => {
    const g = (goal: string) => out.goals.find((x: { goal: string }) => x.goal.startsWith(goal));
    // 1×1: 2.0 / 0.02 = 100× fp32, 0.4 / 0.02 = 20× int8; 2×2: 0.4 / 0.08 = 5× int8
    expect(g('1×1 ≥ 20× ORT fp32').met).toBe(true);
    expect(g('1×1 ≥ 5× ORT int8').value).toBeCloseTo(20, 6);
    expect(g('1×1 XNOR ≥ 20× ORT fp32').met).toBeNull(); // not measured
    expect(g('2×2 ≥ 1.5× ORT int8').met).toBe(true);
    expect(g('every (a, w)').met).toBe(true);
    const mnist = g('MNIST model at 2 bits');
    expect(mnist.value).toBeCloseTo(0.1, 6);
    expect(mnist.met).toBe(true); // 0.1 ≤ 0.2: lower is better
  });

  it('writes markdown tables with the ratios', () => {
    expect(out.md).toContain('| a \\ w | 1 | 2 |');
    expect(out.md).toContain('20.0× (100×)');
    expect(out.suite).toContain('## Goals (from the issue) on this machine');
    expect(out.suite).toMatch(/\| 64×1024×1024 \| avx512 \| 20\.0× \(100×\)/);
  });

  it('renders both charts to SVG without a canvas', () => {
    for (const svg of [out.svg1, out.svg2]) {
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.trim().endsWith('</svg>')).toBe(true);
    }
    expect(out.svg1).toContain('ORT int8 MatMulInteger');
  });
});
