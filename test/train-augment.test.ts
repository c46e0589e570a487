// Training-data augmentation: random translations of the training images (config.augment.shift,
// `anyprec train --augment-shift n`).
import { describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { kernels, zoo } from '../lib';
import { Trainer, defaultConfig, shiftImage } from '../lib/train/trainer';
import { loadMnist, PLAIN_DIGITS } from '../lib/train/data';
import { fixturePath } from './helpers/fixtures';

kernels.setThreads(2);
const MNIST = path.dirname(fixturePath('mnist', 'split.json'));
const data = loadMnist(MNIST, PLAIN_DIGITS, 1000, { train: 96, test: 16 });
const graph = zoo.preactResnet({ widths: [4, 4, 8], blocks: 1, inChannels: 1, inputSize: 28 });
const cfg = (o = {}) => defaultConfig({ bits: [2, 32], epochs: 2, batch: 32, lr: 3e-3, seed: 5, augment: { shift: 2 }, ...o });
const weights = (t: Trainer) => Object.entries(t.net.tensors()).map(([k, v]) => [k, Array.from(v)]);

describe('shiftImage', () => {
  // one channel, 3 rows × 4 columns: 1 2 3 4 / 5 6 7 8 / 9 10 11 12; a second channel = 100 + the first
  const src = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112]);
  const shifted = (dx: number, dy: number) => { const d = new Float32Array(24); shiftImage(src, d, [2, 3, 4], dx, dy); return Array.from(d); };
  it('moves the image right / down and repeats the border into the space it leaves', () => {
    expect(shifted(1, 0).slice(0, 12)).toEqual([1, 1, 2, 3, 5, 5, 6, 7, 9, 9, 10, 11]);
    expect(shifted(0, 1).slice(0, 12)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(shifted(-2, -1).slice(12)).toEqual([107, 108, 108, 108, 111, 112, 112, 112, 111, 112, 112, 112]);
    expect(shifted(0, 0)).toEqual(Array.from(src));
  });
});

describe('augment in training', () => {
  it('each training image is one training digit moved by at most the shift, and not all of them unmoved', () => {
    const t = new Trainer(graph, cfg({ epochs: 1, augment: { shift: 2 } }));
    const per = 28 * 28, seen: Array<[number, number]> = [];
    // every training digit at every allowed shift, by content
    const known = new Map<string, [number, number]>();
    const d = new Float32Array(per);
    const key = (a: Float32Array, label: number) => `${label}:${Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')}`;
    for (let j = 0; j < data.train.n; j++) {
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
        shiftImage(data.train.x.subarray(j * per, (j + 1) * per), d, [1, 28, 28], dx, dy);
        const k = key(d, data.train.labels[j]);
        if (!known.has(k)) known.set(k, [dx, dy]);
      }
    }
    const step = t.step.bind(t);
    t.step = (x, labels, n) => {
      for (let i = 0; i < n; i++) {
        const found = known.get(key(x.subarray(i * per, (i + 1) * per), labels[i]));
        expect(found).toBeDefined();
        seen.push(found!);
      }
      return step(x, labels, n);
    };
    t.fit(data.train);
    expect(seen).toHaveLength(96);
    expect(seen.filter(([dx, dy]) => dx !== 0 || dy !== 0).length).toBeGreaterThan(48);
    expect(new Set(seen.map((s) => s.join())).size).toBeGreaterThan(10);
  });

  it('is deterministic, differs from no augmentation, and a mid-epoch resume gives the uninterrupted run bit for bit', () => {
    const full = new Trainer(graph, cfg()), again = new Trainer(graph, cfg()), plain = new Trainer(graph, cfg({ augment: { shift: 0 } }));
    for (const t of [full, again, plain]) t.fit(data.train);
    expect(weights(again)).toEqual(weights(full));
    expect(weights(plain)).not.toEqual(weights(full));
    const b = new Trainer(graph, cfg());
    b.fit(data.train, undefined, (p) => { if (p.epoch === 1 && p.step === 1) b.requestStop(); });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-aug-'));
    try {
      const f = path.join(dir, 'b.ckpt');
      b.saveCheckpoint(f);
      const rb = Trainer.loadCheckpoint(f);
      expect(rb.config.augment).toEqual({ shift: 2 });
      rb.fit(data.train);
      expect(weights(rb)).toEqual(weights(full));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad values and non-image samples', () => {
    for (const shift of [-1, 9, 1.5, NaN]) expect(() => new Trainer(graph, cfg({ augment: { shift } }))).toThrow(RangeError);
    expect(() => new Trainer(graph, cfg({ augment: 'x' as unknown as { shift: number } }))).toThrow(TypeError);
    const flat = { x: new Float32Array(4 * 784), labels: new Int32Array(4), n: 4, sampleShape: [784] };
    const t = new Trainer(zoo.mlp([784, 16, 10]), cfg({ batch: 2 }));
    expect(() => t.fit(flat)).toThrow(/augment.shift needs image samples/);
  });
});
