// One validation of a model before anything is allocated for it: every parameter's kind and
// length against what the graph needs, and the memory an inference needs, bounded. Model.build,
// Model.fromState, the model-file loader and the importers all come through here (the Model
// constructor calls it), so a file is accepted only if every inference it allows is safe; the
// batch size is the caller's, and is checked per call against the same bound (checkBatch).
import { checkInt, isFloat32Array, typedArrayTag } from '../core/check';
import { Packed, packedWords } from '../core/kernels';
import type { GraphSpec, NodeSpec } from './graph';
import { clipTensorRole, gateThresholdTensor, MAX_ELEMENTS, quantizeClipTensor } from './graph';
import type { Param, Params } from './params';
import { bnKeys, widthKeys } from './params';
import { inferShapes } from './shapes';

/** Default bound on the memory one model may need: weights, and activations of one call. */
export const DEFAULT_MAX_MEMORY = 4 * 2 ** 30;

export interface ModelLimits {
  /**
   * Bytes a model may need, checked before allocating: its parameters at load, and the
   * activations of each call (batch size x the per-sample estimate) at run time. Default 4 GiB.
   */
  maxMemory?: number;
}

/** What validation learnt of a model: memory per sample, the largest per-sample tensor. */
export interface ModelBudget {
  maxMemory: number;
  /** Estimated activation bytes of one sample (every node output, input copies, conv workspace). */
  bytesPerSample: number;
  /** Elements of the largest per-sample tensor (an activation or a conv's im2col rows). */
  largestPerSample: number;
  /** Bytes held by the parameters. */
  paramBytes: number;
}

export function checkLimits(limits: unknown, name = 'options'): Required<ModelLimits> {
  if (limits === undefined) return { maxMemory: DEFAULT_MAX_MEMORY };
  if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) throw new TypeError(`${name} must be an object { maxMemory? }`);
  const m = (limits as ModelLimits).maxMemory;
  if (m === undefined) return { maxMemory: DEFAULT_MAX_MEMORY };
  return { maxMemory: checkInt(m, `${name}.maxMemory`, 1, Number.MAX_SAFE_INTEGER) };
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** a * b, or a RangeError when the product is not a safe integer or exceeds `limit`. */
export function checkedProduct(factors: number[], what: string, limit = Number.MAX_SAFE_INTEGER): number {
  let p = 1;
  for (const f of factors) {
    p *= f;
    if (!Number.isSafeInteger(p) || p > limit) {
      throw new RangeError(`${what}: ${factors.join(' x ')} exceeds the limit of ${limit} elements`);
    }
  }
  return p;
}

function fanIn(node: NodeSpec): { rows: number; k: number } | undefined {
  switch (node.op) {
    case 'conv2d': case 'qconv2d': case 'smconv2d': case 'pgconv2d':
      return { rows: node.outChannels, k: checkedProduct([node.inChannels, node.kernel[0], node.kernel[1]], `node ${node.name}: fan-in`, MAX_ELEMENTS) };
    case 'linear': case 'qlinear':
      return { rows: node.outFeatures, k: node.inFeatures };
    default:
      return undefined;
  }
}

/**
 * Checks every parameter the graph reads: its kind (float32 or packed planes) and its length.
 * `where` prefixes the messages (e.g. 'model file a.apm: ').
 */
