#!/usr/bin/env node
// Bounded fuzz of the JavaScript-facing readers and entry points, every case in this process:
//   - the safetensors reader on random bytes and on byte-level mutations of a real model file;
//   - the model-file loader on structure-aware mutations of a real saved model: header JSON fields
//     set to extreme values, packed metadata changed, tensors truncated / enlarged / retyped;
//     a file that loads is then run on a valid input (it must give finite-length output or an error);
//   - the graph validator and Model.build on mutated graphs;
//   - the public kernels entry points with random arguments.
// Every case must end in a result or an Error (TypeError / RangeError / Error...) with a message.
// A crash kills the script: that is the failure signal. A thrown non-Error, an empty message or a
// case slower than --slow seconds is counted and fails the run (exit 1).
//
// usage: node scripts/fuzz.mjs [--seconds 60] [--seed 1] [--slow 10] [--json]
// (needs the build: npm run build)
import { createRequire } from 'module';
import * as path from 'path';
import { fileURLToPath } from 'url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ap = require(path.join(root, 'dist'));
const { deserializeModel } = require(path.join(root, 'dist', 'io', 'model-file.js'));
const { kernels, Model, Tensor, zoo, readSafetensors, writeSafetensors, validateGraph } = ap;

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const seconds = Number(arg('seconds', '60'));
const seed = Number(arg('seed', '1'));
const slowLimit = Number(arg('slow', '10')) * 1000;
const json = process.argv.includes('--json');
if (!(seconds > 0) || !Number.isInteger(seed)) {
  console.error('usage: node scripts/fuzz.mjs [--seconds N] [--seed S] [--slow S] [--json]');
  process.exit(2);
}

// The seeded generator the tests and benches share (mulberry32), so a failing case replays with its seed.
const { makeRng } = require(path.join(root, 'test/helpers/shared/reference.js'));
const rnd = makeRng(seed);
const int = (n) => Math.floor(rnd() * n);
const pick = (xs) => xs[int(xs.length)];

// ---- seeds: small real models -------------------------------------------------------------
const convGraph = {
  format: 'anyprec-graph/1', inputShape: [3, 8, 8], bitList: [2, 4, 8, 32], weightMode: 'truncate',
  nodes: [
    { name: 'c0', op: 'conv2d', inputs: ['input'], inChannels: 3, outChannels: 4, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], bias: true },
    { name: 'bn0', op: 'batchnorm', inputs: ['c0'], channels: 4, eps: 1e-5, switchable: true },
    { name: 'q0', op: 'quantize', inputs: ['bn0'] },
    { name: 'c1', op: 'qconv2d', inputs: ['q0'], inChannels: 4, outChannels: 8, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1] },
    { name: 'bn1', op: 'batchnorm', inputs: ['c1'], channels: 8, eps: 1e-5, switchable: true },
    { name: 'q1', op: 'quantize', inputs: ['bn1'] },
    { name: 'p1', op: 'maxpool2d', inputs: ['q1'], kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
    { name: 'f', op: 'flatten', inputs: ['p1'] },
    { name: 'fc', op: 'qlinear', inputs: ['f'], inFeatures: 32, outFeatures: 10, bias: true },
  ],
};
// the same network with clipped quantisers and with 1-bit signs (graph version 3)
const withQuantize = (option) => ({ ...convGraph, format: 'anyprec-graph/3', bitList: [1, 2, 8, 32],
  nodes: convGraph.nodes.map((n) => (n.op === 'quantize' ? { ...n, ...option } : n)) });
const clipGraph = withQuantize({ clip: true }), signGraph = withQuantize({ oneBit: 'sign' });
const seeds = [
  { graph: convGraph, tensors: zoo.randomTensors(convGraph, 1) },
  { graph: clipGraph, tensors: zoo.randomTensors(clipGraph, 3) },
  { graph: signGraph, tensors: zoo.randomTensors(signGraph, 4) },
  (() => { const g = zoo.mlp([16, 12, 10], { bitList: [1, 2, 8, 32], weightMode: 'requant' }); return { graph: g, tensors: zoo.randomTensors(g, 2) }; })(),
];
for (const s of seeds) {
  s.model = Model.build(s.graph, s.tensors);
  s.bytes = s.model.serialize();
  s.file = readSafetensors(s.bytes);
}

