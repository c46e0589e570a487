// Fixture A: the Any-Precision ResNet-20 of SHI-Labs/Any-Precision-DNNs, imported from its
// state_dict and checked against the reference's own outputs (tolerance_guidance of expected.json).
import { beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { importReference, kernels, load, loadSafetensorsSync, Model, Packed, Tensor } from '../lib';
import { fixturePath, mnistTest, readFloat32 } from './helpers/fixtures';

interface Expected {
  results: Record<string, { logits: number[][]; argmax: number[]; test_accuracy: number }>;
}

const expected: Expected = JSON.parse(fs.readFileSync(fixturePath('A', 'expected.json'), 'utf8'));
const inputs = new Tensor(readFloat32(fixturePath('A', 'inputs.bin')), [64, 3, 32, 32]);
const BITS = [1, 2, 4, 8, 32];
let model: Model;
let digits: ReturnType<typeof mnistTest>;

beforeAll(() => {
  kernels.setThreads(2);
  model = importReference('resnet20q', fixturePath('A', 'model.safetensors'));
  digits = mnistTest(32, 3);
});

function accuracy(m: Model, bits: number): number {
  let correct = 0;
  const per = 3 * 32 * 32, batch = 500;
  for (let s = 0; s < digits.n; s += batch) {
    const n = Math.min(batch, digits.n - s);
    const am = m.runSync(new Tensor(digits.x.subarray(s * per, (s + n) * per), [n, 3, 32, 32]), { bits }).argmax();
    for (let i = 0; i < n; i++) if (am[i] === digits.labels[s + i]) correct++;
  }
  return correct / digits.n;
}

describe('fixture A (resnet20q, requant)', () => {
  it('has the reference integer weight codes at every bit-width', () => {
    const levels = loadSafetensorsSync(fixturePath('A', 'wq_levels.safetensors')).tensors;
    const state = new Map(model.state().params);
    let layers = 0;
    for (const [key, t] of levels) {
      const m = /^(.*)\.levels_b(\d+)$/.exec(key);
      if (!m) continue;
      const [, name, b] = m;
      const p = state.get(`${name}.q${b}`) as Packed | undefined;
      expect(p).toBeDefined();
      const codes = kernels.unpack(new Packed(p!.rows, p!.cols, p!.bits, p!.data, p!.planePop));
      // stored as [out, kh, kw, in]; the reference is [out, in, kh, kw]
      const [o, c, kh, kw] = t.shape;
      const ref = t.data as Uint8Array;
      let bad = 0;
      for (let i = 0; i < o; i++) for (let ci = 0; ci < c; ci++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
        if (codes[((i * kh + y) * kw + x) * c + ci] !== ref[((i * c + ci) * kh + y) * kw + x]) bad++;
      }
      expect({ key, bad }).toEqual({ key, bad: 0 });
      layers++;
    }
    expect(layers).toBe(18 * 4);
  });

  it.each(BITS)('logits and argmax at %i bits match the reference', (bits) => {
    const want = expected.results[String(bits)];
    const got = model.runSync(inputs, { bits });
    let maxDiff = 0;
    want.logits.flat().forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - got.data[i])); });
    expect(maxDiff).toBeLessThan(bits === 1 || bits === 32 ? 1e-4 : 0.1);
    const am = got.argmax();
    expect(want.argmax.filter((a, i) => a === am[i]).length).toBeGreaterThanOrEqual(63);
  });

  it.each(BITS)('test accuracy on the 2,000 test digits at %i bits is within 0.2 points', (bits) => {
    const want = expected.results[String(bits)].test_accuracy;
    expect(Math.abs(accuracy(model, bits) - want)).toBeLessThanOrEqual(0.002 + 1e-9);
  });

  it('round-trips through the anyprec model file bit for bit', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-')), 'a.anyprec');
    await model.save(file);
    const again = await load(file);
    for (const bits of BITS) {
      const a = model.runSync(inputs, { bits }), b = again.runSync(inputs, { bits });
      expect(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)
        .equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength))).toBe(true);
    }
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe('fixture A in truncate mode (one 8-bit code per weight)', () => {
  it('reports its accuracy per bit-width next to requant (no threshold: truncation is not what the reference trained for)', () => {
    const truncated = importReference('resnet20q', fixturePath('A', 'model.safetensors'), { weightMode: 'truncate' });
    const rows = BITS.map((bits) => ({ bits, requant: expected.results[String(bits)].test_accuracy, truncate: accuracy(truncated, bits) }));
    // eslint-disable-next-line no-console
    console.log('fixture A test accuracy, requant (reference) vs truncate:\n' +
      rows.map((r) => `  ${r.bits} bits: requant ${(r.requant * 100).toFixed(2)}%, truncate ${(r.truncate * 100).toFixed(2)}%`).join('\n'));
    // 8-bit and float weights are the same codes in both modes
    expect(rows.find((r) => r.bits === 32)!.truncate).toBeCloseTo(rows.find((r) => r.bits === 32)!.requant, 2);
  });
});

describe('MNIST preprocessing used for the accuracy checks', () => {
  it('reproduces inputs.bin exactly for its 64 test digits', () => {
    const idx: number[] = JSON.parse(fs.readFileSync(fixturePath('A', 'inputs.json'), 'utf8')).sample_positions_in_test_split;
    const per = 3 * 32 * 32;
    let bad = 0;
    idx.forEach((pos, i) => {
      for (let j = 0; j < per; j++) if (digits.x[pos * per + j] !== inputs.data[i * per + j]) bad++;
    });
    expect(bad).toBe(0);
  });
});
