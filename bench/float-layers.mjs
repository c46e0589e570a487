// The float layers of a low-bit ResNet-20 (fixture A's shapes), one at a time, against ONNX
// Runtime fp32 on the same layer, one thread each, in this process: the stem conv, the two 1x1
// stride-2 shortcut convs (batch norm folded) and the FC, at batch 1 and 64; then the body's 3x3
// convs of the float network (runSync at 32 bits), each with its batch norm and ReLU fused as
// the network runs them (ORT: Conv with the batch norm folded + Relu, which ORT fuses). anyprec runs each
// as one float convolution (weights packed once, input read through the window, batch norm in
// the epilogue); the lowered path it replaced (im2colFloat + floatGemm + channelAffine) is timed
// beside it, and so is the same call writing into one reused output array (options.out, as a
// network's plan runs it: no fresh output, whose first touch page-faults). Calls are interleaved round by round (the order rotating) and the medians of all
// samples are reported, with each layer's time ratio to ORT (goal: <= 1.25, i.e. >= 0.8x ORT's
// speed) and the largest difference between the two outputs.
// usage: node bench/float-layers.mjs [--quick] [--rounds N] [--batches 1,64] [--isa NAME] [--skip-ort]
import ort from 'onnxruntime-node';

import { loadAnyprec, log, parseBenchArgs, positiveNumber } from './lib/cli.mjs';
import { median, sampleCalls } from './lib/measure.mjs';
import { DataType, graphModel } from './lib/onnx.mjs';
import { makeRng, randomFloats } from './lib/reference.mjs';
import { ortOptions } from './lib/model-setup.mjs';

const HELP = `usage: node bench/float-layers.mjs [--quick] [--rounds N] [--batches 1,64] [--layers TEXT] [--isa NAME] [--skip-ort]
ResNet-20's float layers (stem conv, 1x1/2 shortcuts, FC, the float network's 3x3 body convs), the CNN's float convs:
anyprec vs ONNX Runtime fp32, one thread. --layers keeps the layers whose name contains TEXT.`;

const opts = parseBenchArgs(process.argv.slice(2), {
  rounds: { type: 'string' },
  batches: { type: 'string', default: '1,64' },
  layers: { type: 'string' },
  isa: { type: 'string' },
}, HELP);
const rounds = positiveNumber(opts.rounds, 'rounds', opts.quick ? 3 : 9);
const batches = opts.batches.split(',').map((b) => positiveNumber(b, 'batches'));

const ap = await loadAnyprec();
const { kernels } = ap;
if (opts.isa) kernels.setIsa(opts.isa);
kernels.setThreads(1);

/** ResNet-20's float layers: image h x w x c in, o out, k x k kernel, stride, padding; bn: folded batch norm; fc: a dense layer. */
const LAYERS = [
  { name: 'stem conv 3→16, 3×3, 32×32', h: 32, w: 32, c: 3, o: 16, k: 3, stride: 1, pad: 1 },
  { name: 'shortcut 16→32, 1×1/2, 32×32 (+BN)', h: 32, w: 32, c: 16, o: 32, k: 1, stride: 2, pad: 0, bn: true },
  { name: 'shortcut 32→64, 1×1/2, 16×16 (+BN)', h: 16, w: 16, c: 32, o: 64, k: 1, stride: 2, pad: 0, bn: true },
  { name: 'FC 64→10 (+bias)', h: 1, w: 1, c: 64, o: 10, k: 1, stride: 1, pad: 0, fc: true },
  { name: 'body 16→16, 3×3, 32×32 (+BN+ReLU)', h: 32, w: 32, c: 16, o: 16, k: 3, stride: 1, pad: 1, bn: true, relu: true },
  { name: 'body 16→32, 3×3/2, 32×32 (+BN+ReLU)', h: 32, w: 32, c: 16, o: 32, k: 3, stride: 2, pad: 1, bn: true, relu: true },
  { name: 'body 32→32, 3×3, 16×16 (+BN+ReLU)', h: 16, w: 16, c: 32, o: 32, k: 3, stride: 1, pad: 1, bn: true, relu: true },
  { name: 'body 32→64, 3×3/2, 16×16 (+BN+ReLU)', h: 16, w: 16, c: 32, o: 64, k: 3, stride: 2, pad: 1, bn: true, relu: true },
  { name: 'body 64→64, 3×3, 8×8 (+BN+ReLU)', h: 8, w: 8, c: 64, o: 64, k: 3, stride: 1, pad: 1, bn: true, relu: true },
  // The MNIST CNN's float convs (zoo.cnn at 32 bits), its batch norm and ReLU fused.
  { name: 'cnn conv1 32→64, 3×3, 28×28 (+BN+ReLU)', h: 28, w: 28, c: 32, o: 64, k: 3, stride: 1, pad: 1, bn: true, relu: true },
  { name: 'cnn conv2 64→64, 3×3, 14×14 (+BN+ReLU)', h: 14, w: 14, c: 64, o: 64, k: 3, stride: 1, pad: 1, bn: true, relu: true },
];