// ---- value pools ----------------------------------------------------------------------------
const extremes = [0, -1, 1, 2, 3, 7, 8, 9, 31, 32, 33, 1000, 65535, 65536, 2 ** 20, 2 ** 30, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53,
  -(2 ** 31), 1.5, 1e308, -1e308, Infinity, -Infinity, NaN, null, '', 'x', '3', true, [], [1], [0, 0], [1, 1], [3, 3],
  [2 ** 31, 2 ** 31], [2 ** 30, 2 ** 30], [1000, 1000], [-1, 1], [1, 2, 3], {}, { a: 1 }];
const val = () => {
  const v = pick(extremes);
  return Array.isArray(v) ? v.slice() : v && typeof v === 'object' ? { ...v } : v;
};

function mutateGraph(graph) {
  const g = JSON.parse(JSON.stringify(graph));
  const edits = 1 + int(3);
  for (let e = 0; e < edits; e++) {
    const r = rnd();
    if (!Array.isArray(g.nodes) || g.nodes.length === 0) break; // an earlier edit replaced the node list
    if (r < 0.7) {
      const node = pick(g.nodes);
      const keys = Object.keys(node);
      const key = rnd() < 0.9 ? pick(keys) : pick(['gate', 'param', 'weightBits', 'highBits', 'bits', 'p', 'min', 'max', 'clip', 'oneBit']);
      if (Array.isArray(node[key]) && rnd() < 0.5) node[key][int(node[key].length || 1)] = val();
      else node[key] = val();
    } else if (r < 0.8) {
      g.inputShape = pick([[val(), 8, 8], [3, val(), val()], [val()], val()]);
    } else if (r < 0.88) {
      g[pick(['bitList', 'weightMode', 'format', 'output', 'nodes'])] = val();
    } else if (r < 0.94) {
      g.nodes.splice(int(g.nodes.length), 1);
    } else {
      const i = int(g.nodes.length);
      g.nodes.splice(int(g.nodes.length), 0, JSON.parse(JSON.stringify(g.nodes[i])));
    }
  }
  return g;
}

function mutateFile(s) {
  const tensors = new Map([...s.file.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape.slice(), bytes: t.bytes }]));
  const meta = { ...s.file.metadata };
  const edits = 1 + int(2);
  for (let e = 0; e < edits; e++) {
    const r = rnd();
    if (r < 0.35) {
      let graph;
      try { graph = JSON.parse(meta.graph); } catch { continue; } // an earlier edit broke it already
      meta.graph = JSON.stringify(mutateGraph(graph));
    } else if (r < 0.5) {
      let packed;
      try { packed = JSON.parse(meta.packed); } catch { continue; }
      if (packed === null || typeof packed !== 'object') continue;
      const k = pick(Object.keys(packed));
      if (k === undefined) continue;
      if (rnd() < 0.5 || !Array.isArray(packed[k])) packed[k] = val();
      else packed[k][int(3)] = val();
      meta.packed = rnd() < 0.05 ? pick(['null', '[]', '{', '1']) : JSON.stringify(packed);
    } else if (r < 0.55) {
      meta[pick(['format', 'graph', 'packed'])] = pick(['', 'null', '{}', '[]', 'x']);
    } else {
      const names = [...tensors.keys()];
      const name = pick(names);
      const t = tensors.get(name);
      const width = { F32: 4, I32: 4, U64: 8, F16: 2, U8: 1 }[t.dtype] ?? 4;
      const r2 = rnd();
      if (r2 < 0.35) { // one element short (or several)
        const cut = Math.min(t.bytes.length, width * (1 + int(3)));
        t.bytes = t.bytes.subarray(0, t.bytes.length - cut);
        t.shape = [t.bytes.length / width];
      } else if (r2 < 0.6) { // enlarged
        const more = new Uint8Array(t.bytes.length + width * (1 + int(64)));
        more.set(t.bytes);
        t.bytes = more;
        t.shape = [more.length / width];
      } else if (r2 < 0.75) {
        t.dtype = pick(['F32', 'I32', 'U64', 'F16', 'U8']);
        const w2 = { F32: 4, I32: 4, U64: 8, F16: 2, U8: 1 }[t.dtype];
        t.bytes = t.bytes.subarray(0, t.bytes.length - (t.bytes.length % w2));
        t.shape = [t.bytes.length / w2];
      } else if (r2 < 0.85) {
        tensors.delete(name);
      } else { // bytes changed: NaN / Inf / garbage in the data
        const b = t.bytes.slice();
        for (let i = 0; i < 1 + int(8) && b.length; i++) b[int(b.length)] = int(256);
        t.bytes = b;
      }
    }
  }
  return writeSafetensors(tensors, meta);
}

