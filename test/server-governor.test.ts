// The precision governor on a simulated latency trace: a discrete-event simulation of one compute
// slot with fixed per-precision service times and seeded Poisson arrivals, driven by an injected
// clock. Deterministic: the same trace gives the same decisions.
import { describe, expect, it } from '@jest/globals';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Governor } = require('../packages/server/src/governor');

type P = { weights: number; activations: number };
const SLO = 50;
// ms per request at each precision (8-bit sustains 100 requests/s on one slot)
const COST: Record<number, number> = { 8: 10, 6: 7, 4: 5, 2: 3.5, 1: 3 };
const PRECISIONS: P[] = [8, 6, 4, 2, 1].map((b) => ({ weights: b, activations: b }));
const costs = Object.fromEntries(Object.entries(COST).map(([b, c]) => [`w${b}a${b}`, c]));

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

interface Done { arrival: number; finish: number; bits: number; pinned: boolean }

/** Runs the trace: phases of [durationMs, requests/s]. pinEvery: every k-th request pins 8 bits. */
function simulate(gov: InstanceType<typeof Governor>, clockRef: { now: number }, phases: Array<[number, number]>, seed = 7, pinEvery = 0): Done[] {
  const r = rng(seed);
  const arrivals: number[] = [];
  let t = 0;
  let end = 0;
  for (const [dur, rate] of phases) {
    end += dur;
    while (true) {
      t += -Math.log(r()) * 1000 / rate;
      if (t >= end) { t = end; break; }
      arrivals.push(t);
    }
  }
  const done: Done[] = [];
  const queue: number[] = [];
  let next = 0;
  let busyUntil = 0;
  let running: { arrival: number; bits: number; pinned: boolean; cost: number } | null = null;
  let index = 0;
  while (next < arrivals.length || queue.length || running) {
    // next event: an arrival or the running request's end
    const tArr = next < arrivals.length ? arrivals[next] : Infinity;
    const tEnd = running ? busyUntil : Infinity;
    if (tEnd <= tArr) {
      clockRef.now = tEnd;
      const p = { weights: running!.bits, activations: running!.bits };
      gov.record(p, tEnd - running!.arrival, running!.cost);
      done.push({ arrival: running!.arrival, finish: tEnd, bits: running!.bits, pinned: running!.pinned });
      running = null;
    } else {
      clockRef.now = tArr;
      gov.arrive();
      queue.push(tArr);
      next++;
    }
    if (!running && queue.length) {
      const arrival = queue.shift()!;
      const pin = pinEvery > 0 && ++index % pinEvery === 0 ? { weights: 8, activations: 8 } : undefined;
      const c = gov.choose(queue.length, pin);
      const bits = c.precision.weights;
      running = { arrival, bits, pinned: c.pinned, cost: COST[bits] };
      busyUntil = clockRef.now + COST[bits];
    }
  }
  return done;
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.ceil(0.95 * s.length) - 1];
}

const latencies = (d: Done[], from: number, to: number) => d.filter((x) => x.arrival >= from && x.arrival < to).map((x) => x.finish - x.arrival);
// light (50/s), 1.3x what 8 bits sustains (130/s), light again
const TRACE: Array<[number, number]> = [[5000, 50], [10000, 130], [10000, 50]];

function governed() {
  const clock = { now: 0 };
  const gov = new Governor({ sloP95Ms: SLO, precisions: PRECISIONS, costs, clock: () => clock.now });
  return { gov, clock };
}

