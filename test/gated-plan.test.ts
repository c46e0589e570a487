// Gated networks through the plan's kept buffers and the gated kernel's fused dual codes
// (steps/quantised.ts runGated): the lowered, packed input and the fused output live in the plan's
// kept buffers between calls, and a gated residual layer writes the next block's codes in its
// epilogue instead of a separate quantize pass. Checked against the path before that change (the
// outputs and per-layer gate counts it gave, recorded on AVX2: the float first conv rounds per
// ISA), against fresh models (no kept buffers) on every ISA, and at the kernel level (gatedGemmFused
// into a caller's array, with dual codes == quantizeActivations of its float output), at several
// gate offsets, batch 1 / 3 / 17, 1 and 2 threads.
import { describe, expect, it } from '@jest/globals';
import { kernels, Model, zoo } from '../lib';
import { GATE_OFFSETS, gateOns, gateOpts, gatedZooModel } from './helpers/gated-zoo';
import { randomCodes, rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

/** FNV-1a of an array's bytes. */
function fnv(f: Float32Array): number {
  const b = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  let h = 0x811c9dc5;
  for (const v of b) h = Math.imul(h ^ v, 16777619) >>> 0;
  return h;
}

/**
 * The gated zoo network (B = 4, Bhb = 2, w2/a4, seed 7, gates calibrated at 50% off on 4 samples)
 * as run by the layer-by-layer path before the kept buffers and dual codes (commit aba307d), on
 * AVX2: FNV-1a of the logits and each gated layer's gated-on outputs, per batch/offset.
 */
const BEFORE_AVX2: Record<string, { hash: number; on: number[] }> = {
  '1/-1e+30': { hash: 28597500, on: [16384, 16384, 16384, 16384, 16384, 16384, 8192, 8192, 8192, 8192, 8192, 8192, 4096, 4096, 4096, 4096, 4096, 4096] },
  '1/-0.02': { hash: 1803953716, on: [9723, 13292, 9846, 13520, 9959, 13491, 5023, 6606, 6929, 7232, 6748, 7444, 3250, 3207, 3100, 3388, 3012, 3313] },
  '1/0': { hash: 1163752998, on: [7664, 7358, 7856, 6547, 7994, 6489, 3953, 3536, 3644, 3777, 3663, 2499, 1951, 1771, 1933, 1778, 1974, 1954] },
  '1/0.03': { hash: 3877417985, on: [5682, 2060, 5894, 1381, 6042, 1593, 2874, 710, 857, 1262, 1026, 509, 669, 472, 735, 464, 949, 550] },
  '1/0.08': { hash: 3386648139, on: [2509, 103, 2688, 200, 2881, 254, 1186, 160, 375, 300, 358, 112, 212, 79, 132, 130, 300, 109] },
  '1/closed': { hash: 1245370846, on: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
  '3/-1e+30': { hash: 2848784327, on: [49152, 49152, 49152, 49152, 49152, 49152, 24576, 24576, 24576, 24576, 24576, 24576, 12288, 12288, 12288, 12288, 12288, 12288] },
  '3/-0.02': { hash: 3586562285, on: [29423, 40007, 29735, 40685, 29648, 41654, 15201, 19598, 20749, 21773, 20399, 22321, 9684, 9616, 9482, 10185, 8993, 9966] },
  '3/0': { hash: 2720268364, on: [23362, 22102, 23566, 19462, 23368, 19811, 11949, 10594, 10958, 11253, 10956, 6171, 5872, 5230, 5761, 4981, 5897, 5796] },
  '3/0.03': { hash: 648420927, on: [17237, 6530, 17578, 4027, 17575, 4544, 8809, 2177, 2594, 3873, 3158, 1508, 2032, 1425, 2160, 1371, 2884, 1659] },
  '3/0.08': { hash: 660982530, on: [7726, 302, 7839, 615, 8211, 788, 3543, 465, 1113, 901, 1078, 353, 618, 240, 391, 356, 933, 320] },
  '3/closed': { hash: 2822833767, on: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
  '17/-1e+30': { hash: 2540716882, on: [278528, 278528, 278528, 278528, 278528, 278528, 139264, 139264, 139264, 139264, 139264, 139264, 69632, 69632, 69632, 69632, 69632, 69632] },
  '17/-0.02': { hash: 3393234240, on: [167989, 226219, 167504, 229615, 167127, 235782, 86155, 111510, 117272, 123216, 114852, 126514, 55218, 54741, 53261, 57714, 50988, 56546] },
  '17/0': { hash: 2084137891, on: [133545, 124917, 132991, 111083, 132577, 113152, 67478, 60146, 61503, 64013, 62190, 33261, 32925, 29926, 32679, 30307, 33653, 32582] },
  '17/0.03': { hash: 1378361582, on: [99607, 36352, 98786, 23504, 99461, 26397, 49353, 12611, 14466, 21855, 17811, 8658, 11363, 7997, 12430, 7688, 16131, 9331] },
  '17/0.08': { hash: 170759094, on: [44839, 1782, 44331, 3518, 46199, 4474, 19689, 2536, 6245, 5159, 6229, 1975, 3563, 1336, 2231, 2038, 5227, 1813] },
  '17/closed': { hash: 346692280, on: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
};

const OFFSETS = GATE_OFFSETS;
const BATCHES = [1, 3, 17];
const build = () => gatedZooModel(BATCHES);
const opts = gateOpts;
const ons = gateOns;

describe('gated network through kept buffers and dual codes', () => {
  it('gives the outputs and gate counts of the path before it (AVX2), at 1 and 2 threads, repeated calls', () => {
    const { model, xs } = build();
    for (const threads of [1, 2]) {
      kernels.setThreads(threads);
      // Twice over every case, batch sizes and offsets interleaved: later calls reuse kept buffers.
      for (let round = 0; round < 2; round++) {
        for (const n of BATCHES) for (const off of OFFSETS) {
          const r = model.runSyncDetailed(xs.get(n)!, opts(off));
          const y = model.runSync(xs.get(n)!, opts(off));
          expect(fnv(y.data as Float32Array)).toBe(fnv(r.output.data as Float32Array));
          const key = `${n}/${off}`;
          if (kernels.isa() === 'avx2') {
            expect({ key, hash: fnv(r.output.data as Float32Array), on: ons(r.stats) }).toEqual({ key, ...BEFORE_AVX2[key] });
          } else {
            expect(ons(r.stats)).toEqual(BEFORE_AVX2[key].on);
          }
        }
      }
    }
  });

  it('kept buffers give what a fresh model gives, on every ISA, and every gate on is the dense network', () => {
    const isa = kernels.isa();
    try {
      for (const name of kernels.availableIsas()) {
        kernels.setIsa(name);
        kernels.setThreads(1);
        const { model, xs } = build();
        const graph = zoo.preactResnet({});
        const dense = Model.build(graph, zoo.randomTensors(zoo.gatedPreactResnet({ bits: 4, highBits: 2 }), 7))
          .setPrecision({ weights: 2, activations: 4 });
        // A fresh model per case (no kept buffers): batch 3 on every ISA, 17 on the default one.
        for (const n of name === isa ? [3, 17] : [3]) {
          for (const off of [-0.02, 0.03, 'closed'] as const) {
            model.runSync(xs.get(n)!, { gateOffset: 0.01 }); // a call at another offset first
            const kept = model.runSyncDetailed(xs.get(n)!, opts(off));
            const fresh = build().model.runSyncDetailed(xs.get(n)!, opts(off));
            expect(fnv(kept.output.data as Float32Array)).toBe(fnv(fresh.output.data as Float32Array));
            expect(ons(kept.stats)).toEqual(ons(fresh.stats));
            expect(kept.stats.gate!.fraction).toBe(fresh.stats.gate!.fraction);
          }
          expect(Array.from(model.runSync(xs.get(n)!, { gateOffset: -1e30 }).data)).toEqual(Array.from(dense.runSync(xs.get(n)!).data));
        }
      }
    } finally {
      kernels.setIsa(isa);
    }
  });

  it('gatedGemmFused writes into a caller\'s array and its dual codes are quantizeActivations of its floats', () => {
    const r = rng(11);
    for (const name of kernels.availableIsas()) {
      kernels.setIsa(name);
      for (const [m, k, n] of [[37, 144, 16], [100, 288, 32], [17, 70, 24]]) {
        const a = kernels.pack(randomCodes(r, m * k, 4), m, k, 4);
        const w = kernels.pack(randomCodes(r, n * k, 2), n, k, 2);
        const scale = Float32Array.from({ length: n }, () => 0.001 + r() * 0.01);
        const shift = Float32Array.from({ length: n }, () => r() - 0.5);
        const residual = Float32Array.from({ length: m * n }, () => r() * 2 - 1);
        const high = kernels.gatedGemm(a, w, { aBits: 4, highBits: 2, bBits: 2, bEncoding: 'bipolar', thresholds: new Float32Array(n).fill(Infinity) }).out;
        const sorted = Int32Array.from(high).sort();
        for (const t of [-Infinity, sorted[m * n >> 1], Infinity]) {
          const base = { aBits: 4, highBits: 2, bBits: 2, bEncoding: 'bipolar' as const, thresholds: new Float32Array(n).fill(t) };
          const codes = { output: 'codes' as const, bits: 4, scale, shift };
          const plain = kernels.gatedGemmFused(a, w, { ...base, epilogue: codes });
          const into = new Uint8Array(m * n).fill(255);
          const got = kernels.gatedGemmFused(a, w, { ...base, epilogue: codes, out: into });
          expect(got.out).toBe(into);
          expect(got.on).toBe(plain.on);
          expect(Array.from(into)).toEqual(Array.from(plain.out));
          // Floats plus a residual, and the next quantiser's codes of them in the same pass.
          const fl = { output: 'float' as const, scale, shift, residual };
          const floats = kernels.gatedGemmFused(a, w, { ...base, epilogue: fl });
          const dualOut = new Uint8Array(m * n);
          const s2 = Float32Array.from({ length: n }, () => 0.5 + r()), t2 = Float32Array.from({ length: n }, () => r() - 0.5);
          const outF = new Float32Array(m * n);
          const dual = kernels.gatedGemmFused(a, w, { ...base, epilogue: { ...fl, codes: { bits: 4, scale: s2, shift: t2, out: dualOut } }, out: outF });
          expect(dual.out).toBe(outF);
          expect(dual.on).toBe(floats.on);
          expect(Array.from(outF)).toEqual(Array.from(floats.out));
          expect(Array.from(dualOut)).toEqual(Array.from(kernels.quantizeActivations(outF, n, s2, t2, 4)));
        }
        // A caller's array of the wrong type or length, or one sharing memory with an operand, is refused.
        const base = { aBits: 4, highBits: 2, bBits: 2, bEncoding: 'bipolar' as const, thresholds: new Float32Array(n) };
        const codes = { output: 'codes' as const, bits: 4, scale, shift };
        const range = { name: 'RangeError', message: expect.stringContaining('out') };
        expect(thrown(() => kernels.gatedGemmFused(a, w, { ...base, epilogue: codes, out: new Uint8Array(m * n + 1) }))).toMatchObject(range);
        expect(thrown(() => kernels.gatedGemmFused(a, w, { ...base, epilogue: codes, out: new Float32Array(m * n) })))
          .toMatchObject({ name: 'TypeError', message: expect.stringContaining('out') });
        const shared = new Float32Array(m * n + n);
        shared.set(scale, m * n - 1);
        expect(thrown(() => kernels.gatedGemmFused(a, w, { ...base, epilogue: { output: 'float', scale: shared.subarray(m * n - 1, m * n - 1 + n), shift },
          out: shared.subarray(0, m * n) }))).toMatchObject(range);
      }
    }
  });
});
