// Tensors (NCHW for images, [N, F] for features) as users hand them to models: float32, and
// uint8 for models whose input is raw bytes (graph input.dtype 'uint8', e.g. MNIST pixels).
import { checkFloat32, checkShape, checkUint8 } from './check';

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The checked, frozen shape of a tensor over `length` values (RangeError when they disagree). */
function tensorShape(shape: readonly number[], length: number): readonly number[] {
  const s = checkShape(shape, 'shape');
  if (shapeSize(s) !== length) throw new RangeError(`shape [${s.join(', ')}] needs ${shapeSize(s)} values, data holds ${length}`);
  return Object.freeze(s);
}

export class Tensor {
  readonly dtype = 'float32' as const;
  readonly data: Float32Array;
  readonly shape: readonly number[];

  constructor(data: Float32Array, shape: readonly number[]) {
    checkFloat32(data, 'data');
    this.shape = tensorShape(shape, data.length);
    this.data = data;
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

/** Raw bytes for a model that takes uint8 input (model.graph.input.dtype === 'uint8'). */
export class Uint8Tensor {
  readonly dtype = 'uint8' as const;
  readonly data: Uint8Array;
  readonly shape: readonly number[];

  constructor(data: Uint8Array, shape: readonly number[]) {
    checkUint8(data, 'data');
    this.shape = tensorShape(shape, data.length);
    this.data = data;
  }

  get size(): number {
    return this.data.length;
  }
}
