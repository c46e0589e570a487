#!/usr/bin/env node
// npm run bench:model — whole-model latency: anyprec at every bit-width against float32
// references of the same network, one thread each, one process.
//
// Measured, per model (zoo.mlp() 784-1024-1024-10 and zoo.cnn() on 1×28×28) and batch (1, 64):
//  * anyprec Model.runSync(x, { bits }) for bits 1..8 and 32 (the float path). Truncate mode:
//    one 8-bit stored model, the top `bits` weight planes used per call. Random weights
//    (zoo.randomTensors), inputs uniform in [0, 1).
//  * anyprec `await model.run(x, { bits: 2 })` (worker thread): the async overhead.
//  * ONNX Runtime fp32 running the same topology with the same tensors (graph built in code,
//    bench/lib/nets.mjs): Conv / Gemm with batch norm folded in, quantisers as Clip(0, 1),
//    MaxPool, Flatten. A float reference of the same network, not a quantised one.
//    intraOpNumThreads = interOpNumThreads = 1.
//  * a plain-JS float32 forward pass of the MLP (same folded weights).
// kernels.setThreads(1); the ISA is the addon's default (kernels.isa(), printed). Cases are
// measured in interleaved rounds (ORT before and after each model×batch block, the other cases
// shuffled, the block order rotated) and summarized by the median of all samples.
// Afterwards, per model×batch at 2 bits: runSyncDetailed per-layer times, and a function-level
// profile of the same run (the exported functions of dist/nn/ops.js — JS loops — and
// dist/core/kernels.js — native — wrapped with timers).
//
// Output: a markdown report on stdout, and bench/results/model-<date>.{json,md}.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';

import ort from 'onnxruntime-node';

import { loadAnyprec, log, parseBenchArgs, positiveNumber as num, secs } from './lib/cli.mjs';
import { makeCase, measure, planReps, rotate, shuffle, summarize, warmup } from './lib/cases.mjs';
import { machineInfo, root, saveResults } from './lib/machine.mjs';
import { median, timeOnce } from './lib/measure.mjs';
import { modelMarkdownReport } from './lib/model-report.mjs';
import { argmaxRows, foldedLayers, jsMlp, onnxInt8Model, onnxModel, relativeError } from './lib/nets.mjs';
import { fixturesDir, mnistTest, readFloat32 } from './lib/mnist.mjs';
import { resnet20Onnx } from './lib/resnet-onnx.mjs';
import { singleThreadOptions } from './lib/onnx.mjs';
import { instrument } from './lib/profile.mjs';
import { makeRng, randomFloats } from './lib/reference.mjs';

const require = createRequire(import.meta.url);

// ---- options -----------------------------------------------------------------------------------

const HELP = `usage: node bench/model.mjs [options]      (npm run bench:model -- [options])

  --quick            short pass (~1.5 min): 3 rounds, shorter measurements
  --models LIST      comma-separated, of mlp, cnn, conv (one 3×3 conv layer 64→64 on 32×32 + BN +
                     quantiser), resnet20 (fixture A, imported) (default mlp,cnn,conv,resnet20)
  --batches LIST     comma-separated batch sizes (default 1,64)
  --bits LIST        bit-widths for runSync, of 1..8 and 32 (default 1,2,3,4,5,6,7,8,32)
  --async-bits N     bit-width of the run() (worker thread) case and the breakdown (default 2)
  --rounds N         interleaved rounds (default 11, quick 3)
  --budget SEC       time budget for the whole run (default 300, quick 60)
  --detail-reps N    runs for the per-layer breakdown and the profile (default 7, quick 3)
  --skip-ort         no ONNX Runtime references (fp32 and int8)
  --skip-accuracy    no accuracy pass on the MNIST test split
  --skip-js          no plain-JS reference
  --no-save          print only; do not write bench/results/
  --seed N           seed for weights and inputs (default 1)
  -h, --help         this text`;

const MODELS = ['mlp', 'cnn', 'conv', 'resnet20'];
/** The bit-widths fixture A was trained for (its switchable batch norms exist only for these). */
const RESNET_BITS = [1, 2, 4, 8, 32];

