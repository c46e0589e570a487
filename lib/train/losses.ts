// Losses of the tape: softmax cross-entropy, soft-target cross-entropy, distillation.
import { Var, Tape, out } from './var';

// Globals read once: inside a vm context (jest) every read of a global such as Math or Infinity
// goes through the context's interceptor, several times slower in hot loops.
const { exp, log, max } = Math;
const NEG_INF = -Infinity;

// ---- losses ------------------------------------------------------------------------------------

/** Row-wise softmax of [n, k] logits (double inside, float32 out). */
export function softmax(logits: Float32Array, n: number, k: number, temperature = 1): Float32Array {
  const p = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let mx = NEG_INF;
    for (let j = 0; j < k; j++) mx = max(mx, logits[i * k + j] / temperature);
    let s = 0;
    for (let j = 0; j < k; j++) s += exp(logits[i * k + j] / temperature - mx);
    for (let j = 0; j < k; j++) p[i * k + j] = exp(logits[i * k + j] / temperature - mx) / s;
  }
  return p;
}

/**
 * Cross-entropy of [n, k] logits against target distributions `target` ([n, k], rows summing to
 * 1; detached), mean over the batch: -(1/n) sum_i sum_j t_ij log softmax(z/T)_ij, times T^2 when
 * a temperature T != 1 is used (Hinton's scaling, so gradients keep their size).
 */
export function softCrossEntropy(tape: Tape | null, logits: Var, target: Float32Array, temperature = 1): Var {
  const [n, k] = logits.shape;
  if (target.length !== n * k) throw new RangeError(`softCrossEntropy: target must hold ${n * k} values, got ${target.length}`);
  const p = softmax(logits.data, n, k, temperature);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let mx = NEG_INF;
    for (let j = 0; j < k; j++) mx = max(mx, logits.data[i * k + j] / temperature);
    let s = 0;
    for (let j = 0; j < k; j++) s += exp(logits.data[i * k + j] / temperature - mx);
    const lse = mx + log(s);
    for (let j = 0; j < k; j++) if (target[i * k + j] !== 0) loss -= target[i * k + j] * (logits.data[i * k + j] / temperature - lse);
  }
  const scale = temperature * temperature;
  const res = out(tape, Float32Array.of((loss / n) * scale), [1], logits);
  if (tape && res.requiresGrad) {
    tape.record(() => {
      if (!res.grad) return;
      const g = res.grad[0] * scale / (n * temperature), gx = logits.g();
      for (let i = 0; i < n * k; i++) gx[i] += g * (p[i] - target[i]);
    });
  }
  return res;
}

/** Softmax cross-entropy against integer labels, mean over the batch. */
export function crossEntropy(tape: Tape | null, logits: Var, labels: ArrayLike<number>): Var {
  const [n, k] = logits.shape;
  if (labels.length !== n) throw new RangeError(`crossEntropy: ${labels.length} labels for ${n} rows`);
  const t = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= k) throw new RangeError(`crossEntropy: label ${i} = ${l} is not in 0..${k - 1}`);
    t[i * k + l] = 1;
  }
  return softCrossEntropy(tape, logits, t);
}

/**
 * Knowledge-distillation loss: cross-entropy of the student's softened distribution against the
 * teacher's softened probabilities (teacher logits detached). At T = 1 this is the reference's
 * recursive-distillation loss; it differs from KL(p_t || p_s) by the teacher's entropy only.
 */
export function distillationLoss(tape: Tape | null, student: Var, teacherLogits: Float32Array, temperature = 1): Var {
  const [n, k] = student.shape;
  return softCrossEntropy(tape, student, softmax(teacherLogits, n, k, temperature), temperature);
}
