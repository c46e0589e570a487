// The whole-network part of bench/gating.mjs: gated networks next to the same networks without
// gates, the gate offsets that give a target sparsity (found by the package), and the theoretical
// speedups.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The shared reference fixtures beside the repository (as test/fixture-b.test.ts finds them). */
export function fixturesDir() {
  return process.env.ANYPREC_FIXTURES ?? path.resolve(here, '..', '..', '..', 'shared', 'fixtures');
}

function readFloat32(file) {
  const buf = fs.readFileSync(file);
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/**
 * Fixture B (dnn-gating PG ResNet-20, w8 / a3 / 2 predictor bits, trained thresholds) and the same
 * network with every pgconv2d replaced by the plain sign-magnitude conv (smconv2d): the dense
 * 3-bit network with the same weights. Input: the fixture's first `batch` inputs (64 stored;
 * repeated when more are asked for).
 */
export function fixtureB(ap, batch) {
  const dir = path.join(fixturesDir(), 'B');
  const modelFile = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(modelFile)) return { skipped: `fixture B not found at ${dir} (set ANYPREC_FIXTURES)` };
  const st = ap.loadSafetensorsSync(modelFile).tensors;
  const graph = ap.pgResnetGraph(st);
  const floats = {};
  for (const [k, v] of st) if (v.dtype === 'F32') floats[k] = v.data;
  const gated = ap.Model.build(graph, floats);
  // A fresh gated model (its own per-layer path and route choosers), the same thresholds.
  const makeGated = () => ap.Model.build(graph, floats);
  const denseGraph = {
    ...graph,
    nodes: graph.nodes.map((n) => {
      if (n.op !== 'pgconv2d') return n;
      const { highBits: _hb, ...rest } = n;
      return { ...rest, op: 'smconv2d' };
    }),
  };
  const dense = ap.Model.build(denseGraph, floats);
  const inputs = readFloat32(path.join(dir, 'inputs.bin'));
  const sample = 3 * 32 * 32, stored = inputs.length / sample;
  const x = new Float32Array(batch * sample);
  for (let i = 0; i < batch; i++) x.set(inputs.subarray((i % stored) * sample, (i % stored + 1) * sample), i * sample);
  const pg = graph.nodes.find((n) => n.op === 'pgconv2d');
  return {
    name: 'fixture B: PG ResNet-20 (dnn-gating), trained thresholds',
    gated, makeGated, dense, x: new ap.Tensor(x, [batch, 3, 32, 32]), runOpts: {},
    B: 3, highBits: pg.highBits, weightBits: pg.weightBits,
    gatedLayers: graph.nodes.filter((n) => n.op === 'pgconv2d').map((n) => n.name),
    thresholds: 'trained (the checkpoint\'s Δ_c)',
  };
}

/**
 * anyprec's own gated network: the Any-Precision pre-activation ResNet-20 (zoo.preactResnet) with
 * gates (B = 4, Bhb = 2) on all 18 quantised convs, random weights, thresholds set to per-channel
 * medians of each layer's high-part outputs on the benchmark batch (model.calibrateGates(x, 0.5));
 * run at 2-bit weights / 4-bit activations. Dense: zoo.preactResnet with the same weights.
 */
export function zooResnet(ap, batch, seed) {
  const gatedGraph = ap.zoo.gatedPreactResnet({ bits: 4, highBits: 2 });
  const tensors = ap.zoo.randomTensors(gatedGraph, seed);
  const precision = { weights: 2, activations: 4 };
  const gated = ap.Model.build(gatedGraph, tensors).setPrecision(precision);
  const dense = ap.Model.build(ap.zoo.preactResnet({}), tensors).setPrecision(precision);
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const x = new ap.Tensor(Float32Array.from({ length: batch * 3 * 32 * 32 }, () => rand() * 2 - 1), [batch, 3, 32, 32]);
  gated.calibrateGates(x, 0.5);
  // A fresh gated model (its own per-layer path and route choosers), calibrated the same way: the
  // same thresholds (checked by the bench).
  const makeGated = () => {
    const m = ap.Model.build(gatedGraph, tensors).setPrecision(precision);
    m.calibrateGates(x, 0.5);
    return m;
  };
  return {
    name: 'zoo.gatedPreactResnet: Any-Precision ResNet-20, w2/a4, gates B=4/Bhb=2 on every quantised conv',
    gated, makeGated, dense, x, runOpts: {},
    B: 4, highBits: 2, weightBits: 2, floor: { weights: 2, activations: 2 },
    gatedLayers: gated.gatedLayers,
    thresholds: 'per-channel medians of O_hb on the benchmark batch (calibrateGates(x, 0.5)), random weights',
  };
}

/**
 * The gateOffset whose MAC-weighted off-fraction is closest to `target`: the package's own search
 * (Model.findGateOffset, the one a precision governor uses).
 */
export function findOffset(model, x, target, base = {}, { tol = 0.002, maxIter = 30 } = {}) {
  return model.findGateOffset(x, target, base, { tol, maxIter });
}

/**
 * Theoretical speedups of a gated call over the dense network, from the per-layer stats:
 * - planePairs: dense plane pairs ÷ gated plane pairs over every bit-serial layer of the network
 *   (bit-ops = MACs·w·a count plane pairs × K; the ungated bit-serial layers count as the same
 *   fixed cost on both sides; float layers are not plane pairs and are left out).
 * - time (Amdahl): the dense call's median time with each gated layer's dense time scaled by its
 *   own bitOps / denseBitOps, everything else (float layers, element-wise ops, ungated layers,
 *   packing) kept as measured: the best the gated network could do if the gated kernel's time
 *   were exactly proportional to its plane pairs.
 */
export function theory(stats, denseLayerMs, denseMs) {
  let fixed = 0, dense = 0, spent = 0, saved = 0;
  for (const l of stats.layers) {
    if (l.gate) {
      dense += l.gate.denseBitOps;
      spent += l.gate.bitOps;
      const t = denseLayerMs.get(l.nodes[0]);
      if (t !== undefined) saved += t * (1 - l.gate.bitOps / l.gate.denseBitOps);
    } else if (l.weightBits < 32) fixed += l.bitOps;
  }
  return { planePairs: (fixed + dense) / (fixed + spent), time: denseMs / (denseMs - saved), fixedBitOps: fixed };
}
