// The gated kernel's int8 high route (kernels.GatedGemmOptions.high = 'int8': an int8 GEMM of the
// high codes, then the same gate and low planes) gives the bit-serial high route's outputs and gate
// counts bit for bit: at the kernel (every ISA, codes and float epilogues, sync and async, odd
// shapes) and in the gated zoo network (kernels.setGemmPath forcing each route, against the
// measured default), at several gate offsets, batch 1 / 3 / 17, 1 and 2 threads. The high part given
// (GatedGemmOptions.highSums: the dense int8 route's exact sums of the high codes p >> L, with all
// B planes or the L low ones alone) and the network's 'codes' route (setGatedHighRoute) likewise.
import { afterEach, describe, expect, it } from '@jest/globals';
import { kernels, setGatedHighRoute } from '../lib';
import { GATE_OFFSETS, gateOns, gateOpts, gatedZooModel } from './helpers/gated-zoo';
import { randomCodes, rng } from './helpers/reference';

const OFFSETS = GATE_OFFSETS;
const opts = gateOpts;
const ons = gateOns;

/** Runs fn under every ISA this CPU has, restoring the ISA in use after. */
async function eachIsa(fn: () => Promise<void> | void): Promise<void> {
  const isa = kernels.isa();
  try {
    for (const name of kernels.availableIsas()) {
      kernels.setIsa(name);
      await fn();
    }
  } finally {
    kernels.setIsa(isa);
  }
}

/**
 * A random epilogue for n columns, and four gate thresholds for the case: every output on, about
 * 3/4 and 7/16 of the high sums below it, none on.
 */
type Packed = ReturnType<typeof kernels.pack>;
function gateCases(r: () => number, a: Packed, w: Packed, B: number, hb: number, wb: number, m: number, n: number) {
  const scale = Float32Array.from({ length: n }, () => 0.001 + r() * 0.01);
  const shift = Float32Array.from({ length: n }, () => r() - 0.5);
  const high = kernels.gatedGemm(a, w, { aBits: B, highBits: hb, bBits: wb, bEncoding: 'bipolar', thresholds: new Float32Array(n).fill(Infinity) }).out;
  const sorted = Int32Array.from(high).sort();
  const thresholds = [-Infinity, sorted[m * n >> 2], sorted[(m * n * 9) >> 4], Infinity];
  const epilogues = [{ output: 'codes' as const, bits: 4, scale, shift }, { output: 'float' as const, scale, shift }];
  return { thresholds, epilogues, base: (t: number) => ({ aBits: B, highBits: hb, bBits: wb, bEncoding: 'bipolar' as const, thresholds: new Float32Array(n).fill(t) }) };
}

afterEach(() => {
  setGatedHighRoute('auto');
  kernels.setGemmPath('auto');
  kernels.setThreads(1);
});