/** NCHW -> NHWC of n images. */
function toNhwc(x, n, c, h, w) {
  const y = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < h * w; p++) y[(i * h * w + p) * c + ch] = x[(i * c + ch) * h * w + p];
  return y;
}

/** The layer in ONNX (NCHW): Conv with the batch norm folded into W and B (what ORT's own fusion runs), or Gemm. */
function onnxLayer(l, n, w, scale, shift, bias) {
  const kk = l.c * l.k * l.k;
  const oh = Math.floor((l.h + 2 * l.pad - l.k) / l.stride) + 1, ow = Math.floor((l.w + 2 * l.pad - l.k) / l.stride) + 1;
  if (l.fc) {
    return graphModel({
      name: 'fc', nodes: [{ opType: 'Gemm', inputs: ['X', 'W', 'B'], outputs: ['Y'], attrs: { transB: 1 } }],
      inputs: [{ name: 'X', type: DataType.FLOAT, dims: [n, l.c] }],
      initializers: [{ name: 'W', type: DataType.FLOAT, dims: [l.o, l.c], data: w }, { name: 'B', type: DataType.FLOAT, dims: [l.o], data: bias }],
      outputs: [{ name: 'Y', type: DataType.FLOAT, dims: [n, l.o] }],
    });
  }
  // ONNX weights are [o][c][kh][kw]; ours [o][(kh, kw, c)].
  const wo = new Float32Array(w.length);
  for (let o = 0; o < l.o; o++)
    for (let ky = 0; ky < l.k; ky++)
      for (let kx = 0; kx < l.k; kx++)
        for (let ch = 0; ch < l.c; ch++) {
          wo[((o * l.c + ch) * l.k + ky) * l.k + kx] = w[o * kk + (ky * l.k + kx) * l.c + ch] * (scale ? scale[o] : 1);
        }
  const inits = [{ name: 'W', type: DataType.FLOAT, dims: [l.o, l.c, l.k, l.k], data: wo }];
  const inputs = ['X', 'W'];
  if (shift) {
    inits.push({ name: 'B', type: DataType.FLOAT, dims: [l.o], data: shift });
    inputs.push('B');
  }
  const conv = { opType: 'Conv', inputs, outputs: [l.relu ? 'Z' : 'Y'], attrs: { kernel_shape: [l.k, l.k], strides: [l.stride, l.stride], pads: [l.pad, l.pad, l.pad, l.pad] } };
  return graphModel({
    name: 'conv',
    nodes: l.relu ? [conv, { opType: 'Relu', inputs: ['Z'], outputs: ['Y'] }] : [conv],
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: [n, l.c, l.h, l.w] }],
    initializers: inits,
    outputs: [{ name: 'Y', type: DataType.FLOAT, dims: [n, l.o, oh, ow] }],
  });
}

