// The Any-Precision quantisers against the reference's own integer codes (fixture A), plus the
// rounding edge cases ARCH.md calls out.
import { describe, expect, it } from '@jest/globals';
import {
  WeightQuantizer, activationLevels, activationValues, quantizeActivation, quantizeWeight,
  roundHalfEven, signActivation, weightLevels, weightScale,
} from '../lib/core/quantize';
import { SafetensorsFile, loadSafetensorsSync } from '../lib/io/safetensors';
import { fixturePath } from './helpers/fixtures';
import { thrown } from './helpers/thrown';

const f32 = (...v: number[]) => Float32Array.from(v);

describe('roundHalfEven', () => {
  it.each([
    [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, 0], [-1.5, -2], [-2.5, -2],
    [0.49999997, 0], [2.5000002, 3], [7, 7], [254.5, 254], [255.5, 256],
  ])('%p -> %p', (x, want) => {
    expect(roundHalfEven(x) + 0).toBe(want); // + 0 folds -0 into 0
  });
});

describe('fixture A: weight codes equal the reference integer codes', () => {
  let model: SafetensorsFile;
  let levels: SafetensorsFile;
  const layers = (): string[] =>
    [...model.tensors.keys()].filter((k) => /^layers\.\d+\.conv[01]\.weight$/.test(k)).map((k) => k.slice(0, -7));
  const bitList = (): number[] => JSON.parse(model.metadata.bit_list).filter((b: number) => b < 32);

  it('loads the model and the codes', () => {
    model = loadSafetensorsSync(fixturePath('A/model.safetensors'));
    levels = loadSafetensorsSync(fixturePath('A/wq_levels.safetensors'));
    expect(layers()).toHaveLength(18);
    expect(bitList()).toEqual([1, 2, 4, 8]);
  });

  it('requant codes match exactly for every quantised conv and every bit-width', () => {
    let compared = 0;
    const mismatches: string[] = [];
    for (const layer of layers()) {
      const w = model.tensors.get(`${layer}.weight`)!.data as Float32Array;
      const wq = new WeightQuantizer(w, 'requant');
      for (const b of bitList()) {
        const want = levels.tensors.get(`${layer}.levels_b${b}`)!;
        expect(want.dtype).toBe('U8');
        const got = wq.codes(b);
        expect(got.length).toBe(want.data.length);
        let bad = 0;
        for (let i = 0; i < got.length; i++) if (got[i] !== want.data[i]) bad++;
        if (bad) mismatches.push(`${layer} b=${b}: ${bad} of ${got.length} codes differ`);
        compared += got.length;
      }
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBe(267264 * 4);
    // (the fixture holds 2 exact ties, U·n = 177.5 and 151.5 at b = 8; both round up under either
    // tie rule, so the hand-made cases below are what pin round-half-to-even down)
  });

  it('E = mean|w| matches the reference float32 bit for bit', () => {
    const off: string[] = [];
    for (const layer of layers()) {
      const E = weightScale(model.tensors.get(`${layer}.weight`)!.data as Float32Array);
      const want = levels.tensors.get(`${layer}.E`)!.data[0];
      if (E !== want) off.push(`${layer}: ${E} vs ${want}`);
    }
    expect(off).toEqual([]);
  });

  it('max|tanh w| matches the reference to within 1 ulp (torch tanh is not correctly rounded)', () => {
    const bits = new Int32Array(2);
    const view = new Float32Array(bits.buffer);
    let exact = 0;
    for (const layer of layers()) {
      const wq = new WeightQuantizer(model.tensors.get(`${layer}.weight`)!.data as Float32Array);
      view[0] = wq.maxAbsTanh;
      view[1] = levels.tensors.get(`${layer}.maxabs_tanh`)!.data[0] as number;
      expect(Math.abs(bits[0] - bits[1])).toBeLessThanOrEqual(1);
      if (bits[0] === bits[1]) exact++;
    }
    expect(exact).toBeGreaterThanOrEqual(17); // measured: 17 of 18 (layers.6.conv1 is 1 ulp off)
  });

  it('values are the reference expression (2·(q/n) − 1)·E in float32', () => {
    const layer = 'layers.3.conv0';
    const w = model.tensors.get(`${layer}.weight`)!.data as Float32Array;
    const wq = new WeightQuantizer(w);
    for (const b of [1, 2, 4, 8]) {
      const q = levels.tensors.get(`${layer}.levels_b${b}`)!.data as Uint8Array;
      const n = 2 ** b - 1;
      const v = wq.values(b);
      let bad = 0;
      for (let i = 0; i < q.length; i++) {
        if (v[i] !== Math.fround(Math.fround(2 * Math.fround(q[i] / n) - 1) * wq.scale)) bad++;
      }
      expect(bad).toBe(0);
    }
    // b = 32: (tanh(w)/M)·E, no rounding to levels
    const v32 = wq.values(32);
    expect(v32[0]).toBe(Math.fround(Math.fround(Math.fround(Math.tanh(w[0])) / wq.maxAbsTanh) * wq.scale));
  });

  it('truncate mode keeps one 8-bit code: k-bit = q8 >> (8 - k)', () => {
    const w = model.tensors.get('layers.0.conv0.weight')!.data as Float32Array;
    const q8 = levels.tensors.get('layers.0.conv0.levels_b8')!.data as Uint8Array;
    const wq = new WeightQuantizer(w, 'truncate');
    for (const k of [1, 2, 3, 4, 5, 6, 7, 8]) {
      expect(Array.from(wq.codes(k))).toEqual(Array.from(q8, (q) => q >> (8 - k)));
    }
    // and it differs from requant at low bits (why the mode exists)
    expect(Array.from(wq.codes(2))).not.toEqual(Array.from(new WeightQuantizer(w).codes(2)));
    expect(quantizeWeight(w, 3, 'truncate').codes).toEqual(wq.codes(3));
  });
});

describe('weight quantiser edge cases', () => {
  it('b = 1: U == 0.5 exactly (w = 0 or a tiny |w|) rounds to code 0, i.e. -E', () => {
    const w = f32(0, 1e-9, -1e-9, 0.1, -0.1);
    const { codes, scale } = quantizeWeight(w, 1);
    expect(Array.from(codes)).toEqual([0, 0, 0, 1, 0]);
    expect(Array.from(weightLevels(1, scale))).toEqual([-scale, scale]);
    // at b = 2 the same U = 0.5 gives 1.5 -> 2 (ties to even), i.e. +E/3
    expect(Array.from(quantizeWeight(w, 2).codes)).toEqual([2, 2, 2, 3, 0]);
  });

  it('levels rise, are never 0, and are symmetric up to float32 rounding of q/n', () => {
    for (const b of [1, 2, 3, 4, 8]) {
      const lv = weightLevels(b, 0.25);
      expect(lv.length).toBe(2 ** b);
      for (let q = 0; q < lv.length; q++) {
        expect(lv[q]).not.toBe(0);
        if (q > 0) expect(lv[q]).toBeGreaterThan(lv[q - 1]);
        expect(Math.abs(lv[lv.length - 1 - q] + lv[q])).toBeLessThanOrEqual(2 ** -24);
      }
    }
    // the reference's (2·(q/n) − 1)·E rounds q/n first: its inner levels are not exactly ±E/3
    expect(Array.from(weightLevels(2, 3))).toEqual([-3, -0.9999999403953552, 1.0000001192092896, 3]);
  });

  it.each([
    ['w not Float32Array', () => quantizeWeight([1, 2] as never, 2), 'TypeError', /^w must be a Float32Array/],
    ['bits 0', () => quantizeWeight(f32(1), 0), 'RangeError', /^bits must be an integer in 1..8/],
    ['bits 32 for codes', () => new WeightQuantizer(f32(1)).codes(32), 'RangeError', /^bits must be an integer in 1..8, got 32/],
    ['bits type', () => quantizeWeight(f32(1), '2' as never), 'TypeError', /^bits must be a number/],
    ['mode', () => new WeightQuantizer(f32(1), 'round' as never), 'RangeError', /^mode must be 'requant' or 'truncate'/],
    ['NaN weight', () => quantizeWeight(f32(1, NaN), 2), 'RangeError', /^w\[1\] = NaN is not finite/],
    ['all zeros', () => quantizeWeight(f32(0, 0), 2), 'RangeError', /all zeros/],
    ['empty', () => weightScale(f32()), 'RangeError', /^w must not be empty/],
  ])('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });
});

describe('activation quantiser', () => {
  it('clamps to [0, 1] and rounds (2^m - 1)·x half to even', () => {
    // 1/6·3 and 5/6·3 land exactly on 0.5 and 2.5 in float32: both round down to even
    const x = f32(-1, 0, 1 / 6, 0.25, 0.5, 5 / 6, 1, 7);
    expect(Math.fround(x[2] * 3)).toBe(0.5);
    expect(Math.fround(x[5] * 3)).toBe(2.5);
    expect(Array.from(quantizeActivation(x, 2))).toEqual([0, 0, 0, 1, 2, 2, 3, 3]);
    expect(Array.from(quantizeActivation(x, 1))).toEqual([0, 0, 0, 0, 0, 1, 1, 1]); // round(0.5) = 0
    expect(Array.from(quantizeActivation(f32(0.5), 8))).toEqual([128]); // 127.5 -> 128
  });

  it('values are code / (2^m - 1) in float32; 32 bits is ReLU', () => {
    expect(Array.from(activationLevels(2))).toEqual([0, Math.fround(1 / 3), Math.fround(2 / 3), 1]);
    const x = f32(-2, 0.3, 0.7, 3);
    expect(Array.from(activationValues(x, 2))).toEqual([0, Math.fround(1 / 3), Math.fround(2 / 3), 1]);
    expect(Array.from(activationValues(x, 32))).toEqual([0, Math.fround(0.3), Math.fround(0.7), 3]);
    expect(Array.from(activationValues(x, 1))).toEqual([0, 0, 1, 1]);
  });

  it('1-bit sign activations: x >= 0 (and -0) -> 1 (+1), x < 0 -> 0 (-1)', () => {
    expect(Array.from(signActivation(f32(-3, -1e-30, -0, 0, 2)))).toEqual([0, 0, 1, 1, 1]);
  });

  it.each([
    ['x type', () => quantizeActivation(new Float64Array(2) as never, 2), 'TypeError', /^x must be a Float32Array/],
    ['bits 9', () => quantizeActivation(f32(0), 9), 'RangeError', /^bits must be an integer in 1..8/],
    ['bits 16 values', () => activationValues(f32(0), 16), 'RangeError', /^bits must be an integer in 1..8 or 32/],
    ['NaN', () => quantizeActivation(f32(0, 0, NaN), 4), 'RangeError', /^x\[2\] is NaN/],
    ['NaN sign', () => signActivation(f32(NaN)), 'RangeError', /^x\[0\] is NaN/],
  ])('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });
});
