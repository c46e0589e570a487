// Untrusted model files and graphs: each case of the hardening issue, as a real crafted model
// file (a saved zoo model whose header JSON or tensor bytes are edited) and as a graph passed to
// Model.build. Every one must be refused at load (or, for a batch too large, at run) with an error
// that names what is wrong — never a crash, an allocation of gigabytes, or wrong logits.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraphSpec, load, loadSync, Model, readSafetensors, Tensor, writeSafetensors, zoo } from '../lib';
import type { SafeTensor } from '../lib';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-harden-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const g = zoo.cnn({ bitList: [2, 8, 32] });
const tensors = zoo.randomTensors(g, 3);
const model = Model.build(g, tensors);
const file = path.join(tmp, 'cnn.anyprec');
model.saveSync(file);

function input(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  return new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r()), shape);
}

type Edit = (t: Map<string, SafeTensor>, meta: Record<string, string>) => void;

let count = 0;
/** The saved file with its header or tensors edited, written back as a new file. */
function crafted(edit: Edit): string {
  const f = readSafetensors(fs.readFileSync(file));
  const t = new Map(f.tensors);
  const meta = { ...f.metadata };
  edit(t, meta);
  const out = path.join(tmp, `crafted-${count++}.anyprec`);
  fs.writeFileSync(out, writeSafetensors(new Map([...t].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, bytes: v.bytes }])), meta));
  return out;
}

/** An edit of one graph node's fields (in the file's header JSON). */
function nodeEdit(name: string, fields: Record<string, unknown>): Edit {
  return (_t, meta) => {
    const graph = JSON.parse(meta.graph) as GraphSpec;
    Object.assign(graph.nodes.find((n) => n.name === name)!, fields);
    meta.graph = JSON.stringify(graph);
  };
}

/** The same edit on a copy of the graph, for Model.build. */
function editedGraph(name: string, fields: Record<string, unknown>): GraphSpec {
  const graph = JSON.parse(JSON.stringify(g)) as GraphSpec;
  Object.assign(graph.nodes.find((n) => n.name === name)!, fields);
  return graph;
}

/** One element fewer (a float32 tensor cut short in the file). */
function shorten(name: string): Edit {
  return (t) => {
    const p = t.get(name)!;
    expect(p.dtype).toBe('F32');
    t.set(name, { ...p, shape: [p.shape.reduce((a, b) => a * b, 1) - 1], bytes: p.bytes.subarray(0, p.bytes.length - 4) });
  };
}

const T31 = 2 ** 31;

describe('conv geometry out of range is refused at load', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['kernel 2^31', { kernel: [T31, T31] }, /conv1\)\.kernel must be \[h, w\] of integers in 1\.\.1024/],
    ['stride 2^31', { stride: [T31, T31] }, /conv1\)\.stride must be \[h, w\] of integers in 1\.\.1024/],
    ['kernel and stride 2^31 with padding 2^30', { kernel: [T31, T31], stride: [T31, T31], padding: [2 ** 30, 2 ** 30] }, /conv1\)\.kernel/],
    ['padding 2^30', { padding: [2 ** 30, 2 ** 30] }, /conv1\)\.padding must be \[h, w\] of integers in 0\.\.3/],
    ['padding 2^31 - 1', { padding: [T31 - 1, T31 - 1] }, /conv1\)\.padding must be/],
    ['padding 1000', { padding: [1000, 1000] }, /conv1\)\.padding must be/],
    ['padding 4 on a 3x3 kernel (rings of outputs that see only zeros)', { padding: [4, 1] }, /conv1\)\.padding must be/],
    ['dilation 2^31', { dilation: [T31, 1] }, /conv1\)\.dilation/],
    ['negative padding', { padding: [-1, 1] }, /conv1\) needs kernel, stride, dilation as \[h, w\] positive and padding as \[h, w\] >= 0/],
    ['fractional stride', { stride: [1.5, 1] }, /conv1\) needs kernel/],
    ['2^31 output channels', { outChannels: T31 }, /conv1\)\.outChannels must be an integer in 1\.\.1048576/],
    ['padding given as a string', { padding: '1' }, /conv1\) needs kernel/],
  ];

  it.each(cases)('crafted file: %s', (_label, fields, message) => {
    const bad = crafted(nodeEdit('conv1', fields));
    const e = thrown(() => loadSync(bad));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(message);
    expect(e.message).toContain(bad); // names the file
  });

  it.each(cases)('Model.build: %s', (_label, fields, message) => {
    const e = thrown(() => Model.build(editedGraph('conv1', fields), tensors));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(message);
  });

  it('refuses a pool window padded by more than half its kernel, and an absurd input shape', () => {
    expect(thrown(() => loadSync(crafted(nodeEdit('pool1', { padding: [2, 0] })))).message).toMatch(/pool1\)\.padding\[0\] must be at most half the kernel \(1\), got 2/);
    expect(thrown(() => Model.build(editedGraph('pool1', { kernel: [T31, 2] }), tensors)).message).toMatch(/pool1\)\.kernel/);
    const huge = crafted((_t, meta) => {
      const graph = JSON.parse(meta.graph) as GraphSpec;
      graph.inputShape = [1, 2 ** 20, 2 ** 20];
      meta.graph = JSON.stringify(graph);
    });
    expect(thrown(() => loadSync(huge)).message).toMatch(/inputShape\[1\] \(height\) must be an integer in 1\.\.65536/);
  });

  it('async load refuses the same files', async () => {
    await expect(load(crafted(nodeEdit('conv1', { padding: [1000, 1000] })))).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/padding/) });
  });

  // The third route to the crash: `anyprec eval` on the crafted file (it segfaulted in
  // im2colFloat / packConv). Now the command ends with the load error and exit code 1, no signal.
  it('anyprec eval refuses the crafted file with the load error, exit code 1', () => {
    const bad = crafted(nodeEdit('conv1', { kernel: [T31, T31], stride: [T31, T31], padding: [2 ** 30, 2 ** 30] }));
    const inputFile = path.join(tmp, 'eval-input.bin');
    fs.writeFileSync(inputFile, Buffer.from(input([1, 1, 28, 28], 7).data.buffer));
    const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'eval', bad, '--input', inputFile, '--shape', '1,1,28,28'], { encoding: 'utf8', timeout: 60000 });
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 1, signal: null });
    expect(r.stderr).toMatch(/conv1\)\.kernel must be \[h, w\] of integers in 1\.\.1024/);
    // the same command on the untouched file answers
    const okRun = spawnSync(process.execPath, [cli, 'eval', file, '--input', inputFile, '--shape', '1,1,28,28'], { encoding: 'utf8', timeout: 60000 });
    expect({ status: okRun.status, stderr: okRun.stderr }).toEqual({ status: 0, stderr: '' });
  });
});

