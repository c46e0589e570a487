// The precision-gated GEMM (kernels.gatedGemm / gatedGemmAsync) against plain JS sums, on every
// ISA and skipping strategy: -Infinity thresholds give the dense bitGemm, +Infinity the top planes
// alone (scaled back by 2^(aBits - highBits)), finite ones exactly the strict comparison
// O_hb > threshold; argument errors name the argument.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels, Packed } from '../lib';
import type { EncodingName } from '../lib/core/kernels';
import { codeValue, firstDiff, randomCodes, rng } from './helpers/reference';

const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
const defaultThreads = kernels.threads();
afterAll(() => {
  kernels.setIsa(defaultIsa);
  kernels.setThreads(defaultThreads);
});
const STRATEGIES = ['auto', 'compact', 'tiles', 'hybrid'] as const;

/** O_hb and the dense result from the codes (a stored with aStored planes, used at aBits). */
function direct(ac: Uint8Array, aStored: number, aBits: number, highBits: number, bc: Uint8Array, bStored: number,
                bBits: number, bEnc: EncodingName, m: number, n: number, k: number) {
  const low = aBits - highBits;
  const hb = new Float64Array(m * n), dense = new Float64Array(m * n);
  const bv = new Int32Array(n * k);
  for (let x = 0; x < n * k; x++) bv[x] = codeValue(bc[x] >> (bStored - bBits), bBits, bEnc);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let h = 0, d = 0;
      for (let t = 0; t < k; t++) {
        const p = ac[i * k + t] >> (aStored - aBits);
        h += ((p >> low) << low) * bv[j * k + t];
        d += p * bv[j * k + t];
      }
      hb[i * n + j] = h;
      dense[i * n + j] = d;
    }
  }
  return { hb, dense };
}

function expected(ref: { hb: Float64Array; dense: Float64Array }, thr: Float32Array, n: number) {
  const out = new Int32Array(ref.hb.length), mask = new Uint8Array(ref.hb.length);
  let on = 0;
  for (let x = 0; x < ref.hb.length; x++) {
    const o = ref.hb[x] > thr[x % n];
    mask[x] = o ? 1 : 0;
    on += o ? 1 : 0;
    out[x] = o ? ref.dense[x] : ref.hb[x];
  }
  return { out, mask, on };
}

function thresholdSets(rand: () => number, hb: Float64Array, m: number, n: number): [string, Float32Array][] {
  const pick = (j: number) => hb[Math.floor(rand() * m) * n + j];
  return [
    ['-Infinity', new Float32Array(n).fill(-Infinity)],
    ['+Infinity', new Float32Array(n).fill(Infinity)],
    ['exact O_hb values', Float32Array.from({ length: n }, (_, j) => pick(j))],
    ['fractions', Float32Array.from({ length: n }, (_, j) => pick(j) + (rand() < 0.5 ? 0.5 : -0.25))],
    ['mixed columns', Float32Array.from({ length: n }, (_, j) => [-Infinity, Infinity, pick(j)][j % 3])],
  ];
}

