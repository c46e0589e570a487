// The model file, version 2: graph input (uint8 digits + preprocessing ops), stored precision; the
// loader still reads version 1 (a file saved by the version-1 writer, committed in test/data).
import { afterAll, describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { deserializeModel, loadSync, Model, MODEL_FORMAT, readSafetensors, Tensor, Uint8Tensor, validateGraph, writeSafetensors, zoo } from '../lib';
import type { GraphInput, GraphSpec } from '../lib';
import { preprocess } from '../lib/nn/steps/preprocess';
import { digitInput, RESNET_DIGITS } from '../lib/train/data';
import { fixturePath, readFloat32 } from './helpers/fixtures';
import { thrown } from './helpers/thrown';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-format-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const V1 = path.join(__dirname, 'data', 'model-v1.anyprec');

function metadata(bytes: Uint8Array): Record<string, string> {
  return readSafetensors(bytes).metadata;
}

/** The first n digits of the fixture A inputs (inputs.json sample_indices) as raw uint8, and the float tensor it holds. */
function fixtureDigits(): { u8: Uint8Array; x: Float32Array; n: number } {
  const info = JSON.parse(fs.readFileSync(fixturePath('A', 'inputs.json'), 'utf8')) as { sample_indices: number[]; shape: number[] };
  const all = fs.readFileSync(fixturePath('mnist', 'mnist10k.bin'));
  const n = info.sample_indices.length;
  const u8 = new Uint8Array(n * 784);
  info.sample_indices.forEach((idx, i) => u8.set(all.subarray(idx * 784, (idx + 1) * 784), i * 784));
  const x = readFloat32(fixturePath('A', 'inputs.bin'));
  expect(x.length).toBe(n * 3 * 32 * 32);
  return { u8, x, n };
}

/** A graph that returns its (preprocessed) input, flattened in NCHW order. */
function identityGraph(input: GraphInput): GraphSpec {
  return { format: 'anyprec-graph/2', inputShape: [3, 32, 32], input, bitList: [32], weightMode: 'truncate',
    nodes: [{ name: 'flat', op: 'flatten', inputs: ['input'] }] };
}

describe('format version 1 (a file written before version 2)', () => {
  it('is a version-1 file, and it loads and gives the outputs recorded when it was saved, at every width', () => {
    const bytes = fs.readFileSync(V1);
    expect(metadata(bytes).format).toBe('anyprec-model/1');
    const expected = JSON.parse(fs.readFileSync(path.join(__dirname, 'data', 'model-v1-expected.json'), 'utf8')) as { outputs: Record<string, number[]> };
    const x = new Float32Array(2 * 3 * 8 * 8);
    for (let i = 0; i < x.length; i++) x[i] = Math.fround(Math.sin(i * 0.37) * 1.5);
    const m = loadSync(V1);
    expect(m.graph.format).toBe('anyprec-graph/1');
    for (const [bits, out] of Object.entries(expected.outputs)) {
      expect(Array.from(m.runSync(new Tensor(x, [2, 3, 8, 8]), { bits: Number(bits) }).data)).toEqual(out);
    }
    // saved again, it is a version-2 file with the same outputs
    const again = deserializeModel(m.serialize());
    expect(metadata(m.serialize()).format).toBe(MODEL_FORMAT);
    expect(Array.from(again.runSync(new Tensor(x, [2, 3, 8, 8]), { bits: 2 }).data)).toEqual(expected.outputs['2']);
  });

  it('refuses a version-1 file holding a version-2 graph', () => {
    const f = readSafetensors(fs.readFileSync(V1));
    const graph = { ...JSON.parse(f.metadata.graph), format: 'anyprec-graph/2' };
    const bytes = writeSafetensors(new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: t.bytes }])),
      { ...f.metadata, graph: JSON.stringify(graph) });
    expect(thrown(() => deserializeModel(bytes))).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/anyprec-model\/1 file holds an anyprec-graph\/1 graph/) });
  });
});