const rows = [];
log(`float layers: isa ${kernels.isa()}, 1 thread, ${rounds} rounds, batches ${batches.join(', ')}`);
for (const l of LAYERS.filter((x) => !opts.layers || x.name.includes(opts.layers))) {
  for (const n of batches) {
    const rng = makeRng(l.c * 1000 + l.o * 10 + n);
    const kk = l.c * l.k * l.k;
    const w = randomFloats(rng, l.o * kk).map((v) => (v - 0.5) / Math.sqrt(kk));
    const scale = l.bn ? randomFloats(rng, l.o).map((v) => 0.5 + v) : null;
    const shift = l.bn ? randomFloats(rng, l.o).map((v) => v - 0.5) : null;
    const bias = l.fc ? randomFloats(rng, l.o).map((v) => v - 0.5) : null;
    const xNchw = randomFloats(rng, n * l.c * l.h * l.w);
    const x = toNhwc(xNchw, n, l.c, l.h, l.w);
    const shape = { n, h: l.h, w: l.w, c: l.c };
    const geometry = { kernel: [l.k, l.k], stride: [l.stride, l.stride], padding: [l.pad, l.pad] };
    const packed = kernels.packFloatWeights(w, l.o, kk);
    const options = l.relu ? { bias, scale, shift, min: 0 } : { bias, scale, shift };
    const ours = l.fc ? () => kernels.floatLinear(x, n, packed, options) : () => kernels.floatConv(x, shape, geometry, packed, options);
    // The same call writing into one array reused call after call (options.out), as a network's
    // plan runs it: no fresh output per call. A fresh multi-MiB output costs a page fault per
    // 4 KiB on first touch (batch 64: ~4 ms of the 16->16 layer's ~10 ms on the AVX2 VM).
    const outOptions = { ...options, out: new Float32Array(ours().length) };
    const oursOut = l.fc ? () => kernels.floatLinear(x, n, packed, outOptions) : () => kernels.floatConv(x, shape, geometry, packed, outOptions);
    const rowsOut = n * (Math.floor((l.h + 2 * l.pad - l.k) / l.stride) + 1) * (Math.floor((l.w + 2 * l.pad - l.k) / l.stride) + 1);
    const lowered = () => {
      const a = l.fc ? x : kernels.im2colFloat(x, shape, geometry);
      const y = kernels.floatGemm(a, rowsOut, kk, w, l.o, { bias });
      return scale ? kernels.channelAffine(y, l.o, scale, shift, l.relu ? 0 : -Infinity) : y;
    };
    const cases = [['anyprec', ours, false], ['anyprec, out', oursOut, false], ['lowered', lowered, false]];
    let session = null, feeds = null;
    if (!opts['skip-ort']) {
      session = await ort.InferenceSession.create(onnxLayer(l, n, w, scale, shift, bias), ortOptions());
      feeds = { X: new ort.Tensor('float32', l.fc ? x : xNchw, l.fc ? [n, l.c] : [n, l.c, l.h, l.w]) };
      cases.push(['ort', () => session.run(feeds), true]);
    }
    // Outputs agree: anyprec's (NHWC) against ORT's (NCHW), and the lowered path bit for bit.
    const y = ours();
    const yOut = oursOut();
    const same = lowered().every((v, i) => v === y[i] && v === yOut[i]);
    let maxDiff = NaN;
    if (session) {
      const yo = (await session.run(feeds)).Y.data;
      const yn = l.fc ? yo : toNhwc(yo, n, l.o, rowsOut / n / (Math.floor((l.w + 2 * l.pad - l.k) / l.stride) + 1), Math.floor((l.w + 2 * l.pad - l.k) / l.stride) + 1);
      maxDiff = 0;
      for (let i = 0; i < y.length; i++) maxDiff = Math.max(maxDiff, Math.abs(y[i] - yn[i]));
    }
    const reps = Math.max(3, Math.round(2e6 / (rowsOut * kk * l.o + 2e4)));
    // Wall time per call, and process CPU time per call over each round's calls: the CPU time
    // leaves out the time the process waited for a vCPU (a shared machine), not cache contention.
    const samples = new Map(cases.map(([name]) => [name, { wall: [], cpu: [] }]));
    for (const [, fn, isAsync] of cases) await sampleCalls('warmup', fn, 2, isAsync);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < cases.length; i++) {
        const [name, fn, isAsync] = cases[(i + r) % cases.length];
        const c0 = process.cpuUsage();
        const wall = await sampleCalls(name, fn, reps, isAsync);
        const c = process.cpuUsage(c0);
        samples.get(name).wall.push(...wall);
        samples.get(name).cpu.push((c.user + c.system) / 1000 / reps);
      }
    }
    const t = Object.fromEntries([...samples].map(([name, s]) => [name, median(s.wall)]));
    const cpu = Object.fromEntries([...samples].map(([name, s]) => [name, median(s.cpu)]));
    const macs = rowsOut * kk * l.o;
    rows.push({ layer: l.name, n, macs, t, cpu, same, maxDiff });
    log(`  ${l.name} n=${n}: anyprec ${t.anyprec.toFixed(4)} ms (out reused ${t['anyprec, out'].toFixed(4)}), lowered ${t.lowered.toFixed(4)} ms${t.ort ? `, ORT ${t.ort.toFixed(4)} ms` : ''} (wall)`);
  }
}

const fmt = (v) => (v === undefined ? '–' : v < 0.1 ? v.toFixed(4) : v.toFixed(3));
const ratioCell = (a, b) => (b ? `${(a / b).toFixed(2)} (${a / b <= 1.25 ? 'met' : 'not met'})` : '–');
console.log(`\n## ResNet-20 float layers, anyprec (${kernels.isa()}) vs ONNX Runtime fp32, 1 thread\n`);
console.log('| layer | batch | MMAC | anyprec ms | anyprec, out reused ms | lowered ms | ORT ms | anyprec ÷ ORT, wall (≤ 1.25) | out reused ÷ ORT, wall | anyprec ÷ ORT, CPU time | same bits as lowered | max \\|Δ\\| vs ORT |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|');
for (const r of rows) {
  console.log(`| ${r.layer} | ${r.n} | ${(r.macs / 1e6).toFixed(2)} | ${fmt(r.t.anyprec)} | ${fmt(r.t['anyprec, out'])} | ${fmt(r.t.lowered)} | ${fmt(r.t.ort)} | ` +
    `${ratioCell(r.t.anyprec, r.t.ort)} | ${ratioCell(r.t['anyprec, out'], r.t.ort)} | ${ratioCell(r.cpu.anyprec, r.cpu.ort)} | ${r.same ? 'yes' : 'NO'} | ${Number.isNaN(r.maxDiff) ? '–' : r.maxDiff.toExponential(1)} |`);
}
console.log(`\nTimes: medians of ${rounds} interleaved rounds (the order rotating each round), wall time per call; ` +
  'CPU time: the process\'s CPU time per call, median over the rounds (robust to waiting for a vCPU on a shared machine). ' +
  'ORT\'s time includes its ~13 µs per run() from Node, ours our call\'s argument checks and output allocation ' +
  '("out reused": the output array given, options.out, as a network\'s plan runs the layer).');
