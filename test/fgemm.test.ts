// The float32 GEMM: every ISA on this machine, forced in turn, against a float64 JS reference
// within the error bound of the contract; argument errors; async equals sync.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels } from '../lib';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
afterAll(() => {
  kernels.setIsa(defaultIsa);
  kernels.setThreads(1);
});

function randomFloats(rand: () => number, n: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (2 * rand() - 1) * scale;
  return v;
}

interface Reference { c: Float64Array; mag: Float64Array }

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { abs } = Math;

/** C = A . B^T (+ bias) in float64, and sum |a*b| + |bias| per output (for the bound). */
function floatGemmRef(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
                      bias: Float32Array | null): Reference {
  const c = new Float64Array(m * n), mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0, g = bias ? abs(bias[j]) : 0;
      for (let t = 0; t < k; t++) {
        const p = a[i * k + t] * b[j * k + t];
        s += p;
        g += abs(p);
      }
      c[i * n + j] = s;
      mag[i * n + j] = g;
    }
  }
  return { c, mag };
}

/** The contract's bound, doubled, plus the smallest normal float so exact zeros compare. */
const tolerance = (k: number, mag: number) => 2 * (k + 2) * 2 ** -24 * mag + 2 ** -126;

/** Index of the first output outside the bound (NaN included), or -1. */
function firstOutside(got: Float32Array, ref: Reference, k: number): number {
  for (let i = 0; i < got.length; i++) {
    if (!(abs(got[i] - ref.c[i]) <= tolerance(k, ref.mag[i]))) return i;
  }
  return -1;
}

// Every edge of the micro-kernels (rows 4/6/14, columns 16/32), of the tasks and of K blocks (256).
const DIMS = [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 257];
const SHAPES: Array<[number, number, number]> = [];
for (const d of DIMS) SHAPES.push([d, 17, 33], [9, d, 65], [15, 33, d]);
SHAPES.push([1, 1, 1], [8, 16, 64], [16, 32, 256], [65, 63, 257], [257, 257, 17], [100, 300, 520]);

describe.each(ISAS)('floatGemm on isa %s', (isa) => {
  it.each(SHAPES)('M=%i N=%i K=%i, with and without bias, within the bound of a float64 reference',
    (m, n, k) => {
      kernels.setIsa(isa);
      const rand = rng(m * 1000003 + n * 1009 + k);
      const a = randomFloats(rand, m * k), b = randomFloats(rand, n * k), bias = randomFloats(rand, n, 4);
      for (const withBias of [false, true]) {
        const got = kernels.floatGemm(a, m, k, b, n, withBias ? { bias } : undefined);
        expect(Object.prototype.toString.call(got)).toBe('[object Float32Array]'); // addon realm
        expect(got.length).toBe(m * n);
        const ref = floatGemmRef(a, m, k, b, n, withBias ? bias : null);
        const d = firstOutside(got, ref, k);
        if (d !== -1) {
          throw new Error(`${isa} m=${m} n=${n} k=${k} bias=${withBias}: C[${d}] = ${got[d]}, ` +
                          `reference ${ref.c[d]}, bound ${tolerance(k, ref.mag[d])}`);
        }
      }
    });

  it('agrees with the scalar kernel within twice the bound', () => {
    const rand = rng(31);
    const m = 70, n = 130, k = 300;
    const a = randomFloats(rand, m * k), b = randomFloats(rand, n * k);
    kernels.setIsa('scalar');
    const ref = kernels.floatGemm(a, m, k, b, n);
    kernels.setIsa(isa);
    const got = kernels.floatGemm(a, m, k, b, n);
    const { mag } = floatGemmRef(a, m, k, b, n, null);
    let off = 0;
    for (let i = 0; i < got.length; i++) off += abs(got[i] - ref[i]) <= 2 * tolerance(k, mag[i]) ? 0 : 1;
    expect(off).toBe(0);
  });

  it('gives bit-identical results on 1 and 3 threads', () => {
    kernels.setIsa(isa);
    const rand = rng(32);
    const m = 200, n = 520, k = 300;
    const a = randomFloats(rand, m * k), b = randomFloats(rand, n * k), bias = randomFloats(rand, n);
    kernels.setThreads(1);
    const one = kernels.floatGemm(a, m, k, b, n, { bias });
    kernels.setThreads(3);
    const three = kernels.floatGemm(a, m, k, b, n, { bias });
    kernels.setThreads(1);
    expect(Buffer.from(three.buffer).equals(Buffer.from(one.buffer))).toBe(true);
  });
});

