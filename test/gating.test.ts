// Precision gating pieces against plain JS references: sign-magnitude quantisers, the split of
// levels into bipolar + even operands, the float32 gate and its integer thresholds, pgConv
// (the native gated GEMM on both weight operands) against pgConvDense (the reference's dense form)
// bit for bit, on fixed and random layers, every gate mode and ISA.
import { describe, expect, it } from '@jest/globals';
import { kernels } from '../lib';
import { maxAbsScale, quantizeDynamic, quantizeDynamicReference, signMagnitudeValue, signMagnitudeWeights } from '../lib/core/signmag';
import {
  gateOn, gateThresholds, GateSetting, packSignMagnitude, pgConv, pgConvDense, signMagnitudeGemm,
} from '../lib/gating';
import { firstDiff, rng } from './helpers/reference';

const fr = Math.fround;

describe('sign-magnitude quantisers', () => {
  it('weights: s = max|w| + 1e-7, levels sign·round(|w|/s·n), values ((|l|/n)·s)·sign', () => {
    const r = rng(1);
    const w = Float32Array.from({ length: 999 }, () => (r() - 0.5) * 0.7);
    w[5] = 0;
    w[6] = -0.35; // the max magnitude
    const q = signMagnitudeWeights(w, 8);
    expect(q.scale).toBe(fr(fr(0.35) + fr(1e-7)));
    for (let i = 0; i < w.length; i++) {
      const m = Math.round(fr(fr(Math.abs(w[i]) / q.scale) * 255)); // no exact .5 ties in this data
      expect(q.levels[i]).toBe(Math.sign(w[i]) * m);
    }
    expect(q.levels[5]).toBe(0);
    expect(q.levels[6]).toBe(-255);
    expect(signMagnitudeValue(-255, 8, q.scale)).toBe(-fr(fr(255 / 255) * q.scale));
    expect(signMagnitudeValue(17, 8, q.scale)).toBe(fr(fr(17 / 255) * q.scale));
  });

  it('activations: codes equal the element-wise division form, edges included; negatives are refused', () => {
    const r = rng(2);
    for (const bits of [1, 2, 3, 4, 8]) {
      for (const range of [1e-3, 1, 5.95, 3e4]) {
        const x = Float32Array.from({ length: 5000 }, () => (r() < 0.2 ? 0 : r() * range));
        const s = maxAbsScale(x), n = 2 ** bits - 1;
        // Values within a few ulps of every rounding edge.
        const edges: number[] = [];
        for (let k = 0; k < n; k++) {
          const b = new Uint32Array(new Float32Array([((k + 0.5) * s) / n]).buffer)[0];
          for (let d = -3; d <= 3; d++) edges.push(new Float32Array(new Uint32Array([b + d]).buffer)[0]);
        }
        const y = Float32Array.from([...x, ...edges.filter((v) => v <= s)]);
        const a = quantizeDynamic(y, bits), b = quantizeDynamicReference(y, bits);
        expect(a.scale).toBe(b.scale);
        expect(Buffer.from(a.codes).equals(Buffer.from(b.codes))).toBe(true);
      }
    }
    expect(quantizeDynamic(new Float32Array(4), 3)).toEqual({ codes: new Uint8Array(4), scale: fr(1e-7) });
    expect(() => quantizeDynamic(new Float32Array([1, -0.5]), 3)).toThrow(/x\[1\] = -0.5/);
    expect(() => quantizeDynamic(new Float32Array([NaN]), 3)).toThrow(/NaN/);
  });
});