describe('memory is bounded before it is allocated', () => {
  // All convolutions, no classifier: memory grows with the input, nothing else gets in the way.
  const wide = (h: number, c: number): GraphSpec => ({
    format: 'anyprec-graph/1', inputShape: [c, h, h], bitList: [8, 32], weightMode: 'truncate',
    nodes: [
      { name: 'c0', op: 'conv2d', inputs: ['input'], inChannels: c, outChannels: 64, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], bias: false },
      { name: 'r0', op: 'relu', inputs: ['c0'] },
    ],
  });

  it('refuses a graph whose one sample needs more than maxMemory (default 4 GiB), naming the bound', () => {
    const g2 = wide(4096, 3); // 3x4096x4096 in, 64x4096x4096 out (twice: conv, relu): ~8 GiB per sample
    const e = thrown(() => Model.build(g2, {}));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(/one sample needs about \d+\.\d MiB of activations, more than maxMemory \(4096\.0 MiB\)/);
    // a tensor past the kernels' 32-bit element bound is refused by its overflow-checked size
    expect(thrown(() => Model.build(wide(8192, 16), {})).message).toMatch(/node c0 \(conv2d\): output size: 8192 x 8192 x 64 exceeds the limit of 2147483647 elements/);
  });

  it('honours a smaller maxMemory, and refuses a bad one with a TypeError / RangeError', () => {
    const g2 = wide(512, 3);
    const t = zoo.randomTensors(g2, 1);
    const m = Model.build(g2, t); // fits the default
    expect(m.memory.bytesPerSample).toBeGreaterThan(64 * 512 * 512 * 4);
    expect(thrown(() => Model.build(g2, t, { maxMemory: 2 ** 20 })).message).toMatch(/more than maxMemory \(1\.0 MiB\)/);
    expect(thrown(() => Model.build(g2, t, { maxMemory: -1 })).name).toBe('RangeError');
    expect(thrown(() => Model.build(g2, t, { maxMemory: '1' as never })).name).toBe('TypeError');
    expect(thrown(() => loadSync(file, { maxMemory: 2 ** 20 })).message).toMatch(/model file .*parameters need \d+\.\d MiB, more than maxMemory/);
  });

  it('checks each call\'s batch against the same bound before running it (sync and async)', async () => {
    const per = model.memory.bytesPerSample;
    const small = loadSync(file, { maxMemory: Math.floor(per * 3.5) + model.memory.paramBytes });
    expect(small.memory.maxMemory).toBe(Math.floor(per * 3.5) + model.memory.paramBytes);
    const x3 = input([3, 1, 28, 28], 1);
    expect(Array.from(small.runSync(x3, { bits: 8 }).data)).toEqual(Array.from(model.runSync(x3, { bits: 8 }).data));
    const x200 = input([200, 1, 28, 28], 2);
    const e = thrown(() => small.runSync(x200));
    expect(e).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/a batch of 200 needs about .* more than maxMemory .*at most \d+ samples per call/) });
    await expect(small.run(x200)).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/a batch of 200/) });
    await small.close();
  });
});

