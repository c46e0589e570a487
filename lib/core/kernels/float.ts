// The float32 GEMM (full-precision layers).
import { checkFloat32, checkInt } from '../check';
import { native } from '../native';

export interface FloatGemmOptions {
  /** N values added to every row of the result. */
  bias?: Float32Array | null;
}

type FloatGemmArgs = [Float32Array, number, number, Float32Array, number, Float32Array | null];

function floatGemmArgs(a: unknown, m: unknown, k: unknown, b: unknown, n: unknown, options: unknown): FloatGemmArgs {
  const fa = checkFloat32(a, 'a');
  const rows = checkInt(m, 'm', 0, 2 ** 31);
  const depth = checkInt(k, 'k', 1, 2 ** 31);
  const fb = checkFloat32(b, 'b');
  const cols = checkInt(n, 'n', 0, 2 ** 31);
  if (fa.length !== rows * depth) throw new RangeError(`a must hold m*k = ${rows * depth} values, got ${fa.length}`);
  if (fb.length !== cols * depth) throw new RangeError(`b must hold n*k = ${cols * depth} values, got ${fb.length}`);
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError('options must be an object { bias? }');
  }
  const raw = (options as FloatGemmOptions | undefined)?.bias;
  let bias: Float32Array | null = null;
  if (raw !== undefined && raw !== null) {
    bias = checkFloat32(raw, 'bias');
    if (bias.length !== cols) throw new RangeError(`bias must hold n = ${cols} values, got ${bias.length}`);
  }
  return [fa, rows, depth, fb, cols, bias];
}

/**
 * C = A . B^T (+ bias) in float32: a is M x K, b is N x K (the weights), both row-major; C is M x N.
 * Summation order depends on the ISA, so results agree across ISAs to within
 * (K + 2) * 2^-24 * (sum_t |a[i][t] * b[j][t]| + |bias[j]|), not bit for bit; for one ISA they do
 * not depend on the thread count.
 */
export function floatGemm(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
                          options?: FloatGemmOptions): Float32Array {
  return native.floatGemm(...floatGemmArgs(a, m, k, b, n, options));
}

/** floatGemm on the kernel thread pool; the event loop keeps running. */
export function floatGemmAsync(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
                               options?: FloatGemmOptions): Promise<Float32Array> {
  let args: FloatGemmArgs;
  try {
    args = floatGemmArgs(a, m, k, b, n, options);
  } catch (err) {
    return Promise.reject(err);
  }
  return native.floatGemmAsync(...args);
}

