// bench:model setup: the models (the zoo's MNIST MLP/CNN, one conv layer, fixture A's ResNet-20)
// with their ONNX Runtime references (fp32, the integer-op int8 export, and the calibrated int8
// QDQ graph), the measured cases of each model × batch, and the output checks.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import ort from 'onnxruntime-node';

import { log } from './cli.mjs';
import { makeCase } from './cases.mjs';
import { timeOnce } from './measure.mjs';
import { fixturesDir, mnistTest, readFloat32 } from './mnist.mjs';
import { argmaxRows, foldedLayers, jsMlp, onnxInt8Model, onnxModel, relativeError } from './nets.mjs';
import { modelOpTypes, singleThreadOptions } from './onnx.mjs';
import { makeRng, randomFloats } from './reference.mjs';
import { resnet20Onnx } from './resnet-onnx.mjs';
import { chainCalibration, chainQdq } from './nets-qdq.mjs';
import { calibrate, resnet20Calibration, resnet20Qdq } from './resnet-qdq.mjs';

export { fixturesDir };

/** The bit-widths fixture A was trained for (its switchable batch norms exist only for these). */
export const RESNET_BITS = [1, 2, 4, 8, 32];

const prod = (a) => a.reduce((x, y) => x * y, 1);
export const ortOptions = () => ({ ...singleThreadOptions(), logSeverityLevel: 3 });

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// ---- setup: models, references, cases ----------------------------------------------------------

/** One 3×3 convolution layer, 64 → 64 channels on 32×32, with its batch norm and quantiser. */
function convLayerGraph() {
  return {
    format: 'anyprec-graph/1',
    inputShape: [64, 32, 32],
    bitList: [1, 2, 3, 4, 5, 6, 7, 8, 32],
    weightMode: 'truncate',
    nodes: [
      { name: 'q0', op: 'quantize', inputs: ['input'] },
      { name: 'conv', op: 'qconv2d', inputs: ['q0'], inChannels: 64, outChannels: 64, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] },
      { name: 'bn', op: 'batchnorm', inputs: ['conv'], channels: 64, eps: 1e-5, switchable: true },
      { name: 'q1', op: 'quantize', inputs: ['bn'] },
    ],
  };
}

export async function buildModel(name, ctx) {
  const { ap, opts } = ctx;
  if (name === 'resnet20') return buildResnet(ctx);
  const graph = name === 'mlp' ? ap.zoo.mlp() : name === 'cnn' ? ap.zoo.cnn() : convLayerGraph();
  const tensors = ap.zoo.randomTensors(graph, opts.seed);
  let model;
  const buildMs = await timeOnce(() => {
    model = ap.Model.build(graph, tensors);
  });
  const layers = foldedLayers(graph, tensors, ap.WeightQuantizer);
  const m = {
    name,
    graph,
    model,
    buildMs,
    layers,
    bits: opts.bits,
    session: null,
    reluSession: null,
    int8Session: null,
    int8Layers: null,
    qdqSession: null,
    qdq: null,
    js: null,
    weights: `random (zoo.randomTensors, seed ${opts.seed}), truncate mode`,
    description: name === 'mlp'
      ? `MLP ${[graph.inputShape[0], ...graph.nodes.filter((n) => n.op.endsWith('linear')).map((n) => n.outFeatures)].join('-')}`
      : name === 'cnn'
        ? `CNN ${graph.inputShape.join('×')}: ${graph.nodes.filter((n) => n.op !== 'quantize').map((n) => n.name).join(' → ')}`
        : 'Conv layer: quantise → 3×3 conv 64→64 on 32×32 → BN → quantise',
  };
  if (opts.ort) {
    m.ortBytes = { fp32: onnxModel(graph, layers, 'clip') };
    m.session = await ort.InferenceSession.create(m.ortBytes.fp32, ortOptions());
    m.reluSession = await ort.InferenceSession.create(onnxModel(graph, layers, 'relu'), ortOptions());
    const int8 = onnxInt8Model(graph, layers);
    m.int8Session = await ort.InferenceSession.create(int8.bytes, ortOptions());
    m.int8Layers = { quantized: int8.quantizedLayers, float: int8.floatLayers };
    // QDQ: calibrated on MNIST train digits (the MLP/CNN take p/255) or, for the conv layer (64
    // channels, no digit data), seeded uniform inputs drawn apart from the timed ones.
    const cal = name === 'conv' || !ctx.fixtures
      ? { x: randomFloats(makeRng(opts.seed * 104729 + 7), 128 * prod(graph.inputShape)), n: 128, text: '128 seeded uniform [0, 1) inputs (not the timed ones), min/max per tensor' }
      : calibrationDigits(ctx, graph.inputShape);
    const convs = layers.filter((l) => l.kind === 'conv').length, fcs = layers.filter((l) => l.kind === 'linear').length;
    Object.assign(m, await buildQdq(ctx, {
      calGraph: chainCalibration(graph, layers),
      qdqBytes: (ranges) => chainQdq(graph, layers, ranges),
      sample: graph.inputShape, cal, calibration: cal.text,
      expect: { ...(convs ? { QLinearConv: convs } : {}), ...(fcs ? { QGemm: fcs } : {}) },
    }));
  }
  if (opts.js && layers.every((l) => l.kind === 'linear' || l.kind === 'act')) {
    m.js = { clip: jsMlp(layers, 'clip'), relu: jsMlp(layers, 'relu') };
  }
  if (opts.accuracy && (name === 'mlp' || name === 'cnn') && ctx.fixtures) {
    // The zoo's MNIST nets take p/255 in [0, 1]; their weights are random, so "accuracy" is at
    // chance and the number that means something is agreement with the model's own 32-bit output.
    const d = mnistTest(ctx.fixtures, { size: 28, channels: 1, normalize: false });
    m.evalSet = { ...d, shape: graph.inputShape, labelsMeaningful: false };
  }
  log(`  ${m.description}: Model.build ${buildMs.toFixed(0)} ms`);
  return m;
}

