// Every ISA on this machine, forced in turn, bit-identical to a plain JS reference.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels } from '../lib';
import type { EncodingName } from '../lib';
import { firstDiff, gemmRef, randomCodes, rng, values } from './helpers/reference';

const ENCS: EncodingName[] = ['unsigned', 'bipolar', 'signed'];
const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
afterAll(() => {
  kernels.setIsa(defaultIsa);
  kernels.setThreads(1);
});

// Small M/N (not multiples of the 8-row panel) at every K the issue names.
const KS = [1, 63, 64, 65, 511, 513, 4099];
// Shapes that cross the task tile (64 rows x 128 columns) and the micro-kernel's 8 panels.
const BIG = [
  { m: 70, n: 131, k: 65 },
  { m: 9, n: 260, k: 130 },
];

function checkAllCombos(isa: string, m: number, n: number, k: number, stored8: boolean, seed: number,
                        combos?: Array<[number, number]>) {
  kernels.setIsa(isa);
  const rand = rng(seed);
  const list: Array<[number, number]> = combos ?? [];
  if (!combos) for (let ab = 1; ab <= 8; ab++) for (let bb = 1; bb <= 8; bb++) list.push([ab, bb]);
  for (const [ab, bb] of list) {
    const aStored = stored8 ? 8 : ab, bStored = stored8 ? 8 : bb;
    const ac = randomCodes(rand, m * k, aStored);
    const bc = randomCodes(rand, n * k, bStored);
    const A = kernels.pack(ac, m, k, aStored);
    const B = kernels.pack(bc, n, k, bStored);
    for (const ea of ENCS) {
      for (const eb of ENCS) {
        const got = kernels.bitGemm(A, B, { aBits: ab, bBits: bb, aEncoding: ea, bEncoding: eb });
        const want = gemmRef(values(ac, aStored, ab, ea), values(bc, bStored, bb, eb), m, n, k);
        const d = firstDiff(got, want);
        if (d !== -1) {
          throw new Error(`${isa} m=${m} n=${n} k=${k} a=${ab}-bit ${ea} (stored ${aStored}) ` +
                          `b=${bb}-bit ${eb} (stored ${bStored}): C[${d}] = ${got[d]}, expected ${want[d]}`);
        }
      }
    }
  }
}

describe.each(ISAS)('isa %s', (isa) => {
  it.each(KS)('all 64 bit pairs x 9 encodings, K=%i, M=3, N=13', (k) => {
    checkAllCombos(isa, 3, 13, k, false, 1000 + k);
  });

  it.each(KS)('truncated use of 8-plane packs, K=%i, M=5, N=9', (k) => {
    checkAllCombos(isa, 5, 9, k, true, 2000 + k);
  });

  it.each(BIG)('tile-crossing shape %j on a sample of bit pairs', ({ m, n, k }) => {
    checkAllCombos(isa, m, n, k, true, 3000 + m, [[1, 1], [2, 3], [8, 8], [5, 1], [1, 7]]);
  });

  it('gives the same result on 1 and 3 threads', () => {
    kernels.setIsa(isa);
    const rand = rng(77);
    const m = 40, n = 300, k = 1000;
    const A = kernels.pack(randomCodes(rand, m * k, 4), m, k, 4);
    const B = kernels.pack(randomCodes(rand, n * k, 2), n, k, 2);
    const opts = { aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
    kernels.setThreads(1);
    const one = kernels.bitGemm(A, B, opts);
    kernels.setThreads(3);
    const three = kernels.bitGemm(A, B, opts);
    kernels.setThreads(1);
    expect(firstDiff(one, three)).toBe(-1);
  });

  it('packs the same planes as the scalar reference', () => {
    const rand = rng(5);
    for (const [rows, cols, bits] of [[1, 1, 1], [7, 65, 3], [9, 513, 8], [17, 4099, 5]]) {
      const codes = randomCodes(rand, rows * cols, bits);
      kernels.setIsa('scalar');
      const ref = kernels.pack(codes, rows, cols, bits);
      kernels.setIsa(isa);
      const got = kernels.pack(codes, rows, cols, bits);
      expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength)
        .equals(Buffer.from(ref.data.buffer, ref.data.byteOffset, ref.data.byteLength))).toBe(true);
      expect(Array.from(got.planePop)).toEqual(Array.from(ref.planePop));
    }
  });
});

describe('isa selection', () => {
  it('lists the scalar reference and reports the one in use', () => {
    expect(ISAS).toContain('scalar');
    expect(ISAS).toContain(kernels.isa());
    kernels.setIsa('scalar');
    expect(kernels.isa()).toBe('scalar');
    kernels.setIsa(defaultIsa);
  });

  it('defaults to the best ISA this CPU supports', () => {
    expect(defaultIsa).toBe(ISAS[0]);
  });
});
