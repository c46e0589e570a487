// Differentiable ops of the SP, PG and LDP training methods (lib/train/methods):
//   pactClip / pactQuantize   PACT (Choi et al., 2018): y = clamp(x, 0, α) with a learnable α,
//                             quantised as round(y/α·n)/n·α; dy/dx = 1 on [0, α], dy/dα = 1 where
//                             x > α (the rounding passed straight through, as the paper does)
//   signActivation            y = +1 (x >= 0) or −1; dy/dx = 1 on [−1, 1] (the BNN hard-tanh STE)
//   gatedOutput               Precision Gating's O = O_hb + mask·O_lb, mask = [O_hb > Δ_c], with the
//                             reference's sigmoid straight-through gate: d mask/d z = γ·s·(1 − s),
//                             s = sigmoid(γ·(O_hb − Δ_c)); sparse: only where the gate is on
//   thresholdPenalty          σ·Σ_layers ‖Δ_l − δ‖₂ (the reference's threshold regulariser)
//   gateFractionPenalty       λ·(fraction on − f)²: pulls a layer's fraction of gated-on outputs to f (the
//                             value from the hard gates, the gradient through the sigmoid gate's soft fraction)
//   roundBits                 LDP: b = clamp(round(K·θ), lo, hi), db/dθ = K (straight-through round)
//   bitOpsPenalty             LDP: λ·max(0, Σ MAC·b_w·b_a / Σ MAC·64 − target)
//   withBitsGradient          LDP: the gradient of a quantiser's output with respect to its bit-width,
//                             estimated by the central difference of the quantiser over the integer
//                             bit lattice: dy/db ≈ (Q_{b+1}(x) − Q_{b−1}(x)) / 2 (one-sided at the ends)
import { Tape, Var, out } from './var';

const { exp, sqrt, round } = Math; // (globals read once: see tape.ts)

/** Channels of the last dimension of `x` must match the per-channel tensor `p`. */
function channelsOf(x: Var, p: Var, what: string): number {
  const c = x.shape[x.shape.length - 1];
  if (p.size !== c) throw new RangeError(`${what}: ${p.size} values for ${c} channels`);
  return c;
}

function checkScalar(v: Var, what: string): void {
  if (v.size !== 1) throw new RangeError(`${what} must be a single value, got ${v.size}`);
}

/** PACT clip y = clamp(x, 0, α), α a one-value Var (α > 0). */
export function pactClip(tape: Tape | null, x: Var, alpha: Var): Var {
  checkScalar(alpha, 'pactClip: alpha');
  const a = alpha.data[0];
  if (!(a > 0)) throw new RangeError(`pactClip: alpha must be positive, got ${a}`);
  const y = new Float32Array(x.size), xd = x.data;
  for (let i = 0; i < y.length; i++) y[i] = xd[i] < 0 ? 0 : xd[i] > a ? a : xd[i];
  return pactOut(tape, x, alpha, y);
}

/** The PACT backward shared by the clip and the quantiser: dx on [0, α], dα where x > α. */
function pactOut(tape: Tape | null, x: Var, alpha: Var, y: Float32Array): Var {
  const res = out(tape, y, x.shape.slice(), x, alpha);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const gy = res.grad;
      if (!gy) return;
      const a = alpha.data[0], xd = x.data;
      const gx = x.requiresGrad ? x.g() : null;
      let ga = 0;
      for (let i = 0; i < gy.length; i++) {
        if (xd[i] > a) ga += gy[i];
        else if (gx && xd[i] >= 0) gx[i] += gy[i];
      }
      if (alpha.requiresGrad) alpha.g()[0] += ga;
    });
  }
  return res;
}

/** PACT quantiser at `bits` (1..8): round(clamp(x, 0, α)/α · (2^b − 1)) / (2^b − 1) · α; b = 32: the clip. */
export function pactQuantize(tape: Tape | null, x: Var, alpha: Var, bits: number): Var {
  if (bits === 32) return pactClip(tape, x, alpha);
  checkScalar(alpha, 'pactQuantize: alpha');
  const a = alpha.data[0], n = 2 ** bits - 1;
  if (!(a > 0)) throw new RangeError(`pactQuantize: alpha must be positive, got ${a}`);
  const y = new Float32Array(x.size), xd = x.data;
  for (let i = 0; i < y.length; i++) {
    const c = xd[i] < 0 ? 0 : xd[i] > a ? a : xd[i];
    y[i] = (round((c / a) * n) / n) * a;
  }
  return pactOut(tape, x, alpha, y);
}

