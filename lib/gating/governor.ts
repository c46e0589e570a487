// What a precision governor needs: the gate offset that gives a network a target sparsity.
import { checkFinite } from '../core/check';
import type { Tensor } from '../core/tensor';
import type { GateSummary } from './types';

/** Anything that runs a gated network and reports its gates (a Model). */
export interface GatedRunner {
  runSyncDetailed(x: Tensor, opts?: { gateOffset?: number } & Record<string, unknown>): { stats: { gate?: GateSummary } };
}

/**
 * MAC-weighted fraction of gated outputs OFF in one call (0 when no gate acted). The call runs
 * every gated layer on its gated path (gatePath 'gated' unless opts says otherwise): a layer run
 * dense computes no gate.
 */
export function gateOffFraction(model: GatedRunner, x: Tensor, opts?: { gateOffset?: number } & Record<string, unknown>): number {
  const g = model.runSyncDetailed(x, { gatePath: 'gated', ...opts }).stats.gate;
  if (g === undefined) throw new RangeError('the model has no precision-gated layers');
  return g.layers.length === 0 ? 0 : 1 - g.fraction;
}

export interface GateOffsetSearch {
  /** Stop when the off-fraction is within tol of the target (default 0.002). */
  tol?: number;
  /** Bisection steps at most (default 30). */
  maxIter?: number;
}

export interface GateOffsetResult {
  /** The gateOffset found. */
  offset: number;
  /** The MAC-weighted off-fraction it gives on the batch. */
  off: number;
}

/**
 * The gateOffset whose MAC-weighted off-fraction on `x` is closest to `target` (in [0, 1]) among
 * those tried: the fraction is non-decreasing in the offset, so the search brackets the target by
 * growing steps (0.01, ×4 each) away from 0, then bisects. `base` holds the other run options
 * (precision, ...) of every trial call.
 */
export function findGateOffset(model: GatedRunner, x: Tensor, target: number, base: Record<string, unknown> = {},
                               search: GateOffsetSearch = {}): GateOffsetResult {
  if (typeof target !== 'number') throw new TypeError(`target must be a number in [0, 1], got ${typeof target}`);
  if (!(target >= 0 && target <= 1)) throw new RangeError(`target must be a fraction in [0, 1], got ${target}`);
  if (base === null || typeof base !== 'object') throw new TypeError('base must be an object of run options');
  const tol = search.tol === undefined ? 0.002 : checkFinite(search.tol, 'tol');
  const maxIter = search.maxIter === undefined ? 30 : checkFinite(search.maxIter, 'maxIter');
  const f = (o: number) => gateOffFraction(model, x, { ...base, gateOffset: o, gatePath: 'gated' });
  let best: GateOffsetResult = { offset: 0, off: f(0) };
  const consider = (offset: number, off: number) => {
    if (Math.abs(off - target) < Math.abs(best.off - target)) best = { offset, off };
  };
  if (Math.abs(best.off - target) <= tol) return best;
  // Bracket: lo gives an off-fraction below the target, hi at or above it.
  const up = best.off < target;
  let lo = 0, hi = 0;
  for (let step = 0.01; ; step *= 4) {
    const o = up ? step : -step, v = f(o);
    consider(o, v);
    if (up ? v >= target : v <= target) {
      if (up) hi = o;
      else lo = o;
      break;
    }
    if (step > 1e12) return best;
    if (up) lo = o;
    else hi = o;
  }
  for (let i = 0; i < maxIter && Math.abs(best.off - target) > tol; i++) {
    const mid = (lo + hi) / 2;
    const v = f(mid);
    consider(mid, v);
    if (v < target) lo = mid;
    else hi = mid;
    if (hi - lo < 1e-9 * Math.max(1, Math.abs(hi))) break;
  }
  return best;
}