/** Fixture A (Any-Precision ResNet-20, trained on MNIST) through importReference, with its ORT exports. */
async function buildResnet(ctx) {
  const { ap, opts } = ctx;
  if (!ctx.fixtures) throw new Error('resnet20: the shared fixtures (../shared/fixtures) are missing; set ANYPREC_FIXTURES or drop it from --models');
  const file = path.join(ctx.fixtures, 'A', 'model.safetensors');
  let model;
  const buildMs = await timeOnce(() => {
    model = ap.importReference('resnet20q', file);
  });
  const bits = opts.bits.filter((b) => RESNET_BITS.includes(b));
  const m = {
    name: 'resnet20',
    graph: { inputShape: [3, 32, 32] },
    model,
    buildMs,
    layers: null,
    bits,
    session: null,
    reluSession: null,
    int8Session: null,
    int8Layers: null,
    qdqSession: null,
    qdq: null,
    js: null,
    weights: 'fixture A (trained, SHI-Labs/Any-Precision-DNNs reference), requant mode',
    description: 'ResNet-20 (fixture A, Any-Precision, widths 16/32/64) 3×32×32',
    fixtureInputs: readFloat32(path.join(ctx.fixtures, 'A', 'inputs.bin')),
  };
  if (opts.ort) {
    const tensors = ap.loadSafetensorsSync(file).tensors;
    // The fp32 export is the reference's bits = 32 function (ReLU), i.e. anyprec's 32 exactly.
    m.ortBytes = { fp32: resnet20Onnx(tensors, 'fp32', ap.WeightQuantizer) };
    m.session = await ort.InferenceSession.create(m.ortBytes.fp32, ortOptions());
    m.reluSession = m.session;
    m.int8Session = await ort.InferenceSession.create(resnet20Onnx(tensors, 'int8', ap.WeightQuantizer), ortOptions());
    m.int8Layers = { quantized: ['the 18 block convs (QLinearConv / ConvInteger)'], float: ['conv0', 'layers.3.skip_conv', 'layers.6.skip_conv', 'fc'] };
    const cal = calibrationDigits(ctx, [3, 32, 32]);
    Object.assign(m, await buildQdq(ctx, {
      calGraph: resnet20Calibration(tensors, ap.WeightQuantizer),
      qdqBytes: (ranges) => resnet20Qdq(tensors, ap.WeightQuantizer, ranges),
      sample: [3, 32, 32], cal, calibration: cal.text,
      expect: { QLinearConv: 21, QLinearAdd: 9, QGemm: 1 },
    }));
  }
  if (opts.accuracy) {
    const d = mnistTest(ctx.fixtures, { size: 32, channels: 3, normalize: true });
    m.evalSet = { ...d, shape: [3, 32, 32], labelsMeaningful: true };
  }
  log(`  ${m.description}: importReference ${buildMs.toFixed(0)} ms`);
  return m;
}

