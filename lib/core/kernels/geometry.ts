// Convolution geometry: the argument checks every conv kernel wrapper shares (lowering, float
// convolution, pooling). Internal to the kernels floor (not re-exported by kernels/index.ts).
import { checkInt, checkPair } from '../check';

export interface ImageShape { n: number; h: number; w: number; c: number }
export interface ConvGeometry {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

export type ConvArgs = [number, number, number, number, number, number, number, number, number, number, number, number];

export function convArgs(shape: ImageShape, conv: ConvGeometry, lowering = true): ConvArgs {
  if (shape === null || typeof shape !== 'object') throw new TypeError('shape must be { n, h, w, c }');
  if (conv === null || typeof conv !== 'object') throw new TypeError('conv must be { kernel, stride?, padding?, dilation? }');
  const n = checkInt(shape.n, 'shape.n', 1, 2 ** 31), h = checkInt(shape.h, 'shape.h', 1, 2 ** 31);
  const w = checkInt(shape.w, 'shape.w', 1, 2 ** 31), c = checkInt(shape.c, 'shape.c', 1, 2 ** 31);
  if (conv.kernel === undefined) throw new TypeError('conv.kernel must be [h, w]');
  const k = checkPair(conv.kernel, 'conv.kernel', 1, [1, 1]);
  const s = checkPair(conv.stride, 'conv.stride', 1, [1, 1]);
  const p = checkPair(conv.padding, 'conv.padding', 0, [0, 0]);
  const d = checkPair(conv.dilation, 'conv.dilation', 1, [1, 1]);
  checkGeometry(n, h, w, c, k, s, p, d, lowering);
  return [n, h, w, c, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]];
}

/** Elements one kernel operand or result may hold: the kernels index with 32-bit integers. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** Output height and width of a checked geometry (convArgs' result). */
export function convOutput(a: ConvArgs): [number, number] {
  const [, h, w, , kh, kw, sh, sw, ph, pw, dh, dw] = a;
  return [Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1];
}

/**
 * The lowering's sizes, each product overflow-checked before the native call: the padded image
 * and the dilated kernel in 32-bit range, out rows (n x outH x outW) x K (kh x kw x c) within
 * MAX_ELEMENTS, so a geometry of 2^31 kernels or 2^30 padding is refused, not lowered.
 */
function checkGeometry(n: number, h: number, w: number, c: number, k: number[], s: number[], p: number[], d: number[], lowering: boolean): void {
  const input = n * h * w * c;
  if (!(input <= MAX_ELEMENTS)) throw new RangeError(`shape n*h*w*c = ${input} exceeds ${MAX_ELEMENTS} elements`);
  const out: number[] = [];
  for (const [i, size] of [h, w].entries()) {
    const padded = size + 2 * p[i], extent = d[i] * (k[i] - 1) + 1;
    if (padded > MAX_ELEMENTS || extent > MAX_ELEMENTS) {
      throw new RangeError(`conv geometry out of range: padded input ${padded} and dilated kernel ${extent} must be at most ${MAX_ELEMENTS}`);
    }
    if (extent > padded) throw new RangeError(`conv.kernel (dilated extent ${extent}) is larger than the padded input (${padded})`);
    out.push(Math.floor((padded - extent) / s[i]) + 1);
  }
  const rows = n * out[0] * out[1], cols = lowering ? k[0] * k[1] * c : c;
  if (rows > MAX_ELEMENTS || cols > MAX_ELEMENTS || rows * cols > MAX_ELEMENTS) {
    throw new RangeError(`conv lowering of ${rows} rows x ${cols} columns exceeds ${MAX_ELEMENTS} elements`);
  }
}