describe('parameters must be exactly what the graph needs', () => {
  it.each([
    ['a fused BN alpha one element short', 'bn1.8.alpha', /bn1\.8\.alpha' \(folded batch norm scale, 8\) must hold 64 values, got 63/],
    ['a fused BN beta one element short', 'bn2.2.beta', /bn2\.2\.beta' \(folded batch norm shift, 2\) must hold 64 values, got 63/],
    ['a weight scale one element short', 'conv1.scale', /conv1\.scale' \(weight scale\) must hold 1 values, got 0/],
    ['float weights one element short', 'conv1.w32', /conv1\.w32' \(float weights\) must hold 18432 values, got 18431/],
    ['a float layer\'s bias one element short', 'fc1.b', /fc1\.b' \(bias\) must hold 10 values, got 9/],
  ])('refuses %s, naming the file, the tensor, expected and actual length', (_label, name, message) => {
    const bad = crafted(shorten(name));
    const e = thrown(() => loadSync(bad));
    expect(e.name).toBe('RangeError');
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`model file ${bad}`);
  });

  it('refuses a missing parameter and one of the wrong kind', () => {
    expect(thrown(() => loadSync(crafted((t) => { t.delete('bn3.32.beta'); }))).message).toMatch(/missing parameter 'bn3\.32\.beta'/);
    // packed planes where float32 is needed: declare fc1.w as packed in the metadata
    const e = thrown(() => loadSync(crafted((t, meta) => {
      const packed = JSON.parse(meta.packed);
      packed['conv2.scale'] = packed['conv1.q8'];
      meta.packed = JSON.stringify(packed);
      t.set('conv2.scale::planes', t.get('conv1.q8::planes')!);
      t.set('conv2.scale::planePop', t.get('conv1.q8::planePop')!);
      t.delete('conv2.scale');
    })));
    expect(e).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/conv2\.scale' \(weight scale\) must be float32, got packed planes/) });
  });

  it('refuses packed weights of the wrong geometry', () => {
    const e = thrown(() => loadSync(crafted((t, meta) => {
      const packed = JSON.parse(meta.packed);
      packed['conv2.q8'] = packed['conv1.q8']; // 64x288 where conv2 needs 64x576
      meta.packed = JSON.stringify(packed);
      t.set('conv2.q8::planes', t.get('conv1.q8::planes')!);
      t.set('conv2.q8::planePop', t.get('conv1.q8::planePop')!);
    })));
    expect(e.message).toMatch(/conv2\.q8' \(8-bit weights\) must be 64x576 at 8 bits, got 64x288 at 8 bits/);
  });

  it('refuses short parameters given to Model.fromState (no file)', () => {
    const state = model.state();
    const params = state.params.map(([k, v]) => [k, k === 'bn0.32.alpha' ? (v as Float32Array).subarray(1) : v]) as typeof state.params;
    expect(thrown(() => Model.fromState({ graph: state.graph, params }))).toMatchObject({
      name: 'RangeError', message: expect.stringMatching(/^parameter 'bn0\.32\.alpha' .* must hold 32 values, got 31/) });
  });
});

describe('packed metadata', () => {
  it.each([
    ['a null entry', (p: Record<string, unknown>) => { p['conv1.q8'] = null; }, /packed metadata for 'conv1\.q8' must be \[rows, cols, bits\], got null/],
    ['a string entry', (p: Record<string, unknown>) => { p['conv1.q8'] = 'x'; }, /packed metadata for 'conv1\.q8' must be \[rows, cols, bits\]/],
    ['a two-element entry', (p: Record<string, unknown>) => { p['conv1.q8'] = [64, 288]; }, /packed metadata for 'conv1\.q8'/],
  ])('refuses %s with a TypeError naming the file and the tensor', (_label, edit, message) => {
    const bad = crafted((_t, meta) => {
      const packed = JSON.parse(meta.packed);
      edit(packed);
      meta.packed = JSON.stringify(packed);
    });
    const e = thrown(() => loadSync(bad));
    expect(e.name).toBe('TypeError');
    expect(e.message).toMatch(message);
    expect(e.message).toContain(bad);
  });

  it('refuses packed metadata that is null, an array or not JSON', () => {
    expect(thrown(() => loadSync(crafted((_t, m) => { m.packed = 'null'; }))).message).toMatch(/packed metadata must be an object .* got null/);
    expect(thrown(() => loadSync(crafted((_t, m) => { m.packed = '[]'; }))).message).toMatch(/packed metadata must be an object .* got an array/);
    expect(thrown(() => loadSync(crafted((_t, m) => { m.packed = '{'; }))).message).toMatch(/bad packed metadata \(not JSON\)/);
  });

  it('refuses a packed shape whose sizes overflow', () => {
    const e = thrown(() => loadSync(crafted((_t, meta) => {
      const packed = JSON.parse(meta.packed);
      packed['conv1.q8'] = [2 ** 53, 2 ** 53, 8];
      meta.packed = JSON.stringify(packed);
    })));
    expect(e.message).toMatch(/conv1\.q8' has an invalid shape/);
  });
});

describe('the untouched file still loads and runs', () => {
  it('gives the built model\'s outputs', () => {
    const x = input([2, 1, 28, 28], 9);
    const m = loadSync(crafted(() => undefined));
    for (const bits of [2, 8, 32]) expect(Array.from(m.runSync(x, { bits }).data)).toEqual(Array.from(model.runSync(x, { bits }).data));
  });
});
