// The float training kernels of the native addon (native/kernels/ftrain), typed and checked.
import { native } from '../core/native';
import { threads } from '../core/kernels';

interface TrainAddon {
  trainGemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
            c: Float32Array, accumulate: boolean, threads: number): void;
  col2im(cols: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number,
         ph: number, pw: number, dh: number, dw: number, x: Float32Array, accumulate: boolean, threads: number): void;
  channelMoments(x: Float32Array, rows: number, c: number, mean: Float32Array, variance: Float32Array, threads: number): void;
  batchNormBackward(g: Float32Array, x: Float32Array, rows: number, c: number, mean: Float32Array, invstd: Float32Array,
                    gamma: Float32Array, dx: Float32Array | null, dgamma: Float32Array, dbeta: Float32Array, threads: number): void;
}

const addon = native as unknown as TrainAddon;

/**
 * C (m x n) = op(A) . op(B), or C += op(A) . op(B) with accumulate; op(A) is m x k (A stored k x m
 * when transA), op(B) is k x n (B stored n x k when transB). All row-major float32.
 */
export function gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
                     c: Float32Array, accumulate = false): Float32Array {
  addon.trainGemm(transA, transB, m, n, k, a, b, c, accumulate, threads());
  return c;
}

export interface Conv2dGeometry {
  n: number; h: number; w: number; c: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

/** The adjoint of im2colFloat: scatters-adds the lowered rows back into an NHWC image. */
export function col2im(cols: Float32Array, g: Conv2dGeometry, x: Float32Array, accumulate = false): Float32Array {
  addon.col2im(cols, g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, x, accumulate, threads());
  return x;
}

/** Per-channel mean and biased variance of rows x c (channel fastest). */
export function channelMoments(x: Float32Array, rows: number, c: number): { mean: Float32Array; variance: Float32Array } {
  const mean = new Float32Array(c), variance = new Float32Array(c);
  addon.channelMoments(x, rows, c, mean, variance, threads());
  return { mean, variance };
}

/** Batch-norm backward with batch statistics; dx is skipped when withDx is false. */
export function batchNormBackward(g: Float32Array, x: Float32Array, rows: number, c: number, mean: Float32Array,
                                  invstd: Float32Array, gamma: Float32Array, withDx = true) {
  const dx = withDx ? new Float32Array(g.length) : null;
  const dgamma = new Float32Array(c), dbeta = new Float32Array(c);
  addon.batchNormBackward(g, x, rows, c, mean, invstd, gamma, dx, dgamma, dbeta, threads());
  return { dx, dgamma, dbeta };
}