/** Sign activation (bipolar ±1) with the hard-tanh straight-through estimator. */
export function signActivation(tape: Tape | null, x: Var): Var {
  const y = new Float32Array(x.size), xd = x.data;
  for (let i = 0; i < y.length; i++) y[i] = xd[i] >= 0 ? 1 : -1;
  const res = out(tape, y, x.shape.slice(), x);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const gy = res.grad;
      if (!gy) return;
      const gx = x.g();
      for (let i = 0; i < gx.length; i++) if (xd[i] >= -1 && xd[i] <= 1) gx[i] += gy[i];
    });
  }
  return res;
}

const sigmoid = (z: number): number => 1 / (1 + exp(-z));

export interface GateResult {
  out: Var;
  /** Outputs gated on, and all outputs. */
  on: number;
  total: number;
}

/**
 * Precision Gating: O = O_hb + mask·O_lb with mask = [O_hb > Δ_c] (channel = last dimension of
 * O_hb). Backward: O_lb gets mask·g; O_hb gets g plus, through the sigmoid straight-through gate,
 * g·O_lb·γ·s(1 − s), and Δ_c minus the same (s = sigmoid(γ(O_hb − Δ_c))). With `sparse` the gate's
 * gradient flows only where the gate is on (the reference's sparse back-propagation).
 */
export function gatedOutput(tape: Tape | null, ohb: Var, olb: Var, delta: Var, gamma: number, sparse: boolean): GateResult {
  if (ohb.size !== olb.size) throw new RangeError('gatedOutput: O_hb and O_lb must have the same shape');
  const c = channelsOf(ohb, delta, 'gatedOutput: thresholds');
  const y = new Float32Array(ohb.size), mask = new Uint8Array(ohb.size);
  const h = ohb.data, l = olb.data, d = delta.data;
  let on = 0;
  for (let i = 0; i < y.length; i++) {
    const m = h[i] > d[i % c] ? 1 : 0;
    mask[i] = m;
    on += m;
    y[i] = m ? h[i] + l[i] : h[i];
  }
  const res = out(tape, y, ohb.shape.slice(), ohb, olb, delta);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      const gy = res.grad;
      if (!gy) return;
      const gh = ohb.requiresGrad ? ohb.g() : null, gl = olb.requiresGrad ? olb.g() : null;
      const gd = delta.requiresGrad ? delta.g() : null;
      for (let i = 0; i < gy.length; i++) {
        if (gl && mask[i]) gl[i] += gy[i];
        let gz = 0;
        if (!sparse || mask[i]) {
          const s = sigmoid(gamma * (h[i] - d[i % c]));
          gz = gy[i] * l[i] * gamma * s * (1 - s);
        }
        if (gh) gh[i] += gy[i] + gz;
        if (gd) gd[i % c] -= gz;
      }
    });
  }
  return { out: res, on, total: y.length };
}

/** σ·Σ_l ‖Δ_l − δ‖₂ over the layers' threshold vectors (a one-value Var). */
export function thresholdPenalty(tape: Tape | null, deltas: Var[], target: number, sigma: number): Var {
  const norms = deltas.map((v) => {
    let s = 0;
    for (let i = 0; i < v.size; i++) s += (v.data[i] - target) ** 2;
    return sqrt(s);
  });
  const res = out(tape, Float32Array.of(sigma * norms.reduce((a, b) => a + b, 0)), [1], ...deltas);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      const g = res.grad[0] * sigma;
      deltas.forEach((v, k) => {
        if (!v.requiresGrad || norms[k] === 0) return;
        const gv = v.g();
        for (let i = 0; i < v.size; i++) gv[i] += (g * (v.data[i] - target)) / norms[k];
      });
    });
  }
  return res;
}

/**
 * λ·(f − target)² with f the fraction of a layer's outputs gated on (O_hb > Δ_c). Straight through
 * the gate: df is taken as the differential of the soft fraction mean sigmoid(γ(O_hb − Δ_c)), so the
 * gradient is 2λ(f − target)·d(soft fraction). Gradients to Δ (and to O_hb when it wants one).
 */