function parseOptions(argv) {
  const values = parseBenchArgs(
    argv,
    {
      models: { type: 'string' },
      batches: { type: 'string' },
      bits: { type: 'string' },
      'async-bits': { type: 'string' },
      rounds: { type: 'string' },
      budget: { type: 'string' },
      'detail-reps': { type: 'string' },
      'skip-js': { type: 'boolean', default: false },
      'skip-accuracy': { type: 'boolean', default: false },
    },
    HELP,
  );
  const quick = values.quick;
  const list = (text, name, fallback, ok) =>
    (text ?? fallback).split(',').map((s) => {
      const v = ok === 'model' ? s.trim() : Number(s);
      if (ok === 'model' ? !MODELS.includes(v) : !ok(v)) throw new RangeError(`--${name}: '${s}' is not valid`);
      return v;
    });
  const bitsOk = (b) => Number.isInteger(b) && ((b >= 1 && b <= 8) || b === 32);
  const bits = [...new Set(list(values.bits, 'bits', '1,2,3,4,5,6,7,8,32', bitsOk))].sort((a, b) => a - b);
  const asyncBits = list(values['async-bits'], 'async-bits', '2', bitsOk)[0];
  return {
    quick,
    models: [...new Set(list(values.models, 'models', MODELS.join(','), 'model'))],
    accuracy: !values['skip-accuracy'],
    batches: [...new Set(list(values.batches, 'batches', '1,64', (b) => Number.isInteger(b) && b >= 1 && b <= 4096))],
    bits,
    asyncBits,
    rounds: Math.max(2, Math.round(num(values.rounds, 'rounds', quick ? 3 : 11))),
    budgetMs: 1000 * num(values.budget, 'budget', quick ? 60 : 300),
    detailReps: Math.round(num(values['detail-reps'], 'detail-reps', quick ? 3 : 7)),
    // Time aimed at per case and round, and the most calls per case and round.
    targetMs: quick ? 40 : 300,
    maxReps: quick ? 15 : 80,
    ort: !values['skip-ort'],
    js: !values['skip-js'],
    save: !values['no-save'],
    seed: Math.round(num(values.seed, 'seed', 1)),
  };
}

// ---- helpers -----------------------------------------------------------------------------------

const prod = (a) => a.reduce((x, y) => x * y, 1);
const ortOptions = () => ({ ...singleThreadOptions(), logSeverityLevel: 3 });

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

async function buildModel(name, ctx) {
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
    js: null,
    weights: `random (zoo.randomTensors, seed ${opts.seed}), truncate mode`,
    description: name === 'mlp'
      ? `MLP ${[graph.inputShape[0], ...graph.nodes.filter((n) => n.op.endsWith('linear')).map((n) => n.outFeatures)].join('-')}`
      : name === 'cnn'
        ? `CNN ${graph.inputShape.join('×')}: ${graph.nodes.filter((n) => n.op !== 'quantize').map((n) => n.name).join(' → ')}`
        : 'Conv layer: quantise → 3×3 conv 64→64 on 32×32 → BN → quantise',
  };
  if (opts.ort) {
    m.session = await ort.InferenceSession.create(onnxModel(graph, layers, 'clip'), ortOptions());
    m.reluSession = await ort.InferenceSession.create(onnxModel(graph, layers, 'relu'), ortOptions());
    const int8 = onnxInt8Model(graph, layers);
    m.int8Session = await ort.InferenceSession.create(int8.bytes, ortOptions());
    m.int8Layers = { quantized: int8.quantizedLayers, float: int8.floatLayers };
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
    js: null,
    weights: 'fixture A (trained, SHI-Labs/Any-Precision-DNNs reference), requant mode',
    description: 'ResNet-20 (fixture A, Any-Precision, widths 16/32/64) 3×32×32',
    fixtureInputs: readFloat32(path.join(ctx.fixtures, 'A', 'inputs.bin')),
  };
  if (opts.ort) {
    const tensors = ap.loadSafetensorsSync(file).tensors;
    // The fp32 export is the reference's bits = 32 function (ReLU), i.e. anyprec's 32 exactly.
    m.session = await ort.InferenceSession.create(resnet20Onnx(tensors, 'fp32', ap.WeightQuantizer), ortOptions());
    m.reluSession = m.session;
    m.int8Session = await ort.InferenceSession.create(resnet20Onnx(tensors, 'int8', ap.WeightQuantizer), ortOptions());
    m.int8Layers = { quantized: ['the 18 block convs (QLinearConv / ConvInteger)'], float: ['conv0', 'layers.3.skip_conv', 'layers.6.skip_conv', 'fc'] };
  }
  if (opts.accuracy) {
    const d = mnistTest(ctx.fixtures, { size: 32, channels: 3, normalize: true });
    m.evalSet = { ...d, shape: [3, 32, 32], labelsMeaningful: true };
  }
  log(`  ${m.description}: importReference ${buildMs.toFixed(0)} ms`);
  return m;
}

