#!/usr/bin/env node
// node bench/gating-routes.mjs [rounds] — the routes one gated layer can take, one thread, one
// process, on the zoo's gated ResNet-20 conv shapes at batch 8 (M = positions, K = 9 x cin,
// N = cout; w2/a4, B/Bhb 4/2), each finishing to the next layer's 4-bit codes:
//   dense (bit-serial / default path): bitGemm at B bits with the codes epilogue fused;
//   dense at Bhb bits: the floor, what the high planes alone cost on the dense kernel;
//   fused: kernels.gatedGemmFused (the gate, the low planes, the epilogue in one pass, no mask)
//          with every output off, and at 80 / 90% off (per-column quantiles of O_hb);
//   int32 + quantize: kernels.gatedGemm (int32 products and the mask) then quantizeActivations,
//          the route gated layers took before the fused kernel.
// Each case is timed in batches of 10 calls; the least batch time over interleaved rounds (order
// shuffled each round) counts. Ratios are dense bit-serial time / case time (> 1 = faster than
// dense). The machine may be shared: the load average is printed; only ratios of one run count.
import os from 'node:os';

import { loadAnyprec } from './lib/cli.mjs';

const rounds = Number(process.argv[2] ?? 15);
const { kernels } = await loadAnyprec();
kernels.setThreads(1);
let seed = 7;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
const B = 4, hb = 2, w = 2, batch = 8;
const shapes = [[batch * 1024, 144, 16], [batch * 256, 288, 32], [batch * 64, 576, 64]];
const timeOf = (f, reps) => {
  const t = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t) / reps;
};

console.log(`anyprec ${kernels.isa()}, 1 thread, w${w}/a${B}, B/Bhb ${B}/${hb}; load average ${os.loadavg().map((v) => v.toFixed(1)).join(' / ')}`);
for (const [m, k, n] of shapes) {
  const A = kernels.pack(Uint8Array.from({ length: m * k }, () => (rand() * 2 ** B) | 0), m, k, B);
  const W = kernels.pack(Uint8Array.from({ length: n * k }, () => (rand() * 2 ** w) | 0), n, k, w);
  const scale = new Float32Array(n).fill(1 / (k * (2 ** B - 1) * (2 ** w - 1))), shift = new Float32Array(n).fill(0.1);
  const epilogue = { output: 'codes', bits: B, scale, shift };
  const gate = { highBits: hb, bEncoding: 'bipolar' };
  const never = new Float32Array(n).fill(Infinity);
  const ohb = kernels.gatedGemm(A, W, { ...gate, thresholds: never }).out;
  const quantile = (off) => {
    const t = new Float32Array(n), col = new Int32Array(m);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < m; i++) col[i] = ohb[i * n + j];
      col.sort();
      t[j] = col[Math.round(off * m) - 1];
    }
    return t;
  };
  const dense = (aBits, path) => () => kernels.bitGemm(A, W, { aBits, aEncoding: 'unsigned', bEncoding: 'bipolar', path, epilogue });
  const fused = (thresholds) => () => kernels.gatedGemmFused(A, W, { ...gate, thresholds, epilogue });
  const unfused = (thresholds) => () => kernels.quantizeActivations(kernels.gatedGemm(A, W, { ...gate, thresholds }).out, n, scale, shift, B);
  const t80 = quantile(0.8), t90 = quantile(0.9);
  const cases = {
    'dense, bit-serial': dense(B, 'bitserial'),
    'dense, default path': dense(B, 'auto'),
    [`dense at ${hb} bits (floor), bit-serial`]: dense(hb, 'bitserial'),
    'fused, all off': fused(never),
    'fused, 80% off': fused(t80),
    'fused, 90% off': fused(t90),
    'int32 + quantize, all off': unfused(never),
    'int32 + quantize, 90% off': unfused(t90),
  };
  const names = Object.keys(cases);
  const best = Object.fromEntries(names.map((x) => [x, Infinity]));
  for (const x of names) timeOf(cases[x], 10);
  for (let r = 0; r < rounds; r++) {
    for (const x of [...names].sort(() => rand() - 0.5)) best[x] = Math.min(best[x], timeOf(cases[x], 10));
  }
  const d = best['dense, bit-serial'];
  console.log(`\n${m}x${k}x${n} (M x K x N); load average now ${os.loadavg().map((v) => v.toFixed(1)).join(' / ')}`);
  for (const x of names) console.log(`  ${x.padEnd(38)} ${(best[x] * 1000).toFixed(1).padStart(8)} us   dense / this ${(d / best[x]).toFixed(2)}`);
}