/**
 * ORT int8 as a user would deploy it: the float network quantised post-training into a QDQ graph
 * (bench/lib/resnet-qdq.mjs for ResNet-20, nets-qdq.mjs for the chains), activation ranges
 * calibrated on `cal` ({ x, n }: MNIST train digits, disjoint from the test digits of the
 * accuracy pass, or seeded random inputs for the conv layer). The session saves its optimised
 * graph, whose node types show what ORT fused the QDQ pattern into: `expect` maps the fused op
 * names to the counts a complete fusion gives.
 */
async function buildQdq(ctx, { calGraph, qdqBytes, sample, cal, calibration, expect }) {
  const calSession = await ort.InferenceSession.create(calGraph.bytes, ortOptions());
  const ranges = await calibrate(ort, calSession, calGraph.labels, cal.x, cal.n, { sample, outputLabel: calGraph.outputLabel ?? 'fc' });
  await calSession.release();
  const file = path.join(os.tmpdir(), `anyprec-bench-qdq-${process.pid}.onnx`);
  const bytes = qdqBytes(ranges);
  const session = await ort.InferenceSession.create(bytes, { ...ortOptions(), optimizedModelFilePath: file });
  let ops = null;
  try {
    ops = Object.fromEntries([...modelOpTypes(fs.readFileSync(file))].sort((a, b) => b[1] - a[1]));
    fs.rmSync(file, { force: true });
  } catch (err) {
    log(`  !! could not read ORT's optimised QDQ graph: ${err.message}`);
  }
  const count = (re) => Object.entries(ops ?? {}).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
  const qdq = {
    calibration,
    tensors: ranges.size,
    optimizedOps: ops,
    expected: expect,
    // Fused: every conv / FC / residual Add in its QLinear form (the counts in `expect`), and no
    // float Conv/Gemm/MatMul left (float Mul/Add pairs in ResNet-20 are its pre-activation batch norms).
    fused: ops ? Object.entries(expect).every(([op, n]) => count(new RegExp(`:${op}$`)) === n) &&
      count(/:(Conv|FusedConv|Gemm|FusedGemm|MatMul)$/) === 0 : null,
  };
  log(`  ORT int8 QDQ: ${qdq.tensors} calibrated tensors; optimised graph ${ops ? Object.entries(ops).map(([k, v]) => `${k.replace(/^:/, '')}×${v}`).join(' ') : '?'}` +
      `${qdq.fused === false ? '  !! NOT fully fused' : ''}`);
  return { qdqSession: session, qdqBytes: bytes, qdq };
}

/** The MNIST train digits used for calibration (the first n of split.json's train list). */
function calibrationDigits(ctx, shape) {
  const n = ctx.opts.quick ? 128 : 512;
  const img = shape.length === 3;
  const d = mnistTest(ctx.fixtures, { size: img ? shape[1] : 28, channels: img ? shape[0] : 1, normalize: img && shape[1] === 32, split: 'train', limit: n });
  return { x: d.x, n: d.n, text: `${d.n} MNIST train digits (split.json train[0..${d.n - 1}], disjoint from the test digits), min/max per tensor` };
}

export function makeGroup(m, batch, ctx) {
  const { ap, opts, rng } = ctx;
  const shape = [batch, ...m.graph.inputShape];
  // ResNet-20: real digits (fixture A's inputs.bin, repeated if the batch is larger); others: uniform [0, 1).
  const x = m.fixtureInputs
    ? Float32Array.from({ length: prod(shape) }, (_, i) => m.fixtureInputs[i % m.fixtureInputs.length])
    : randomFloats(rng, prod(shape));
  const xt = new ap.Tensor(x, shape);
  const g = { m, batch, shape, x, xt, cases: [], ort: null, outputs: new Map() };
  const tag = `${m.name} b${batch}`;
  for (const bits of m.bits) {
    g.cases.push(makeCase({
      id: `${tag} runSync ${bits}`, kind: 'sync', bits,
      fn: () => m.model.runSync(xt, { bits }),
    }));
  }
  g.cases.push(makeCase({
    id: `${tag} run ${opts.asyncBits}`, kind: 'async', bits: opts.asyncBits, async: true,
    fn: () => m.model.run(xt, { bits: opts.asyncBits }),
  }));
  if (m.session) {
    const feeds = { X: new ort.Tensor('float32', x, shape) };
    g.ort = makeCase({ id: `${tag} ORT fp32`, kind: 'ort', async: true, slots: 2, fn: () => m.session.run(feeds) });
    g.feeds = feeds;
  }
  if (m.int8Session) {
    g.ort8 = makeCase({ id: `${tag} ORT int8`, kind: 'ort8', async: true, slots: 2, fn: () => m.int8Session.run(g.feeds) });
  }
  if (m.qdqSession) {
    g.ortq = makeCase({ id: `${tag} ORT int8 QDQ`, kind: 'ortq', async: true, slots: 2, fn: () => m.qdqSession.run(g.feeds) });
  }
  if (m.js) g.cases.push(makeCase({ id: `${tag} JS fp32`, kind: 'js', fn: () => m.js.clip(x, batch) }));
  g.all = [g.ort, g.ort8, g.ortq, ...g.cases].filter(Boolean);
  return g;
}

