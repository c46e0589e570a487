// anyprec: any-precision neural-network inference for Node.js.
import * as kernels from './core/kernels';

export { kernels };
export { Packed } from './core/kernels';
export type { GemmOptions, GemmPath, EncodingName, FloatGemmOptions } from './core/kernels';
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
export type { RunOptions, ModelState, GateCalibration } from './nn/model';
export { validateGraph } from './nn/graph';
export type { GraphSpec, NodeSpec, OpName, PrecisionGate } from './nn/graph';
export type { Precision, PrecisionInput, LayerPrecisions } from './nn/precision';
export type { RunStats, LayerStats, BitOpsReport, GateStats, GateSummary } from './nn/runtime';
export * as zoo from './nn/zoo';
export * as train from './train';

// The model file and reference importers (lib/io) are attached here, so lib/nn never imports
// from the floor above it.
import { Model as ModelClass } from './nn/model';
import { loadModel, loadModelSync, saveModel, saveModelSync, serializeModel } from './io/model-file';
declare module './nn/model' {
  interface Model {
    /** Writes the anyprec model file (safetensors: graph + packed planes + per-bit BN). */
    save(path: string): Promise<void>;
    saveSync(path: string): void;
    /** The model file's bytes. */
    serialize(): Uint8Array;
  }
}
ModelClass.prototype.save = function save(this: ModelClass, path: string) { return saveModel(this, path); };
ModelClass.prototype.saveSync = function saveSync(this: ModelClass, path: string) { saveModelSync(this, path); };
ModelClass.prototype.serialize = function serialize(this: ModelClass) { return serializeModel(this); };
/** Loads an anyprec model file. */
export const load = loadModel;
export const loadSync = loadModelSync;
export { MODEL_FORMAT } from './io/model-file';
export { importReference, importResnet20q, importSvhnq, REFERENCE_FAMILIES } from './io/importers';
export type { ReferenceFamily, ImportOptions } from './io/importers';
export { importPgResnet20, pgResnetGraph } from './io/pg-resnet20';
export type { PgResnet20Options } from './io/pg-resnet20';
export type { GateMode } from './nn/pg-conv';
