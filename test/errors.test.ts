// Bad arguments get a TypeError or RangeError whose message names the argument.
// Errors may come from the addon's realm, so they are matched by name and message.
import { describe, expect, it } from '@jest/globals';
import { kernels } from '../lib';
import { thrown } from './helpers/thrown';

const codes = new Uint8Array([0, 1, 2, 3, 0, 1]);
const A = kernels.pack(codes, 2, 3, 2);
const B = kernels.pack(codes, 3, 2, 2);
const ok = { aEncoding: 'unsigned', bEncoding: 'unsigned' } as const;

describe('pack arguments', () => {
  it.each([
    ['codes', () => kernels.pack([0, 1] as unknown as Uint8Array, 1, 2, 1), 'TypeError', /codes/],
    ['codes (Int8Array)', () => kernels.pack(new Int8Array(2) as unknown as Uint8Array, 1, 2, 1), 'TypeError', /codes/],
    ['rows type', () => kernels.pack(codes, '2' as unknown as number, 3, 2), 'TypeError', /rows/],
    ['rows fraction', () => kernels.pack(codes, 1.5, 4, 2), 'RangeError', /rows/],
    ['cols zero', () => kernels.pack(codes, 2, 0, 2), 'RangeError', /cols/],
    ['bits 0', () => kernels.pack(codes, 2, 3, 0), 'RangeError', /bits/],
    ['bits 9', () => kernels.pack(codes, 2, 3, 9), 'RangeError', /bits/],
    ['shape', () => kernels.pack(codes, 2, 4, 2), 'RangeError', /rows\*cols/],
    ['code too big', () => kernels.pack(codes, 2, 3, 1), 'RangeError', /codes\[2\] = 2 does not fit in 1 bits/],
  ])('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });
});

describe('codesToFloat arguments', () => {
  const table = new Float32Array([0, 0.5, 1]);
  it.each([
    ['codes type', () => kernels.codesToFloat([0, 1] as unknown as Uint8Array, table), 'TypeError', /codes/],
    ['table type', () => kernels.codesToFloat(codes, [0, 1] as unknown as Float32Array), 'TypeError', /table/],
    ['table empty', () => kernels.codesToFloat(codes, new Float32Array(0)), 'RangeError', /table must hold 1\.\.256/],
    ['table too long', () => kernels.codesToFloat(codes, new Float32Array(257)), 'RangeError', /table must hold 1\.\.256/],
    ['code past the table', () => kernels.codesToFloat(codes, table), 'RangeError', /codes\[3\] = 3 has no entry in a table of 3/],
  ])('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('looks every code up in the table', () => {
    const t = new Float32Array([-1, 0.25, 7, 1e-3]);
    expect(Array.from(kernels.codesToFloat(codes, t))).toEqual(Array.from(codes, (c) => t[c]));
  });
});

describe('bitGemm arguments', () => {
  it.each([
    ['a not Packed', () => kernels.bitGemm({} as never, A, ok), 'TypeError', /^a must be a Packed/],
    ['b not Packed', () => kernels.bitGemm(A, null as never, ok), 'TypeError', /^b must be a Packed/],
    ['options missing', () => kernels.bitGemm(A, A, undefined as never), 'TypeError', /options/],
    ['aBits too big', () => kernels.bitGemm(A, A, { ...ok, aBits: 3 }), 'RangeError', /aBits must be an integer in 1..2/],
    ['bBits zero', () => kernels.bitGemm(A, A, { ...ok, bBits: 0 }), 'RangeError', /bBits/],
    ['encoding unknown', () => kernels.bitGemm(A, A, { ...ok, aEncoding: 'twos' as never }), 'RangeError', /aEncoding must be one of/],
    ['encoding missing', () => kernels.bitGemm(A, A, { aEncoding: 'unsigned' } as never), 'TypeError', /bEncoding/],
    ['K mismatch', () => kernels.bitGemm(A, B, ok), 'RangeError', /same number of columns/],
  ])('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('refuses shapes whose worst case overflows int32, accepts the largest safe K', () => {
    const safe = 33025; // 255 * 255 * 33025 < 2^31 <= 255 * 255 * 33026
    const big = kernels.pack(new Uint8Array(safe + 1).fill(255), 1, safe + 1, 8);
    const e = thrown(() => kernels.bitGemm(big, big, ok));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(/overflow int32/);
    const edge = kernels.pack(new Uint8Array(safe).fill(255), 1, safe, 8);
    expect(kernels.bitGemm(edge, edge, ok)[0]).toBe(255 * 255 * safe);
    // signed 8-bit is at most 128*128 per term: the same K fits
    expect(kernels.bitGemm(big, big, { aEncoding: 'signed', bEncoding: 'signed' })[0]).toBe((safe + 1));
  });

  it('rejects a tampered Packed whose buffers do not match its shape', () => {
    const bad = new (A.constructor as never as new (...a: unknown[]) => typeof A)(2, 3, 2, new BigUint64Array(3), A.planePop);
    const e = thrown(() => kernels.bitGemm(bad, A, ok));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(/a\.data must hold/);
  });

  it('async form rejects with the same errors', async () => {
    await expect(kernels.bitGemmAsync(A, A, { ...ok, aBits: 7 })).rejects.toMatchObject({ name: 'RangeError' });
    await expect(kernels.bitGemmAsync(A, B, ok)).rejects.toMatchObject({ message: expect.stringMatching(/columns/) });
  });
});

describe('isa and threads arguments', () => {
  it.each([
    ['setIsa unknown', () => kernels.setIsa('sse9'), 'RangeError', /isa must be one of/],
    ['setIsa type', () => kernels.setIsa(3 as never), 'TypeError', /isa must be a string/],
    ['setThreads zero', () => kernels.setThreads(0), 'RangeError', /threads/],
    ['setThreads type', () => kernels.setThreads('2' as never), 'TypeError', /threads/],
  ])('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('names an ISA this CPU lacks as unsupported rather than unknown', () => {
    const missing = ['avx512', 'avx2', 'neon'].find((n) => !kernels.availableIsas().includes(n))!;
    const e = thrown(() => kernels.setIsa(missing));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(/not supported on this CPU/);
  });
});
