// The shared reference fixtures (../shared/fixtures: fixture A's ResNet-20 and the MNIST test
// split it was evaluated on), loaded the way test/helpers/fixtures.ts loads them.
import fs from 'node:fs';
import path from 'node:path';

import { root } from './machine.mjs';

/** The fixtures directory: $ANYPREC_FIXTURES, else ../shared/fixtures beside the checkout (or one level up, for a worktree). */
export function fixturesDir() {
  const candidates = [process.env.ANYPREC_FIXTURES, path.resolve(root, '..', 'shared', 'fixtures'), path.resolve(root, '..', '..', 'shared', 'fixtures')];
  return candidates.find((d) => d && fs.existsSync(path.join(d, 'mnist', 'split.json'))) ?? null;
}

export function readFloat32(file) {
  const buf = fs.readFileSync(file);
  const out = new Float32Array(buf.byteLength / 4);
  Buffer.from(out.buffer).set(buf);
  return out;
}

/**
 * The 2,000 test digits of split.json with labels. `normalize`: the fixtures' recipe (pad 28×28
 * to `size`, x = (p/255 − 0.1307)/0.3081 in float32, the channel copied `channels` times), as
 * fixture A was evaluated; otherwise p/255 in [0, 1] (what the MNIST MLP/CNN of the zoo take).
 */
export function mnistTest(dir, { size = 28, channels = 1, normalize = false } = {}) {
  const pixels = fs.readFileSync(path.join(dir, 'mnist', 'mnist10k.bin'));
  const allLabels = fs.readFileSync(path.join(dir, 'mnist', 'mnist10k-labels.bin'));
  const test = JSON.parse(fs.readFileSync(path.join(dir, 'mnist', 'split.json'), 'utf8')).test;
  const n = test.length, pad = (size - 28) / 2, plane = size * size;
  const fr = Math.fround;
  const mean = fr(0.1307), std = fr(0.3081);
  const lut = new Float32Array(256).map((_, p) => (normalize ? fr(fr(fr(p / 255) - mean) / std) : fr(p / 255)));
  const x = new Float32Array(n * channels * plane).fill(lut[0]);
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
  return { x, labels, n, per: channels * plane };
}