describe('precision gate', () => {
  it('gateOn is the float32 sigmoid(5·(O − Δ)) > 0.5: strict, and off where the sigmoid rounds to 0.5', () => {
    expect(gateOn(1, 1)).toBe(false);
    expect(gateOn(fr(1 + 2 ** -23), 1)).toBe(true);
    expect(gateOn(0.5, 1)).toBe(false);
    // d = 2^-26: 5d = 7.45e-8, e^-5d rounds to 1 - 2^-24, 1 + that to 2 (tie to even): sigmoid 0.5.
    expect(gateOn(2 ** -26, 0)).toBe(false);
    expect(gateOn(2 ** -22, 0)).toBe(true);
    const sig = (t: number) => fr(1 / fr(1 + fr(Math.exp(-t))));
    for (let e = -40; e <= 0; e++) {
      const d = 2 ** e;
      expect(gateOn(d, 0)).toBe(sig(fr(5 * d)) > 0.5);
    }
  });

  it('integer thresholds reproduce the float gate for every accumulator value', () => {
    const r = rng(3);
    let bad = 0, tinyBand = 0;
    for (let trial = 0; trial < 40; trial++) {
      // Every fourth trial has units so small that sigmoid(5·(O − Δ)) rounds to 0.5 for O just above Δ.
      const unitHb = trial % 4 === 3 ? 2 ** -30 : fr(r() * 1e-3 + 1e-9);
      const bound = 300;
      const th = Float32Array.from({ length: 8 }, () => (r() - 0.5) * bound * unitHb * 2.2);
      th[0] = fr(17 * unitHb); // exactly on a representable O_hb
      th[1] = -1e30;
      th[2] = 1e30;
      th[3] = 0;
      const offset = trial % 2 ? 0 : (r() - 0.5) * unitHb * 10;
      const T = gateThresholds(th, offset, unitHb, bound);
      for (let c = 0; c < th.length; c++) {
        const delta = fr(th[c] + offset);
        for (let acc = -bound; acc <= bound; acc++) {
          const on = gateOn(fr(acc * unitHb), delta);
          if ((acc >= T[c]) !== on) bad++;
          if (!on && fr(acc * unitHb) > delta) tinyBand++;
        }
      }
    }
    expect(bad).toBe(0);
    expect(tinyBand).toBeGreaterThan(0); // the float32 subtlety was exercised
  });
});

/**
 * Precision-gated conv in plain loops over the codes and the integer weight levels ([out][(ky, kx, c)]):
 * O_hb = u·2^L·Σ (q >> L)·l, O = u·Σ q·l, L = B − Bhb; out = O where the gate is on, else O_hb.
 */
function pgConvLoops(codes: Uint8Array, sh: { n: number; h: number; w: number; c: number },
  cv: { kernel: [number, number]; stride: [number, number]; padding: [number, number] }, levels: Int16Array, out: number,
  bits: number, highBits: number, unit: number, threshold: Float32Array, gate: GateSetting): { out: Float32Array; on: number } {
  const [kh, kw] = cv.kernel, [sy, sx] = cv.stride, [py, px] = cv.padding;
  const oh = Math.floor((sh.h + 2 * py - kh) / sy) + 1, ow = Math.floor((sh.w + 2 * px - kw) / sx) + 1;
  const k = kh * kw * sh.c, low = bits - highBits;
  const res = new Float32Array(sh.n * oh * ow * out);
  let on = 0;
  for (let i = 0; i < sh.n; i++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) for (let o = 0; o < out; o++) {
    let full = 0, hi = 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = y * sy + ky - py, ix = x * sx + kx - px;
      if (iy < 0 || iy >= sh.h || ix < 0 || ix >= sh.w) continue;
      for (let c = 0; c < sh.c; c++) {
        const q = codes[((i * sh.h + iy) * sh.w + ix) * sh.c + c], l = levels[o * k + (ky * kw + kx) * sh.c + c];
        full += q * l;
        hi += (q >> low) * l;
      }
    }
    const ohb = fr(hi * (unit * 2 ** low));
    const open = gate.mode === 'open' || (gate.mode === 'trained' && gateOn(ohb, fr(threshold[o] + gate.offset)));
    if (open) on++;
    res[((i * oh + y) * ow + x) * out + o] = open ? full * unit : ohb;
  }
  return { out: res, on };
}

