// Float32 tensors (NCHW for images, [N, F] for features) as users hand them to models.

function checkShape(shape: unknown, name: string): number[] {
  if (!Array.isArray(shape) || shape.length === 0) {
    throw new TypeError(`${name} must be a non-empty array of dimensions`);
  }
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${name} must hold non-negative integers, got [${shape.join(', ')}]`);
    }
  }
  return shape.slice();
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];

  constructor(data: Float32Array, shape: readonly number[]) {
    if (!ArrayBuffer.isView(data) || Object.prototype.toString.call(data) !== '[object Float32Array]') {
      throw new TypeError('data must be a Float32Array');
    }
    const s = checkShape(shape, 'shape');
    if (shapeSize(s) !== data.length) {
      throw new RangeError(`shape [${s.join(', ')}] needs ${shapeSize(s)} values, data holds ${data.length}`);
    }
    this.data = data;
    this.shape = Object.freeze(s);
  }

  static zeros(shape: readonly number[]): Tensor {
    return new Tensor(new Float32Array(shapeSize(checkShape(shape, 'shape'))), shape);
  }

  get size(): number {
    return this.data.length;
  }

  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.data, shape);
  }

  /** Index of the largest value of each row of a [N, F] tensor. */
  argmax(): Int32Array {
    if (this.shape.length !== 2) throw new RangeError(`argmax needs a [N, F] tensor, shape is [${this.shape.join(', ')}]`);
    const [n, f] = this.shape;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < f; j++) if (this.data[i * f + j] > this.data[i * f + best]) best = j;
      out[i] = best;
    }
    return out;
  }
}