describe.each(ISAS)('isa %s', (isa) => {
  it('matches the direct sums for every (aBits, highBits) up to 6 bits, every weight encoding', () => {
    kernels.setIsa(isa);
    kernels.setThreads(1);
    const rand = rng(101);
    const m = 21, n = 19, k = 131;
    let combo = 0;
    for (let aBits = 2; aBits <= 6; aBits++) {
      for (let highBits = 1; highBits < aBits; highBits++) {
        combo++;
        const bEncoding = (['bipolar', 'unsigned', 'signed'] as const)[combo % 3];
        const bBits = 1 + (combo % 3);
        const ac = randomCodes(rand, m * k, aBits), bc = randomCodes(rand, n * k, bBits);
        const A = kernels.pack(ac, m, k, aBits), B = kernels.pack(bc, n, k, bBits);
        const ref = direct(ac, aBits, aBits, highBits, bc, bBits, bBits, bEncoding, m, n, k);
        for (const [label, thresholds] of thresholdSets(rand, ref.hb, m, n)) {
          const want = expected(ref, thresholds, n);
          const got = kernels.gatedGemm(A, B, { highBits, bEncoding, thresholds });
          const where = `${label} aBits=${aBits} highBits=${highBits} b=${bBits}-bit ${bEncoding}`;
          expect([where, firstDiff(got.out, want.out), firstDiff(got.mask, want.mask), got.on]).toEqual([where, -1, -1, want.on]);
        }
      }
    }
  });

  it('-Infinity equals bitGemm, +Infinity equals 2^(aBits-highBits) x bitGemm of the top planes', () => {
    kernels.setIsa(isa);
    const rand = rng(202);
    const m = 70, n = 45, k = 333;
    const ac = randomCodes(rand, m * k, 8), bc = randomCodes(rand, n * k, 8);
    const A = kernels.pack(ac, m, k, 8), B = kernels.pack(bc, n, k, 8); // truncation: top planes of 8
    for (const [aBits, highBits, bBits, bEncoding] of [[4, 2, 1, 'bipolar'], [8, 3, 2, 'signed'], [3, 1, 4, 'unsigned']] as const) {
      const dense = kernels.bitGemm(A, B, { aBits, bBits, aEncoding: 'unsigned', bEncoding });
      const high = kernels.bitGemm(A, B, { aBits: highBits, bBits, aEncoding: 'unsigned', bEncoding });
      const all = kernels.gatedGemm(A, B, { aBits, highBits, bBits, bEncoding, thresholds: new Float32Array(n).fill(-Infinity) });
      const none = kernels.gatedGemm(A, B, { aBits, highBits, bBits, bEncoding, thresholds: new Float32Array(n).fill(Infinity) });
      expect(firstDiff(all.out, dense)).toBe(-1);
      expect([all.on, none.on]).toEqual([m * n, 0]);
      expect(all.mask.every((v) => v === 1) && none.mask.every((v) => v === 0)).toBe(true);
      const scale = 2 ** (aBits - highBits);
      expect(firstDiff(none.out, high.map((v) => v * scale))).toBe(-1);
    }
  });

  it('every strategy and thread count gives the same result', () => {
    kernels.setIsa(isa);
    const rand = rng(303);
    const m = 131, n = 150, k = 290; // two task tiles each way, partial panels and groups
    const ac = randomCodes(rand, m * k, 4), bc = randomCodes(rand, n * k, 2);
    const A = kernels.pack(ac, m, k, 4), B = kernels.pack(bc, n, k, 2);
    const ref = direct(ac, 4, 4, 2, bc, 2, 2, 'bipolar', m, n, k);
    // Some columns all on (dense micro-tiles for the hybrid), the rest ~20% on.
    const thresholds = Float32Array.from({ length: n }, (_, j) => {
      if (j % 7 === 0) return -Infinity;
      const col = Array.from({ length: m }, (_, i) => ref.hb[i * n + j]).sort((x, y) => x - y);
      return col[Math.floor(0.8 * m)];
    });
    const want = expected(ref, thresholds, n);
    for (const threads of [1, 3]) {
      kernels.setThreads(threads);
      for (const strategy of STRATEGIES) {
        const got = kernels.gatedGemm(A, B, { highBits: 2, bEncoding: 'bipolar', thresholds, strategy });
        expect([strategy, threads, firstDiff(got.out, want.out), firstDiff(got.mask, want.mask), got.on])
          .toEqual([strategy, threads, -1, -1, want.on]);
      }
    }
    kernels.setThreads(1);
  });

  it('gatedGemmAsync equals gatedGemm, also under concurrent calls', async () => {
    kernels.setIsa(isa);
    kernels.setThreads(2);
    try {
      const rand = rng(404);
      const m = 40, n = 33, k = 500;
      const A = kernels.pack(randomCodes(rand, m * k, 6), m, k, 6), B = kernels.pack(randomCodes(rand, n * k, 3), n, k, 3);
      const thresholds = Float32Array.from({ length: n }, () => (rand() - 0.5) * 4000);
      const cases = [1, 2, 3, 4, 5].map((highBits) => ({ highBits, bEncoding: 'signed' as const, thresholds }));
      const asyncResults = await Promise.all(cases.map((o) => kernels.gatedGemmAsync(A, B, o)));
      cases.forEach((o, idx) => {
        const sync = kernels.gatedGemm(A, B, o);
        const got = asyncResults[idx];
        expect([firstDiff(got.out, sync.out), firstDiff(got.mask, sync.mask), got.on]).toEqual([-1, -1, sync.on]);
      });
    } finally {
      kernels.setThreads(1);
    }
  });
});

