// The GEMM route of a quantised layer in a plan: bit-serial (pack planes + popcount GEMM) or int8
// (the codes straight into the VNNI/dot-product kernels, the indirect conv tile for convs). Both
// routes give bit-identical results; only their speed differs, and that depends on the CPU, the
// bits, the shape and the batch. A rule fitted on plain GEMMs (kernels.gemmPath) misjudges convs
// on some CPUs, so under 'measure' (the default) the route of each layer shape is timed when a
// plan first needs it: both routes' kernel calls, as a native program holds them, on the layer's
// real weights and a synthetic input of the program's row count (at most TRIAL_ROWS), a few runs
// each, interleaved, the best of each compared. Results are cached per JS environment (process or worker), keyed by
// everything the choice depends on, so a layer shape is measured once.
import * as kernels from '../core/kernels';
import type { Packed } from '../core/kernels';

/** How plans choose a quantised layer's GEMM route when kernels.setGemmPath leaves it to them ('auto'). */
export type GemmRouting = 'measure' | 'rule';
const ROUTINGS: readonly GemmRouting[] = ['measure', 'rule'];

/**
 * Why a layer took its route: 'forced' (kernels.setGemmPath), 'rule' (the dispatch rule, under
 * routing 'rule' or for inputs the trial does not cover), 'estimate' (the rule's estimate was
 * clear by more than TRIAL_FACTOR, no trial) or 'measured' (both routes timed, now or earlier for
 * the same key: routeCacheStats counts the trials and the cache hits).
 */
export type RouteReason = 'forced' | 'rule' | 'estimate' | 'measured';

/** The GEMM route a quantised layer takes, and why (with the trial's best times when one ran). */
export interface LayerRoute {
  path: kernels.GemmPathName;
  reason: RouteReason;
  /** The trial's best time of each route for the trial's batch, in ms (measured only). */
  bitserialMs?: number;
  int8Ms?: number;
}

/**
 * A trial runs only where the rule's estimated time ratio (bit-serial / int8) lies within
 * [1 / TRIAL_FACTOR, TRIAL_FACTOR]. On the CPU it was checked on (AMD Zen 5, AVX-512 VNNI) the
 * rule misjudged ResNet-20's 2-bit convs by 2-3x (estimate 0.5-0.7, int8 measured faster), so 3
 * leaves room for that; 1-bit layers (~0.1) and 6-8 bits (~4-8) there are left to the rule.
 */
export const TRIAL_FACTOR = 3;
/**
 * A trial's batch: the program's, or fewer samples where those reach TRIAL_ROWS GEMM rows (16
 * images of 32x32 positions): past that a route's time per row hardly changes, and a batch-64
 * trial would cost 4x as much.
 */
export const TRIAL_ROWS = 16384;
/** Timed runs of each route after one warm-up run; one where the warm-up of either took longer than LONG_TRIAL_MS. */
export const TRIAL_RUNS = 3;
const LONG_TRIAL_MS = 20;

let routing: GemmRouting = 'measure';
const cache = new Map<string, LayerRoute>();
const counters = { trials: 0, hits: 0, trialMs: 0 };

/**
 * How plans built from now on choose each quantised layer's GEMM route when kernels.gemmPathSetting()
 * is 'auto': 'measure' (default: time both routes once per layer shape, take the faster) or 'rule'
 * (the kernels' dispatch rule, kernels.gemmPath, no trial). Programs already built keep their
 * routes; a plan keeps one program per setting. Applies to the calling thread (worker) only.
 */
export function setGemmRouting(mode: GemmRouting): void {
  if (typeof mode !== 'string') {
    throw new TypeError(`routing must be one of ${ROUTINGS.join(', ')}, got ${mode === null ? 'null' : typeof mode}`);
  }
  if (!ROUTINGS.includes(mode)) throw new RangeError(`routing must be one of ${ROUTINGS.join(', ')}, got '${mode}'`);
  routing = mode;
}

/** The setting of setGemmRouting ('measure' unless changed). */
export function gemmRoutingSetting(): GemmRouting {
  return routing;
}

/** The trial cache: its entries, trials run, cache hits, and the time all trials took (ms). */
export function routeCacheStats(): { entries: number; trials: number; hits: number; trialMs: number } {
  return { entries: cache.size, ...counters };
}

/** Forgets every measured route (the next plan built measures again); the counters restart. */
export function clearRouteCache(): void {
  cache.clear();
  counters.trials = counters.hits = counters.trialMs = 0;
}

/** A quantised layer's GEMM over one batch, as lowered: what both routes need. */
export interface RouteLayer {
  /** The conv shape [n, h, w, c, kh, kw, ...] of the batch (a dense layer: [n, 1, 1, K, 1, 1, 1, 1, 0, 0, 1, 1]). */
  shape: kernels.ConvShapeArray;
  conv: boolean;
  /** GEMM rows (n x output positions), output channels, depth. */
  rows: number;
  channels: number;
  k: number;
  aBits: number;
  wBits: number;
  weights: Packed;
  /** The layer's epilogue without residual or dual codes (both routes read those alike). */
  epilogue: kernels.ProgramEpilogue;
}