describe('floatGemm shapes and views', () => {
  it('reads a, b and bias through offset views, and handles M = 0 and N = 0', () => {
    const rand = rng(40);
    const m = 5, n = 19, k = 11;
    const big = randomFloats(rand, 3 + m * k + n * k + n);
    const a = big.subarray(3, 3 + m * k), b = big.subarray(3 + m * k, 3 + m * k + n * k);
    const bias = big.subarray(3 + m * k + n * k);
    const got = kernels.floatGemm(a, m, k, b, n, { bias });
    expect(firstOutside(got, floatGemmRef(a, m, k, b, n, bias), k)).toBe(-1);
    expect(kernels.floatGemm(new Float32Array(0), 0, k, b, n).length).toBe(0);
    expect(kernels.floatGemm(a, m, k, new Float32Array(0), 0).length).toBe(0);
    expect(Array.from(kernels.floatGemm(a, m, k, b, n, { bias: null }))).toEqual(Array.from(kernels.floatGemm(a, m, k, b, n)));
  });
});

describe('floatGemm arguments', () => {
  const a = new Float32Array(6), b = new Float32Array(9);  // m=2, k=3, n=3
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    ['a not typed', () => kernels.floatGemm([0, 1] as never, 2, 3, b, 3), 'TypeError', /^a must be a Float32Array/],
    ['a Float64Array', () => kernels.floatGemm(new Float64Array(6) as never, 2, 3, b, 3), 'TypeError', /^a must be a Float32Array/],
    ['m type', () => kernels.floatGemm(a, '2' as never, 3, b, 3), 'TypeError', /^m must be a number/],
    ['m fraction', () => kernels.floatGemm(a, 1.5, 4, b, 3), 'RangeError', /^m must be an integer/],
    ['m negative', () => kernels.floatGemm(a, -1, 3, b, 3), 'RangeError', /^m must be an integer/],
    ['k zero', () => kernels.floatGemm(new Float32Array(0), 2, 0, new Float32Array(0), 3), 'RangeError', /^k must be an integer in 1\.\./],
    ['b not Float32Array', () => kernels.floatGemm(a, 2, 3, new Uint8Array(9) as never, 3), 'TypeError', /^b must be a Float32Array/],
    ['n NaN', () => kernels.floatGemm(a, 2, 3, b, NaN), 'RangeError', /^n must be an integer/],
    ['a length', () => kernels.floatGemm(a, 3, 3, b, 3), 'RangeError', /^a must hold m\*k = 9 values, got 6/],
    ['b length', () => kernels.floatGemm(a, 2, 3, b, 4), 'RangeError', /^b must hold n\*k = 12 values, got 9/],
    ['options not object', () => kernels.floatGemm(a, 2, 3, b, 3, 5 as never), 'TypeError', /^options must be an object/],
    ['bias type', () => kernels.floatGemm(a, 2, 3, b, 3, { bias: [1, 2, 3] as never }), 'TypeError', /^bias must be a Float32Array/],
    ['bias length', () => kernels.floatGemm(a, 2, 3, b, 3, { bias: new Float32Array(2) }), 'RangeError', /^bias must hold n = 3 values, got 2/],
  ];

  it.each(cases)('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('the addon validates too (it is reachable without the TypeScript checks)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { native } = require('../lib/core/native');
    const cases2: Array<[() => unknown, string, RegExp]> = [
      [() => native.floatGemm(new Float64Array(6), 2, 3, b, 3), 'TypeError', /^a must be a Float32Array/],
      [() => native.floatGemm(a, 2, 0, b, 3), 'RangeError', /^k must be an integer in 1\.\./],
      [() => native.floatGemm(a, 2, 3, b), 'TypeError', /takes 5 or 6 arguments/],
      [() => native.floatGemm(a, 2, 3, new Int32Array(9), 3), 'TypeError', /^b must be a Float32Array/],
      [() => native.floatGemm(a, 3, 3, b, 3), 'RangeError', /^a must hold m\*k = 9/],
      [() => native.floatGemm(a, 2, 3, b, 3, new Float32Array(4)), 'RangeError', /^bias must hold n = 3/],
      [() => native.floatGemm(a, 2, 3, b, 3, 'x'), 'TypeError', /^bias must be a Float32Array/],
    ];
    for (const [fn, name, message] of cases2) {
      const e = thrown(fn);
      expect(e.name).toBe(name);
      expect(e.message).toMatch(message);
    }
    expect(native.floatGemm(a, 2, 3, b, 3, undefined).length).toBe(6);
  });
});

