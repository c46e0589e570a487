// anyprec: any-precision neural-network inference for Node.js.
import * as kernels from './core/kernels';

export { kernels };
export { Packed } from './core/kernels';
export type { GemmOptions, GemmPath, EncodingName, FloatGemmOptions, FloatConvOptions, FloatConvNext, FloatWeights } from './core/kernels';
export {
  readSafetensors, loadSafetensors, loadSafetensorsSync, SafetensorsError, MAX_HEADER_BYTES,
} from './io/safetensors';
export type { Dtype, TensorData, SafeTensor, SafetensorsFile, FilePath } from './io/safetensors';
export { writeSafetensors, saveSafetensors, saveSafetensorsSync } from './io/safetensors-write';
export type { TensorInput } from './io/safetensors-write';
export {
  roundHalfEven, weightScale, weightLevels, WeightQuantizer, quantizeWeight,
  quantizeActivation, activationLevels, activationValues, signActivation,
} from './core/quantize';
export type { WeightMode, QuantizedWeight } from './core/quantize';
export { Tensor, Uint8Tensor } from './core/tensor';
export { Model } from './nn/model';
export type { RunOptions, ModelState, GateCalibration, ModelLimits, LoadOptions } from './nn/model';
export { validateGraph, quantizeClipTensor } from './nn/graph';
export type { GraphSpec, NodeSpec, OpName, PrecisionGate } from './nn/graph';
export type { GraphInput, PreprocessOp, InputDtype } from './nn/input';
export type { Precision, PrecisionInput, LayerPrecisions } from './nn/precision';
export type { RunStats, LayerStats, BitOpsReport, AbortSignalLike } from './nn/types';
export { setGemmRouting, gemmRoutingSetting, routeCacheStats, clearRouteCache } from './nn/route';
export type { GemmRouting, LayerRoute, RouteReason } from './nn/route';
export type { GateStats, GateSummary } from './gating';
export { findGateOffset, gateOffFraction, setGatedHighRoute } from './gating';
export type { GateOffsetResult, GateOffsetSearch, GatedRunner } from './gating';
export * as zoo from './nn/zoo';
export * as train from './train';

// Loading the model-file module registers the writer behind Model.save / saveSync / serialize.
import { loadModel, loadModelSync } from './io/model-file';
/** Loads an anyprec model file. */
export const load = loadModel;
export const loadSync = loadModelSync;
export { MODEL_FORMAT, MODEL_FORMATS, deserializeModel } from './io/model-file';
export { importReference, importResnet20q, importSvhnq, REFERENCE_FAMILIES } from './io/importers';
export type { ReferenceFamily, ImportOptions } from './io/importers';
export { importPgResnet20, pgResnetGraph } from './io/pg-resnet20';
export type { PgResnet20Options } from './io/pg-resnet20';
export type { GateMode, GatePath } from './gating';
