// The anyprec model file: a safetensors file whose __metadata__ holds the graph (JSON) and whose
// tensors hold the runtime parameters — packed weight planes (U64) with their per-row plane
// popcounts (I32), weight scales, folded batch norm per bit-width (F32). Saving and loading
// round-trip exactly: the same outputs at every precision, bit for bit.
//
// Version 2 (written now) adds what training adds: a graph of version 2 (the input's element type
// and preprocessing, see nn/input.ts) and the model's precision settings (metadata `precision`).
// Version 1 files still load: a version-1 file holds a version-1 graph and no precision.
import { Packed, packedWords } from '../core/kernels';
import { GraphSpec, validateGraph } from '../nn/graph';
import { Model, ModelLimits } from '../nn/model';
import { registerModelWriter } from '../nn/persist';
import type { ModelState } from '../nn/types';
import { loadSafetensors, loadSafetensorsSync, readSafetensors, SafetensorsFile } from './safetensors';
import { saveSafetensors, saveSafetensorsSync, TensorInput, writeSafetensors } from './safetensors-write';

export const MODEL_FORMAT = 'anyprec-model/2';
/** Every version the loader reads. */
export const MODEL_FORMATS: readonly string[] = ['anyprec-model/1', MODEL_FORMAT];

/** Packed parameters: `${name}::planes` (U64) + `${name}::planePop` (I32); shapes carry rows/cols/bits. */
function toTensors(state: ModelState): { tensors: Map<string, TensorInput>; metadata: Record<string, string> } {
  const tensors = new Map<string, TensorInput>();
  // 8-byte dtypes first keeps every tensor aligned in the file, so loading can view, not copy.
  const packed = state.params.filter(([, p]) => !ArrayBuffer.isView(p));
  const floats = state.params.filter(([, p]) => ArrayBuffer.isView(p));
  for (const [name, p] of packed) {
    const q = p as Packed;
    tensors.set(`${name}::planes`, { dtype: 'U64', shape: [q.data.length], data: q.data });
  }
  for (const [name, p] of packed) {
    const q = p as Packed;
    tensors.set(`${name}::planePop`, { dtype: 'I32', shape: [q.rows, q.bits], data: q.planePop });
  }
  for (const [name, p] of floats) tensors.set(name, { dtype: 'F32', shape: [(p as Float32Array).length], data: p as Float32Array });
  const shapes: Record<string, [number, number, number]> = {};
  for (const [name, p] of packed) shapes[name] = [(p as Packed).rows, (p as Packed).cols, (p as Packed).bits];
  const metadata: Record<string, string> = { format: MODEL_FORMAT, graph: JSON.stringify(state.graph), packed: JSON.stringify(shapes) };
  if (state.precision) metadata.precision = JSON.stringify(state.precision);
  return { tensors, metadata };
}

