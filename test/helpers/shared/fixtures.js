// Readers of the reference fixtures (../shared/fixtures beside the checkout) shared by the jest
// tests (test/helpers/fixtures.ts) and the benchmarks (bench/lib/mnist.mjs). CommonJS, no build.
'use strict';
const fs = require('fs');
const path = require('path');

/** A little-endian float32 file as a Float32Array. */
function readFloat32(file) {
  const buf = fs.readFileSync(file);
  const out = new Float32Array(buf.byteLength / 4);
  Buffer.from(out.buffer).set(buf);
  return out;
}

/**
 * MNIST digits of split.json with labels, from `dir` (the fixtures directory). `normalize`: the
 * fixtures' recipe (inputs.json: pad 28×28 with zero pixels to `size`, x = (p/255 − 0.1307)/0.3081
 * in float32, the channel copied `channels` times), as fixture A was evaluated; otherwise p/255 in
 * [0, 1]. `split`: 'test' (the 2,000 evaluation digits) or 'train' (8,000, disjoint from them);
 * `limit`: the first n of the split.
 */
function mnistDigits(dir, { size = 28, channels = 1, normalize = false, split = 'test', limit = Infinity } = {}) {
  const pixels = fs.readFileSync(path.join(dir, 'mnist', 'mnist10k.bin'));
  const allLabels = fs.readFileSync(path.join(dir, 'mnist', 'mnist10k-labels.bin'));
  const rows = JSON.parse(fs.readFileSync(path.join(dir, 'mnist', 'split.json'), 'utf8'))[split];
  if (!Array.isArray(rows)) throw new RangeError(`split must be 'test' or 'train', got ${split}`);
  const picked = rows.slice(0, limit);
  const n = picked.length, pad = (size - 28) / 2, plane = size * size;
  const fr = Math.fround;
  const mean = fr(0.1307), std = fr(0.3081);
  const lut = new Float32Array(256).map((_, p) => (normalize ? fr(fr(fr(p / 255) - mean) / std) : fr(p / 255)));
  const x = new Float32Array(n * channels * plane).fill(lut[0]);
  const labels = new Uint8Array(n);
  picked.forEach((idx, i) => {
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

module.exports = { readFloat32, mnistDigits };