export function checkParams(graph: GraphSpec, params: Params, where = ''): number {
  const get = (name: string): Param => {
    const p = params.get(name);
    if (p === undefined) throw new RangeError(`${where}missing parameter '${name}'`);
    return p;
  };
  const float = (name: string, length: number, what: string): Float32Array => {
    const p = get(name);
    if (!isFloat32Array(p)) throw new TypeError(`${where}parameter '${name}' (${what}) must be float32, got ${p instanceof Packed ? 'packed planes' : typedArrayTag(p) || typeof p}`);
    if (p.length !== length) throw new RangeError(`${where}parameter '${name}' (${what}) must hold ${length} values, got ${p.length}`);
    return p;
  };
  const packed = (name: string, rows: number, cols: number, bits: number | undefined, what: string): void => {
    const p = get(name);
    if (!(p instanceof Packed)) throw new TypeError(`${where}parameter '${name}' (${what}) must be packed planes, got ${typedArrayTag(p) || typeof p}`);
    if (p.rows !== rows || p.cols !== cols || (bits !== undefined && p.bits !== bits)) {
      throw new RangeError(`${where}parameter '${name}' (${what}) must be ${rows}x${cols}${bits !== undefined ? ` at ${bits} bits` : ''}, got ${p.rows}x${p.cols} at ${p.bits} bits`);
    }
  };
  // Every packed parameter, used or not, is consistent in itself.
  let bytes = 0;
  for (const [name, p] of params) {
    if (p instanceof Packed) {
      if (typedArrayTag(p.data) !== 'BigUint64Array' || typedArrayTag(p.planePop) !== 'Int32Array') {
        throw new TypeError(`${where}parameter '${name}' must hold BigUint64Array planes and Int32Array plane counts`);
      }
      if (!Number.isSafeInteger(p.rows) || p.rows < 0 || !Number.isSafeInteger(p.cols) || p.cols < 1 || !Number.isInteger(p.bits) || p.bits < 1 || p.bits > 8 ||
          p.rows > MAX_ELEMENTS || p.cols > MAX_ELEMENTS) {
        throw new RangeError(`${where}parameter '${name}' has an invalid packed shape ${p.rows}x${p.cols} at ${p.bits} bits`);
      }
      const words = packedWords(p.rows, p.cols, p.bits);
      if (p.data.length !== words) throw new RangeError(`${where}parameter '${name}' must hold ${words} plane words for ${p.rows}x${p.cols} at ${p.bits} bits, got ${p.data.length}`);
      if (p.planePop.length !== p.rows * p.bits) throw new RangeError(`${where}parameter '${name}' must hold ${p.rows * p.bits} plane counts, got ${p.planePop.length}`);
      bytes += p.data.byteLength + p.planePop.byteLength;
    } else if (ArrayBuffer.isView(p)) {
      bytes += p.byteLength;
    } else {
      throw new TypeError(`${where}parameter '${name}' must be a Float32Array or packed planes, got ${p === null ? 'null' : typeof p}`);
    }
  }
  for (const node of graph.nodes) {
    const f = fanIn(node);
    switch (node.op) {
      case 'conv2d':
      case 'linear':
        float(`${node.name}.w`, checkedProduct([f!.rows, f!.k], `node ${node.name}: weights`, MAX_ELEMENTS), 'weights');
        if (node.bias) float(`${node.name}.b`, f!.rows, 'bias');
        break;
      case 'qconv2d':
      case 'qlinear': {
        checkedProduct([f!.rows, f!.k], `node ${node.name}: weights`, MAX_ELEMENTS);
        float(`${node.name}.scale`, 1, 'weight scale');
        const quantBits = graph.weightMode === 'truncate' ? [8] : graph.bitList.filter((b) => b !== 32);
        for (const b of quantBits) packed(`${node.name}.q${b}`, f!.rows, f!.k, b, `${b}-bit weights`);
        if (graph.bitList.includes(32)) float(`${node.name}.w32`, f!.rows * f!.k, 'float weights');
        if (node.op === 'qlinear' && node.bias) float(`${node.name}.b`, f!.rows, 'bias');
        if (node.gate) float(`${node.name}.threshold`, f!.rows, `gate thresholds (${gateThresholdTensor(node)})`);
        break;
      }
      case 'smconv2d':
      case 'pgconv2d':
        checkedProduct([f!.rows, f!.k], `node ${node.name}: weights`, MAX_ELEMENTS);
        packed(`${node.name}.wodd`, f!.rows, f!.k, undefined, 'sign-magnitude weights');
        packed(`${node.name}.weven`, f!.rows, f!.k, 1, 'sign-magnitude even flags');
        float(`${node.name}.wscale`, 1, 'weight scale');
        if (node.op === 'pgconv2d') float(`${node.name}.threshold`, node.outChannels, 'gate thresholds');
        break;
      case 'pact':
        float(`${node.name}.alpha`, 1, 'PACT clip');
        break;
      case 'quantize':
        if (node.clip) {
          for (const key of widthKeys(graph)) {
            const name = quantizeClipTensor(node.name, key), what = clipTensorRole(node.name, key);
            if (!params.has(name)) throw new RangeError(`${where}missing parameter '${name}' (${what}: one per bit-width of bitList)`);
            const alpha = float(name, 1, what)[0];
            // a range: 0 or less (or NaN) would invert or void the codes, Infinity leave no level below it
            if (!(alpha > 0 && alpha < Infinity)) throw new RangeError(`${where}parameter '${name}' (${what}) must be a finite number > 0, got ${alpha}`);
          }
        }
        break;
      case 'batchnorm':
        for (const key of bnKeys(graph, node)) {
          float(`${node.name}.${key}.alpha`, node.channels, `folded batch norm scale, ${key}`);
          float(`${node.name}.${key}.beta`, node.channels, `folded batch norm shift, ${key}`);
        }
        break;
      default:
        break;
    }
  }
  return bytes;
}

