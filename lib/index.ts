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
export { Tensor } from './core/tensor';
export { Model } from './nn/model';
export type { RunOptions, ModelState } from './nn/model';
export { validateGraph } from './nn/graph';
export type { GraphSpec, NodeSpec, OpName } from './nn/graph';
export type { Precision, PrecisionInput, LayerPrecisions } from './nn/precision';
export type { RunStats, LayerStats, BitOpsReport } from './nn/runtime';
export * as zoo from './nn/zoo';
