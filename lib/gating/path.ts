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
// so the gated path is measured again before it is compared). The path not chosen runs once more
// after `recheckEvery` calls, then at doubling intervals up to RECHECK_MAX calls, so a change in
// load, batch size or input keeps the choice honest at a bounded cost (a re-check of the slower
// path costs what that path costs, once per interval).
// When every gated layer of a plan settles on dense, the plan runs the whole call as one native
// program with those layers lowered dense (Plan.runSettledDense: settledDense, skip), as the
// ungated network runs; a re-check call runs the JS steps again.
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
/** The longest interval (calls) between re-checks of the path not chosen. */
const RECHECK_MAX = 1024;

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
  /** The call number of the next re-check, and the interval after it. */
  private nextRecheck: number;
  private interval: number;

  constructor(private readonly recheckEvery = 32) {
    this.nextRecheck = recheckEvery;
    this.interval = recheckEvery;
  }

  /** Whether call number `call` re-checks (and, when `advance`, moves the schedule past it). */
  private recheckDue(call: number, advance: boolean): boolean {
    if (call < this.nextRecheck) return false;
    if (advance) {
      this.interval = Math.min(RECHECK_MAX, 2 * this.interval);
      this.nextRecheck = call + this.interval;
    }
    return true;
  }

  /** Whether both paths have their samples at `offset` (the comparison is made). */
  private compared(offset: number): boolean {
    return offset === this.gatedOffset && this.gated.perRow.length > 0 && this.gated.calls > WARMUP &&
      this.dense.perRow.length > 0 && this.dense.calls > WARMUP;
  }

  /**
   * Whether the next call at `offset` would run the dense path by the comparison (no measuring,
   * no re-check due): a caller may then run it elsewhere (a native program) and call skip().
   */
  settledDense(offset: number): boolean {
    if (!this.compared(offset) || this.calls + 1 >= this.nextRecheck) return false;
    return Math.min(...this.gated.perRow) > Math.min(...this.dense.perRow);
  }

  /** Counts a call that ran the dense path outside choose/record (after settledDense). */
  skip(): void {
    this.calls++;
  }

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
    if (this.recheckDue(this.calls, true)) {
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

/** A gated layer's high-part route: see HighRouteChooser. */
export type HighRoute = 'bitserial' | 'int8' | 'codes';

/** One route's trial result for a row count: the route and each tried route's best time (ms). */
export interface HighRouteTrial {
  high: HighRoute;
  ms: Partial<Record<HighRoute, number>>;
}

let forcedHighRoute: HighRoute | undefined;

/**
 * Forces every gated layer's high-part route ('auto': measured, the default; a tuning and test aid
 * like kernels.setGemmPath, which forces 'bitserial' or 'int8' when this is 'auto'). 'codes' applies
 * where the layer's input allows it (unsigned B-bit codes), else the measured route runs.
 */
export function setGatedHighRoute(route: HighRoute | 'auto'): void {
  if (route !== 'auto' && route !== 'bitserial' && route !== 'int8' && route !== 'codes') {
    throw new RangeError(`route must be 'auto', 'bitserial', 'int8' or 'codes', got ${String(route)}`);
  }
  forcedHighRoute = route === 'auto' ? undefined : route;
}

/** The route setGatedHighRoute forces, or undefined ('auto'). */
export function gatedHighRoute(): HighRoute | undefined {
  return forcedHighRoute;
}

/** "measured: int8 0.81x, codes 0.62x the bit-serial time" (the other routes against the first). */
export function highRouteReason(t: HighRouteTrial): string {
  const entries = Object.entries(t.ms) as [HighRoute, number][];
  const [base, baseMs] = entries[0];
  const name = base === 'bitserial' ? 'bit-serial' : base;
  return `measured: ${entries.slice(1).map(([r, ms]) => `${r} ${(ms / baseMs).toFixed(2)}x`).join(', ')} the ${name} time`;
}

/**
 * Per gated layer, the route of its high part: 'bitserial' (the top planes against the weight
 * planes), 'int8' (an int8 GEMM of the high codes rebuilt from the planes) or 'codes' (the dense
 * int8 route on the high codes p >> L read in place, the gated kernel given its sums and packing
 * only the L low planes). All give the same bits, so unlike the gated/dense choice above this one
 * is made by default: on the first call of a layer with a given number of output rows (batch x
 * positions), every route offered runs on that call's own operands (one warm-up each, then
 * HIGH_TRIAL_RUNS each, in rotating order; each run includes that route's own input preparation)
 * and the fastest best time wins; the layer keeps that route for that row count. Measured here,
 * never fitted to one machine: which is faster depends on the CPU's int8 instructions, the bits
 * and the layer's shape.
 */
export class HighRouteChooser {
  private readonly chosen = new Map<number, HighRouteTrial>();

  /** `routes`: the routes tried, the first the reference of the reported ratios. */
  constructor(private readonly routes: readonly HighRoute[] = ['bitserial', 'int8']) {}

  /** The measured route for `rows` output rows, or undefined before its trial. */
  route(rows: number): HighRouteTrial | undefined {
    return this.chosen.get(rows);
  }

  /**
   * Runs the trial for `rows` with `run` (one gated call on the given route) and returns the
   * result of a last call on the winning route (the call's outputs are that route's; all routes'
   * are the same bits).
   */
  trial<T>(rows: number, run: (high: HighRoute) => T): T {
    const routes = this.routes;
    const best = new Map<HighRoute, number>(routes.map((r) => [r, Infinity]));
    for (const h of routes) run(h);
    for (let i = 0; i < HIGH_TRIAL_RUNS; i++) {
      for (let j = 0; j < routes.length; j++) {
        const h = routes[(i + j) % routes.length];
        const t0 = performance.now();
        run(h);
        best.set(h, Math.min(best.get(h)!, performance.now() - t0));
      }
    }
    let high = routes[0];
    for (const r of routes) if (best.get(r)! < best.get(high)!) high = r;
    this.chosen.set(rows, { high, ms: Object.fromEntries(best) });
    return run(high);
  }
}