describe('preprocessing in the graph', () => {
  it('turns the raw digits into exactly the fixture A input tensor (pad, /255, normalise, replicate in float32)', () => {
    const { u8, x, n } = fixtureDigits();
    const ours = preprocess(digitInput(RESNET_DIGITS), u8, n);
    expect(ours.length).toBe(x.length);
    let diff = 0;
    for (let i = 0; i < x.length; i++) if (Object.is(ours[i], x[i]) === false) diff++;
    expect(diff).toBe(0);
  });

  it('runs as the model prologue: a uint8 model given the digits reads the fixture tensor, sync and on a worker', async () => {
    const { u8, x, n } = fixtureDigits();
    const m = Model.build(identityGraph(digitInput(RESNET_DIGITS)), {});
    const digits = new Uint8Tensor(u8, [n, 1, 28, 28]);
    expect(Array.from(m.runSync(digits).data)).toEqual(Array.from(x));
    expect(Array.from((await m.run(new Uint8Tensor(u8.slice(0, 4 * 784), [4, 1, 28, 28]))).data)).toEqual(Array.from(x.subarray(0, 4 * 3072)));
    await m.close();
  });

  it('a float input to a uint8 model and a uint8 input to a float model are TypeErrors naming what is expected', async () => {
    const m = Model.build(identityGraph(digitInput(RESNET_DIGITS)), {});
    expect(thrown(() => m.runSync(Tensor.zeros([1, 1, 28, 28])))).toMatchObject({ name: 'TypeError',
      message: 'x must be a Uint8Tensor (this model takes uint8 input of shape [N, 1, 28, 28]), got a float32 Tensor' });
    expect(thrown(() => m.runSync(new Uint8Tensor(new Uint8Array(784), [1, 784])))).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/input must have shape \[N, 1, 28, 28\], got \[1, 784\]/) });
    await expect(m.run(Tensor.zeros([1, 1, 28, 28]))).rejects.toMatchObject({ name: 'TypeError' });
    const mlp = zoo.mlp([784, 16, 10]);
    const f = Model.build(mlp, zoo.randomTensors(mlp, 1));
    expect(thrown(() => f.runSync(new Uint8Tensor(new Uint8Array(784), [1, 784])))).toMatchObject({ name: 'TypeError',
      message: expect.stringMatching(/^x must be a Tensor \(this model takes float32 input of shape \[N, 784\]\), got a uint8 Uint8Tensor/) });
    expect(thrown(() => new Uint8Tensor(new Float32Array(4) as never, [4]))).toMatchObject({ name: 'TypeError', message: 'data must be a Uint8Array' });
  });
});

