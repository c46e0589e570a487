// Timing primitives for the benchmarks: tinybench drives the calls, we keep the raw samples so
// that medians can be pooled over interleaved rounds (the machine is shared and noisy, so one
// long uninterrupted measurement per case would mostly measure whoever else was running).
import { Bench } from 'tinybench';

/** Median of a list of numbers (NaN when empty). */
export function median(values) {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Times exactly `reps` calls of `fn` (no warmup: callers warm up once per case, not per round)
 * and returns the per-call latencies in milliseconds.
 * @param {string} name
 * @param {() => unknown} fn  sync, or returning a promise when `isAsync`
 * @param {number} reps
 * @param {boolean} [isAsync]
 */
export async function sampleCalls(name, fn, reps, isAsync = false) {
  // time: 0 with iterations: reps makes tinybench stop after exactly `reps` samples.
  const bench = new Bench({
    iterations: reps,
    time: 0,
    warmup: false,
    retainSamples: true,
    throws: true,
    timestampProvider: 'hrtimeNow',
  });
  bench.add(name, fn, { async: isAsync });
  await bench.run();
  const result = bench.tasks[0].result;
  if (result.state !== 'completed') {
    throw new Error(`benchmark '${name}' did not complete (state ${result.state})`);
  }
  return Array.from(result.latency.samples);
}

/** Wall time of one call of `fn` in milliseconds (awaits a returned promise). */
export async function timeOnce(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