describe('gatedGemm with a second weight operand (b2)', () => {
  it('gates on the summed O_hb and adds both operands\' low planes where on, every ISA and strategy', () => {
    const r = rng(77);
    const encs: EncodingName[] = ['bipolar', 'unsigned', 'signed'];
    let combo = 0;
    for (const [m, n, k] of [[9, 17, 63], [70, 9, 100], [65, 130, 7]] as const) {
      for (const [aBits, highBits] of [[3, 2], [4, 1], [8, 5]] as const) {
        combo++;
        const e1 = combo % 3 === 0 ? 'bipolar' : encs[combo % 3], e2 = combo % 3 === 0 ? 'unsigned' : encs[(combo + 1) % 3];
        const b1Bits = combo % 3 === 0 ? 8 : 1 + (combo * 5) % 8, b2Bits = combo % 3 === 0 ? 1 : 1 + (combo * 3) % 8;
        const ac = randomCodes(r, m * k, aBits), bc1 = randomCodes(r, n * k, b1Bits), bc2 = randomCodes(r, n * k, b2Bits);
        const A = kernels.pack(ac, m, k, aBits), B1 = kernels.pack(bc1, n, k, b1Bits), B2 = kernels.pack(bc2, n, k, b2Bits);
        const d1 = direct(ac, aBits, aBits, highBits, bc1, b1Bits, b1Bits, e1, m, n, k);
        const d2 = direct(ac, aBits, aBits, highBits, bc2, b2Bits, b2Bits, e2, m, n, k);
        const dense1 = kernels.bitGemm(A, B1, { aEncoding: 'unsigned', bEncoding: e1 });
        const dense2 = kernels.bitGemm(A, B2, { aEncoding: 'unsigned', bEncoding: e2 });
        const thrs = [
          new Float32Array(n).fill(-Infinity), new Float32Array(n).fill(Infinity),
          Float32Array.from({ length: n }, (_, j) => d1.hb[Math.floor(r() * m) * n + j] + d2.hb[Math.floor(r() * m) * n + j] + Math.floor(r() * 9) - 4),
        ];
        for (const isa of ISAS) {
          kernels.setIsa(isa);
          for (const strategy of STRATEGIES) {
            for (const thresholds of thrs) {
              const got = kernels.gatedGemm(A, B1, { aBits, highBits, bEncoding: e1, thresholds, strategy, b2: B2, b2Encoding: e2 });
              const want = new Int32Array(m * n), wantMask = new Uint8Array(m * n);
              let on = 0;
              for (let x = 0; x < m * n; x++) {
                const hb = d1.hb[x] + d2.hb[x];
                const o = hb > thresholds[x % n];
                wantMask[x] = o ? 1 : 0;
                want[x] = o ? d1.dense[x] + d2.dense[x] : hb;
                on += o ? 1 : 0;
              }
              expect({ isa, strategy, diff: firstDiff(got.out, want) }).toEqual({ isa, strategy, diff: -1 });
              expect(Buffer.from(got.mask).equals(Buffer.from(wantMask))).toBe(true);
              expect(got.on).toBe(on);
              if (thresholds[0] === -Infinity) {
                expect(firstDiff(got.out, dense1.map((v, x) => v + dense2[x]))).toBe(-1);
              }
            }
          }
        }
      }
    }
  });

  it('gatedGemmAsync takes b2 too', async () => {
    const r = rng(78);
    const ac = randomCodes(r, 20 * 30, 4), bc1 = randomCodes(r, 11 * 30, 8), bc2 = randomCodes(r, 11 * 30, 1);
    const A = kernels.pack(ac, 20, 30, 4), B1 = kernels.pack(bc1, 11, 30, 8), B2 = kernels.pack(bc2, 11, 30, 1);
    const o = { highBits: 2, bEncoding: 'bipolar', thresholds: new Float32Array(11).fill(0), b2: B2, b2Encoding: 'unsigned' } as const;
    const a = await kernels.gatedGemmAsync(A, B1, o);
    const s = kernels.gatedGemm(A, B1, o);
    expect(firstDiff(a.out, s.out)).toBe(-1);
    expect(a.on).toBe(s.on);
  });
});