function mutateBytes(bytes) {
  const b = Uint8Array.from(bytes);
  const r = rnd();
  if (r < 0.3) {
    // the header length and the header itself are where the reader decides everything
    const headerLen = Number(new DataView(b.buffer).getBigUint64(0, true));
    for (let i = 0; i < 1 + int(6); i++) b[int(Math.min(b.length, 8 + headerLen))] = int(256);
    return b;
  }
  if (r < 0.5) return b.subarray(0, int(b.length));
  if (r < 0.65) {
    const v = new DataView(b.buffer);
    v.setBigUint64(0, BigInt(pick([0, 1, 7, 8, b.length, b.length - 8, 2 ** 32, 2 ** 53 - 1])), true);
    return b;
  }
  for (let i = 0; i < 1 + int(32); i++) b[int(b.length)] = int(256);
  return b;
}

function randomBytes() {
  const n = int(300);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  if (n >= 8 && rnd() < 0.5) new DataView(b.buffer).setBigUint64(0, BigInt(int(n)), true);
  if (n > 10 && rnd() < 0.5) b.set(new TextEncoder().encode('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}').subarray(0, n - 8), 8);
  return b;
}

function inputFor(graph, n) {
  const size = graph.inputShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n * size);
  for (let i = 0; i < data.length; i++) data[i] = rnd() * 2 - 1;
  return new Tensor(data, [n, ...graph.inputShape]);
}

function exercise(model) {
  const out = model.runSync(inputFor(model.graph, 1 + int(3)), { bits: pick(model.graph.bitList) });
  if (!(out.data.length > 0)) throw new Error('a model that loaded gave an empty output');
  return out;
}

// ---- kernels entry points ------------------------------------------------------------------
const packedSamples = [kernels.pack(new Uint8Array(8 * 64).fill(1), 8, 64, 2), kernels.pack(new Uint8Array(3 * 5), 3, 5, 1)];
function kval() {
  const r = rnd();
  if (r < 0.35) return val();
  if (r < 0.5) return pick(packedSamples);
  if (r < 0.65) return new Float32Array(int(64));
  if (r < 0.75) return new Uint8Array(int(64)).map(() => int(4));
  if (r < 0.8) return new Int32Array(int(16));
  if (r < 0.9) return { n: val(), h: pick([1, 2, 4, val()]), w: pick([1, 2, 4, val()]), c: pick([1, 2, val()]) };
  return { kernel: val(), stride: val(), padding: val(), dilation: val(), bits: val(), encoding: pick(['unsigned', 'signed', 'bipolar', 'x']) };
}
const kernelEntries = ['pack', 'unpack', 'packedWords', 'bitGemm', 'floatGemm', 'gatedGemm', 'packConv', 'im2colFloat', 'maxPool',
  'channelAffine', 'quantizeActivations', 'codesToFloat', 'gemmPath', 'popcountCeiling', 'setThreads', 'setIsa', 'setGemmPath', 'int8Kernel']
  .filter((k) => typeof kernels[k] === 'function');

