#!/usr/bin/env node
// node bench/gating-high-routes.mjs [rounds]: see below.
// Per layer (the zoo gated ResNet-20's three conv shapes at batch 16, B/Bhb 4/2, 2-bit weights):
// the dense floor (int8 route from 2-bit codes), dense 4-bit (int8 from codes), and the gated layer
// at 90% off / all off on each high route, each including its own input preparation; and the
// 'codes' route's parts. One thread, medians of interleaved rounds (ms).
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { kernels } = require('../dist/index.js');
kernels.setThreads(1);
let s = 7;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
const codes = (n, bits) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * (1 << bits)));
const conv = { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
const B = 4, hb = 2, L = 2, wb = 2;
const shapes = [[32, 16, 16], [16, 32, 32], [8, 64, 64]]; // h=w, cin, cout
const rounds = Number(process.argv[2] ?? 25);
for (const [hw, cin, cout] of shapes) {
  const n = 16, shape = { n, h: hw, w: hw, c: cin }, k = 9 * cin, m = n * hw * hw;
  const x = codes(n * hw * hw * cin, B);
  const x2 = x.map((c) => c >> 2);
  const w = kernels.pack(codes(cout * k, wb), cout, k, wb);
  const scale = new Float32Array(cout).fill(1 / (k * 15 * 3)), shift = new Float32Array(cout).fill(0.01);
  const epi = { output: 'codes', bits: 4, scale, shift };
  const out = new Uint8Array(m * cout);
  const packedFull = kernels.packConv(x, shape, conv, B);
  const ohb = kernels.gatedGemm(packedFull, w, { aBits: B, highBits: hb, bEncoding: 'bipolar', thresholds: new Float32Array(cout).fill(Infinity) }).out;
  const thr = new Float32Array(cout);
  for (let j = 0; j < cout; j++) {
    const col = []; for (let i = 0; i < m; i++) col.push(ohb[i * cout + j]);
    col.sort((a, b) => a - b); thr[j] = col[Math.floor(0.9 * m)];
  }
  const inf = new Float32Array(cout).fill(Infinity);
  const hi = new Uint8Array(x.length), lo = new Uint8Array(x.length);
  const split = () => { for (let i = 0; i < x.length; i++) { hi[i] = x[i] >> L; lo[i] = x[i] & 3; } };
  const split32 = () => {
    const c32 = new Uint32Array(x.buffer), h32 = new Uint32Array(hi.buffer), l32 = new Uint32Array(lo.buffer);
    for (let i = 0; i < c32.length; i++) { const v = c32[i]; h32[i] = (v >>> L) & 0x03030303; l32[i] = v & 0x03030303; }
  };
  const sums = new Int32Array(m * cout);
  const o = { aEncoding: 'unsigned', bBits: wb, bEncoding: 'bipolar' };
  const pkLow = kernels.packConv(lo, shape, conv, L), pkFull = kernels.packConv(x, shape, conv, B);
  const gatedOpts = (t) => ({ aBits: B, highBits: hb, bEncoding: 'bipolar', thresholds: t, epilogue: epi, out });
  const cases = {
    'floor: dense 2-bit int8 from codes': () => kernels.int8Conv(x2, shape, conv, w, { ...o, aBits: 2, epilogue: epi, out }),
    'dense 4-bit int8 from codes': () => kernels.int8Conv(x, shape, conv, w, { ...o, aBits: 4, epilogue: epi, out }),
    'gated 90% bitserial (+pack)': () => kernels.gatedGemmFused(kernels.packConv(x, shape, conv, B, pkFull), w, { ...gatedOpts(thr), high: 'bitserial' }),
    'gated 90% int8 (+pack)': () => kernels.gatedGemmFused(kernels.packConv(x, shape, conv, B, pkFull), w, { ...gatedOpts(thr), high: 'int8' }),
    'gated 90% codes (all parts)': () => { kernels.splitCodes(x, L, hi, lo); kernels.int8Conv(hi, shape, conv, w, { ...o, aBits: 2, out: sums });
      return kernels.gatedGemmFused(kernels.packConv(lo, shape, conv, L, pkLow), w, { ...gatedOpts(thr), highSums: sums, lowOnly: true }); },
    'all off codes (all parts)': () => { kernels.splitCodes(x, L, hi, lo); kernels.int8Conv(hi, shape, conv, w, { ...o, aBits: 2, out: sums });
      return kernels.gatedGemmFused(kernels.packConv(lo, shape, conv, L, pkLow), w, { ...gatedOpts(inf), highSums: sums, lowOnly: true }); },
    'all off int8 (+pack)': () => kernels.gatedGemmFused(kernels.packConv(x, shape, conv, B, pkFull), w, { ...gatedOpts(inf), high: 'int8' }),
    'part: split (JS, 4 codes a step)': split32,
    'part: split (kernels.splitCodes)': () => kernels.splitCodes(x, L, hi, lo),
    'part: hi sums int8Conv (int32 out)': () => kernels.int8Conv(hi, shape, conv, w, { ...o, aBits: 2, out: sums }),
    'part: pack L=2 low planes': () => kernels.packConv(lo, shape, conv, L, pkLow),
    'part: pack B=4 planes': () => kernels.packConv(x, shape, conv, B, pkFull),
    'part: gated kernel given sums, 90% (gate+low+epilogue)': () => kernels.gatedGemmFused(pkLow, w, { ...gatedOpts(thr), highSums: sums, lowOnly: true }),
    'part: gated kernel given sums, all off (gate+epilogue)': () => kernels.gatedGemmFused(pkLow, w, { ...gatedOpts(inf), highSums: sums, lowOnly: true }),
  };
  split32();
  // exactness spot check: codes route == bitserial
  const a1 = kernels.gatedGemmFused(pkFull, w, { ...gatedOpts(thr), out: undefined, high: 'bitserial' }).out;
  kernels.int8Conv(hi, shape, conv, w, { ...o, aBits: 2, out: sums });
  const a2 = kernels.gatedGemmFused(kernels.packConv(lo, shape, conv, L), w, { ...gatedOpts(thr), out: undefined, highSums: sums, lowOnly: true }).out;
  if (!a1.every((v, i) => v === a2[i])) console.log('!! codes route differs');
  const t = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (const f of Object.values(cases)) for (let i = 0; i < 3; i++) f();
  for (let r = 0; r < rounds; r++) for (const [k2, f] of Object.entries(cases)) { const t0 = performance.now(); f(); t[k2].push(performance.now() - t0); }
  const med = (v) => v.slice().sort((a, b) => a - b)[v.length >> 1];
  const floor = med(t['floor: dense 2-bit int8 from codes']);
  console.log(`\n${m}x${k}x${cout} (batch 16, ${hw}x${hw}x${cin} -> ${cout})`);
  for (const [k2, v] of Object.entries(t)) console.log(`  ${k2.padEnd(56)} ${med(v).toFixed(3)} ms  (${(med(v) / floor).toFixed(2)}x floor)`);
}