describe('gatedGemm arguments', () => {
  const A = kernels.pack(new Uint8Array(2 * 5).fill(3), 2, 5, 4);
  const A1 = kernels.pack(new Uint8Array(2 * 5).fill(1), 2, 5, 1);
  const B = kernels.pack(new Uint8Array(3 * 5).fill(1), 3, 5, 2);
  const Bk = kernels.pack(new Uint8Array(3 * 4).fill(1), 3, 4, 2);
  const thr = new Float32Array(3);
  const ok = { highBits: 2, bEncoding: 'bipolar', thresholds: thr } as const;
  function thrown(fn: () => unknown): { name: string; message: string } {
    try {
      fn();
    } catch (e) {
      return { name: (e as Error).name, message: (e as Error).message };
    }
    throw new Error('expected an error, none was thrown');
  }
  const cases: [string, () => unknown, string, RegExp][] = [
    ['a not Packed', () => kernels.gatedGemm({} as Packed, B, ok), 'TypeError', /^a must be a Packed/],
    ['b not Packed', () => kernels.gatedGemm(A, null as unknown as Packed, ok), 'TypeError', /^b must be a Packed/],
    ['options missing', () => kernels.gatedGemm(A, B, undefined as never), 'TypeError', /options/],
    ['a with one plane', () => kernels.gatedGemm(A1, B, { ...ok, highBits: 1 }), 'RangeError', /at least 2 bit planes/],
    ['aBits 1', () => kernels.gatedGemm(A, B, { ...ok, aBits: 1, highBits: 1 }), 'RangeError', /aBits must be an integer in 2..4/],
    ['aBits above stored', () => kernels.gatedGemm(A, B, { ...ok, aBits: 5 }), 'RangeError', /aBits/],
    ['highBits missing', () => kernels.gatedGemm(A, B, { bEncoding: 'bipolar', thresholds: thr } as never), 'TypeError', /highBits/],
    ['highBits 0', () => kernels.gatedGemm(A, B, { ...ok, highBits: 0 }), 'RangeError', /highBits must be an integer in 1..3/],
    ['highBits == aBits', () => kernels.gatedGemm(A, B, { ...ok, aBits: 3, highBits: 3 }), 'RangeError', /highBits must be an integer in 1..2/],
    ['highBits fraction', () => kernels.gatedGemm(A, B, { ...ok, highBits: 1.5 }), 'RangeError', /highBits/],
    ['bBits above stored', () => kernels.gatedGemm(A, B, { ...ok, bBits: 3 }), 'RangeError', /bBits must be an integer in 1..2/],
    ['bEncoding unknown', () => kernels.gatedGemm(A, B, { ...ok, bEncoding: 'twos' as never }), 'RangeError', /bEncoding must be one of/],
    ['bEncoding missing', () => kernels.gatedGemm(A, B, { highBits: 2, thresholds: thr } as never), 'TypeError', /bEncoding/],
    ['thresholds not Float32Array', () => kernels.gatedGemm(A, B, { ...ok, thresholds: [0, 0, 0] as never }), 'TypeError', /thresholds must be a Float32Array/],
    ['thresholds length', () => kernels.gatedGemm(A, B, { ...ok, thresholds: new Float32Array(2) }), 'RangeError', /thresholds must hold one value per output column \(b.rows = 3\), got 2/],
    ['thresholds NaN', () => kernels.gatedGemm(A, B, { ...ok, thresholds: new Float32Array([0, NaN, 0]) }), 'RangeError', /thresholds\[1\] is NaN/],
    ['strategy unknown', () => kernels.gatedGemm(A, B, { ...ok, strategy: 'fast' as never }), 'RangeError', /strategy must be one of/],
    ['K mismatch', () => kernels.gatedGemm(A, Bk, ok), 'RangeError', /same number of columns/],
    ['b2 not Packed', () => kernels.gatedGemm(A, B, { ...ok, b2: {} as Packed, b2Encoding: 'unsigned' }), 'TypeError', /^b2 must be a Packed/],
    ['b2Encoding missing', () => kernels.gatedGemm(A, B, { ...ok, b2: B }), 'TypeError', /^b2Encoding/],
    ['b2Encoding unknown', () => kernels.gatedGemm(A, B, { ...ok, b2: B, b2Encoding: 'twos' as never }), 'RangeError', /^b2Encoding must be one of/],
    ['b2Bits above stored', () => kernels.gatedGemm(A, B, { ...ok, b2: B, b2Bits: 3, b2Encoding: 'unsigned' }), 'RangeError', /^b2Bits must be an integer in 1..2/],
    ['b2Bits without b2', () => kernels.gatedGemm(A, B, { ...ok, b2Bits: 1 }), 'TypeError', /need b2/],
    ['b2 rows mismatch', () => kernels.gatedGemm(A, B, { ...ok, b2: A, b2Encoding: 'unsigned' }), 'RangeError', /b2 must have the same number of rows/],
    ['b2 K mismatch', () => kernels.gatedGemm(A, B, { ...ok, b2: Bk, b2Encoding: 'unsigned' }), 'RangeError', /a and b2 must have the same number of columns/],
  ];
  it.each(cases)('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('refuses shapes whose dense result could overflow int32', () => {
    const k = 33026; // 255 * 255 * 33026 >= 2^31
    const big = kernels.pack(new Uint8Array(k).fill(255), 1, k, 8);
    const e = thrown(() => kernels.gatedGemm(big, big, { highBits: 4, bEncoding: 'unsigned', thresholds: new Float32Array(1) }));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(/overflow int32/);
  });

  it('the native layer refuses the same bad arguments (TS checks bypassed)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { native } = require('../lib/core/native');
    const e1 = thrown(() => native.gatedGemm(A, B, 4, 4, 2, 'bipolar', thr));
    expect([e1.name, e1.message]).toEqual(['RangeError', expect.stringMatching(/highBits must be an integer in 1..3/)]);
    const e2 = thrown(() => native.gatedGemm(A, B, 4, 2, 2, 'bipolar', new Float32Array([0, NaN, 0])));
    expect([e2.name, e2.message]).toEqual(['RangeError', 'thresholds[1] is NaN']);
    const e3 = thrown(() => native.gatedGemm(A, B, 4, 2, 2, 'bipolar', new Float64Array(3)));
    expect(e3.name).toBe('TypeError');
    const e4 = thrown(() => native.gatedGemm(A, B, 4, 2, 2, 'bipolar', thr, 'auto', Bk, 2, 'unsigned'));
    expect([e4.name, e4.message]).toEqual(['RangeError', expect.stringMatching(/a and b2 must have the same number of columns/)]);
    const e5 = thrown(() => native.gatedGemm(A, B, 4, 2, 2, 'bipolar', thr, 'auto', A, 2, 'unsigned'));
    expect([e5.name, e5.message]).toEqual(['RangeError', expect.stringMatching(/b2 must have the same number of rows/)]);
    const e6 = thrown(() => native.gatedGemm(A, B, 4, 2, 2, 'bipolar', thr, 'auto', B, 3, 'unsigned'));
    expect([e6.name, e6.message]).toEqual(['RangeError', expect.stringMatching(/b2Bits/)]);
    const e7 = thrown(() => native.gatedGemm(A, B, 4, 2, 2, 'bipolar', thr, 'auto', B, 2, 'twos'));
    expect(e7.message).toMatch(/b2Encoding/);
    const e8 = thrown(() => native.gatedGemm(A, B, 4, 2, 2, 'bipolar', thr, 'auto', {}, 2, 'unsigned'));
    expect([e8.name, e8.message]).toEqual(['TypeError', expect.stringMatching(/^b2/)]);
  });

  it('gatedGemmAsync rejects with the same errors', async () => {
    await expect(kernels.gatedGemmAsync(A, B, { ...ok, highBits: 0 })).rejects.toThrow(/highBits must be an integer/);
    await expect(kernels.gatedGemmAsync(A, Bk, ok)).rejects.toThrow(/same number of columns/);
  });
});
