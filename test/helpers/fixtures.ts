// The reference fixtures in ../shared/fixtures (golden outputs of the PyTorch reference code)
// and the MNIST test split they were evaluated on.
import * as fs from 'fs';
import * as path from 'path';

export const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures');

/** A fixture file; fails the test (not skips it) when ../shared/fixtures is missing. */
export function fixturePath(...parts: string[]): string {
  const p = path.join(FIXTURES, ...parts);
  if (!fs.existsSync(p)) {
    throw new Error(`fixture ${p} is missing: the tests expect the shared fixtures at ${FIXTURES} ` +
      '(a checkout of ../shared beside the repository, as CI has)');
  }
  return p;
}

export function readFloat32(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  const out = new Float32Array(buf.byteLength / 4);
  Buffer.from(out.buffer).set(buf);
  return out;
}

/** The 2,000 test digits (split.json "test") with labels, preprocessed as the fixtures' inputs.json says:
 * pad 28x28 to size x size with zeros, x = (p/255 - 0.1307)/0.3081 in float32, channel copied. */
export function mnistTest(size = 32, channels = 3): { x: Float32Array; labels: Uint8Array; n: number } {
  const pixels = fs.readFileSync(fixturePath('mnist', 'mnist10k.bin'));
  const allLabels = fs.readFileSync(fixturePath('mnist', 'mnist10k-labels.bin'));
  const test: number[] = JSON.parse(fs.readFileSync(fixturePath('mnist', 'split.json'), 'utf8')).test;
  const n = test.length, pad = (size - 28) / 2, plane = size * size;
  const fr = Math.fround;
  const mean = fr(0.1307), std = fr(0.3081);
  const lut = new Float32Array(256).map((_, p) => fr(fr(fr(p / 255) - mean) / std));
  const bg = lut[0];
  const x = new Float32Array(n * channels * plane).fill(bg);
  const labels = new Uint8Array(n);
  test.forEach((idx, i) => {
    labels[i] = allLabels[idx];
    for (let y = 0; y < 28; y++) {
      for (let xx = 0; xx < 28; xx++) {
        const v = lut[pixels[idx * 784 + y * 28 + xx]];
        for (let c = 0; c < channels; c++) x[(i * channels + c) * plane + (y + pad) * size + xx + pad] = v;
      }
    }
  });
  return { x, labels, n };
}
