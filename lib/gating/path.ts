// Never slower than not gating: per gated layer, whether its gated path (high planes everywhere,
// low planes where the gate lets an output through) or its dense path (every output at B bits,
// on the GEMM's own best route: bit-serial or int8) is faster — decided from this layer's own
// measured times in this process, never from constants fitted to one machine.
//
// Both paths are exact: the gated one gives the gate's results (O where on, O_hb elsewhere), the
// dense one the layer without its gate, bit for bit what gate 'open' gives (every output gets its
// low bits: never less precise than the gate's). That is why the choice is asked for (gatePath
// 'auto') rather than made by default: results change where a layer runs dense.
//
// How it decides (`choose`): the first calls of a layer run gated (warm-up, then measured), the
// next ones dense (measured); from then on the path with the lower time per output row runs, the
// gated time taken at the gate's current setting (a changed gateOffset changes the on-fraction,
// so the gated path is measured again before it is compared). Every `recheckEvery` calls the path
// not chosen runs once more, so a change in load, batch size or input keeps the choice honest.
// Times are per output row (batch x positions) and the least of the last few samples of a path
// counts (the least noisy estimate of its cost on a shared machine).
import type { GatePath } from './types';

/** Which path a gated layer ran in one call, and why. */
export interface PathChoice {
  path: 'gated' | 'dense';
  /** Why: "gatePath 'gated'" (asked), 'measuring', or the measured comparison ('gated 0.62x the dense time', ...). */
  reason: string;
}

/** Calls measured per path before the comparison, and samples kept per path. */
const WARMUP = 1;
const SAMPLES = 3;

interface Samples {
  /** ms per output row, the last SAMPLES calls. */
  perRow: number[];
  /** Calls of this path so far (warm-up included). */
  calls: number;
}

/** One gated layer's measured path choice (state kept across calls of a compiled plan). */
export class GatePathChooser {
  private readonly gated: Samples = { perRow: [], calls: 0 };
  private readonly dense: Samples = { perRow: [], calls: 0 };
  /** The gate setting (offset) the gated samples were taken at. */
  private gatedOffset = NaN;
  private calls = 0;

  constructor(private readonly recheckEvery = 32) {}

  /** The path to run in this call, for a trained gate at `offset` (`want`: the run option). */
  choose(want: GatePath, offset: number): PathChoice {
    this.calls++;
    if (want !== 'auto') return { path: want, reason: `gatePath '${want}'` };
    if (offset !== this.gatedOffset) {
      // A new setting: the on-fraction (and with it the gated time) is not known yet.
      this.gated.perRow.length = 0;
      this.gated.calls = Math.min(this.gated.calls, WARMUP);
      this.gatedOffset = offset;
    }
    if (this.gated.perRow.length === 0 || this.gated.calls <= WARMUP) return { path: 'gated', reason: 'measuring' };
    if (this.dense.perRow.length === 0 || this.dense.calls <= WARMUP) return { path: 'dense', reason: 'measuring' };
    const g = Math.min(...this.gated.perRow), d = Math.min(...this.dense.perRow);
    const ratio = g / d;
    let path: 'gated' | 'dense' = ratio <= 1 ? 'gated' : 'dense';
    let reason = `gated ${ratio.toFixed(2)}x the dense time`;
    if (this.calls % this.recheckEvery === 0) {
      path = path === 'gated' ? 'dense' : 'gated';
      reason = `recheck (${reason})`;
    }
    return { path, reason };
  }

  /** Records one call's time of `path` (ms for `rows` output rows). */
  record(path: 'gated' | 'dense', ms: number, rows: number): void {
    const s = path === 'gated' ? this.gated : this.dense;
    s.calls++;
    if (s.calls <= WARMUP || !(rows > 0) || !(ms >= 0)) return;
    s.perRow.push(ms / rows);
    if (s.perRow.length > SAMPLES) s.perRow.shift();
  }
}

/** Timed runs of each high route in a trial, after one warm-up run of each. */
const HIGH_TRIAL_RUNS = 3;

/** One route's trial result for a row count: the route and each route's best time (ms). */
export interface HighRouteTrial {
  high: 'bitserial' | 'int8';
  bitserialMs: number;
  int8Ms: number;
}

/**
 * Per gated layer, the route of its high part: 'bitserial' (the top planes against the weight
 * planes) or 'int8' (an int8 GEMM of the high codes). Both give the same bits, so unlike the
 * gated/dense choice above this one is made by default: on the first call of a layer with a given
 * number of output rows (batch x positions), both routes run on that call's own operands (one
 * warm-up each, then HIGH_TRIAL_RUNS each, interleaved) and the faster one's best time wins; the
 * layer keeps that route for that row count. Measured here, never fitted to one machine: which is
 * faster depends on the CPU's int8 instructions, the bits and the layer's shape.
 */
export class HighRouteChooser {
  private readonly chosen = new Map<number, HighRouteTrial>();

  /** The measured route for `rows` output rows, or undefined before its trial. */
  route(rows: number): HighRouteTrial | undefined {
    return this.chosen.get(rows);
  }

  /**
   * Runs the trial for `rows` with `run` (one gated call on the given route) and returns the
   * result of a last call on the winning route (the call's outputs are that route's; both
   * routes' are the same bits).
   */
  trial<T>(rows: number, run: (high: 'bitserial' | 'int8') => T): T {
    const best = { bitserial: Infinity, int8: Infinity };
    const routes = ['bitserial', 'int8'] as const;
    for (const h of routes) run(h);
    for (let i = 0; i < HIGH_TRIAL_RUNS; i++) {
      for (const h of i % 2 === 0 ? routes : [routes[1], routes[0]]) {
        const t0 = performance.now();
        run(h);
        best[h] = Math.min(best[h], performance.now() - t0);
      }
    }
    const high = best.int8 < best.bitserial ? 'int8' : 'bitserial';
    this.chosen.set(rows, { high, bitserialMs: best.bitserial, int8Ms: best.int8 });
    return run(high);
  }
}
