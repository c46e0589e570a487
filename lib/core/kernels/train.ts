// The float training kernels of the native addon (native/kernels/ftrain), typed: the kernels floor's
// face of them, as every other family's (lib/train uses them through lib/train/native).
import { native } from '../native';
import { threads } from './platform';

interface TrainAddon {
  trainGemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
            c: Float32Array, accumulate: boolean, threads: number): void;
  col2im(cols: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number,
         ph: number, pw: number, dh: number, dw: number, x: Float32Array, accumulate: boolean, threads: number): void;
  convForward(x: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number,
              ph: number, pw: number, dh: number, dw: number, wCol: Float32Array, o: number, bias: Float32Array | null,
              y: Float32Array, threads: number): void;
  convBackward(x: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number,
               ph: number, pw: number, dh: number, dw: number, wCol: Float32Array, o: number, gy: Float32Array,
               gwCol: Float32Array, gx: Float32Array | null, threads: number, gxAssign: boolean): void;
  trainRelu(x: Float32Array, y: Float32Array, threads: number): void;
  trainClamp(x: Float32Array, y: Float32Array, lo: number, hi: number, threads: number): void;
  trainMaskedAccumulate(x: Float32Array, g: Float32Array, gx: Float32Array, lo: number, hi: number, strictLo: boolean,
                        threads: number, assign: boolean): void;
  trainAdd(a: Float32Array, b: Float32Array, y: Float32Array, threads: number): void;
  trainAccumulate(dst: Float32Array, src: Float32Array, threads: number): void;
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

/**
 * Convolution forward on the platform's float kernels: y (rows x o) = im2col(x) . wCol^T (+ bias),
 * wCol in the lowered column order [o][kh][kw][c]; bit for bit floatGemm(im2colFloat(x), wCol).
 */
export function convForward(x: Float32Array, g: Conv2dGeometry, wCol: Float32Array, o: number, bias: Float32Array | null,
                            y: Float32Array): Float32Array {
  addon.convForward(x, g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, wCol, o, bias, y, threads());
  return y;
}

/**
 * Convolution backward: gwCol (o x k) += gy^T . im2col(x); gx (if given) += col2im(gy . wCol), or
 * with gxAssign, gx's contents unread and the result that of a zero-filled gx.
 */
export function convBackward(x: Float32Array, g: Conv2dGeometry, wCol: Float32Array, o: number, gy: Float32Array,
                             gwCol: Float32Array, gx: Float32Array | null, gxAssign = false): void {
  addon.convBackward(x, g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, wCol, o, gy, gwCol, gx, threads(),
                     gxAssign);
}

/** Per-channel mean and biased variance of rows x c (channel fastest). */
export function channelMoments(x: Float32Array, rows: number, c: number): { mean: Float32Array; variance: Float32Array } {
  const mean = new Float32Array(c), variance = new Float32Array(c);
  addon.channelMoments(x, rows, c, mean, variance, threads());
  return { mean, variance };
}

/**
 * Batch-norm backward with batch statistics; dx is skipped when withDx is false, and written into
 * withDx (overwritten, not added to) when it is a Float32Array of g's length.
 */
export function batchNormBackward(g: Float32Array, x: Float32Array, rows: number, c: number, mean: Float32Array,
                                  invstd: Float32Array, gamma: Float32Array, withDx: boolean | Float32Array = true) {
  const dx = typeof withDx === 'boolean' ? (withDx ? new Float32Array(g.length) : null) : withDx;
  const dgamma = new Float32Array(c), dbeta = new Float32Array(c);
  addon.batchNormBackward(g, x, rows, c, mean, invstd, gamma, dx, dgamma, dbeta, threads());
  return { dx, dgamma, dbeta };
}

// ---- element-wise loops (one native call per tensor; bit-identical to the plain JS loop) ----------

/** y = x > 0 ? x : 0 */
export function relu(x: Float32Array, y: Float32Array): Float32Array { addon.trainRelu(x, y, threads()); return y; }
/** y = x < lo ? lo : x > hi ? hi : x */
export function clamp(x: Float32Array, y: Float32Array, lo: number, hi: number): Float32Array {
  addon.trainClamp(x, y, lo, hi, threads());
  return y;
}
/**
 * gx += g where x passes (lo < x <= hi when strictLo, else lo <= x <= hi). With assign, gx's
 * contents are not read: the result is that of a zero-filled gx (g where x passes, else 0).
 */
export function maskedAccumulate(x: Float32Array, g: Float32Array, gx: Float32Array, lo: number, hi: number, strictLo: boolean,
                                 assign = false): void {
  addon.trainMaskedAccumulate(x, g, gx, lo, hi, strictLo, threads(), assign);
}
/** y = a + b */
export function add(a: Float32Array, b: Float32Array, y: Float32Array): Float32Array { addon.trainAdd(a, b, y, threads()); return y; }
/** dst += src */
export function accumulate(dst: Float32Array, src: Float32Array): void { addon.trainAccumulate(dst, src, threads()); }
