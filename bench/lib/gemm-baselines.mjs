// bench:gemm, the baselines of a shape: ONNX Runtime fp32 Gemm and int8 MatMulInteger (at every
// thread count; the 1-thread pair is the reference every anyprec row is divided by), anyprec's own
// floatGemm, tfjs-core on the wasm backend and a plain-JS loop; their exactness checks; and the
// loaders/rate probes they need.
import ort from 'onnxruntime-node';

import { log, secs } from './cli.mjs';
import { makeCase } from './cases.mjs';
import { timeOnce } from './measure.mjs';
import { gemmFp32Model, matMulIntegerModel, singleThreadOptions } from './onnx.mjs';
import { matMulEntry, randomBytes, randomFloats, randomInt8 } from './reference.mjs';

/** ORT's fp32 MatMul and int8 MatMulInteger models against the JS reference on a small shape. */
export async function verifyOrt(rng) {
  const m = 3, k = 77, n = 5;
  const x = randomFloats(rng, m * k);
  const w = randomFloats(rng, k * n, -1, 1);
  const fp32 = await ort.InferenceSession.create(gemmFp32Model(m, k, n, w), singleThreadOptions());
  const y = (await fp32.run({ X: new ort.Tensor('float32', x, [m, k]) })).Y.data;
  let maxErr = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) maxErr = Math.max(maxErr, Math.abs(y[i * n + j] - matMulEntry(x, w, k, n, i, j)));
  }
  await fp32.release();

  const xq = randomBytes(rng, m * k);
  const wq = randomInt8(rng, k * n);
  const xZero = 131, wZero = -3; // nonzero on both sides so the zero-point path is exercised
  const int8 = await ort.InferenceSession.create(matMulIntegerModel(m, k, n, wq, xZero, wZero), singleThreadOptions());
  const yq = (await int8.run({ X: new ort.Tensor('uint8', xq, [m, k]) })).Y.data;
  let mismatches = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) if (yq[i * n + j] !== matMulEntry(xq, wq, k, n, i, j, xZero, wZero)) mismatches++;
  }
  await int8.release();
  const result = {
    shape: `${m}×${k}×${n}`,
    fp32: { maxAbsError: maxErr, ok: maxErr < 1e-4 },
    int8: { mismatches, ok: mismatches === 0 },
  };
  log(`  ORT fp32 Gemm max |err| ${maxErr.toExponential(1)}; int8 MatMulInteger ${mismatches} mismatches`);
  return result;
}

/**
 * The baseline cases of one shape on float X (M×K) in [0,1), W (K×N) in [-1,1) (and, for ORT int8,
 * the uint8 codes anyprec packs). `units` = the number of interleaved units per round (the ORT
 * 1-thread pair gets a slot before and after each). Each case is run once and timed once here, for
 * the plan. Returns { ortCases (1 thread), extras, sessions (to release), jsSkipped }.
 */