export function gateFractionPenalty(tape: Tape | null, ohb: Var, delta: Var, gamma: number, target: number, lambda: number): Var {
  const c = channelsOf(ohb, delta, 'gateFractionPenalty: thresholds');
  const h = ohb.data, d = delta.data, n = ohb.size;
  let on = 0;
  for (let i = 0; i < n; i++) if (h[i] > d[i % c]) on++;
  const f = on / n;
  const res = out(tape, Float32Array.of(lambda * (f - target) ** 2), [1], ohb, delta);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      const g = (res.grad[0] * lambda * 2 * (f - target) * gamma) / n;
      const gh = ohb.requiresGrad ? ohb.g() : null, gd = delta.requiresGrad ? delta.g() : null;
      for (let i = 0; i < n; i++) {
        const s = sigmoid(gamma * (h[i] - d[i % c]));
        const gz = g * s * (1 - s);
        if (gh) gh[i] += gz;
        if (gd) gd[i % c] -= gz;
      }
    });
  }
  return res;
}

/** The bit-width a learnable precision θ stands for: clamp(round(K·θ), lo, hi). */
export function bitsOf(theta: number, scale: number, lo: number, hi: number): number {
  const b = round(scale * theta);
  return b < lo ? lo : b > hi ? hi : b;
}

/** LDP's straight-through round: b = clamp(round(K·θ), lo, hi) as a one-value Var, db/dθ = K. */
export function roundBits(tape: Tape | null, theta: Var, scale: number, lo: number, hi: number): Var {
  checkScalar(theta, 'roundBits: theta');
  const res = out(tape, Float32Array.of(bitsOf(theta.data[0], scale, lo, hi)), [1], theta);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (res.grad) theta.g()[0] += scale * res.grad[0];
    });
  }
  return res;
}

export interface BitOpsTerm {
  /** MACs of the layer (per sample). */
  macs: number;
  /** Weight and activation bit-widths (one-value Vars; constants are Vars without gradient). */
  weightBits: Var;
  activationBits: Var;
}

/** The normalised bit-op cost Σ MAC·b_w·b_a / Σ MAC·64 (1 = every layer at 8/8 bits). */
export function bitOpsRatio(terms: ReadonlyArray<{ macs: number; weightBits: number; activationBits: number }>): number {
  let cost = 0, full = 0;
  for (const t of terms) {
    cost += t.macs * t.weightBits * t.activationBits;
    full += t.macs * 64;
  }
  return cost / full;
}

/** λ·max(0, bitOpsRatio − target) as a one-value Var, differentiable in every bit-width. */
export function bitOpsPenalty(tape: Tape | null, terms: BitOpsTerm[], target: number, lambda: number): Var {
  const ratio = bitOpsRatio(terms.map((t) => ({ macs: t.macs, weightBits: t.weightBits.data[0], activationBits: t.activationBits.data[0] })));
  const active = ratio > target;
  const vars = terms.flatMap((t) => [t.weightBits, t.activationBits]);
  const res = out(tape, Float32Array.of(active ? lambda * (ratio - target) : 0), [1], ...vars);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad || !active) return;
      let full = 0;
      for (const t of terms) full += t.macs * 64;
      const g = (res.grad[0] * lambda) / full;
      for (const t of terms) {
        if (t.weightBits.requiresGrad) t.weightBits.g()[0] += g * t.macs * t.activationBits.data[0];
        if (t.activationBits.requiresGrad) t.activationBits.g()[0] += g * t.macs * t.weightBits.data[0];
      }
    });
  }
  return res;
}

/**
 * Adds to the one-value bit-width Var `bits` the gradient of the quantised output `y` (already on
 * the tape, made at bits.data[0] bits) with respect to its bit-width: Σ g·(Q_{b+1} − Q_{b−1}) / 2,
 * one-sided where b ± 1 leaves [lo, hi]. `at(b)` gives the quantiser's output at b bits.
 */
export function withBitsGradient(tape: Tape | null, y: Var, bits: Var, lo: number, hi: number, at: (b: number) => Float32Array): Var {
  checkScalar(bits, 'withBitsGradient: bits');
  if (tape && bits.requiresGrad) {
    tape.record(() => {
      const g = y.grad;
      if (!g) return;
      const b = bits.data[0];
      const up = b < hi ? b + 1 : b, down = b > lo ? b - 1 : b;
      if (up === down) return;
      const qu = up === b ? y.data : at(up), qd = down === b ? y.data : at(down);
      let s = 0;
      for (let i = 0; i < g.length; i++) s += g[i] * (qu[i] - qd[i]);
      bits.g()[0] += s / (up - down);
    });
  }
  return y;
}
