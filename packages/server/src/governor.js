'use strict';
// The precision governor: picks each request's precision from the model's offered bit list so
// that the end-to-end p95 latency stays within an objective. Pure and deterministic: it reads
// time only from the injected clock and changes state only through record() / choose().
//
// Model of the server it steers: `concurrency` compute slots, each request costs cost(p) ms of
// compute at precision p (measured: an EWMA per precision, seeded by a calibration), queued
// requests wait their turn. The predicted latency of a request arriving now at precision p is
//   predict(p, q) = (floor(q / concurrency) + 1) * cost(p)
// with q requests already queued or running ahead of it.
//
// The ladder is the offered precisions sorted by bits, most first; a precision that costs as much
// as (or more than) one with more bits is not tradeable (dropping to it saves no time) and the
// governor does not step onto it while that measurement is fresh (staleMs): costs move with the
// machine's load, so an old verdict is tried again.
//
// Decisions (at most one every `intervalMs`):
//   down: when the window's p95 or the prediction for the current level exceeds `downAt`·SLO, go
//         straight to the highest-bit level whose prediction fits within `downAt`·SLO (the lowest
//         level when none does).
//   up:   one level at a time, only when the window's p95 (samples since the last change) and the
//         prediction for the next level up are both within `upAt`·SLO, the offered rate times the
//         level's cost leaves it `upUtilization` of the compute slots at most, and the last change
//         is at least `upHoldMs` old. downAt > upAt and the hold time are the hysteresis. A level
//         whose cost was not measured for `staleMs` is tried again when the p95 is calm, whatever
//         its old cost says (costs are only measured at the levels in use).
//   rate memory: the arrival rate at which a level failed (the governor stepped down from it after
//         holding it longer than two decision intervals, the p95 of the requests that arrived
//         since it was entered over downAt·SLO) is remembered; the level is not stepped onto
//         again while the offered rate stays above `upRate` of that rate, for `limitMs` — doubled
//         each time the level fails again soon after it was retried (a constant overload is
//         retried ever more rarely), back to `limitMs` once a retry holds. Without it a constant load above a level's capacity is an oscillation:
//         down, calm, the level's cost stale, up, overloaded, down.

/** @typedef {{ weights: number, activations: number }} Precision */