export async function baselineCases(shape, ctx, { rng, codesA, positions, units }) {
  const { kernels, opts, isas } = ctx;
  const { m, k, n } = shape;
  const ortCases = [];
  const extras = [];
  const sessions = [];
  const x = randomFloats(rng, m * k);
  const w = randomFloats(rng, k * n, -1, 1);
  const checkFloat = (data) => (out) => {
    const y = data(out);
    for (const [i, j] of positions) {
      const want = matMulEntry(x, w, k, n, i, j);
      if (!(Math.abs(y[i * n + j] - want) <= 1e-3 * Math.sqrt(k))) return { ok: false, detail: `Y[${i}][${j}] = ${y[i * n + j]}, want ${want}` };
    }
    return { ok: true, entries: positions.length };
  };
  if (opts.ort) {
    // int8: uint8 activations with zero point 128 × int8 weights (symmetric, zero point 0, as
    // quantizers make them). The activations are the same bytes anyprec packs.
    const wq = randomInt8(rng, k * n);
    const xZero = 128, wZero = 0;
    const int8Feeds = { X: new ort.Tensor('uint8', codesA, [m, k]) };
    const fp32Feeds = { X: new ort.Tensor('float32', x, [m, k]) };
    for (const threads of opts.threads) {
      // More than one intra-op thread: spinning off (measured here: with 2 threads ORT's spinning
      // workers made its own runs ~2× slower on this 2-vCPU VM, and they steal the CPU from
      // whatever is measured next).
      const sessionOptions = { ...singleThreadOptions(), intraOpNumThreads: threads };
      if (threads > 1) sessionOptions.extra = { session: { intra_op: { allow_spinning: '0' } } };
      const fp32 = await ort.InferenceSession.create(gemmFp32Model(m, k, n, w), sessionOptions);
      const int8 = await ort.InferenceSession.create(matMulIntegerModel(m, k, n, wq, xZero, wZero), sessionOptions);
      sessions.push(fp32, int8);
      const tag = threads > 1 ? ` ${threads}T` : '';
      const pair = [
        makeCase({
          id: `ORT fp32 Gemm${tag}`,
          kind: 'ort-fp32',
          engine: 'ORT fp32 Gemm',
          threads,
          async: true,
          slots: threads === 1 ? units + 1 : 1,
          fn: () => fp32.run(fp32Feeds),
          check: checkFloat((out) => out.Y.data),
        }),
        makeCase({
          id: `ORT int8 MatMulInteger${tag}`,
          kind: 'ort-int8',
          engine: 'ORT int8 MatMulInteger',
          threads,
          async: true,
          slots: threads === 1 ? units + 1 : 1,
          fn: () => int8.run(int8Feeds),
          check: (out) => {
            for (const [i, j] of positions) {
              const want = matMulEntry(codesA, wq, k, n, i, j, xZero, wZero);
              if (out.Y.data[i * n + j] !== want) return { ok: false, detail: `Y[${i}][${j}] = ${out.Y.data[i * n + j]}, want ${want}` };
            }
            return { ok: true, entries: positions.length };
          },
        }),
      ];
      (threads === 1 ? ortCases : extras).push(...pair);
    }
  }
  // anyprec's float GEMM (the path of its full-precision layers): B is the weights N×K.
  const wT = new Float32Array(n * k);
  for (let t = 0; t < k; t++) for (let j = 0; j < n; j++) wT[j * k + t] = w[t * n + j];
  for (const threads of opts.threads) {
    extras.push(makeCase({
      id: `anyprec float${threads > 1 ? ` ${threads}T` : ''}`,
      kind: 'float',
      engine: 'anyprec floatGemm',
      threads,
      setup: () => {
        kernels.setIsa(isas[0]);
        kernels.setThreads(threads);
      },
      fn: () => kernels.floatGemm(x, m, k, wT, n),
      check: checkFloat((out) => out),
    }));
  }
  if (ctx.tfjs) {
    const { tf } = ctx.tfjs;
    const ta = tf.tensor2d(x, [m, k]);
    const tb = tf.tensor2d(w, [k, n]);
    ctx.tfjsTensors = [ta, tb];
    extras.push(makeCase({
      id: 'tfjs wasm matMul',
      kind: 'tfjs',
      engine: `tfjs wasm matMul`,
      threads: ctx.tfjs.threads,
      fn: () => {
        const c = tf.matMul(ta, tb);
        const data = c.dataSync();
        c.dispose();
        return data;
      },
      check: checkFloat((out) => out),
    }));
  }
  let jsSkipped = null;
  if (opts.js) {
    const estMs = (2 * m * k * n) / (ctx.jsGops * 1e6);
    const c = makeCase({
      id: 'plain JS loop',
      kind: 'js',
      engine: 'plain JS float32 loop',
      threads: 1,
      fn: () => jsGemm(x, w, m, k, n),
      check: checkFloat((out) => out),
      estMs,
    });
    if (estMs > opts.jsCapMs) {
      c.skipped = jsSkipped = `plain JS ≈${secs(estMs)} per call (at ${ctx.jsGops.toFixed(2)} Gop/s) > ${secs(opts.jsCapMs)}: only run at small shapes`;
    }
    extras.push(c);
  }
  for (const c of [...ortCases, ...extras]) {
    if (c.skipped) continue;
    c.setup();
    await c.fn();
    c.estMs = Math.max(await timeOnce(c.fn), 0.001);
  }
  return { ortCases, extras, sessions, jsSkipped };
}

/** C = X·W in float32 with plain JS loops (X M×K, W K×N row-major; i-t-j order, contiguous inner loop). */
function jsGemm(x, w, m, k, n) {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = out.subarray(i * n, (i + 1) * n);
    for (let t = 0; t < k; t++) {
      const v = x[i * k + t];
      const base = t * n;
      for (let j = 0; j < n; j++) row[j] += v * w[base + j];
    }
  }
  return out;
}

/** The plain-JS loop's Gop/s on a small shape, to predict which shapes it can afford. */
export async function jsRate() {
  const m = 16, k = 256, n = 256;
  const x = new Float32Array(m * k).fill(0.5), w = new Float32Array(k * n).fill(0.25);
  jsGemm(x, w, m, k, n);
  let best = Infinity;
  for (let r = 0; r < 5; r++) best = Math.min(best, await timeOnce(() => jsGemm(x, w, m, k, n)));
  return (2 * m * k * n) / (best * 1e6);
}

/**
 * tfjs-core with the wasm backend (its .wasm files ship inside the npm package, so nothing is
 * fetched). Threads: the wasm backend's threaded build needs browser workers; in Node it stays
 * at one thread, which getThreadsCount() reports after asking for the most threads we measure.
 * tfjs prints an advert for tfjs-node on first use: it is kept off stdout (the report).
 */
export async function loadTfjs(threadCounts) {
  const saved = { log: console.log, warn: console.warn, info: console.info };
  console.log = console.warn = console.info = () => {};
  try {
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const want = Math.max(...threadCounts);
    wasm.setThreadsCount(want);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
    tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync(); // the advert is printed here
    const threads = wasm.getThreadsCount();
    return {
      tf,
      backend: 'wasm',
      version: tf.version_core,
      threads,
      note: threads < want ? `asked for ${want} threads, the wasm backend runs ${threads} in Node (no threaded build without browser workers)` : null,
    };
  } catch (err) {
    log(`  tfjs wasm backend unavailable: ${err.message}`);
    return null;
  } finally {
    Object.assign(console, saved);
  }
}
