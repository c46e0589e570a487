// Measured cases for interleaved benchmarks: each case is warmed up once, then timed in short
// batches of calls spread over several rounds (other cases run in between), and summarized by
// the median of all its samples. Used by bench/gemm.mjs and bench/model.mjs.
import { median, sampleCalls, timeOnce } from './measure.mjs';

/**
 * A case. `fn` is the timed call (sync, or returning a promise when `async`); `setup` runs
 * before each batch of calls, untimed; `check(output)` validates the warmup call's output and
 * returns { ok, ... }; `trackCpu` makes measure() add up the process CPU time and the wall time
 * of its batches (cpuMs, wallMs).
 */
export function makeCase(props) {
  return {
    estMs: NaN, // estimated ms per call: the warmup call's time
    reps: 1, // calls per slot
    slots: 1, // measurement slots per round
    minReps: 1,
    maxReps: Infinity,
    skipped: null, // reason, when not measured
    samples: [],
    roundMedians: [],
    check: null,
    checkResult: null,
    setup: () => {},
    async: false,
    ...props,
  };
}

/**
 * Planned time in ms of the cases not skipped: `rounds` rounds of their calls, plus one warmup
 * call each when `withWarmup`.
 */
export function plannedMs(cases, { rounds, withWarmup = false }) {
  const calls = (c) => rounds * c.slots * c.reps + (withWarmup ? 1 : 0);
  return cases.filter((c) => !c.skipped).reduce((sum, c) => sum + c.estMs * calls(c), 0);
}

/**
 * Calls per slot so that `rounds` rounds of the active cases (and their warmup calls, when
 * `withWarmup`) fit `budgetMs`: each case aims at `targetMs` per round (capped by `maxReps`),
 * and the target shrinks until the plan fits or every case is down to its minimum. Returns the
 * planned total in ms.
 */
export function planReps(cases, { targetMs, maxReps, rounds, budgetMs, withWarmup = false }) {
  const active = cases.filter((c) => !c.skipped);
  const total = () => plannedMs(active, { rounds, withWarmup });
  let target = targetMs;
  for (let iter = 0; iter < 40; iter++) {
    for (const c of active) {
      const reps = Math.round(target / c.slots / c.estMs);
      c.reps = Math.max(c.minReps, Math.min(maxReps, c.maxReps, reps));
    }
    if (total() <= budgetMs || active.every((c) => c.reps === c.minReps)) break;
    target *= Math.max(0.3, (0.95 * budgetMs) / total());
  }
  return total();
}

/** Runs one batch of calls of a case and records its samples (ms per call), and CPU time if asked. */
export async function measure(c) {
  if (c.skipped) return;
  c.setup();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const samples = await sampleCalls(c.id, c.fn, c.reps, c.async);
  if (c.trackCpu) {
    const cpu = process.cpuUsage(cpu0);
    c.cpuMs = (c.cpuMs ?? 0) + (cpu.user + cpu.system) / 1000;
    c.wallMs = (c.wallMs ?? 0) + performance.now() - wall0;
  }
  c.samples.push(...samples);
  c.roundMedians.push(median(samples));
}

/** One untimed call (lazy init, caches, page faults), its output checked; sets estMs. */
export async function warmup(c) {
  if (c.skipped) return;
  c.setup();
  let out;
  const ms = await timeOnce(async () => {
    out = await c.fn();
  });
  c.estMs = Math.max(ms, 0.001);
  if (c.check) c.checkResult = c.check(out);
  return out;
}

/** Median, minimum, sample count and per-round medians of a measured case. */
export function summarize(c) {
  if (c.skipped || c.samples.length === 0) return { skipped: c.skipped ?? 'not measured' };
  return {
    medianMs: median(c.samples),
    minMs: Math.min(...c.samples),
    samples: c.samples.length,
    roundMedianMs: c.roundMedians,
    ...(c.checkResult ? { check: c.checkResult } : {}),
  };
}

/** A shuffled copy of `list` (Fisher–Yates with the given PRNG). */
export function shuffle(list, rng) {
  const a = list.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** `list` rotated left by `by`. */
export function rotate(list, by) {
  const k = by % list.length;
  return list.slice(k).concat(list.slice(0, k));
}