function key(p) {
  return `w${p.weights}a${p.activations}`;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function checkPositive(v, name) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${name} must be a positive finite number, got ${String(v)}`);
  }
  return v;
}

class Governor {
  /**
   * @param {object} o
   * @param {number} o.sloP95Ms        the p95 latency objective (ms)
   * @param {Precision[]} o.precisions the precisions it may choose from (the model's offer)
   * @param {Record<string, number>} [o.costs] initial cost per precision key ('w8a8'), ms per request
   * @param {() => number} [o.clock]   ms clock (default performance.now)
   * @param {number} [o.concurrency]   requests computed at once (default 1)
   * @param {number} [o.windowMs]      latency window (default 2000)
   * @param {number} [o.intervalMs]    minimum time between decisions (default 100)
   * @param {number} [o.upHoldMs]      minimum time at a level before stepping up (default 1000)
   * @param {number} [o.downAt]        fraction of the SLO that triggers a step down (default 0.9)
   * @param {number} [o.upAt]          fraction of the SLO under which it steps up (default 0.6)
   * @param {number} [o.minSamples]    window samples needed before p95 is trusted (default 5)
   * @param {number} [o.alpha]         EWMA weight of a new cost sample (default 0.2)
   * @param {number} [o.staleMs]       a cost not measured for this long does not block a step up (default 5000)
   * @param {number} [o.minSaving]     a precision is tradeable when it costs at least this fraction
   *                                   less than the next one up the ladder (default 0.05)
   * @param {number} [o.upUtilization] steps up only when offered rate × cost / concurrency at the level
   *                                   up is at most this (default 0.9); unknown rate or stale cost: no check
   * @param {number} [o.upRate]        a level that failed at arrival rate r is not stepped onto while
   *                                   the rate is above upRate·r (default 0.85) ...
   * @param {number} [o.limitMs]       ... for this long after it failed (default 20000), doubled on each
   *                                   failure within twice that of the retry, up to 8× (maxLimitMs)
   * @param {(p: Precision, pressure: number) => (number | undefined)} [o.gateOffsetFor]
   *        hook for gated models: the gate offset to use at precision p, given the pressure
   *        (predicted latency / SLO); a library gate-offset search plugs in here
   */
  constructor(o) {
    if (o === null || typeof o !== 'object') throw new TypeError('governor options must be an object');
    this.slo = checkPositive(o.sloP95Ms, 'sloP95Ms');
    if (!Array.isArray(o.precisions) || o.precisions.length === 0) {
      throw new TypeError('precisions must be a non-empty array of { weights, activations }');
    }
    this.clock = o.clock ?? (() => performance.now());
    if (typeof this.clock !== 'function') throw new TypeError('clock must be a function returning ms');
    this.concurrency = o.concurrency ?? 1;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${String(o.concurrency)}`);
    }
    this.windowMs = checkPositive(o.windowMs ?? 2000, 'windowMs');
    this.intervalMs = checkPositive(o.intervalMs ?? 100, 'intervalMs');
    this.upHoldMs = checkPositive(o.upHoldMs ?? 1000, 'upHoldMs');
    this.downAt = checkPositive(o.downAt ?? 0.9, 'downAt');
    this.upAt = checkPositive(o.upAt ?? 0.6, 'upAt');
    if (!(this.upAt < this.downAt)) throw new RangeError(`upAt (${this.upAt}) must be below downAt (${this.downAt})`);
    this.minSamples = o.minSamples ?? 5;
    this.alpha = checkPositive(o.alpha ?? 0.2, 'alpha');
    this.gateOffsetFor = o.gateOffsetFor;
    this.minSaving = o.minSaving ?? 0.05;
    this.staleMs = checkPositive(o.staleMs ?? 5000, 'staleMs');
    if (!(this.minSaving >= 0 && this.minSaving < 1)) throw new RangeError(`minSaving must be a fraction in [0, 1), got ${String(o.minSaving)}`);
    this.upUtilization = checkPositive(o.upUtilization ?? 0.9, 'upUtilization');
    this.upRate = checkPositive(o.upRate ?? 0.85, 'upRate');
    if (!(this.upRate <= 1)) throw new RangeError(`upRate must be a fraction in (0, 1], got ${String(o.upRate)}`);
    this.limitMs = checkPositive(o.limitMs ?? 20000, 'limitMs');
    this.maxLimitMs = checkPositive(o.maxLimitMs ?? 8 * this.limitMs, 'maxLimitMs');
    /** arrival times within the window (ms on the clock) */
    this.arrivals = [];
    this.firstArrival = NaN;
    /** per precision key: the arrival rate it failed at, until when that holds, the current hold */
    this.limits = new Map();
    /** @type {Map<string, {precision: Precision, cost: number, samples: number}>} */
    this.entries = new Map();
    for (const p of o.precisions) {
      if (!p || !Number.isInteger(p.weights) || !Number.isInteger(p.activations)) {
        throw new TypeError('precisions must hold { weights, activations } integer pairs');
      }
      const c = o.costs?.[key(p)];
      this.entries.set(key(p), { precision: { weights: p.weights, activations: p.activations }, cost: c ?? NaN, samples: 0, lastAt: c === undefined ? -Infinity : this.clock() });
    }
    /** window of completed requests: [time, latency ms] */
    this.window = [];
    this.rebuildLadder();
    this.level = 0; // index into the ladder: 0 = most bits
    this.lastChange = -Infinity;
    this.lastDecision = -Infinity;
    this.changes = 0;
    this.history = [];
  }

  /** Sorts the offered precisions by bits and marks which of them trade time for bits. */
  rebuildLadder() {
    const all = [...this.entries.values()].sort((a, b) =>
      (b.precision.weights * b.precision.activations) - (a.precision.weights * a.precision.activations) ||
      b.precision.activations - a.precision.activations);
    const current = this.ladder?.[this.level];
    /** @type {typeof all} */
    const ladder = [];
    const now = this.clock();
    // a cost measured within staleMs is trusted; an older one (or none) is not held against a level
    const known = (e) => Number.isFinite(e.cost) && now - e.lastAt <= this.staleMs;
    for (const e of all) {
      const prev = ladder[ladder.length - 1];
      // tradeable: at least `minSaving` cheaper than every precision with more bits kept so far.
      // The precision in use stays on the ladder whatever its cost now: dropping it would move the
      // level by index, onto another precision — up in bits under load when every cheaper one is
      // dropped too (costs measured at different loads); the decisions below leave it instead.
      if (!prev || !known(prev) || !known(e) || e.cost < (1 - this.minSaving) * prev.cost || e === current) ladder.push(e);
    }
    this.ladder = ladder;
    this.all = all;
    if (current) {
      const i = ladder.indexOf(current);
      this.level = i >= 0 ? i : Math.min(this.level ?? 0, ladder.length - 1);
    }
  }

  /** The precisions it can trade (most bits first) with their measured cost, and those it cannot. */
  describe() {
    return {
      sloP95Ms: this.slo,
      current: { ...this.current() },
      level: this.level,
      tradeable: this.ladder.map((e) => ({ ...e.precision, costMs: e.cost, samples: e.samples })),
      notTradeable: this.all.filter((e) => !this.ladder.includes(e))
        .map((e) => ({ ...e.precision, costMs: e.cost, samples: e.samples, reason: 'costs no less than a precision with more bits' })),
      changes: this.changes,
      arrivalRatePerS: this.rate(),
      rateLimits: [...this.limits.entries()].filter(([, l]) => this.clock() < l.until)
        .map(([k, l]) => ({ precision: k, failedAtPerS: l.rate, untilInMs: l.until - this.clock() })),
      recentChanges: this.history.slice(),
    };
  }

  /** Counts one arriving request (the queue calls it on submit): the offered rate the governor steers by. */
  arrive() {
    const now = this.clock();
    if (!Number.isFinite(this.firstArrival)) this.firstArrival = now;
    this.arrivals.push(now);
    // keep the array bounded under any rate: drop what fell out of the window now and then
    if (this.arrivals.length > 4096 && this.arrivals[0] < now - this.windowMs) this.pruneArrivals(now);
  }

  pruneArrivals(now) {
    const from = now - this.windowMs;
    let i = 0;
    while (i < this.arrivals.length && this.arrivals[i] < from) i++;
    if (i > 0) this.arrivals.splice(0, i);
  }

  /**
   * Offered requests per second over the window; NaN until minSamples arrived and half a window
   * passed since the first (a rate over the first moments of traffic is mostly noise: a burst of
   * a few requests read as hundreds a second), or when never told of arrivals.
   */
  rate(now = this.clock()) {
    this.pruneArrivals(now);
    const span = Math.min(this.windowMs, now - this.firstArrival);
    if (this.arrivals.length < this.minSamples || !(span >= this.windowMs / 2)) return NaN;
    return this.arrivals.length * 1000 / span;
  }

  /** Fraction of the compute slots the offered rate needs at a level (NaN when either is unknown). */
  utilization(level, rate) {
    const c = this.ladder[level].cost;
    return Number.isFinite(c) && Number.isFinite(rate) ? rate * c / 1000 / this.concurrency : NaN;
  }

  /** Whether a level's remembered failure rate keeps it away at this rate. */
  limited(level, rate, now) {
    const l = this.limits.get(key(this.ladder[level].precision));
    return l !== undefined && now < l.until && Number.isFinite(rate) && rate > this.upRate * l.rate;
  }

  /** Remembers that `level` failed at the current rate (called when stepping down from it). */
  remember(level, rate, now) {
    const heldFor = now - this.lastChange;
    // a level left within two decisions of reaching it did not get a fair trial
    if (heldFor <= 2 * this.intervalMs) return;
    const k = key(this.ladder[level].precision);
    const prev = this.limits.get(k);
    // failed again soon after its retry: hold it away twice as long; a retry that held: start over
    const hold = prev && heldFor < 2 * prev.hold ? Math.min(2 * prev.hold, this.maxLimitMs) : this.limitMs;
    // the rate window lags a rising load (a level fails within moments of a surge, its window still
    // half calm), and is not known at all in the first half window of traffic: the remembered rate
    // rises to the highest seen within one window after the failure (NaN until then: no limit)
    this.limits.set(k, { rate, until: now + hold, hold, settleUntil: now + this.windowMs });
  }

  /** Raises the remembered failure rates still settling to the rate offered now. */
  settleLimits(rate, now) {
    if (!Number.isFinite(rate)) return;
    for (const l of this.limits.values()) if (now < l.settleUntil && !(l.rate >= rate)) l.rate = rate;
  }

  current() {
    return this.ladder[this.level].precision;
  }

  /** The measured cost (ms per request) of an offered precision; NaN when unknown or not offered. */
  costOf(precision) {
    return this.entries.get(key(precision))?.cost ?? NaN;
  }

  cost(level) {
    const c = this.ladder[level].cost;
    return Number.isFinite(c) ? c : 0;
  }

  predict(level, queued) {
    return (Math.floor(queued / this.concurrency) + 1) * this.cost(level);
  }

  /** Records one finished request: its precision, end-to-end latency and compute time per request. */
  record(precision, latencyMs, computeMs) {
    const now = this.clock();
    this.window.push([now, latencyMs]);
    const e = this.entries.get(key(precision));
    if (e && Number.isFinite(computeMs) && computeMs >= 0) {
      const before = e.cost;
      e.cost = Number.isFinite(e.cost) ? e.cost + this.alpha * (computeMs - e.cost) : computeMs;
      e.samples++;
      e.lastAt = now;
      if (!Number.isFinite(before)) this.rebuildLadder();
    }
  }

  /** p95 of the latencies recorded within the window and since the last level change. */
  p95(now = this.clock(), arrivedSinceChange = false) {
    const from = Math.max(now - this.windowMs, this.lastChange);
    while (this.window.length && this.window[0][0] < now - this.windowMs) this.window.shift();
    const xs = [];
    // arrivedSinceChange: only requests that arrived after the last change (finish - latency), so
    // the backlog left by the level before does not count against this one
    for (const [t, ms] of this.window) if (t >= from && (!arrivedSinceChange || t - ms >= this.lastChange)) xs.push(ms);
    if (xs.length < this.minSamples) return NaN;
    xs.sort((a, b) => a - b);
    return quantile(xs, 0.95);
  }

  /**
   * Chooses the precision of a request about to be computed, with `queued` requests ahead of it
   * (queued or running). A pinned precision is returned as is (and still counts in the window).
   * @returns {{ precision: Precision, pinned: boolean, gateOffset?: number, predictedMs: number }}
   */
  choose(queued = 0, pinned = undefined) {
    const now = this.clock();
    if (now - this.lastDecision >= this.intervalMs) {
      this.lastDecision = now;
      this.decide(now, queued);
    }
    const predictedMs = this.predict(this.level, queued);
    if (pinned) return { precision: pinned, pinned: true, predictedMs };
    const precision = this.current();
    const out = { precision, pinned: false, predictedMs };
    if (this.gateOffsetFor) {
      const off = this.gateOffsetFor(precision, predictedMs / this.slo);
      if (off !== undefined) out.gateOffset = off;
    }
    return out;
  }

  decide(now, queued) {
    this.rebuildLadder(); // costs move with every sample: the tradeable set may change
    const p95 = this.p95(now);
    const hi = this.downAt * this.slo;
    const lo = this.upAt * this.slo;
    const over = (Number.isFinite(p95) && p95 > hi) || this.predict(this.level, queued) > hi;
    const rate = this.rate(now);
    this.settleLimits(rate, now);
    if (over && this.level < this.ladder.length - 1) {
      let to = this.level + 1;
      // the highest-bit level that fits the prediction and whose measured cost the offered rate
      // does not saturate
      while (to < this.ladder.length - 1 && (this.predict(to, queued) > hi || this.utilization(to, rate) > 1)) to++;
      // remembered as failed only on the evidence of its own requests: a level entered with a queue
      // built up before it (or a prediction alone) is not blamed
      if (this.p95(now, true) > hi) this.remember(this.level, rate, now);
      this.setLevel(to, now, 'down', rate, p95);
      return;
    }
    if (!over && this.level > 0 && now - this.lastChange >= this.upHoldMs) {
      const calm = !Number.isFinite(p95) || p95 <= lo;
      const up = this.level - 1;
      // a cost not measured for staleMs (e.g. a calibration taken while the machine was busy) is
      // not trusted to keep the bits away: when calm, step up and measure it again — unless the
      // level failed lately at about the rate offered now
      const stale = now - this.ladder[up].lastAt > this.staleMs;
      const fits = this.predict(up, queued) <= lo && !(this.utilization(up, rate) > this.upUtilization);
      if (calm && (stale || fits) && !this.limited(up, rate, now)) this.setLevel(up, now, fits ? 'up' : 'up (stale cost)', rate, p95);
    }
  }

  setLevel(level, now, why = 'set', rate = NaN, p95 = NaN) {
    if (level === this.level) return;
    const from = this.ladder[this.level]?.precision;
    this.level = level;
    this.lastChange = now;
    this.changes++;
    // the last changes, for describe(): what a load test or an operator reads to see why
    this.history.push({ atMs: now, from: from ? key(from) : undefined, to: key(this.ladder[level].precision), why, ratePerS: rate, p95Ms: p95 });
    if (this.history.length > 32) this.history.shift();
  }
}

module.exports = { Governor, precisionKey: key, quantile };
