// bench:model details: top-1 accuracy on the MNIST test split (every bit-width and the ORT
// references), and the per-layer / per-function breakdown of one model × batch.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import ort from 'onnxruntime-node';

import { root } from './machine.mjs';
import { median, timeOnce } from './measure.mjs';
import { RESNET_BITS } from './model-setup.mjs';
import { argmaxRows } from './nets.mjs';
import { instrument } from './profile.mjs';

const require = createRequire(import.meta.url);

/**
 * Top-1 accuracy on the 2,000 MNIST test digits at every bit-width, and of the ORT fp32 / int8
 * exports; also the agreement of each with anyprec's own 32-bit top-1 (the meaningful number
 * for nets with random weights). For fixture A the reference's own test accuracy is listed too.
 */
export async function accuracyPass(m, ctx) {
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
    ortInt8Qdq: m.qdqSession ? row(await top1(ortRun(m.qdqSession))) : null,
    reference: null,
  };
  if (m.name === 'resnet20') {
    const expected = JSON.parse(fs.readFileSync(path.join(ctx.fixtures, 'A', 'expected.json'), 'utf8'));
    result.reference = Object.fromEntries(RESNET_BITS.map((b) => [b, expected.results[String(b)]?.test_accuracy ?? null]));
  }
  return result;
}

// ---- breakdown: per layer and per function -----------------------------------------------------

export async function breakdown(g, ctx, profiler) {
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

/** Wraps dist/nn/ops.js and the kernel family modules under dist/core/kernels/, if they are the modules the model uses. */
export function makeProfiler(ap) {
  try {
    const families = ['platform', 'packed', 'bitgemm', 'gated', 'float', 'conv', 'eltwise'];
    const kernelsMods = families.map((f) => require(`${root}/dist/core/kernels/${f}.js`));
    const opsMod = require(`${root}/dist/nn/ops.js`);
    if (kernelsMods[0].isa !== ap.kernels.isa) return { error: 'dist/core/kernels/ is not the instance anyprec loaded' };
    return { profiler: instrument({ ops: opsMod, kernels: kernelsMods }) };
  } catch (err) {
    return { error: `cannot load dist/ internals for the profile: ${err.message}` };
  }
}