describe('floatGemmAsync', () => {
  it('equals the sync result bit for bit on every ISA, with and without bias, on 1 and 2 threads', async () => {
    const rand = rng(50);
    const m = 97, n = 300, k = 513;
    const a = randomFloats(rand, m * k), b = randomFloats(rand, n * k), bias = randomFloats(rand, n);
    try {
      for (const isa of ISAS) {
        kernels.setIsa(isa);
        for (const threads of [1, 2]) {
          kernels.setThreads(threads);
          for (const options of [undefined, { bias }]) {
            const sync = kernels.floatGemm(a, m, k, b, n, options);
            const async = await kernels.floatGemmAsync(a, m, k, b, n, options);
            expect(Object.prototype.toString.call(async)).toBe('[object Float32Array]');
            expect(Buffer.from(async.buffer).equals(Buffer.from(sync.buffer))).toBe(true);
          }
        }
      }
    } finally {
      kernels.setIsa(defaultIsa);
      kernels.setThreads(1);
    }
  });

  it('runs concurrent calls, each with its own answer', async () => {
    const rand = rng(51);
    const k = 70, n = 33;
    const b = randomFloats(rand, n * k);
    kernels.setThreads(2);
    try {
      const inputs = [1, 5, 14, 30, 64].map((m) => ({ m, a: randomFloats(rand, m * k) }));
      const results = await Promise.all(inputs.map(({ m, a }) => kernels.floatGemmAsync(a, m, k, b, n)));
      inputs.forEach(({ m, a }, i) => {
        expect(firstOutside(results[i], floatGemmRef(a, m, k, b, n, null), k)).toBe(-1);
      });
    } finally {
      kernels.setThreads(1);
    }
  });

  it('rejects bad arguments with the same errors as the sync call (from TS and from the addon)', async () => {
    const a = new Float32Array(6), b = new Float32Array(9);
    await expect(kernels.floatGemmAsync(a, 2, 3, b, 4)).rejects.toThrow(/^b must hold n\*k = 12 values, got 9/);
    await expect(kernels.floatGemmAsync(a, 2, 3, b, 3, { bias: new Float32Array(1) }))
      .rejects.toThrow(/^bias must hold n = 3 values/);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { native } = require('../lib/core/native');
    const e = await native.floatGemmAsync(new Float64Array(6), 2, 3, b, 3).then(() => null, (err: Error) => err);
    expect(e?.name).toBe('TypeError');
    expect(e?.message).toMatch(/^a must be a Float32Array/);
    const r = await native.floatGemmAsync(a, 2, 3, b, 3, new Float32Array(4)).then(() => null, (err: Error) => err);
    expect(r?.name).toBe('RangeError');
  });
});