describe('gated int8 high route', () => {
  it('gatedGemmFused: int8 high == bit-serial high (outputs, on counts), every ISA, odd shapes', async () => {
    const r = rng(17);
    await eachIsa(async () => {
      for (const [m, k, n, B, hb, wb] of [[37, 144, 16, 4, 2, 2], [100, 288, 32, 4, 2, 2], [17, 70, 24, 3, 1, 8], [65, 33, 130, 8, 5, 3],
        [1, 1, 1, 2, 1, 1]]) {
        const a = kernels.pack(randomCodes(r, m * k, B), m, k, B);
        const w = kernels.pack(randomCodes(r, n * k, wb), n, k, wb);
        const { thresholds, epilogues, base } = gateCases(r, a, w, B, hb, wb, m, n);
        for (const t of thresholds) {
          for (const epilogue of epilogues) {
            const bs = kernels.gatedGemmFused(a, w, { ...base(t), epilogue, high: 'bitserial' });
            const i8 = kernels.gatedGemmFused(a, w, { ...base(t), epilogue, high: 'int8' });
            const i8a = await kernels.gatedGemmFusedAsync(a, w, { ...base(t), epilogue, high: 'int8' });
            expect(i8.on).toBe(bs.on);
            expect(i8a.on).toBe(bs.on);
            expect(Buffer.from(i8.out.buffer).equals(Buffer.from(bs.out.buffer))).toBe(true);
            expect(Buffer.from(i8a.out.buffer).equals(Buffer.from(bs.out.buffer))).toBe(true);
          }
        }
      }
    });
  });

  it('given high sums (the int8 route on p >> L, in place) == bit-serial high, all planes or the low ones alone, every ISA', async () => {
    const r = rng(29);
    await eachIsa(async () => {
      for (const [m, k, n, B, hb, wb] of [[37, 144, 16, 4, 2, 2], [100, 288, 32, 4, 2, 2], [17, 70, 24, 3, 1, 8], [65, 33, 130, 8, 5, 3],
        [1, 1, 1, 2, 1, 1], [40, 576, 64, 4, 3, 4]]) {
        const L = B - hb;
        const codes = randomCodes(r, m * k, B);
        const hiCodes = codes.map((c) => c >> L), loCodes = codes.map((c) => c & ((1 << L) - 1));
        const a = kernels.pack(codes, m, k, B), aLow = kernels.pack(loCodes, m, k, L);
        const w = kernels.pack(randomCodes(r, n * k, wb), n, k, wb);
        const sums = kernels.int8Linear(hiCodes, m, w, { aBits: hb, aEncoding: 'unsigned', bBits: wb, bEncoding: 'bipolar' });
        const { thresholds, epilogues, base } = gateCases(r, a, w, B, hb, wb, m, n);
        for (const t of thresholds) {
          // Exact outputs and masks.
          const ref = kernels.gatedGemm(a, w, base(t));
          for (const lowOnly of [false, true]) {
            const g = kernels.gatedGemm(lowOnly ? aLow : a, w, { ...base(t), highSums: sums, lowOnly });
            expect(g.on).toBe(ref.on);
            expect(Array.from(g.out)).toEqual(Array.from(ref.out));
            expect(Array.from(g.mask)).toEqual(Array.from(ref.mask));
          }
          for (const epilogue of epilogues) {
            const bs = kernels.gatedGemmFused(a, w, { ...base(t), epilogue, high: 'bitserial' });
            const gv = kernels.gatedGemmFused(aLow, w, { ...base(t), epilogue, highSums: sums, lowOnly: true });
            const ga = await kernels.gatedGemmFusedAsync(a, w, { ...base(t), epilogue, highSums: sums });
            expect(gv.on).toBe(bs.on);
            expect(ga.on).toBe(bs.on);
            expect(Buffer.from(gv.out.buffer).equals(Buffer.from(bs.out.buffer))).toBe(true);
            expect(Buffer.from(ga.out.buffer).equals(Buffer.from(bs.out.buffer))).toBe(true);
          }
        }
      }
    });
  });

  it('kernels.splitCodes: hi = codes >> L, lo = codes & (2^L - 1), any length; refuses overlaps and bad L', () => {
    const r = rng(41);
    for (const n of [0, 1, 7, 64, 65, 100003]) {
      const codes = randomCodes(r, n, 8);
      for (const L of [1, 2, 3, 7]) {
        const hi = new Uint8Array(n), lo = new Uint8Array(n);
        kernels.splitCodes(codes, L, hi, lo);
        expect(hi.every((h, i) => h === codes[i] >> L) && lo.every((l, i) => l === (codes[i] & ((1 << L) - 1)))).toBe(true);
      }
    }
    const c = new Uint8Array(16);
    expect(() => kernels.splitCodes(c, 0, new Uint8Array(16), new Uint8Array(16))).toThrow(RangeError);
    expect(() => kernels.splitCodes(c, 2, c, new Uint8Array(16))).toThrow(/overlap/);
    expect(() => kernels.splitCodes(c, 2, new Uint8Array(15), new Uint8Array(16))).toThrow(/as many/);
  });

  it('refuses malformed given high sums', () => {
    const r = rng(5);
    const a = kernels.pack(randomCodes(r, 5 * 9, 4), 5, 9, 4);
    const w = kernels.pack(randomCodes(r, 3 * 9, 2), 3, 9, 2);
    const base = { aBits: 4, highBits: 2, bEncoding: 'bipolar' as const, thresholds: new Float32Array(3) };
    expect(() => kernels.gatedGemm(a, w, { ...base, highSums: new Int32Array(14) })).toThrow(/M x N = 15/);
    expect(() => kernels.gatedGemm(a, w, { ...base, highSums: new Float32Array(15) as never })).toThrow(TypeError);
    expect(() => kernels.gatedGemm(a, w, { ...base, lowOnly: true })).toThrow(/lowOnly needs highSums/);
    const a1 = kernels.pack(randomCodes(r, 5 * 9, 1), 5, 9, 1);
    expect(() => kernels.gatedGemm(a1, w, { ...base, highSums: new Int32Array(15), lowOnly: true })).toThrow(/2 low planes/);
    expect(() => kernels.gatedGemm(a, w, { ...base, aBits: undefined, highSums: new Int32Array(15), lowOnly: true })).toThrow(/aBits/);
  });

  it('refuses an unknown route and b2 with the int8 route', () => {
    const r = rng(3);
    const a = kernels.pack(randomCodes(r, 5 * 9, 4), 5, 9, 4);
    const w = kernels.pack(randomCodes(r, 3 * 9, 2), 3, 9, 2);
    const base = { aBits: 4, highBits: 2, bEncoding: 'bipolar' as const, thresholds: new Float32Array(3), epilogue: { output: 'float' as const, scale: new Float32Array(3).fill(1), shift: new Float32Array(3) } };
    expect(() => kernels.gatedGemmFused(a, w, { ...base, high: 'fast' as never })).toThrow(RangeError);
    expect(() => kernels.gatedGemmFused(a, w, { ...base, high: 'int8', b2: w, b2Encoding: 'unsigned' })).toThrow(/one weight operand/);
  });

  it('the gated zoo network: int8 high (forced), bit-serial high (forced) and the measured default agree, batch 1/3/17, 1 and 2 threads', () => {
    const { model, xs } = gatedZooModel([1, 3, 17]);
    for (const threads of [1, 2]) {
      kernels.setThreads(threads);
      for (const n of [1, 3, 17]) {
        for (const off of OFFSETS) {
          const runs = (['bitserial', 'int8', 'auto'] as const).map((path) => {
            kernels.setGemmPath(path);
            return model.runSyncDetailed(xs.get(n)!, opts(off));
          });
          kernels.setGemmPath('bitserial');
          setGatedHighRoute('codes');
          const codes = model.runSyncDetailed(xs.get(n)!, opts(off));
          setGatedHighRoute('auto');
          const [bs, i8, auto] = runs;
          expect(codes.stats.layers.filter((l) => l.gate?.high).every((l) => l.gate!.high === 'codes' && l.gate!.highReason === 'setGatedHighRoute')).toBe(true);
          for (const other of [i8, auto, codes]) {
            expect(Array.from(other.output.data)).toEqual(Array.from(bs.output.data));
            expect(ons(other.stats)).toEqual(ons(bs.stats));
          }
          const highs = (s: typeof bs.stats) => s.layers.filter((l) => l.gate?.high).map((l) => l.gate!.high);
          expect(highs(i8.stats).every((h) => h === 'int8')).toBe(true);
          expect(highs(bs.stats).every((h) => h === 'bitserial')).toBe(true);
          expect(highs(auto.stats).length).toBe(ons(auto.stats).length);
        }
      }
    }
  });
});
