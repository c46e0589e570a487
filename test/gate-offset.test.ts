// The gate-offset search a precision governor uses (findGateOffset / Model.findGateOffset): the
// offset it returns gives the off-fraction it reports (measured here from the per-layer stats),
// that fraction is near the target, larger targets give larger offsets, the extremes reach all-on
// and all-off, and bad arguments are refused, naming them.
import { describe, expect, it } from '@jest/globals';
import { findGateOffset, gateOffFraction, Model, Tensor, zoo } from '../lib';
import type { RunStats } from '../lib';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

/** MAC-weighted fraction of gated outputs off, from the per-layer stats (not the summary). */
function offFromLayers(stats: RunStats): number {
  let macs = 0, off = 0;
  for (const l of stats.layers) {
    if (!l.gate) continue;
    macs += l.macs;
    off += l.macs * (1 - l.gate.on / l.gate.total);
  }
  return off / macs;
}

function setup() {
  const graph = zoo.gatedCnn({ bits: 4, highBits: 2 });
  const model = Model.build(graph, zoo.randomTensors(graph, 7)).setPrecision({ weights: 2, activations: 4 });
  const r = rng(5);
  const x = new Tensor(Float32Array.from({ length: 3 * 28 * 28 }, () => r() * 2 - 1), [3, 1, 28, 28]);
  model.calibrateGates(x, 0.5);
  return { model, x };
}

describe('findGateOffset', () => {
  const { model, x } = setup();

  it('returns an offset whose measured off-fraction is the one reported, near the target', () => {
    for (const target of [0.2, 0.5, 0.8]) {
      const r = model.findGateOffset(x, target);
      const measured = offFromLayers(model.runSyncDetailed(x, { gateOffset: r.offset }).stats);
      expect(r.off).toBeCloseTo(measured, 12);
      expect(Math.abs(r.off - target)).toBeLessThan(0.02);
    }
  });

  it('larger targets need larger offsets; 0 and 1 reach all-on and all-off', () => {
    const lo = model.findGateOffset(x, 0.3), hi = model.findGateOffset(x, 0.7);
    expect(hi.offset).toBeGreaterThan(lo.offset);
    const none = model.findGateOffset(x, 0);
    expect(offFromLayers(model.runSyncDetailed(x, { gateOffset: none.offset }).stats)).toBe(0);
    const all = model.findGateOffset(x, 1);
    expect(offFromLayers(model.runSyncDetailed(x, { gateOffset: all.offset }).stats)).toBe(1);
  });

  it('the function form takes the run options of every trial, and gateOffFraction measures one call', () => {
    const r = findGateOffset(model, x, 0.6, { bits: { weights: 2, activations: 4 } }, { tol: 0.05 });
    expect(Math.abs(r.off - 0.6)).toBeLessThanOrEqual(0.05);
    const f = gateOffFraction(model, x, { gateOffset: r.offset });
    expect(f).toBeCloseTo(offFromLayers(model.runSyncDetailed(x, { gateOffset: r.offset }).stats), 12);
    // At 2-bit activations no gate (B = 4) acts: nothing is gated off.
    expect(gateOffFraction(model, x, { bits: 2 })).toBe(0);
  });

  it('refuses bad arguments, naming them', () => {
    expect(thrown(() => model.findGateOffset(x, '0.5' as unknown as number))).toEqual(
      { name: 'TypeError', message: expect.stringMatching(/^target must be a number/) });
    expect(thrown(() => model.findGateOffset(x, 1.5))).toEqual(
      { name: 'RangeError', message: expect.stringMatching(/^target must be a fraction in \[0, 1\]/) });
    expect(thrown(() => model.findGateOffset(x, 0.5, undefined, { tol: NaN }))).toEqual(
      { name: 'RangeError', message: expect.stringMatching(/^tol must be a finite number/) });
    expect(thrown(() => model.findGateOffset([] as unknown as Tensor, 0.5)).name).toBe('TypeError');
    const plain = Model.build(zoo.cnn(), zoo.randomTensors(zoo.cnn(), 1));
    expect(thrown(() => plain.findGateOffset(x, 0.5))).toEqual(
      { name: 'RangeError', message: expect.stringMatching(/no precision-gated layers/) });
  });
});
