// The int8 path of bitGemm: bit-identical to the bit-serial path and to a JS reference for every
// bit pair, encoding pair and epilogue, on every ISA (each picks a working int8 variant); the
// prepared-weight cache; the path option and its errors.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels } from '../lib';
import { native } from '../lib/core/native';
import type { EncodingName } from '../lib';
import { firstDiff, gemmRef, randomCodes, rng, values } from './helpers/reference';
import { thrown } from './helpers/thrown';

const ENCS: EncodingName[] = ['unsigned', 'bipolar', 'signed'];
const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
const VARIANTS = ['amx', 'avx512-vnni', 'avx-vnni', 'avx2', 'neon-dot', 'neon', 'scalar'];
afterAll(() => {
  kernels.setIsa(defaultIsa);
  kernels.setThreads(1);
});

const fr = Math.fround;
function quantRef(y: number, bits: number): number {
  const levels = 2 ** bits - 1;
  const c = Number.isNaN(y) ? 0 : Math.min(1, Math.max(0, y));
  const v = fr(c * levels);
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

describe('int8 variants', () => {
  it('lists the available variants, scalar last, and names one for every ISA', () => {
    const list = kernels.availableInt8Kernels();
    expect(list[list.length - 1]).toBe('scalar');
    for (const v of list) expect(VARIANTS).toContain(v);
    for (const isa of ISAS) {
      kernels.setIsa(isa);
      expect(list).toContain(kernels.int8Kernel());
      expect(list).toContain(kernels.int8Kernel(1));
    }
    kernels.setIsa('scalar');
    expect(kernels.int8Kernel()).toBe('scalar');
    kernels.setIsa(defaultIsa);
  });
});

describe.each(ISAS)('isa %s', (isa) => {
  it.each([1, 63, 64, 65, 511, 513, 4099])('int8 == bitserial == JS for all 64 bit pairs x 9 encodings, K=%i', (k) => {
    kernels.setIsa(isa);
    const rand = rng(500 + k);
    const m = k > 1000 ? 3 : 5, n = k > 1000 ? 7 : 13;
    for (let ab = 1; ab <= 8; ab++) {
      for (let bb = 1; bb <= 8; bb++) {
        const aStored = Math.min(8, ab + (ab % 2)), bStored = Math.min(8, bb + ((bb + 1) % 2));
        const ac = randomCodes(rand, m * k, aStored), bc = randomCodes(rand, n * k, bStored);
        const A = kernels.pack(ac, m, k, aStored), B = kernels.pack(bc, n, k, bStored);
        for (const ea of ENCS) {
          for (const eb of ENCS) {
            const o = { aBits: ab, bBits: bb, aEncoding: ea, bEncoding: eb } as const;
            const i8 = kernels.bitGemm(A, B, { ...o, path: 'int8' });
            const bs = kernels.bitGemm(A, B, { ...o, path: 'bitserial' });
            const d = firstDiff(i8, bs);
            if (d !== -1) throw new Error(`${isa} k=${k} ${ab}x${bb} ${ea}/${eb}: int8 C[${d}]=${i8[d]}, bitserial ${bs[d]}`);
            if ((ab + bb) % 3 === 0) {
              const want = gemmRef(values(ac, aStored, ab, ea), values(bc, bStored, bb, eb), m, n, k);
              expect(firstDiff(i8, want)).toBe(-1);
            }
          }
        }
      }
    }
  });

  it('tile-crossing shapes, 2 threads, float and code epilogues identical to bitserial', () => {
    kernels.setIsa(isa);
    kernels.setThreads(2);
    const rand = rng(77);
    for (const { m, n, k } of [{ m: 130, n: 270, k: 67 }, { m: 33, n: 65, k: 200 }, { m: 1, n: 300, k: 1000 }]) {
      for (const [ab, bb, ea, eb] of [[8, 8, 'unsigned', 'signed'], [3, 5, 'signed', 'bipolar'], [1, 1, 'bipolar', 'bipolar'],
        [7, 8, 'unsigned', 'unsigned'], [8, 2, 'signed', 'signed']] as Array<[number, number, EncodingName, EncodingName]>) {
        const ac = randomCodes(rand, m * k, 8), bc = randomCodes(rand, n * k, 8);
        const A = kernels.pack(ac, m, k, 8), B = kernels.pack(bc, n, k, 8);
        const base = { aBits: ab, bBits: bb, aEncoding: ea, bEncoding: eb };
        const acc = kernels.bitGemm(A, B, { ...base, path: 'int8' });
        expect(firstDiff(acc, gemmRef(values(ac, 8, ab, ea), values(bc, 8, bb, eb), m, n, k))).toBe(-1);
        const scale = new Float32Array(n).map(() => fr(rand() / 500));
        const shift = new Float32Array(n).map(() => fr(rand() - 0.5));
        const fe = { output: 'float', scale, shift, min: -0.25, max: 2 } as const;
        const qe = { output: 'codes', bits: 3, scale, shift } as const;
        const f = kernels.bitGemm(A, B, { ...base, epilogue: fe, path: 'int8' });
        const q = kernels.bitGemm(A, B, { ...base, epilogue: qe, path: 'int8' });
        expect(firstDiff(f, kernels.bitGemm(A, B, { ...base, epilogue: fe, path: 'bitserial' }))).toBe(-1);
        expect(firstDiff(q, kernels.bitGemm(A, B, { ...base, epilogue: qe, path: 'bitserial' }))).toBe(-1);
        for (let i = 0; i < m * n; i += 7) {
          const y = fr(fr(acc[i] * scale[i % n]) + shift[i % n]);
          expect(f[i]).toBe(Math.min(2, Math.max(-0.25, y)));
          expect(q[i]).toBe(quantRef(y, 3));
        }
      }
    }
    kernels.setThreads(1);
  });

  it('async int8 equals sync, also with the weights not yet prepared', async () => {
    kernels.setIsa(isa);
    const rand = rng(99);
    const m = 40, n = 50, k = 300;
    const ac = randomCodes(rand, m * k, 6), bc = randomCodes(rand, n * k, 6);
    const A = kernels.pack(ac, m, k, 6), B = kernels.pack(bc, n, k, 6);
    const o = { aEncoding: 'unsigned', bEncoding: 'signed', path: 'int8' } as const;
    // two concurrent first calls share one preparation
    const [x, y] = await Promise.all([kernels.bitGemmAsync(A, B, o), kernels.bitGemmAsync(A, B, { ...o, bBits: 5 })]);
    const z = await kernels.bitGemmAsync(A, B, o);
    expect(firstDiff(x, kernels.bitGemm(A, B, { ...o, path: 'bitserial' }))).toBe(-1);
    expect(firstDiff(y, kernels.bitGemm(A, B, { ...o, bBits: 5, path: 'bitserial' }))).toBe(-1);
    expect(firstDiff(z, x)).toBe(-1);
  });
});

describe('prepared weight cache', () => {
  it('reuses prepared weights and stays correct across bBits and encodings of one Packed', () => {
    const rand = rng(5);
    const m = 20, n = 40, k = 129;
    const ac = randomCodes(rand, m * k, 8), bc = randomCodes(rand, n * k, 8);
    const A = kernels.pack(ac, m, k, 8), B = kernels.pack(bc, n, k, 8);
    const seq: Array<[number, EncodingName]> = [[8, 'signed'], [3, 'signed'], [8, 'signed'], [3, 'bipolar'], [5, 'unsigned'], [3, 'signed'], [8, 'unsigned']];
    for (const [bb, eb] of seq) {
      const o = { aBits: 7, bBits: bb, aEncoding: 'unsigned', bEncoding: eb } as const;
      const want = gemmRef(values(ac, 8, 7, 'unsigned'), values(bc, 8, bb, eb), m, n, k);
      const got = kernels.bitGemm(A, B, { ...o, path: 'int8' });
      expect(firstDiff(got, want)).toBe(-1);
    }
  });

  it('a second call does not prepare again (the first pays the weight rebuild)', async () => {
    kernels.setIsa(defaultIsa);
    const rand = rng(6);
    const m = 1, n = 64, k = 256;
    const A = kernels.pack(randomCodes(rand, m * k, 8), m, k, 8), B = kernels.pack(randomCodes(rand, n * k, 8), n, k, 8);
    const o = { aEncoding: 'unsigned', bEncoding: 'signed', path: 'int8' } as const;
    // Counted, not timed: every preparation goes through the binding's prepareInt8 / prepareInt8Async.
    const calls: string[] = [];
    const sync = native.prepareInt8, async = native.prepareInt8Async;
    native.prepareInt8 = (...args: Parameters<typeof sync>) => { calls.push(`sync ${args[1]}:${args[2]}`); return sync(...args); };
    native.prepareInt8Async = (...args: Parameters<typeof async>) => { calls.push(`async ${args[1]}:${args[2]}`); return async(...args); };
    try {
      const first = kernels.bitGemm(A, B, o);
      for (let i = 0; i < 3; i++) expect(firstDiff(kernels.bitGemm(A, B, o), first)).toBe(-1);
      expect(firstDiff(await kernels.bitGemmAsync(A, B, o), first)).toBe(-1); // the async form finds it too
      expect(calls).toEqual(['sync 8:signed']);
      // another (bits, encoding) of the same weights is prepared once more, then cached as well
      const o5 = { ...o, bBits: 5 };
      kernels.bitGemm(A, B, o5);
      kernels.bitGemm(A, B, o5);
      expect(calls).toEqual(['sync 8:signed', 'sync 5:signed']);
      // a second B is its own entry
      const B2 = kernels.pack(randomCodes(rand, n * k, 8), n, k, 8);
      await kernels.bitGemmAsync(A, B2, o);
      await kernels.bitGemmAsync(A, B2, o);
      expect(calls).toEqual(['sync 8:signed', 'sync 5:signed', 'async 8:signed']);
    } finally {
      native.prepareInt8 = sync;
      native.prepareInt8Async = async;
    }
  });
});

describe('path option and dispatch', () => {
  const codes = new Uint8Array([0, 1, 2, 3, 0, 1]);
  const A = kernels.pack(codes, 2, 3, 2);
  const ok = { aEncoding: 'unsigned', bEncoding: 'unsigned' } as const;

  it.each([
    ['unknown string', 'fast', 'RangeError', /path must be one of auto, bitserial, int8, got 'fast'/],
    ['number', 1, 'TypeError', /path must be one of auto, bitserial, int8/],
    ['null', null, 'TypeError', /path must be one of/],
  ])('rejects path %s', (_label, path, name, message) => {
    const e = thrown(() => kernels.bitGemm(A, A, { ...ok, path: path as never }));
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('rejects a bad path in the async form with a rejected promise', async () => {
    await expect(kernels.bitGemmAsync(A, A, { ...ok, path: 'gpu' as never })).rejects.toMatchObject({ name: 'RangeError' });
  });

  it('gemmPath answers for every bit pair and validates its arguments', () => {
    for (const isa of ISAS) {
      kernels.setIsa(isa);
      for (let ab = 1; ab <= 8; ab++) for (let bb = 1; bb <= 8; bb++) {
        expect(['int8', 'bitserial']).toContain(kernels.gemmPath(ab, bb, 256, 4096, 4096));
      }
      // 1 x 1 bits never pays for bytes; 8 x 8 does on every SIMD ISA
      expect(kernels.gemmPath(1, 1, 256, 4096, 4096)).toBe('bitserial');
      if (isa !== 'scalar') expect(kernels.gemmPath(8, 8, 256, 4096, 4096)).toBe('int8');
    }
    kernels.setIsa(defaultIsa);
    expect(thrown(() => kernels.gemmPath(0, 1, 1, 1, 1)).message).toMatch(/aBits/);
    expect(thrown(() => kernels.gemmPath(1, 9, 1, 1, 1)).message).toMatch(/bBits/);
    expect(thrown(() => kernels.gemmPath(1, 1, 1, 1, 0)).name).toBe('RangeError');
    expect(thrown(() => kernels.int8Kernel(-1)).name).toBe('RangeError');
  });

  it('auto equals both forced paths', () => {
    const rand = rng(8);
    const m = 9, n = 33, k = 100;
    const A2 = kernels.pack(randomCodes(rand, m * k, 8), m, k, 8), B2 = kernels.pack(randomCodes(rand, n * k, 8), n, k, 8);
    for (const [ab, bb] of [[1, 1], [2, 2], [4, 4], [8, 8]]) {
      const o = { aBits: ab, bBits: bb, aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
      const auto = kernels.bitGemm(A2, B2, o);
      expect(firstDiff(auto, kernels.bitGemm(A2, B2, { ...o, path: 'int8' }))).toBe(-1);
      expect(firstDiff(auto, kernels.bitGemm(A2, B2, { ...o, path: 'bitserial' }))).toBe(-1);
    }
  });
});

describe('setGemmPath', () => {
  afterAll(() => kernels.setGemmPath('auto'));

  it('sets the path of calls without one, and gemmPath reports it; results stay exact', () => {
    const r = rng(77);
    const m = 40, n = 24, k = 300;
    const ac = randomCodes(r, m * k, 8), bc = randomCodes(r, n * k, 8);
    const A = kernels.pack(ac, m, k, 8), B = kernels.pack(bc, n, k, 8);
    const opts = { aBits: 8, bBits: 8, aEncoding: 'unsigned', bEncoding: 'signed' } as const;
    const want = kernels.bitGemm(A, B, { ...opts, path: 'bitserial' });
    expect(kernels.gemmPathSetting()).toBe('auto');
    for (const p of ['bitserial', 'int8', 'auto'] as const) {
      kernels.setGemmPath(p);
      expect(kernels.gemmPathSetting()).toBe(p);
      if (p !== 'auto') expect(kernels.gemmPath(8, 8, m, n, k)).toBe(p);
      expect(firstDiff(kernels.bitGemm(A, B, opts), want)).toBe(-1);
      // a call's own path still wins
      expect(firstDiff(kernels.bitGemm(A, B, { ...opts, path: 'bitserial' }), want)).toBe(-1);
    }
  });

  it('rejects anything but a path name', () => {
    for (const [v, name] of [[undefined, 'TypeError'], [3, 'TypeError'], ['fast', 'RangeError'], ['', 'RangeError']] as const) {
      const e = thrown(() => kernels.setGemmPath(v as never));
      expect(e.name).toBe(name);
      expect(e.message).toMatch(/path must be one of auto, bitserial, int8/);
    }
    expect(kernels.gemmPathSetting()).toBe('auto');
  });
});
