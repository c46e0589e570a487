// Optimisers (SGD with momentum, Adam) with weight decay, and learning-rate schedules. Update
// rules follow PyTorch's: decay is added to the gradient (L2) before the momentum / moments.
import { Param } from './tape';

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { sqrt } = Math;

export type OptimizerName = 'sgd' | 'adam';

export interface OptimizerOptions {
  name: OptimizerName;
  lr: number;
  momentum?: number;     // sgd, default 0.9
  betas?: [number, number]; // adam, default [0.9, 0.999]
  eps?: number;          // adam, default 1e-8
  weightDecay?: number;  // default 0
  /** Which parameters are decayed (default: conv / linear weights, i.e. tensors of rank >= 2). */
  decays?: (p: Param) => boolean;
}

export class Optimizer {
  readonly name: OptimizerName;
  lr: number;
  readonly momentum: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decays: (p: Param) => boolean;
  /** Steps taken (Adam's bias correction). */
  steps = 0;
  /** Per parameter: momentum buffer (sgd) or first and second moments (adam). */
  readonly state = new Map<string, Float32Array[]>();

  constructor(readonly params: Param[], o: OptimizerOptions) {
    if (o.name !== 'sgd' && o.name !== 'adam') throw new RangeError(`optimizer must be 'sgd' or 'adam', got ${String(o.name)}`);
    if (!(o.lr > 0)) throw new RangeError(`lr must be positive, got ${o.lr}`);
    this.name = o.name;
    this.lr = o.lr;
    this.momentum = o.momentum ?? 0.9;
    this.betas = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    if (!(this.weightDecay >= 0)) throw new RangeError(`weightDecay must be >= 0, got ${this.weightDecay}`);
    this.decays = o.decays ?? ((p) => p.shape.length >= 2);
  }

  zeroGrad(): void { for (const p of this.params) p.zeroGrad(); }

  step(): void {
    this.steps++;
    const [b1, b2] = this.betas;
    const c1 = 1 - b1 ** this.steps, c2 = 1 - b2 ** this.steps;
    for (const p of this.params) {
      if (!p.grad) continue;
      const g = p.grad, w = p.data;
      const wd = this.decays(p) ? this.weightDecay : 0;
      let st = this.state.get(p.name);
      if (this.name === 'sgd') {
        if (!st) { st = [new Float32Array(w.length)]; this.state.set(p.name, st); }
        const buf = st[0], mu = this.momentum, first = this.steps === 1;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i] + wd * w[i];
          buf[i] = first ? gi : mu * buf[i] + gi;
          w[i] -= this.lr * buf[i];
        }
      } else {
        if (!st) { st = [new Float32Array(w.length), new Float32Array(w.length)]; this.state.set(p.name, st); }
        const [m, v] = st;
        const stepSize = this.lr / c1, sq = Math.sqrt(c2);
        for (let i = 0; i < w.length; i++) {
          const gi = g[i] + wd * w[i];
          m[i] = b1 * m[i] + (1 - b1) * gi;
          v[i] = b2 * v[i] + (1 - b2) * gi * gi;
          w[i] -= (stepSize * m[i]) / (sqrt(v[i]) / sq + this.eps);
        }
      }
      p.version++;
    }
  }
}

export type ScheduleName = 'constant' | 'step' | 'cosine';

export interface ScheduleOptions {
  name: ScheduleName;
  /** step: epochs at which the rate is multiplied by gamma (default: 1/2 and 3/4 of the run). */
  milestones?: number[];
  gamma?: number;
}

/** Learning rate at fractional epoch `t` (0..epochs) of a run with base rate `lr`. */
export function scheduledRate(s: ScheduleOptions, lr: number, t: number, epochs: number): number {
  if (s.name === 'constant') return lr;
  if (s.name === 'cosine') return 0.5 * lr * (1 + Math.cos((Math.PI * Math.min(t, epochs)) / epochs));
  if (s.name === 'step') {
    const ms = s.milestones ?? [Math.round(epochs / 2), Math.round((3 * epochs) / 4)];
    const gamma = s.gamma ?? 0.1;
    return lr * gamma ** ms.filter((m) => Math.floor(t) >= m).length;
  }
  throw new RangeError(`schedule must be 'constant', 'step' or 'cosine', got ${String((s as ScheduleOptions).name)}`);
}