function fromFile(file: SafetensorsFile, source: string, options?: ModelLimits): Model {
  const where = `model file ${source}`;
  const format = file.metadata.format;
  if (!MODEL_FORMATS.includes(format)) {
    throw new Error(`${where} is not an anyprec model (metadata format ${JSON.stringify(format)}, expected ${MODEL_FORMATS.join(' or ')}); ` +
      'reference checkpoints are imported with importReference()');
  }
  let graph: GraphSpec;
  let shapes: Record<string, unknown>;
  let precision: unknown;
  try {
    graph = validateGraph(JSON.parse(file.metadata.graph));
    if (format === 'anyprec-model/1' && graph.format !== 'anyprec-graph/1') {
      throw new RangeError(`an anyprec-model/1 file holds an anyprec-graph/1 graph, got ${JSON.stringify(graph.format)}`);
    }
  } catch (e) {
    throw rethrow(e, `${where}: bad graph metadata`);
  }
  // Version 1 has no precision key (and ignored unknown keys): only version 2 reads it.
  if (format !== 'anyprec-model/1' && file.metadata.precision !== undefined) {
    try {
      precision = JSON.parse(file.metadata.precision);
    } catch (e) {
      throw new Error(`${where}: bad precision metadata (not JSON): ${(e as Error).message}`);
    }
  }
  try {
    shapes = JSON.parse(file.metadata.packed ?? '{}');
  } catch (e) {
    throw new Error(`${where}: bad packed metadata (not JSON): ${(e as Error).message}`);
  }
  if (shapes === null || typeof shapes !== 'object' || Array.isArray(shapes)) {
    throw new TypeError(`${where}: packed metadata must be an object { name: [rows, cols, bits] }, got ${shapes === null ? 'null' : Array.isArray(shapes) ? 'an array' : typeof shapes}`);
  }
  const params: ModelState['params'] = [];
  const used = new Set<string>();
  for (const [name, shape] of Object.entries(shapes)) {
    if (!Array.isArray(shape) || shape.length !== 3) {
      throw new TypeError(`${where}: packed metadata for '${name}' must be [rows, cols, bits], got ${JSON.stringify(shape)}`);
    }
    const [rows, cols, bits] = shape as number[];
    if (![rows, cols, bits].every((v) => Number.isSafeInteger(v) && v >= 0) || bits < 1 || bits > 8 || cols < 1 ||
        rows > 2 ** 31 || cols > 2 ** 31) {
      throw new RangeError(`${where}: packed parameter '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    const planes = file.tensors.get(`${name}::planes`), pops = file.tensors.get(`${name}::planePop`);
    if (!planes || planes.dtype !== 'U64' || planes.data.length !== packedWords(rows, cols, bits)) {
      throw new Error(`${where}: '${name}::planes' must be U64 with ${packedWords(rows, cols, bits)} words for ${rows}x${cols} at ${bits} bits`);
    }
    if (!pops || pops.dtype !== 'I32' || pops.data.length !== rows * bits) {
      throw new Error(`${where}: '${name}::planePop' must be I32 with ${rows * bits} counts, got ${pops ? `${pops.dtype} with ${pops.data.length}` : 'nothing'}`);
    }
    params.push([name, { rows, cols, bits, data: planes.data as BigUint64Array, planePop: pops.data as Int32Array }]);
    used.add(`${name}::planes`).add(`${name}::planePop`);
  }
  for (const [name, t] of file.tensors) {
    if (used.has(name)) continue;
    if (t.dtype !== 'F32') throw new Error(`${where}: parameter '${name}' must be F32, is ${t.dtype}`);
    params.push([name, t.data as Float32Array]);
  }
  const model = Model.fromState({ graph, params }, true, { ...checkOptions(options), source });
  if (precision !== undefined) {
    try {
      model.restorePrecision(precision); // checks each field: known keys, bit-widths, layer names
    } catch (e) {
      throw rethrow(e, `${where}: bad precision metadata`);
    }
  }
  return model;
}

/** The error e with `prefix: ` before its message, of the same kind (TypeError, RangeError, Error). */
function rethrow(e: unknown, prefix: string): Error {
  const err = e as Error;
  const Ctor = err instanceof RangeError ? RangeError : err instanceof TypeError ? TypeError : Error;
  return new Ctor(`${prefix}: ${err.message}`);
}

/** The bytes of a model file. */
export function serializeModel(model: Model): Uint8Array {
  const { tensors, metadata } = toTensors(model.state());
  return writeSafetensors(tensors, metadata);
}

export async function saveModel(model: Model, path: string): Promise<void> {
  const { tensors, metadata } = toTensors(model.state());
  await saveSafetensors(path, tensors, metadata);
}

export function saveModelSync(model: Model, path: string): void {
  const { tensors, metadata } = toTensors(model.state());
  saveSafetensorsSync(path, tensors, metadata);
}

function checkOptions(options: unknown): ModelLimits {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError('options must be an object { maxMemory? }');
  const { maxMemory } = options as ModelLimits;
  return maxMemory === undefined ? {} : { maxMemory };
}

/**
 * Loads a model file written by saveModel / model.save. The file is validated whole before
 * anything is built: the graph's fields, every parameter's kind and length, and the memory its
 * parameters and one sample's activations need against options.maxMemory (default 4 GiB; each
 * run() / runSync() checks its batch against the same bound).
 */
export async function loadModel(path: string, options?: ModelLimits): Promise<Model> {
  checkOptions(options);
  return fromFile(await loadSafetensors(path), path, options);
}

export function loadModelSync(path: string, options?: ModelLimits): Model {
  checkOptions(options);
  return fromFile(loadSafetensorsSync(path), path, options);
}

/** A model from a model file's bytes (what serializeModel / model.serialize wrote). */
export function deserializeModel(bytes: Uint8Array, options?: ModelLimits): Model {
  checkOptions(options);
  return fromFile(readSafetensors(bytes), '(bytes)', options);
}

// Model.save / saveSync / serialize write through these.
registerModelWriter({ save: saveModel, saveSync: saveModelSync, serialize: serializeModel });