/** The route of a layer whose input is unsigned codes (the only kind a trial covers). */
export function chooseRoute(l: RouteLayer): LayerRoute {
  const setting = kernels.gemmPathSetting();
  if (setting !== 'auto') return { path: setting, reason: 'forced' };
  const rule = kernels.gemmPath(l.aBits, l.wBits, l.rows, l.channels, l.k);
  if (routing === 'rule') return { path: rule, reason: 'rule' };
  const ratio = kernels.gemmPathRatio(l.aBits, l.wBits, l.rows, l.channels, l.k);
  if (!(ratio >= 1 / TRIAL_FACTOR && ratio <= TRIAL_FACTOR)) return { path: rule, reason: 'estimate' };
  const sample = trialSample(l);
  const key = trialKey(sample);
  const kept = cache.get(key);
  if (kept) {
    counters.hits++;
    return { ...kept };
  }
  const t0 = performance.now();
  const { bitserial, int8 } = trial(sample);
  counters.trials++;
  counters.trialMs += performance.now() - t0;
  const route: LayerRoute = { path: int8 < bitserial ? 'int8' : 'bitserial', reason: 'measured', bitserialMs: bitserial, int8Ms: int8 };
  cache.set(key, route);
  return route;
}

/** The layer over the trial's batch (at most the samples that reach TRIAL_ROWS rows). */
function trialSample(l: RouteLayer): RouteLayer {
  const n = l.shape[0], positions = l.rows / n;
  const samples = Math.min(n, Math.max(1, Math.ceil(TRIAL_ROWS / positions)));
  if (samples === n) return l;
  const shape = [samples, ...l.shape.slice(1)] as kernels.ConvShapeArray;
  return { ...l, shape, rows: samples * positions };
}

/** Rows bucketed by powers of two: batches of similar size share a trial. */
function rowBucket(rows: number): number {
  return Math.floor(Math.log2(Math.max(1, rows)));
}

/** Everything the measured choice depends on (the batch only through the trial's row bucket). */
function trialKey(l: RouteLayer): string {
  const epi = l.epilogue.output === 'codes' ? `codes${l.epilogue.bits}` : 'float';
  const geometry = l.conv ? l.shape.slice(1).join(',') : `fc${l.k}`;
  return [kernels.isa(), kernels.threads(), l.aBits, l.wBits, rowBucket(l.rows), l.channels, l.k, geometry, epi].join('/');
}

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { imul } = Math;

/** Deterministic floats in [0, 1) (a linear congruential sequence): the trial's input. */
function syntheticInput(count: number): Float32Array {
  let s = 0x2545f491;
  const x = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s = (imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (s >>> 8) / 16777216;
  }
  return x;
}

/**
 * The two routes' programs: the input floats quantised to aBits-bit codes (not timed), then each
 * route's ops exactly as lowerCodes emits them, then (codes out) a decode to floats (not timed:
 * a program returns floats). Returns each program and the index range of its timed ops.
 */
function trialPrograms(l: RouteLayer): Array<{ program: kernels.Program; from: number; to: number }> {
  const [n, h, w, c] = l.shape;
  const inCount = n * h * w * c, outCount = l.rows * l.channels;
  const codesOut = l.epilogue.output === 'codes';
  const weights = { b: l.weights, bBits: l.wBits, bEncoding: 'bipolar' as const };
  const quantize: kernels.ProgramOp = { op: 'quantize', x: 0, out: 1, count: inCount, channels: c, bits: l.aBits };
  const build = (buffers: number[], route: kernels.ProgramOp[]) => {
    const ops = [quantize, ...route];
    let output = 2;
    if (l.epilogue.output === 'codes') {
      const levels = (1 << l.epilogue.bits) - 1;
      output = buffers.push(4 * outCount) - 1;
      ops.push({ op: 'codesToFloat', x: 2, out: output, count: outCount,
        table: new Float32Array(levels + 1).map((_, p) => p / levels) });
    }
    return { program: kernels.buildProgram({ buffers, input: 0, output, ops }), from: 1, to: 1 + route.length };
  };
  const base = [4 * inCount, inCount, outCount * (codesOut ? 1 : 4)];
  const int8 = build([...base], [{ op: 'int8Codes', x: 1, shape: l.shape, aBits: l.aBits, aEncoding: 'unsigned', ...weights,
    int8Weights: kernels.preparedInt8Weights(l.weights, l.wBits, 'bipolar'), epilogue: l.epilogue, out: 2 }]);
  const data = base.length, pops = base.length + 1;
  const pack: kernels.ProgramOp = l.conv ? { op: 'packConv', x: 1, data, pops, shape: l.shape, planes: l.aBits }
    : { op: 'pack', x: 1, data, pops, rows: l.rows, k: l.k, planes: l.aBits };
  const bitserial = build([...base, 8 * kernels.packedWords(l.rows, l.k, l.aBits), 4 * l.rows * l.aBits], [pack,
    { op: 'gemm', aData: data, aPops: pops, aRows: l.rows, aPlanes: l.aBits, aBits: l.aBits, aEncoding: 'unsigned', ...weights,
      epilogue: l.epilogue, out: 2 }]);
  return [bitserial, int8];
}

/** Best times (ms) of both routes: one warm-up run each, then TRIAL_RUNS interleaved runs (one when slow). */
function trial(l: RouteLayer): { bitserial: number; int8: number } {
  const programs = trialPrograms(l);
  const input = syntheticInput(programs[0].program.inputCount);
  const best = [Infinity, Infinity];
  const once = (i: number): number => {
    const { program, from, to } = programs[i];
    const { times } = kernels.runProgramTimed(program, input, true);
    let ms = 0;
    for (let o = from; o < to; o++) ms += times[o];
    best[i] = Math.min(best[i], ms);
    return ms;
  };
  try {
    const warm = Math.max(once(0), once(1));
    const runs = warm > LONG_TRIAL_MS ? 1 : TRIAL_RUNS;
    for (let r = 0; r < runs; r++) {
      once(r % 2);
      once(1 - (r % 2));
    }
  } finally {
    for (const p of programs) kernels.releaseArenas(p.program);
  }
  return { bitserial: best[0], int8: best[1] };
}