/**
 * Per-sample memory of an inference, from the inferred shapes with every product overflow-checked:
 * every node's output (a run keeps them all), the input's two copies (NCHW and NHWC) and its
 * preprocessing (graph.input), and the
 * largest conv workspace (im2col rows: out pixels x fan-in).
 */
export function estimateActivations(graph: GraphSpec): { bytesPerSample: number; largestPerSample: number } {
  const shapes = inferShapes(graph);
  const inputElems = checkedProduct(graph.inputShape, 'graph.inputShape', MAX_ELEMENTS);
  // graph.input: the raw sample and the preprocessing's intermediates (two at a time, each at most
  // inputShape's size) come on top of the input's two copies.
  let elems = (graph.input ? 4 : 2) * inputElems, largest = inputElems, workspace = 0;
  for (const node of graph.nodes) {
    const out = checkedProduct(shapes.get(node.name)!, `node ${node.name} (${node.op}): output size`, MAX_ELEMENTS);
    elems += out;
    largest = Math.max(largest, out);
    const f = fanIn(node);
    if (f && node.op !== 'linear' && node.op !== 'qlinear') {
      const s = shapes.get(node.name)!;
      const cols = checkedProduct([s[0], s[1], f.k], `node ${node.name} (${node.op}): im2col size`, MAX_ELEMENTS);
      workspace = Math.max(workspace, cols);
      largest = Math.max(largest, cols);
    }
    if (!Number.isSafeInteger(elems)) throw new RangeError(`node ${node.name}: activation size overflows`);
  }
  return { bytesPerSample: 4 * (elems + workspace), largestPerSample: largest };
}

/** The whole check at load: parameters, then memory against maxMemory. Throws before allocating. */
export function validateModel(graph: GraphSpec, params: Params | undefined, limits?: ModelLimits, source?: string): ModelBudget {
  const { maxMemory } = checkLimits(limits);
  const where = source ? `model file ${source}: ` : '';
  let act: { bytesPerSample: number; largestPerSample: number };
  try {
    act = estimateActivations(graph);
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`${where}${e.message}`);
    throw e;
  }
  const paramBytes = params === undefined ? 0 : checkParams(graph, params, where);
  if (paramBytes > maxMemory) {
    throw new RangeError(`${where}parameters need ${mib(paramBytes)}, more than maxMemory (${mib(maxMemory)})`);
  }
  if (act.bytesPerSample > maxMemory) {
    throw new RangeError(`${where}one sample needs about ${mib(act.bytesPerSample)} of activations, more than maxMemory (${mib(maxMemory)})`);
  }
  return { maxMemory, paramBytes, ...act };
}

/** Per call: a batch of n must fit maxMemory and the per-tensor element bound. */
export function checkBatch(budget: ModelBudget, n: number): void {
  if (n * budget.bytesPerSample > budget.maxMemory) {
    throw new RangeError(`a batch of ${n} needs about ${mib(n * budget.bytesPerSample)} of activations, more than maxMemory ` +
      `(${mib(budget.maxMemory)}; at most ${Math.floor(budget.maxMemory / budget.bytesPerSample)} samples per call)`);
  }
  if (n * budget.largestPerSample > MAX_ELEMENTS) {
    throw new RangeError(`a batch of ${n} makes a tensor of ${n * budget.largestPerSample} elements, more than ${MAX_ELEMENTS} ` +
      `(at most ${Math.floor(MAX_ELEMENTS / budget.largestPerSample)} samples per call)`);
  }
}