function kernelCase() {
  const name = pick(kernelEntries);
  const args = Array.from({ length: int(7) }, kval);
  if (name === 'popcountCeiling' && typeof args[0] === 'number' && args[0] > 1e6) args[0] = 1000; // a valid huge count is only slow
  const isa = kernels.isa(), threads = kernels.threads(), path = kernels.gemmPathSetting();
  try {
    return kernels[name](...args);
  } finally {
    kernels.setIsa(isa);
    kernels.setThreads(threads);
    kernels.setGemmPath(path);
  }
}

// The crash: valid operands, extreme geometry (kernel / stride / padding / dilation).
// (A padding of 1000 is a valid request of a ~1 GiB lowering: left out so a case stays fast.)
const geomValues = [0, 1, 2, 3, 4, 2 ** 30, 2 ** 31 - 1, 2 ** 31, -1, 1.5];
function convGeometryCase() {
  const n = 1 + int(2), h = 1 + int(5), w = 1 + int(5), c = 1 + int(4);
  const pair = () => [pick(geomValues), pick(geomValues)];
  const conv = { kernel: rnd() < 0.5 ? pair() : [1 + int(3), 1 + int(3)], stride: rnd() < 0.5 ? pair() : undefined,
    padding: rnd() < 0.6 ? pair() : undefined, dilation: rnd() < 0.3 ? pair() : undefined };
  const shape = { n, h, w, c };
  const which = int(3);
  if (which === 0) return kernels.packConv(new Uint8Array(n * h * w * c).map(() => int(4)), shape, conv, 2);
  if (which === 1) return kernels.im2colFloat(new Float32Array(n * h * w * c).map(() => rnd()), shape, conv);
  return kernels.maxPool(new Float32Array(n * h * w * c).map(() => rnd()), shape, conv);
}

// ---- the loop ------------------------------------------------------------------------------
const targets = {
  'safetensors-random': () => readSafetensors(randomBytes()),
  'safetensors-mutated': () => readSafetensors(mutateBytes(pick(seeds).bytes)),
  'model-bytes-mutated': () => exercise(deserializeModel(mutateBytes(pick(seeds).bytes))),
  'model-structured': () => exercise(deserializeModel(mutateFile(pick(seeds)))),
  'graph-validate': () => validateGraph(mutateGraph(pick(seeds).graph)),
  'graph-build': () => { const s = pick(seeds); return exercise(Model.build(mutateGraph(s.graph), s.tensors)); },
  kernels: kernelCase,
  'conv-geometry': convGeometryCase,
};
const names = Object.keys(targets);
const stats = Object.fromEntries(names.map((n) => [n, { cases: 0, ok: 0, errors: {} }]));
const failures = [];
const deadline = Date.now() + seconds * 1000;
let cases = 0, slowest = 0;
while (Date.now() < deadline) {
  const name = names[cases % names.length];
  const st = stats[name];
  const t0 = Date.now();
  try {
    targets[name]();
    st.ok++;
  } catch (e) {
    if (!(e instanceof Error) || typeof e.message !== 'string' || e.message.length === 0) {
      failures.push({ target: name, case: cases, problem: 'threw something without a message', value: String(e) });
    } else {
      st.errors[e.name] = (st.errors[e.name] ?? 0) + 1;
    }
  }
  const ms = Date.now() - t0;
  slowest = Math.max(slowest, ms);
  if (ms > slowLimit) failures.push({ target: name, case: cases, problem: `took ${ms} ms (a hang?)` });
  st.cases++;
  cases++;
}

const summary = { seed, seconds, cases, crashes: 0, failures: failures.length, slowestCaseMs: slowest, targets: stats };
if (json) console.log(JSON.stringify(summary));
else {
  console.log(`fuzz: seed ${seed}, ${seconds} s, ${cases} cases, 0 crashes (the process is alive), ${failures.length} failures, slowest case ${slowest} ms`);
  for (const [n, s] of Object.entries(stats)) console.log(`  ${n.padEnd(20)} ${String(s.cases).padStart(7)} cases  ${String(s.ok).padStart(6)} ok  errors ${JSON.stringify(s.errors)}`);
  for (const f of failures.slice(0, 20)) console.log(`  FAIL ${JSON.stringify(f)}`);
}
process.exit(failures.length ? 1 : 0);
