// Pooling and reshaping ops of the tape (max / average / global-average pooling, flatten).
import { Var, Tape, out } from './var';

const NEG_INF = -Infinity; // read once (a global read in a jest vm context is slow)

// ---- pooling and reshaping ----------------------------------------------------------------------

export interface PoolSpec { kernel: [number, number]; stride: [number, number]; padding: [number, number] }

function poolOut(h: number, w: number, p: PoolSpec): [number, number] {
  return [Math.floor((h + 2 * p.padding[0] - p.kernel[0]) / p.stride[0]) + 1, Math.floor((w + 2 * p.padding[1] - p.kernel[1]) / p.stride[1]) + 1];
}

/** Max pooling (padded taps skipped); the gradient goes to the first maximal tap. */
export function maxPool(tape: Tape | null, x: Var, p: PoolSpec): Var {
  const [n, h, w, c] = x.shape;
  const [oh, ow] = poolOut(h, w, p);
  const y = new Float32Array(n * oh * ow * c);
  const arg = new Int32Array(y.length);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ch = 0; ch < c; ch++) {
          let best = NEG_INF, at = -1;
          for (let ky = 0; ky < p.kernel[0]; ky++) {
            const iy = oy * p.stride[0] + ky - p.padding[0];
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < p.kernel[1]; kx++) {
              const ix = ox * p.stride[1] + kx - p.padding[1];
              if (ix < 0 || ix >= w) continue;
              const idx = ((b * h + iy) * w + ix) * c + ch;
              if (at < 0 || x.data[idx] > best) { best = x.data[idx]; at = idx; }
            }
          }
          const o = ((b * oh + oy) * ow + ox) * c + ch;
          y[o] = best;
          arg[o] = at;
        }
  const res = out(tape, y, [n, oh, ow, c], x);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      const gx = x.g();
      for (let i = 0; i < arg.length; i++) gx[arg[i]] += res.grad[i];
    });
  }
  return res;
}

/** Average pooling; the divisor counts padded taps (count_include_pad). */
export function avgPool(tape: Tape | null, x: Var, p: PoolSpec): Var {
  const [n, h, w, c] = x.shape;
  const [oh, ow] = poolOut(h, w, p);
  const y = new Float32Array(n * oh * ow * c);
  const div = p.kernel[0] * p.kernel[1];
  const visit = (fn: (o: number, i: number) => void) => {
    for (let b = 0; b < n; b++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let ky = 0; ky < p.kernel[0]; ky++) {
            const iy = oy * p.stride[0] + ky - p.padding[0];
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < p.kernel[1]; kx++) {
              const ix = ox * p.stride[1] + kx - p.padding[1];
              if (ix < 0 || ix >= w) continue;
              const o = ((b * oh + oy) * ow + ox) * c, i = ((b * h + iy) * w + ix) * c;
              for (let ch = 0; ch < c; ch++) fn(o + ch, i + ch);
            }
          }
  };
  visit((o, i) => { y[o] += x.data[i]; });
  for (let i = 0; i < y.length; i++) y[i] /= div;
  const res = out(tape, y, [n, oh, ow, c], x);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      const gx = x.g(), gy = res.grad;
      visit((o, i) => { gx[i] += gy[o] / div; });
    });
  }
  return res;
}

/** Mean over the spatial positions: [n, h, w, c] -> [n, c]. */
export function globalAvgPool(tape: Tape | null, x: Var): Var {
  const [n, h, w, c] = x.shape;
  const hw = h * w;
  const y = new Float32Array(n * c);
  const acc = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    acc.fill(0);
    for (let p = 0; p < hw; p++) {
      const base = (b * hw + p) * c;
      for (let ch = 0; ch < c; ch++) acc[ch] += x.data[base + ch];
    }
    for (let ch = 0; ch < c; ch++) y[b * c + ch] = acc[ch] / hw;
  }
  const res = out(tape, y, [n, c], x);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      const gx = x.g(), gy = res.grad;
      for (let b = 0; b < n; b++)
        for (let p = 0; p < hw; p++) {
          const base = (b * hw + p) * c;
          for (let ch = 0; ch < c; ch++) gx[base + ch] += gy[b * c + ch] / hw;
        }
    });
  }
  return res;
}

/** [n, h, w, c] -> [n, c*h*w] in NCHW order (PyTorch's flatten); [n, f] passes through. */
export function flatten(tape: Tape | null, x: Var): Var {
  if (x.shape.length === 2) return x;
  const [n, h, w, c] = x.shape;
  const hw = h * w, f = c * hw;
  const y = new Float32Array(n * f);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < hw; p++)
      for (let ch = 0; ch < c; ch++) y[b * f + ch * hw + p] = x.data[(b * hw + p) * c + ch];
  const res = out(tape, y, [n, f], x);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      const gx = x.g(), gy = res.grad;
      for (let b = 0; b < n; b++)
        for (let p = 0; p < hw; p++)
          for (let ch = 0; ch < c; ch++) gx[(b * hw + p) * c + ch] += gy[b * f + ch * hw + p];
    });
  }
  return res;
}

