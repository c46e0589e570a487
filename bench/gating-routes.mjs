#!/usr/bin/env node
// node bench/gating-routes.mjs [rounds] [--wbits=2,8] [--before=DIR] — the routes one gated layer can
// take, one thread, one process, on the zoo's gated ResNet-20 conv shapes at batch 8 (M = positions,
// K = 9 x cin, N = cout; B/Bhb 4/2 activations, w-bit weights), each finishing to the next layer's
// 4-bit codes:
//   dense (bit-serial / default path): bitGemm at B bits with the codes epilogue fused;
//   dense at Bhb bits: the floor, what the high planes alone cost on the dense kernel;
//   fused: kernels.gatedGemmFused (the gate, the low planes, the epilogue in one pass, no mask)
//          with every output off, and at 80 / 90 / 95% off (per-column quantiles of O_hb);
//   int32 + quantize: kernels.gatedGemm (int32 products and the mask) then quantizeActivations,
//          the route gated layers took before the fused kernel.
// --before=DIR also loads the build in DIR (another checkout with dist/ and the addon built) and
// times its fused cases and its dense layer in the same rounds: before / after in one process.
// Each case is timed in batches of 10 calls; the least batch time over interleaved rounds (order
// shuffled each round) counts. Ratios are dense bit-serial time / case time (> 1 = faster than
// dense), each build against its own dense layer; "of theory" divides that by the plane-pair
// theory B / (Bhb + on * (B - Bhb)) at the measured on fraction. The machine may be shared: the load
// average is printed; only ratios of one run count.
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { loadAnyprec } from './lib/cli.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Number(args.find((a) => !a.startsWith('--')) ?? 15);
const wbitsList = (flag('wbits') ?? '2').split(',').map(Number);
const beforeDir = flag('before');
const builds = [['after', (await loadAnyprec()).kernels]];
if (beforeDir) {
  const mod = await import(pathToFileURL(path.resolve(beforeDir, 'dist/index.mjs')).href);
  builds.unshift(['before', mod.kernels]);
}
for (const [, k] of builds) k.setThreads(1);
const kernels = builds[builds.length - 1][1];
let seed = 7;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
const B = 4, hb = 2, batch = 8;
const shapes = [[batch * 1024, 144, 16], [batch * 256, 288, 32], [batch * 64, 576, 64]];
const offs = [0.8, 0.9, 0.95];
const timeOf = (f, reps) => {
  const t = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t) / reps;
};
const load = () => os.loadavg().map((v) => v.toFixed(1)).join(' / ');

console.log(`anyprec ${kernels.isa()}, 1 thread, B/Bhb ${B}/${hb}, weights ${wbitsList.join('/')} bits${beforeDir ? `, before = ${beforeDir}` : ''}; load average ${load()}`);
for (const w of wbitsList) {
  for (const [m, k, n] of shapes) {
    const codesA = Uint8Array.from({ length: m * k }, () => (rand() * 2 ** B) | 0);
    const codesW = Uint8Array.from({ length: n * k }, () => (rand() * 2 ** w) | 0);
    const scale = new Float32Array(n).fill(1 / (k * (2 ** B - 1) * (2 ** w - 1))), shift = new Float32Array(n).fill(0.1);
    const epilogue = { output: 'codes', bits: B, scale, shift };
    const gate = { highBits: hb, bEncoding: 'bipolar' };
    const never = new Float32Array(n).fill(Infinity);
    const cases = {};
    const onFraction = {};
    for (const [name, kr] of builds) {
      const A = kr.pack(codesA, m, k, B), W = kr.pack(codesW, n, k, w);
      const dense = (aBits, p) => () => kr.bitGemm(A, W, { aBits, aEncoding: 'unsigned', bEncoding: 'bipolar', path: p, epilogue });
      const fused = (thresholds) => () => kr.gatedGemmFused(A, W, { ...gate, thresholds, epilogue });
      const tag = builds.length > 1 ? `${name}: ` : '';
      cases[`${tag}dense, bit-serial`] = dense(B, 'bitserial');
      if (name === 'after') {
        const ohb = kr.gatedGemm(A, W, { ...gate, thresholds: never }).out;
        const quantile = (off) => {
          const t = new Float32Array(n), col = new Int32Array(m);
          for (let j = 0; j < n; j++) {
            for (let i = 0; i < m; i++) col[i] = ohb[i * n + j];
            col.sort();
            t[j] = col[Math.round(off * m) - 1];
          }
          return t;
        };
        for (const off of offs) {
          const t = quantile(off);
          onFraction[off] = kr.gatedGemm(A, W, { ...gate, thresholds: t }).mask.reduce((s, v) => s + v, 0) / (m * n);
          cases[`@${off}`] = t;  // thresholds, shared by both builds (replaced below)
        }
        cases[`${tag}dense, default path`] = dense(B, 'auto');
        cases[`${tag}dense at ${hb} bits (floor), bit-serial`] = dense(hb, 'bitserial');
        const t90 = cases['@0.9'];
        cases[`${tag}int32 + quantize, 90% off`] = () => kr.quantizeActivations(kr.gatedGemm(A, W, { ...gate, thresholds: t90 }).out, n, scale, shift, B);
      }
      cases[`${tag}fused, all off`] = fused(never);
      for (const off of offs) cases[`${tag}fused, ${off * 100}% off`] = [fused, off];
    }
    // Resolve the fused cases now that the thresholds exist.
    for (const x of Object.keys(cases)) {
      if (Array.isArray(cases[x])) cases[x] = cases[x][0](cases[`@${cases[x][1]}`]);
    }
    for (const off of offs) delete cases[`@${off}`];
    const names = Object.keys(cases);
    const best = Object.fromEntries(names.map((x) => [x, Infinity]));
    for (const x of names) timeOf(cases[x], 10);
    for (let r = 0; r < rounds; r++) {
      for (const x of [...names].sort(() => rand() - 0.5)) best[x] = Math.min(best[x], timeOf(cases[x], 10));
    }
    console.log(`\n${m}x${k}x${n} (M x K x N), w${w}/a${B}; load average now ${load()}`);
    for (const x of names) {
      const build = x.startsWith('before: ') ? 'before: ' : x.startsWith('after: ') ? 'after: ' : '';
      const d = best[`${build}dense, bit-serial`];
      const off = offs.find((o) => x.endsWith(`fused, ${o * 100}% off`));
      const theory = off === undefined ? null : B / (hb + onFraction[off] * (B - hb));
      const extra = theory === null ? '' : `   theory ${theory.toFixed(2)} (on ${(100 * onFraction[off]).toFixed(1)}%), of theory ${(d / best[x] / theory).toFixed(2)}`;
      console.log(`  ${x.padEnd(46)} ${(best[x] * 1000).toFixed(1).padStart(8)} us   dense / this ${(d / best[x]).toFixed(2)}${extra}`);
    }
  }
}
