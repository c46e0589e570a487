// Datasets for training: typed arrays in, batches out. A user's own data is a Dataset too.
import * as fs from 'fs';
import * as path from 'path';
import type { GraphInput } from '../nn/input';

/**
 * Samples as the model's input takes them: `x` holds n samples of `sampleShape` (NCHW per image,
 * or [F]) row after row; `labels` one class index per sample.
 */
export interface Dataset {
  x: Float32Array;
  labels: Uint8Array | Int32Array;
  n: number;
  sampleShape: number[];
}

/** Checks a user's dataset (sizes, label range) and returns it. */
export function checkDataset(d: Dataset, classes: number, name = 'dataset'): Dataset {
  if (d === null || typeof d !== 'object') throw new TypeError(`${name} must be { x, labels, n, sampleShape }`);
  if (!ArrayBuffer.isView(d.x) || Object.prototype.toString.call(d.x) !== '[object Float32Array]') throw new TypeError(`${name}.x must be a Float32Array`);
  if (!Number.isInteger(d.n) || d.n < 1) throw new RangeError(`${name}.n must be a positive integer, got ${d.n}`);
  const per = d.sampleShape.reduce((a, b) => a * b, 1);
  if (d.x.length !== d.n * per) throw new RangeError(`${name}.x must hold n*${per} = ${d.n * per} values, got ${d.x.length}`);
  if (d.labels.length !== d.n) throw new RangeError(`${name}.labels must hold ${d.n} labels, got ${d.labels.length}`);
  for (let i = 0; i < d.n; i++) {
    if (!(d.labels[i] >= 0 && d.labels[i] < classes)) throw new RangeError(`${name}.labels[${i}] = ${d.labels[i]} is not in 0..${classes - 1}`);
  }
  return d;
}

/** Samples `idx` of a dataset as a new dataset (copies). */
export function subset(d: Dataset, idx: ArrayLike<number>): Dataset {
  const per = d.x.length / d.n;
  const x = new Float32Array(idx.length * per);
  const labels = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    x.set(d.x.subarray(idx[i] * per, (idx[i] + 1) * per), i * per);
    labels[i] = d.labels[idx[i]];
  }
  return { x, labels, n: idx.length, sampleShape: d.sampleShape.slice() };
}

export interface DigitPreprocessing {
  /** Output height = width (28 = no padding; 32 pads 2 background pixels on every side). */
  size: number;
  /** Channels the single digit channel is copied into. */
  channels: number;
  mean: number;
  std: number;
}

/** The reference's MNIST preprocessing (fixture A): pad, x = (p/255 − mean)/std in float32, replicate. */
export const RESNET_DIGITS: DigitPreprocessing = { size: 32, channels: 3, mean: 0.1307, std: 0.3081 };
export const PLAIN_DIGITS: DigitPreprocessing = { size: 28, channels: 1, mean: 0.1307, std: 0.3081 };

const fr = Math.fround;

/** uint8 28x28 digits (n x 784) -> NCHW float32 (n x channels x size x size). */
export function preprocessDigits(u8: Uint8Array, n: number, p: DigitPreprocessing): Float32Array {
  if (u8.length !== n * 784) throw new RangeError(`digits must hold n*784 = ${n * 784} bytes, got ${u8.length}`);
  if (!Number.isInteger(p.size) || p.size < 28 || (p.size - 28) % 2 !== 0) throw new RangeError(`size must be 28 + an even padding, got ${p.size}`);
  const s = p.size, pad = (s - 28) / 2, plane = s * s;
  const mean = fr(p.mean), std = fr(p.std);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = fr(fr(fr(v / 255) - mean) / std);
  const out = new Float32Array(n * p.channels * plane);
  for (let i = 0; i < n; i++) {
    const img = out.subarray(i * p.channels * plane, (i + 1) * p.channels * plane);
    img.subarray(0, plane).fill(lut[0]);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) img[(y + pad) * s + x + pad] = lut[u8[i * 784 + y * 28 + x]];
    for (let c = 1; c < p.channels; c++) img.copyWithin(c * plane, 0, plane);
  }
  return out;
}

/**
 * The same preprocessing as graph input ops (graph version 2): a model exported with it takes the
 * raw uint8 digits [N, 1, 28, 28] and computes exactly what preprocessDigits computes.
 */
export function digitInput(p: DigitPreprocessing): GraphInput {
  const pad = (p.size - 28) / 2;
  const ops: GraphInput['preprocess'] = [];
  if (pad > 0) ops.push({ op: 'pad', padding: [pad, pad], value: 0 });
  ops.push({ op: 'scale', divisor: 255 }, { op: 'normalize', mean: p.mean, std: p.std });
  if (p.channels > 1) ops.push({ op: 'replicate', channels: p.channels });
  return { dtype: 'uint8', shape: [1, 28, 28], preprocess: ops };
}

export interface MnistSplit {
  train: Dataset;
  /** The last `validation` samples of the 8,000 training digits. */
  validation: Dataset;
  test: Dataset;
}

/**
 * The 10,000 MNIST digits of a directory holding mnist10k.bin (n x 784 uint8), mnist10k-labels.bin
 * and split.json ({ train: [...8000], test: [...2000] }); validation = the last `validation`
 * training digits, which are then left out of train.
 */
export function loadMnist(dir: string, p: DigitPreprocessing, validation = 1000, limit?: { train?: number; test?: number }): MnistSplit {
  const images = new Uint8Array(fs.readFileSync(path.join(dir, 'mnist10k.bin')));
  const labels = new Uint8Array(fs.readFileSync(path.join(dir, 'mnist10k-labels.bin')));
  const split = JSON.parse(fs.readFileSync(path.join(dir, 'split.json'), 'utf8')) as { train: number[]; test: number[] };
  const n = labels.length;
  if (images.length !== n * 784) throw new RangeError(`mnist10k.bin must hold ${n} x 784 bytes`);
  if (!(validation >= 0 && validation < split.train.length)) throw new RangeError(`validation must be in 0..${split.train.length - 1}`);
  const all: Dataset = { x: preprocessDigits(images, n, p), labels, n, sampleShape: [p.channels, p.size, p.size] };
  let trainIdx = split.train.slice(0, split.train.length - validation);
  const valIdx = split.train.slice(split.train.length - validation);
  let testIdx = split.test;
  if (limit?.train !== undefined) trainIdx = trainIdx.slice(0, limit.train);
  if (limit?.test !== undefined) testIdx = testIdx.slice(0, limit.test);
  return { train: subset(all, trainIdx), validation: subset(all, valIdx), test: subset(all, testIdx) };
}