describe('format version 2', () => {
  it('round-trips graph input and precision settings: the same outputs, the same settings', () => {
    const g = zoo.preactResnet({ widths: [4, 8, 8], blocks: 1, inChannels: 3, inputSize: 32, switchableShortcut: true });
    const graph: GraphSpec = { ...g, format: 'anyprec-graph/2', input: digitInput(RESNET_DIGITS) };
    const m = Model.build(graph, zoo.randomTensors(graph, 3));
    m.setPrecision(4).setLayerPrecision('layers.1.conv0', { weights: 2, activations: 4 });
    const file = path.join(tmp, 'v2.anyprec');
    m.saveSync(file);
    expect(metadata(fs.readFileSync(file)).format).toBe('anyprec-model/2');
    const back = loadSync(file);
    expect(back.graph.input).toEqual(graph.input);
    expect(back.getPrecision()).toEqual({ model: { weights: 4, activations: 4 }, layers: { 'layers.1.conv0': { weights: 2, activations: 4 } } });
    const digits = new Uint8Tensor(Uint8Array.from({ length: 3 * 784 }, (_, i) => (i * 37) % 256), [3, 1, 28, 28]);
    for (const opts of [undefined, { bits: 1 }, { bits: 32 }]) {
      expect(Array.from(back.runSync(digits, opts).data)).toEqual(Array.from(m.runSync(digits, opts).data));
    }
    // the stored per-layer setting is used: it differs from the same model without it
    const plain = Model.build(graph, zoo.randomTensors(graph, 3)).setPrecision(4);
    expect(Array.from(back.runSync(digits).data)).not.toEqual(Array.from(plain.runSync(digits).data));
  });

  const base = (): GraphSpec => identityGraph(digitInput(RESNET_DIGITS));
  const withInput = (edit: (i: Record<string, unknown>) => void): GraphSpec => {
    const g = base();
    const input = JSON.parse(JSON.stringify(g.input)) as Record<string, unknown>;
    edit(input);
    return { ...g, input: input as never };
  };
  const op = (i: number, edit: Record<string, unknown>) => (input: Record<string, unknown>) => {
    (input.preprocess as Record<string, unknown>[])[i] = { ...(input.preprocess as Record<string, unknown>[])[i], ...edit };
  };
  it.each([
    ['input on a version-1 graph', { ...base(), format: 'anyprec-graph/1' } as GraphSpec, 'RangeError', /graph.input needs graph.format 'anyprec-graph\/2' or later/],
    ['an unknown graph version', { ...base(), format: 'anyprec-graph/4' } as never, 'RangeError', /graph.format must be 'anyprec-graph\/1', 'anyprec-graph\/2' or 'anyprec-graph\/3', got "anyprec-graph\/4"/],
    ['input not an object', { ...base(), input: [] as never }, 'TypeError', /graph.input must be an object/],
    ['an unknown input key', withInput((i) => { i.mean = 1; }), 'RangeError', /graph.input.mean is not an input field/],
    ['a bad dtype', withInput((i) => { i.dtype = 'int8'; }), 'RangeError', /graph.input.dtype must be 'uint8' or 'float32', got "int8"/],
    ['a bad raw shape', withInput((i) => { i.shape = [1, 0, 28]; }), 'RangeError', /graph.input.shape\[1\] must be an integer in 1\.\./],
    ['preprocess not an array', withInput((i) => { i.preprocess = {}; }), 'TypeError', /graph.input.preprocess must be an array/],
    ['too many ops', withInput((i) => { i.preprocess = Array(17).fill({ op: 'scale', divisor: 1 }); }), 'RangeError', /at most 16 ops/],
    ['an unknown op', withInput(op(1, { op: 'blur' })), 'RangeError', /preprocess\[1\].op must be one of pad, scale, normalize, replicate/],
    ['an unknown op field', withInput(op(1, { factor: 2 })), 'RangeError', /preprocess\[1\].factor is not a field of scale \(divisor\)/],
    ['a negative pad', withInput(op(0, { padding: [-1, 2] })), 'RangeError', /preprocess\[0\].padding\[0\] must be an integer in 0\.\./],
    ['a pad value that is not finite', withInput(op(0, { value: Infinity })), 'RangeError', /preprocess\[0\].value must be finite/],
    ['a zero divisor', withInput(op(1, { divisor: 0 })), 'RangeError', /preprocess\[1\].divisor must be positive, got 0/],
    ['a divisor that is not a number', withInput(op(1, { divisor: '255' })), 'TypeError', /preprocess\[1\].divisor must be a number, got string/],
    ['a NaN mean', withInput(op(2, { mean: NaN })), 'RangeError', /preprocess\[2\].mean must be finite, got NaN/],
    ['a negative std', withInput(op(2, { std: -0.3 })), 'RangeError', /preprocess\[2\].std must be positive/],
    ['replicate on three channels', withInput((i) => { i.shape = [3, 28, 28]; }), 'RangeError', /replicate needs a one-channel image \[1, H, W\], the input is \[3, 32, 32\]/],
    ['a result of the wrong shape', withInput(op(0, { padding: [1, 2] })), 'RangeError', /turns \[1, 28, 28\] into \[3, 30, 32\], but graph.inputShape is \[3, 32, 32\]/],
  ])('refuses %s', (_what, graph, name, message) => {
    expect(thrown(() => validateGraph(graph))).toMatchObject({ name, message: expect.stringMatching(message) });
  });

  const g = zoo.preactResnet({ widths: [4, 8, 8], blocks: 1, inChannels: 3, inputSize: 8 });
  const saved = Model.build(g, zoo.randomTensors(g, 5)).serialize();
  const withPrecision = (value: string): Uint8Array => {
    const f = readSafetensors(saved);
    return writeSafetensors(new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: t.bytes }])), { ...f.metadata, precision: value });
  };
  it.each([
    ['not JSON', '{', 'Error', /bad precision metadata \(not JSON\)/],
    ['not an object', '[1]', 'TypeError', /bad precision metadata: state.precision must be an object/],
    ['an unknown key', '{"model":{"weights":2,"activations":2},"extra":1}', 'RangeError', /state.precision.extra is not a precision field/],
    ['a bit-width out of range', '{"model":{"weights":9,"activations":2}}', 'RangeError', /precision.model.weights must be an integer in 1..8 or 32, got 9/],
    ['a layer that does not exist', '{"layers":{"nope":2}}', 'RangeError', /precision.layers.nope is not a layer/],
    ['a bad layer precision', '{"layers":{"layers.0.conv0":{"weights":2,"bias":1}}}', 'TypeError', /precision.layers.layers.0.conv0.bias is not a precision field/],
  ])('refuses precision metadata: %s', (_what, value, name, message) => {
    expect(thrown(() => deserializeModel(withPrecision(value)))).toMatchObject({ name, message: expect.stringMatching(message) });
  });
});
