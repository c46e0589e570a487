// anyprec: any-precision neural-network inference for Node.js.
import * as kernels from './core/kernels';

export { kernels };
export { Packed } from './core/kernels';
export type { GemmOptions, EncodingName } from './core/kernels';