describe('pgConv', () => {
  const r = rng(4);
  const shape = { n: 3, h: 9, w: 7, c: 19 };
  const conv = { kernel: [3, 3] as [number, number], stride: [2, 1] as [number, number], padding: [1, 1] as [number, number] };
  const out = 21, k = 9 * shape.c;
  const wf = Float32Array.from({ length: out * k }, () => (r() - 0.5) * 0.4);
  const q = signMagnitudeWeights(wf, 8);
  const w = packSignMagnitude(q.levels, out, k, 8, q.scale);

  it('packs levels exactly: bipolar odd part + even flag', () => {
    for (const bits of [1, 3, 8]) {
      const n = 2 ** bits - 1;
      const levels = Int16Array.from({ length: 13 * 70 }, () => Math.floor(r() * (2 * n + 1)) - n);
      const p = packSignMagnitude(levels, 13, 70, bits, 1);
      const a = kernels.pack(new Uint8Array(70).fill(1), 1, 70, 1);
      // a = one row of ones: C[0][j] = Σ_t level[j][t]
      const sums = signMagnitudeGemm(a, p, 1);
      for (let j = 0; j < 13; j++) expect(sums[j]).toBe(levels.slice(j * 70, (j + 1) * 70).reduce((s, v) => s + v, 0));
      expect(() => packSignMagnitude(Int16Array.from([n + 1]), 1, 1, bits, 1)).toThrow(/outside/);
    }
  });

  for (const bits of [3, 4]) {
    for (const highBits of [1, 2]) {
      it(`equals the dense form (B = ${bits}, Bhb = ${highBits}) in every gate mode and offset`, () => {
        const codes = Uint8Array.from({ length: shape.n * shape.h * shape.w * shape.c }, () => (r() < 0.3 ? 0 : Math.floor(r() * 2 ** bits)));
        const a = kernels.packConv(codes, shape, conv, bits);
        const unit = (5.9 / (2 ** bits - 1)) * (q.scale / 255);
        // Thresholds near the middle of the O_hb distribution so that both sides occur.
        const threshold = Float32Array.from({ length: out }, () => (r() - 0.3) * 40 * unit * 2 ** (bits - highBits));
        const settings: GateSetting[] = [
          { mode: 'trained', offset: 0 }, { mode: 'trained', offset: 3 * unit }, { mode: 'trained', offset: -1e30 },
          { mode: 'open', offset: 0 }, { mode: 'closed', offset: 0 },
        ];
        for (const gate of settings) {
          const o = { highBits, unit, threshold, gate };
          const fast = pgConv({ codes, shape, bits }, conv, w, o);
          const dense = pgConvDense(a, w, o);
          expect(fast.on).toBe(dense.on);
          expect(fast.total).toBe(dense.total);
          expect(Buffer.from(fast.out.buffer).equals(Buffer.from(dense.out.buffer))).toBe(true);
          if (gate.mode === 'trained' && gate.offset === 0) {
            expect(fast.on).toBeGreaterThan(0);
            expect(fast.on).toBeLessThan(fast.total);
          }
        }
        const all = pgConv({ codes, shape, bits }, conv, w, { highBits, unit, threshold, gate: { mode: 'trained', offset: -1e30 } });
        expect(all.on).toBe(all.total);
      });
    }
  }

  it('equals the dense form bit for bit on random layers (shapes, B, Bhb, weight bits, gate modes, ISAs)', () => {
    const rr = rng(91);
    const defaultIsa = kernels.isa();
    try {
      for (let layer = 0; layer < 10; layer++) {
        const bits = 2 + Math.floor(rr() * 7), highBits = 1 + Math.floor(rr() * (bits - 1));
        const wBits = 1 + Math.floor(rr() * 8);
        const sh = { n: 1 + Math.floor(rr() * 3), h: 3 + Math.floor(rr() * 12), w: 3 + Math.floor(rr() * 12), c: 1 + Math.floor(rr() * 40) };
        const kk = 1 + 2 * Math.floor(rr() * 2);
        const cv = { kernel: [kk, kk] as [number, number], stride: [1 + Math.floor(rr() * 2), 1] as [number, number], padding: [kk >> 1, kk >> 1] as [number, number] };
        const ch = 1 + Math.floor(rr() * 150), kl = kk * kk * sh.c;
        const nw = 2 ** wBits - 1;
        const levels = Int16Array.from({ length: ch * kl }, () => Math.floor(rr() * (2 * nw + 1)) - nw);
        const wl = packSignMagnitude(levels, ch, kl, wBits, 0.37);
        const codes = Uint8Array.from({ length: sh.n * sh.h * sh.w * sh.c }, () => (rr() < 0.3 ? 0 : Math.floor(rr() * 2 ** bits)));
        const a = kernels.packConv(codes, sh, cv, bits);
        const unit = (3.1 / (2 ** bits - 1)) * (0.37 / nw);
        const spread = Math.sqrt(kl) * nw * 2 ** bits * unit * 0.3;
        const threshold = Float32Array.from({ length: ch }, () => (rr() - 0.4) * spread);
        const settings: GateSetting[] = [
          { mode: 'trained', offset: 0 }, { mode: 'trained', offset: spread * 0.2 }, { mode: 'trained', offset: -1e30 },
          { mode: 'trained', offset: 1e30 }, { mode: 'open', offset: 0 }, { mode: 'closed', offset: 0 },
        ];
        // Independent of both paths (no packing, no GEMM): sums of codes x levels in plain loops.
        const refs = settings.map((gate) => pgConvLoops(codes, sh, cv, levels, ch, bits, highBits, unit, threshold, gate));
        for (const isa of kernels.availableIsas()) {
          kernels.setIsa(isa);
          for (const [si, gate] of settings.entries()) {
            const o = { highBits, unit, threshold, gate };
            const fast = pgConv({ codes, shape: sh, bits }, cv, wl, o);
            const dense = pgConvDense(a, wl, o);
            expect({ layer, isa, gate, on: fast.on, diff: firstDiff(fast.out, refs[si].out) }).toEqual({ layer, isa, gate, on: refs[si].on, diff: -1 });
            expect({ layer, isa, gate, on: fast.on, total: fast.total }).toEqual({ layer, isa, gate, on: dense.on, total: dense.total });
            expect({ layer, isa, gate, same: Buffer.from(fast.out.buffer).equals(Buffer.from(dense.out.buffer)) })
              .toEqual({ layer, isa, gate, same: true });
          }
        }
      }
    } finally {
      kernels.setIsa(defaultIsa);
    }
  });

  it('computes O = u·Σ q·l where gated on and O_hb = u·2^(B−Bhb)·Σ (q >> (B−Bhb))·l elsewhere', () => {
    const bits = 3, highBits = 2;
    const codes = Uint8Array.from({ length: shape.n * shape.h * shape.w * shape.c }, () => Math.floor(r() * 8));
    const unit = 1e-3;
    const threshold = new Float32Array(out).fill(0);
    const res = pgConv({ codes, shape, bits }, conv, w, { highBits, unit, threshold });
    const oh = Math.floor((shape.h + 2 - 3) / 2) + 1, ow = shape.w;
    let checked = 0;
    for (let i = 0; i < shape.n; i++)
      for (let y = 0; y < oh; y++)
        for (let x = 0; x < ow; x++)
          for (let o = 0; o < out; o++) {
            let full = 0, hi = 0;
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const iy = y * 2 + ky - 1, ix = x + kx - 1;
                if (iy < 0 || iy >= shape.h || ix < 0 || ix >= shape.w) continue;
                for (let c = 0; c < shape.c; c++) {
                  const p = codes[((i * shape.h + iy) * shape.w + ix) * shape.c + c];
                  const l = q.levels[o * k + (ky * 3 + kx) * shape.c + c]; // w was packed as [out][(ky, kx, c)]
                  full += p * l;
                  hi += (p >> 1) * l;
                }
              }
            const ohb = fr(hi * 2 * unit);
            const v = res.out[((i * oh + y) * ow + x) * out + o];
            expect(v).toBe(ohb > 0 ? fr(full * unit) : ohb);
            checked++;
          }
    expect(checked).toBe(res.total);
  });
});