describe('precision governor (simulated trace)', () => {
  it('keeps p95 within the objective at 1.3x the 8-bit capacity, where 8 bits pinned is far outside it', () => {
    const { gov, clock } = governed();
    const d = simulate(gov, clock, TRACE);
    const heavy = latencies(d, 6000, 15000); // one second to react
    expect(p95(heavy)).toBeLessThanOrEqual(SLO);
    // it traded bits to get there
    const heavyBits = d.filter((x) => x.arrival >= 6000 && x.arrival < 15000).map((x) => x.bits);
    expect(Math.max(...heavyBits)).toBeLessThanOrEqual(8);
    expect(heavyBits.reduce((a, b) => a + b, 0) / heavyBits.length).toBeLessThan(8);

    const pinnedClock = { now: 0 };
    const pinned8 = new Governor({ sloP95Ms: SLO, precisions: [{ weights: 8, activations: 8 }], costs, clock: () => pinnedClock.now });
    const d8 = simulate(pinned8, pinnedClock, TRACE);
    expect(d8.every((x) => x.bits === 8)).toBe(true);
    expect(p95(latencies(d8, 6000, 15000))).toBeGreaterThan(10 * SLO);
  });

  it('runs at full precision under light load and gives the bits back when the load falls', () => {
    const { gov, clock } = governed();
    const d = simulate(gov, clock, TRACE);
    expect(d.filter((x) => x.arrival < 5000).every((x) => x.bits === 8)).toBe(true);
    expect(d.filter((x) => x.arrival >= 18000).every((x) => x.bits === 8)).toBe(true);
    expect(gov.current()).toEqual({ weights: 8, activations: 8 });
  });

  it('has hysteresis: a bounded number of changes, never two within its decision interval', () => {
    const clock = { now: 0 };
    const changes: number[] = [];
    const gov = new Governor({ sloP95Ms: SLO, precisions: PRECISIONS, costs, clock: () => clock.now });
    const setLevel = gov.setLevel.bind(gov);
    gov.setLevel = (l: number, now: number) => { if (l !== gov.level) changes.push(now); setLevel(l, now); };
    simulate(gov, clock, TRACE);
    expect(changes.length).toBe(gov.changes);
    expect(changes.length).toBeGreaterThanOrEqual(2); // down under load, up after it
    expect(changes.length).toBeLessThanOrEqual(25); // at most one step up per upHoldMs (1 s) over 25 s
    for (let i = 1; i < changes.length; i++) expect(changes[i] - changes[i - 1]).toBeGreaterThanOrEqual(100);
  });

  it('is deterministic: the same trace gives the same precision for every request', () => {
    const a = governed();
    const b = governed();
    const da = simulate(a.gov, a.clock, TRACE);
    const db = simulate(b.gov, b.clock, TRACE);
    expect(da.map((x) => x.bits)).toEqual(db.map((x) => x.bits));
    expect(da.length).toBeGreaterThan(1500);
  });

  it('honours pinned precisions under load', () => {
    const { gov, clock } = governed();
    const d = simulate(gov, clock, TRACE, 7, 5);
    const pinned = d.filter((x) => x.pinned);
    expect(pinned.length).toBeGreaterThan(300);
    expect(pinned.every((x) => x.bits === 8)).toBe(true);
    expect(d.some((x) => !x.pinned && x.bits < 8)).toBe(true);
  });

  it('states which precisions it can trade: one that costs no less than a higher one is not tradeable', () => {
    const clock = { now: 0 };
    const gov = new Governor({
      sloP95Ms: SLO, precisions: PRECISIONS, clock: () => clock.now,
      costs: { w8a8: 10, w6a6: 11, w4a4: 6, w2a2: 5.9, w1a1: 3 },
    });
    const d = gov.describe();
    expect(d.tradeable.map((e: P) => e.weights)).toEqual([8, 4, 1]);
    expect(d.notTradeable.map((e: P) => e.weights).sort()).toEqual([2, 6]);
    expect(d.tradeable[1].costMs).toBe(6);
    // under overload it never picks a non-tradeable precision
    for (let i = 0; i < 40; i++) {
      clock.now += 100; // within staleMs (5 s) of the measurements
      const c = gov.choose(40);
      expect([8, 4, 1]).toContain(c.precision.weights);
    }
    expect(gov.current().weights).toBe(1);
    // a verdict older than staleMs (5 s) is not held against a precision: it becomes a candidate again
    clock.now += 6000;
    gov.choose(0);
    expect(gov.describe().tradeable.map((e: P) => e.weights)).toEqual([8, 6, 4, 2, 1]);
  });

  it('measured costs move the ladder (EWMA of the recorded compute times)', () => {
    const clock = { now: 0 };
    const gov = new Governor({ sloP95Ms: SLO, precisions: PRECISIONS.slice(0, 2), clock: () => clock.now });
    expect(gov.describe().tradeable).toHaveLength(2); // no costs yet: nothing ruled out
    gov.record({ weights: 8, activations: 8 }, 10, 10);
    gov.record({ weights: 6, activations: 6 }, 12, 12);
    expect(gov.describe().tradeable.map((e: P) => e.weights)).toEqual([8]);
    for (let i = 0; i < 30; i++) gov.record({ weights: 6, activations: 6 }, 5, 5);
    clock.now += 1000;
    gov.choose(0);
    expect(gov.describe().tradeable.map((e: P) => e.weights)).toEqual([8, 6]);
  });

  it('does not stay low on a stale cost: a calm p95 tries the level up again and re-measures it', () => {
    const clock = { now: 0 };
    // calibration measured 8 bits at 40 ms (the machine was busy); really it costs 10 ms
    const gov = new Governor({ sloP95Ms: SLO, precisions: PRECISIONS, clock: () => clock.now, costs: { ...costs, w8a8: 40 } });
    gov.setLevel(1, 0);
    for (let t = 0; t < 20000; t += 20) {
      clock.now = t;
      gov.arrive();
      const c = gov.choose(0);
      const cost = COST[c.precision.weights];
      clock.now = t + cost;
      gov.record(c.precision, cost, cost);
    }
    expect(gov.current()).toEqual({ weights: 8, activations: 8 });
    expect(gov.describe().tradeable[0].costMs).toBeLessThan(12); // re-measured
  });

  it('remembers the rate a level failed at: a constant overload does not draw it back up every staleMs', () => {
    // 45 s at 1.3x what 8 bits sustains (6 bits would need 91% of the slot), then light load
    const trace: Array<[number, number]> = [[2000, 50], [45000, 130], [8000, 50]];
    const run = (o: Record<string, number>) => {
      const clock = { now: 0 };
      const gov = new Governor({ sloP95Ms: SLO, precisions: PRECISIONS, costs, clock: () => clock.now, ...o });
      const ups: number[] = [];
      const setLevel = gov.setLevel.bind(gov);
      gov.setLevel = (l: number, now: number) => { if (l < gov.level && now >= 3000 && now < 47000) ups.push(now); setLevel(l, now); };
      const d = simulate(gov, clock, trace);
      const heavy = d.filter((x) => x.arrival >= 3000 && x.arrival < 47000).map((x) => x.finish - x.arrival);
      return { gov, d, ups: ups.length, p95: p95(heavy), late: heavy.filter((ms) => ms > SLO).length / heavy.length };
    };
    const remembering = run({});
    const forgetting = run({ limitMs: 1, maxLimitMs: 1 }); // the memory off: only staleMs decides
    // without it: a step up about every 2 s under the constant overload, each an overload
    expect(forgetting.ups).toBeGreaterThanOrEqual(15);
    expect(remembering.ups).toBeLessThanOrEqual(forgetting.ups / 2);
    expect(remembering.late).toBeLessThan(forgetting.late);
    expect(remembering.p95).toBeLessThanOrEqual(SLO);
    // the bits come back when the load falls below the remembered rate (within a rate window and
    // the up-steps' holds)
    const back = remembering.d.find((x) => x.arrival >= 47000 && x.bits === 8);
    expect(back).toBeDefined();
    expect(back!.arrival).toBeLessThan(51000);
    expect(remembering.gov.describe().arrivalRatePerS).toBeGreaterThan(30);
    expect(remembering.gov.describe().arrivalRatePerS).toBeLessThan(70);
  });

  it('does not step up onto a level the offered rate would saturate, stale or not the p95', () => {
    const clock = { now: 0 };
    const gov = new Governor({ sloP95Ms: SLO, precisions: PRECISIONS.slice(0, 3), costs, clock: () => clock.now, staleMs: 1e9 });
    gov.setLevel(2, 0); // 4 bits, 5 ms
    // 150 requests/s arrive and finish at 4 bits quickly: the p95 is calm, but 8 bits (10 ms) would need 1.5 slots
    // and 6 bits (7 ms) 1.05
    for (let t = 0; t < 10000; t += 1000 / 150) {
      clock.now = t;
      gov.arrive();
      const c = gov.choose(0);
      gov.record(c.precision, 5, COST[c.precision.weights]);
    }
    expect(gov.current().weights).toBe(4);
    expect(gov.rate()).toBeGreaterThan(145);
    expect(gov.rate()).toBeLessThan(155);
  });

  it('never moves up in bits behind its own decisions: the precision in use stays on the ladder when its cost rises', () => {
    const clock = { now: 0 };
    const gov = new Governor({ sloP95Ms: SLO, precisions: PRECISIONS.slice(0, 3), costs, clock: () => clock.now });
    gov.setLevel(2, 0); // 4 bits
    // under a burst of load the 4-bit cost is measured above the (older, calm) 8-bit one
    for (let i = 0; i < 20; i++) { clock.now += 10; gov.arrive(); gov.record({ weights: 4, activations: 4 }, 40, 12); }
    const changes = gov.changes;
    for (let i = 0; i < 5; i++) { clock.now += 100; gov.arrive(); gov.choose(3); }
    expect(gov.current()).toEqual({ weights: 4, activations: 4 });
    expect(gov.changes).toBe(changes);
  });

  it('offers a gate-offset hook for gated models', () => {
    const clock = { now: 0 };
    const seen: number[] = [];
    const gov = new Governor({
      sloP95Ms: SLO, precisions: PRECISIONS, costs, clock: () => clock.now,
      gateOffsetFor: (_p: P, pressure: number) => { seen.push(pressure); return pressure > 1 ? 0.5 : undefined; },
    });
    expect(gov.choose(0).gateOffset).toBeUndefined();
    expect(gov.choose(20).gateOffset).toBe(0.5); // 21 x 10 ms predicted against 50 ms
    expect(seen).toHaveLength(2);
    expect(gov.choose(20, { weights: 2, activations: 2 }).gateOffset).toBeUndefined(); // pinned: untouched
  });

  it('rejects bad options with errors naming them', () => {
    expect(() => new Governor({ sloP95Ms: 0, precisions: PRECISIONS })).toThrow(/sloP95Ms/);
    expect(() => new Governor({ sloP95Ms: 10, precisions: [] })).toThrow(/precisions/);
    expect(() => new Governor({ sloP95Ms: 10, precisions: PRECISIONS, upAt: 0.95 })).toThrow(/upAt/);
    expect(() => new Governor({ sloP95Ms: 10, precisions: PRECISIONS, upRate: 1.5 })).toThrow(/upRate/);
    expect(() => new Governor({ sloP95Ms: 10, precisions: PRECISIONS, limitMs: -1 })).toThrow(/limitMs/);
  });
});
