// anyprec: any-precision neural-network inference for Node.js.
import * as kernels from './core/kernels';

export { kernels };
export { Packed } from './core/kernels';
export type { GemmOptions, EncodingName, FloatGemmOptions } from './core/kernels';
export {
  readSafetensors, loadSafetensors, loadSafetensorsSync, SafetensorsError, MAX_HEADER_BYTES,
} from './io/safetensors';
export type { Dtype, TensorData, SafeTensor, SafetensorsFile } from './io/safetensors';
export { writeSafetensors, saveSafetensors, saveSafetensorsSync } from './io/safetensors-write';
export type { TensorInput } from './io/safetensors-write';
export {
  roundHalfEven, weightScale, weightLevels, WeightQuantizer, quantizeWeight,
  quantizeActivation, activationLevels, activationValues, signActivation,
} from './core/quantize';
export type { WeightMode, QuantizedWeight } from './core/quantize';