function makeGroup(m, batch, ctx) {
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
  if (m.js) g.cases.push(makeCase({ id: `${tag} JS fp32`, kind: 'js', fn: () => m.js.clip(x, batch) }));
  g.all = [g.ort, g.ort8, ...g.cases].filter(Boolean);
  return g;
}

/** Outputs of the warmup calls against each other and the references. */
async function verifyGroup(g, outs, opts) {
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

// ---- accuracy ----------------------------------------------------------------------------------

/**
 * Top-1 accuracy on the 2,000 MNIST test digits at every bit-width, and of the ORT fp32 / int8
 * exports; also the agreement of each with anyprec's own 32-bit top-1 (the meaningful number
 * for nets with random weights). For fixture A the reference's own test accuracy is listed too.
 */
async function accuracyPass(m, ctx) {
  const ev = m.evalSet;
  if (!ev) return null;
  const { ap } = ctx;
  const batch = 500;
  const top1 = async (run) => {
    const out = new Int32Array(ev.n);
    for (let s = 0; s < ev.n; s += batch) {
      const n = Math.min(batch, ev.n - s);
      const y = await run(ev.x.subarray(s * ev.per, (s + n) * ev.per), n);
      out.set(argmaxRows(y, n), s);
    }
    return out;
  };
  const fraction = (a, b) => a.reduce((acc, v, i) => acc + (v === b[i] ? 1 : 0), 0) / a.length;
  const anyprecTop = new Map();
  for (const bits of m.bits) {
    anyprecTop.set(bits, await top1((x, n) => m.model.runSync(new ap.Tensor(x, [n, ...ev.shape]), { bits }).data));
  }
  const ref = anyprecTop.get(32) ?? null;
  const row = (top) => ({ accuracy: fraction(top, ev.labels), agreement32: ref ? fraction(top, ref) : null });
  const ortRun = (session) => async (x, n) => (await session.run({ X: new ort.Tensor('float32', x, [n, ...ev.shape]) })).Y.data;
  const result = {
    samples: ev.n,
    labelsMeaningful: ev.labelsMeaningful,
    anyprec: m.bits.map((bits) => ({ bits, ...row(anyprecTop.get(bits)) })),
    ortFp32: m.session ? row(await top1(ortRun(m.session))) : null,
    ortInt8: m.int8Session ? row(await top1(ortRun(m.int8Session))) : null,
    reference: null,
  };
  if (m.name === 'resnet20') {
    const expected = JSON.parse(fs.readFileSync(path.join(ctx.fixtures, 'A', 'expected.json'), 'utf8'));
    result.reference = Object.fromEntries(RESNET_BITS.map((b) => [b, expected.results[String(b)]?.test_accuracy ?? null]));
  }
  return result;
}

// ---- breakdown: per layer and per function -----------------------------------------------------

async function breakdown(g, ctx, profiler) {
  const { opts } = ctx;
  const { model } = g.m;
  const bits = opts.asyncBits;
  const runs = [];
  for (let r = 0; r < opts.detailReps; r++) runs.push(model.runSyncDetailed(g.xt, { bits }).stats);
  const layers = runs[0].layers.map((l, i) => ({
    nodes: l.nodes, op: l.op, macs: l.macs, weightBits: l.weightBits, activationBits: l.activationBits, bitOps: l.bitOps,
    medianMs: median(runs.map((s) => s.layers[i].ms)),
  }));
  const totalMs = median(runs.map((s) => s.ms));
  const result = {
    bits,
    runs: runs.length,
    totalMs,
    layers,
    unattributedMs: median(runs.map((s) => s.ms - s.layers.reduce((a, l) => a + l.ms, 0))),
    profile: null,
  };
  if (profiler) {
    const perRun = [];
    const totals = [];
    profiler.take();
    for (let r = 0; r < opts.detailReps; r++) {
      totals.push(await timeOnce(() => model.runSync(g.xt, { bits })));
      perRun.push(profiler.take());
    }
    const names = [...new Set(perRun.flatMap((p) => Object.keys(p)))];
    const fns = names.map((name) => ({
      name,
      side: name.startsWith('ops.') ? 'JS' : 'native',
      calls: perRun[0][name]?.calls ?? 0,
      medianMs: median(perRun.map((p) => p[name]?.ms ?? 0)),
    })).filter((f) => !['kernels.isa', 'kernels.threads', 'ops.poolGeom'].includes(f.name) || f.medianMs > 0.05);
    fns.sort((a, b) => b.medianMs - a.medianMs);
    const runMs = median(totals);
    result.profile = {
      runMs,
      functions: fns,
      otherMs: median(perRun.map((p, i) => totals[i] - Object.values(p).reduce((a, f) => a + f.ms, 0))),
      jsMs: median(perRun.map((p) => Object.entries(p).filter(([k]) => k.startsWith('ops.')).reduce((a, [, f]) => a + f.ms, 0))),
      nativeMs: median(perRun.map((p) => Object.entries(p).filter(([k]) => k.startsWith('kernels.')).reduce((a, [, f]) => a + f.ms, 0))),
    };
  }
  return result;
}

/** Wraps dist/nn/ops.js and dist/core/kernels.js, if they are the modules the model uses. */
function makeProfiler(ap) {
  try {
    const kernelsMod = require(`${root}/dist/core/kernels.js`);
    const opsMod = require(`${root}/dist/nn/ops.js`);
    if (kernelsMod.isa !== ap.kernels.isa) return { error: 'dist/core/kernels.js is not the instance anyprec loaded' };
    return { profiler: instrument({ ops: opsMod, kernels: kernelsMod }) };
  } catch (err) {
    return { error: `cannot load dist/ internals for the profile: ${err.message}` };
  }
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const started = new Date();
  const tStart = performance.now();
  const ap = await loadAnyprec();
  const { kernels } = ap;
  kernels.setThreads(1);
  const machine = machineInfo(kernels);
  const rng = makeRng(opts.seed * 7919 + 17);
  const ctx = { ap, opts, rng, fixtures: fixturesDir() };
  if (!ctx.fixtures) log('  !! shared fixtures not found: no resnet20, no accuracy pass');
  log(`anyprec bench:model — ${machine.cpuModel}, ${machine.node}, ORT ${machine.onnxruntimeNode}`);
  log(`ISA ${kernels.isa()} (available: ${kernels.availableIsas().join(', ')}), kernel threads ${kernels.threads()}`);
  log(`git ${machine.git.head}${machine.git.dirty.length ? ` (uncommitted: ${machine.git.dirty.join('; ')})` : ''}`);
  log(`addon ${machine.addon ? `${machine.addon.path} (built ${machine.addon.builtAt})` : 'unknown'}`);
  if (machine.addon?.path !== 'build/Release/anyprec.node') log('  !! the addon loaded is not build/Release/anyprec.node (being rebuilt?)');
  log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  log('\nsetup:');
  const models = [];
  for (const name of opts.models) models.push(await buildModel(name, ctx));
  const groups = [];
  for (const m of models) for (const batch of opts.batches) groups.push(makeGroup(m, batch, ctx));

  // Warmup (one call per case: plans, worker start, ORT's first run) and output checks.
  log('warmup and checks:');
  for (const g of groups) {
    const outs = new Map();
    for (const c of g.all) {
      const out = await warmup(c);
      outs.set(c.kind === 'sync' ? `sync ${c.bits}` : c.kind, out);
    }
    // A second call: the first also paid one-off costs (worker start, ORT allocations).
    for (const c of g.all) c.estMs = Math.max(await timeOnce(c.fn), 0.001);
    g.verification = await verifyGroup(g, outs, opts);
    const v = g.verification;
    const f = (e) => (e === undefined ? '–' : e.toExponential(1));
    log(`  ${g.m.name} b${g.batch}: ORT(ReLU) vs anyprec(32) rel err ${f(v.ortReluVsAnyprec32)}, ` +
        `JS vs anyprec(32) ${f(v.jsReluVsAnyprec32)}, JS vs ORT (Clip) ${f(v.jsClipVsOrtClip)}, ` +
        `run() vs runSync() max |diff| ${v.asyncVsSyncMaxAbsDiff}${v.ok ? '' : '  !! CHECK FAILED'}`);
  }
  for (const m of models) {
    if (m.reluSession && m.reluSession !== m.session) await m.reluSession.release();
    m.reluSession = null;
  }

  // Plan: measurement budget = total − setup so far − the breakdown (≈ 2·detailReps runs at
  // asyncBits per group, plus margin).
  const allCases = groups.flatMap((g) => g.all);
  const detailEst = groups.reduce((a, g) => a + 2.4 * opts.detailReps * g.cases.find((c) => c.kind === 'async').estMs, 0);
  const measureBudget = opts.budgetMs - (performance.now() - tStart) - detailEst - 1500;
  const planned = planReps(allCases, { targetMs: opts.targetMs, maxReps: opts.maxReps, rounds: opts.rounds, budgetMs: measureBudget });
  log(`setup + warmup ${secs(performance.now() - tStart)}; ${allCases.length} cases, ${opts.rounds} rounds planned in ` +
      `${secs(planned)} (budget ${secs(measureBudget)})`);

  // Interleaved rounds.
  let roundsDone = 0;
  const roundsStart = performance.now();
  const cpuStart = process.cpuUsage();
  const deadline = tStart + opts.budgetMs - detailEst - 1000;
  for (let r = 0; r < opts.rounds; r++) {
    const tr = performance.now();
    const perRound = (tr - roundsStart) / Math.max(r, 1);
    if (r >= 2 && tr + perRound > deadline) {
      log(`  stopping after ${r} rounds: the time budget is spent`);
      break;
    }
    for (const g of rotate(groups, r)) {
      const refs = [g.ort, g.ort8].filter(Boolean);
      for (const c of r % 2 ? refs.slice().reverse() : refs) await measure(c);
      for (const c of shuffle(g.cases, rng)) await measure(c);
      for (const c of r % 2 ? refs : refs.slice().reverse()) await measure(c);
    }
    roundsDone = r + 1;
    log(`  round ${r + 1}/${opts.rounds}: ${secs(performance.now() - tr)}`);
  }

  // CPU time this process got per second of wall time: ≈ 1 when the benchmark had a vCPU to
  // itself (everything is single-threaded and sequential), well below 1 when others took it.
  const cpu = process.cpuUsage(cpuStart);
  const cpuPerWall = (cpu.user + cpu.system) / 1e3 / (performance.now() - roundsStart);
  log(`  process CPU / wall during the rounds: ${cpuPerWall.toFixed(2)}`);

  // Breakdown at asyncBits: per layer (runSyncDetailed) and per function (profile).
  log('breakdown:');
  const { profiler, error: profileError } = makeProfiler(ap);
  if (profileError) log(`  profile skipped: ${profileError}`);
  const breakdowns = [];
  try {
    for (const g of groups) {
      const b = await breakdown(g, ctx, profiler);
      breakdowns.push({ model: g.m.name, batch: g.batch, ...b });
      log(`  ${g.m.name} b${g.batch} @${b.bits}: ${b.totalMs.toFixed(2)} ms`);
    }
  } finally {
    profiler?.restore();
  }

  // Results.
  const results = groups.map((g) => {
    const ortS = g.ort ? summarize(g.ort) : null;
    const ort8S = g.ort8 ? summarize(g.ort8) : null;
    const bySync = new Map();
    const rows = g.cases.filter((c) => c.kind === 'sync').map((c) => {
      const s = summarize(c);
      const acct = g.m.model.bitOps(g.batch, { bits: c.bits });
      bySync.set(c.bits, s);
      return {
        bits: c.bits,
        ...s,
        samplesPerSec: g.batch / (s.medianMs / 1e3),
        vsOrt: ortS?.medianMs ? s.medianMs / ortS.medianMs : null,
        vsOrtInt8: ort8S?.medianMs ? s.medianMs / ort8S.medianMs : null,
        bitOpsPerSample: acct.bitOps / g.batch,
        macsPerSample: acct.macs / g.batch,
        bitOpsPerCall: acct.bitOps,
      };
    });
    const a = summarize(g.cases.find((c) => c.kind === 'async'));
    const syncA = bySync.get(opts.asyncBits);
    const js = g.cases.find((c) => c.kind === 'js');
    const jsS = js ? summarize(js) : null;
    const withRate = (s) => (s?.medianMs ? { ...s, samplesPerSec: g.batch / (s.medianMs / 1e3), vsOrt: ortS?.medianMs ? s.medianMs / ortS.medianMs : null } : s);
    return {
      model: g.m.name,
      description: g.m.description,
      batch: g.batch,
      inputShape: g.shape,
      buildMs: g.m.buildMs,
      rows,
      async: {
        bits: opts.asyncBits,
        ...withRate(a),
        overheadMs: a.medianMs && syncA?.medianMs ? a.medianMs - syncA.medianMs : null,
        overheadRatio: a.medianMs && syncA?.medianMs ? a.medianMs / syncA.medianMs : null,
      },
      ort: withRate(ortS),
      ortInt8: withRate(ort8S),
      weights: g.m.weights,
      int8Layers: g.m.int8Layers,
      bits: g.m.bits,
      js: withRate(jsS),
      verification: g.verification,
    };
  });
  // Accuracy on the MNIST test split (latency vs accuracy): every bit-width and both ORT exports.
  const accuracy = {};
  if (opts.accuracy) {
    log('accuracy:');
    kernels.setThreads(kernels.hardwareThreads());
    for (const m of models) {
      const a = await accuracyPass(m, ctx);
      if (!a) continue;
      accuracy[m.name] = a;
      log(`  ${m.name}: ${a.anyprec.map((r) => `${r.bits}b ${(100 * r.accuracy).toFixed(1)}%`).join(', ')}; ORT fp32 ` +
          `${a.ortFp32 ? (100 * a.ortFp32.accuracy).toFixed(1) : '–'}%, int8 ${a.ortInt8 ? (100 * a.ortInt8.accuracy).toFixed(1) : '–'}%`);
    }
    kernels.setThreads(1);
  }
  for (const m of models) await m.session?.release();
  for (const m of models) await m.int8Session?.release();
  for (const m of models) await m.model.close();

  const report = {
    schema: 'anyprec-bench-model/1',
    date: started.toISOString(),
    durationSec: (performance.now() - tStart) / 1000,
    argv: process.argv.slice(2),
    options: opts,
    machine,
    isa: kernels.isa(),
    kernelThreads: kernels.threads(),
    rounds: roundsDone,
    cpuPerWall,
    loadAverageEnd: os.loadavg(),
    setup: {
      weightMode: 'truncate: one 8-bit stored model, the top `bits` planes used per call',
      weights: `zoo.randomTensors(graph, ${opts.seed})`,
      inputs: 'uniform in [0, 1)',
      anyprec: 'Model.runSync(x, { bits }) on the main thread; run() = await model.run(x, { bits }) on one worker thread',
      ort: 'fp32, same topology and tensors: Conv/Gemm with folded batch norm (32-bit set), quantisers as Clip(0, 1), MaxPool, Flatten; intra = inter = 1 thread; graph optimization all',
      js: 'plain-JS float32 loops (MLP only), same folded weights, Clip(0, 1)',
      statistic: 'median of all samples pooled over interleaved rounds; ratios of medians taken in this run',
      bitOps: 'model.bitOps(batch, { bits }): MACs × weight bits × activation bits per layer (float layers count 32 × 32), divided by the batch',
    },
    results,
    accuracy,
    breakdowns,
    profileError: profileError ?? null,
  };
  const md = modelMarkdownReport(report);
  console.log(md);
  if (opts.save) {
    const [j, m] = saveResults('model', started, report, md);
    log(`\nsaved ${j} and ${m}`);
  }
  log(`total ${secs(performance.now() - tStart)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