/**
 * The cases of group g at `threads` kernel threads (bench:model --threads): anyprec runSync at every
 * bit-width (kernels.setThreads(threads) around each call, one thread again after it), and ORT
 * fp32 and int8 QDQ sessions of the same graphs with intraOpNumThreads = threads. Added to
 * g.cases (measured in the shuffled part of each round); returns them.
 */
export async function addThreadCases(g, threads, ctx) {
  const { ap } = ctx;
  const { kernels } = ap;
  const tag = `${g.m.name} b${g.batch} t${threads}`;
  const at = (fn) => () => {
    kernels.setThreads(threads);
    try {
      return fn();
    } finally {
      kernels.setThreads(1);
    }
  };
  // A program's first runs at more than one thread measure each op's threads (runner.h,
  // Program::kTuneRuns = 5): the warmup runs them (prime) so that no timed call does.
  const added = g.m.bits.map((bits) => {
    const fn = at(() => g.m.model.runSync(g.xt, { bits }));
    return makeCase({ id: `${tag} runSync ${bits}`, kind: 'sync-threads', bits, threads, fn, prime: () => { for (let i = 0; i < 6; i++) fn(); } });
  });
  const options = { ...ortOptions(), intraOpNumThreads: threads };
  g.m.threadSessions ??= [];
  for (const [kind, bytes] of [['ort', g.m.ortBytes?.fp32], ['ortq', g.m.qdqBytes]]) {
    if (!bytes || !g.feeds) continue;
    const session = await ort.InferenceSession.create(bytes, options);
    g.m.threadSessions.push(session);
    added.push(makeCase({ id: `${tag} ${kind}`, kind: `${kind}-threads`, threads, async: true, slots: 2, fn: () => session.run(g.feeds) }));
  }
  g.cases.push(...added);
  g.all.push(...added);
  return added;
}

/** Outputs of the warmup calls against each other and the references. */
export async function verifyGroup(g, outs, opts) {
  const v = {};
  const ref32 = outs.get('sync 32');
  if (ref32 && g.m.reluSession) {
    const y = (await g.m.reluSession.run(g.feeds)).Y.data;
    v.ortReluVsAnyprec32 = relativeError(ref32.data, y);
  }
  if (ref32 && g.m.js) v.jsReluVsAnyprec32 = relativeError(g.m.js.relu(g.x, g.batch), ref32.data);
  const ortOut = outs.get('ort');
  const ort8Out = outs.get('ort8');
  if (ortOut && ort8Out) v.ortInt8VsOrtFp32 = relativeError(ort8Out.Y.data, ortOut.Y.data);
  const ortqOut = outs.get('ortq');
  if (ortOut && ortqOut) v.ortQdqVsOrtFp32 = relativeError(ortqOut.Y.data, ortOut.Y.data);
  const jsOut = outs.get('js');
  if (ortOut && jsOut) v.jsClipVsOrtClip = relativeError(jsOut, ortOut.Y.data);
  const syncA = outs.get(`sync ${opts.asyncBits}`);
  const asyncA = outs.get('async');
  if (syncA && asyncA) v.asyncVsSyncMaxAbsDiff = maxAbsDiff(asyncA.data, syncA.data);
  v.finite = {};
  v.argmaxAgreementWith32 = {};
  const top32 = ref32 ? argmaxRows(ref32.data, g.batch) : null;
  for (const bits of g.m.bits) {
    const o = outs.get(`sync ${bits}`);
    if (!o) continue;
    v.finite[bits] = o.data.every(Number.isFinite);
    if (top32) {
      const top = argmaxRows(o.data, g.batch);
      v.argmaxAgreementWith32[bits] = top.reduce((a, t, i) => a + (t === top32[i] ? 1 : 0), 0) / g.batch;
    }
  }
  const tol = 1e-4;
  v.ok = (v.ortReluVsAnyprec32 ?? 0) < tol && (v.jsReluVsAnyprec32 ?? 0) < tol && (v.jsClipVsOrtClip ?? 0) < tol &&
    (v.asyncVsSyncMaxAbsDiff ?? 0) === 0 && Object.values(v.finite).every(Boolean);
  return v;
}
