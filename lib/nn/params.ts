// From float parameters (PyTorch layouts) to what the runtime executes: packed weight planes,
// weight scales, folded batch norm, conv weights reordered to (out, kh, kw, in).
import { checkFloat32, checkNoNaN } from '../core/check';
import { Packed, pack } from '../core/kernels';
import { WeightQuantizer } from '../core/quantize';
import { signMagnitudeWeights } from '../core/signmag';
import { packSignMagnitude } from '../core/signmag-gemm';
import type { GraphSpec, NodeSpec } from './graph';
import { clipTensorRole, gateThresholdTensor, quantizeClipTensor } from './graph';

export type Param = Float32Array | Packed;
export type Params = Map<string, Param>;

const fr = Math.fround;

/** [out, in, kh, kw] -> [out, kh, kw, in] (any element type). */
export function reorderConv<T extends Float32Array | Uint8Array | Int16Array>(w: T, out: number, inC: number, kh: number, kw: number): T {
  const r = new (w.constructor as new (n: number) => T)(w.length);
  for (let o = 0; o < out; o++)
    for (let c = 0; c < inC; c++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) r[((o * kh + y) * kw + x) * inC + c] = w[((o * inC + c) * kh + y) * kw + x];
  return r;
}

function tensor(tensors: Record<string, Float32Array>, name: string, length: number): Float32Array {
  const t = tensors[name];
  if (t === undefined) throw new RangeError(`missing tensor '${name}'`);
  checkFloat32(t, `tensor '${name}'`);
  if (t.length !== length) throw new RangeError(`tensor '${name}' must hold ${length} values, got ${t.length}`);
  return t;
}

/**
 * Eval batch norm folded to y = x * alpha + beta, in float32 as PyTorch's CPU kernel computes it:
 * invstd = 1 / sqrt(var + eps), alpha = weight * invstd, beta = bias - mean * alpha.
 */
export function foldBatchNorm(w: Float32Array, b: Float32Array, mean: Float32Array, variance: Float32Array, eps: number) {
  const alpha = new Float32Array(w.length), beta = new Float32Array(w.length);
  for (let c = 0; c < w.length; c++) {
    const invstd = fr(1 / fr(Math.sqrt(fr(variance[c] + fr(eps)))));
    alpha[c] = fr(w[c] * invstd);
    beta[c] = fr(b[c] - fr(mean[c] * alpha[c]));
  }
  return { alpha, beta };
}

/**
 * The keys of a parameter set kept per activation bit-width (a switchable batch norm's
 * `<name>.<key>.*`, a quantiser's clips `<name>.<key>.alpha`): every width of the bit list.
 */
export function widthKeys(graph: GraphSpec): string[] {
  return graph.bitList.map(String);
}

export function bnKeys(graph: GraphSpec, node: NodeSpec & { op: 'batchnorm' }): string[] {
  return node.switchable ? widthKeys(graph) : ['shared'];
}

function fanIn(node: NodeSpec): { rows: number; k: number; reorder: (w: Float32Array) => Float32Array; reorderCodes: (q: Uint8Array) => Uint8Array } {
  if (node.op === 'conv2d' || node.op === 'qconv2d' || node.op === 'smconv2d' || node.op === 'pgconv2d') {
    const [kh, kw] = node.kernel;
    return {
      rows: node.outChannels,
      k: node.inChannels * kh * kw,
      reorder: (w) => reorderConv(w, node.outChannels, node.inChannels, kh, kw),
      reorderCodes: (q) => reorderConv(q, node.outChannels, node.inChannels, kh, kw),
    };
  }
  if (node.op === 'linear' || node.op === 'qlinear') {
    return { rows: node.outFeatures, k: node.inFeatures, reorder: (w) => w, reorderCodes: (q) => q };
  }
  throw new Error(`node ${node.name} has no weights`);
}

/** A gate's thresholds: Float32Array, no NaN (±Infinity allowed: always / never on). */
export function checkThresholds(t: Float32Array, name: string): Float32Array {
  checkNoNaN(t, name, ' (a threshold must be a number or ±Infinity)');
  return t;
}

/** Builds runtime parameters for every node from float tensors named as in PyTorch state_dicts. */
export function compileParams(graph: GraphSpec, tensors: Record<string, Float32Array>): Params {
  const params: Params = new Map();
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'conv2d':
      case 'linear': {
        const f = fanIn(node);
        params.set(`${node.name}.w`, f.reorder(tensor(tensors, `${node.name}.weight`, f.rows * f.k)));
        if (node.bias) params.set(`${node.name}.b`, tensor(tensors, `${node.name}.bias`, f.rows));
        break;
      }
      case 'qconv2d':
      case 'qlinear': {
        const f = fanIn(node);
        const wq = new WeightQuantizer(tensor(tensors, `${node.name}.weight`, f.rows * f.k), graph.weightMode);
        params.set(`${node.name}.scale`, new Float32Array([wq.scale]));
        const quantBits = graph.weightMode === 'truncate' ? [8] : graph.bitList.filter((b) => b !== 32);
        for (const b of quantBits) params.set(`${node.name}.q${b}`, pack(f.reorderCodes(wq.codes(b)), f.rows, f.k, b));
        if (graph.bitList.includes(32)) params.set(`${node.name}.w32`, f.reorder(wq.values(32)));
        if (node.op === 'qlinear' && node.bias) params.set(`${node.name}.b`, tensor(tensors, `${node.name}.bias`, f.rows));
        if (node.gate) {
          const name = gateThresholdTensor(node);
          params.set(`${node.name}.threshold`, checkThresholds(tensor(tensors, name, f.rows), `tensor '${name}' (thresholds of ${node.name})`).slice());
        }
        break;
      }
      case 'smconv2d':
      case 'pgconv2d': {
        // Sign-magnitude levels, packed as the bipolar odd part + the 1-bit even flag (nn/pg-conv).
        const f = fanIn(node);
        const wq = signMagnitudeWeights(tensor(tensors, `${node.name}.weight`, f.rows * f.k), node.weightBits);
        const levels = reorderConv(wq.levels, node.outChannels, node.inChannels, node.kernel[0], node.kernel[1]);
        const sm = packSignMagnitude(levels, f.rows, f.k, node.weightBits, wq.scale);
        params.set(`${node.name}.wodd`, sm.odd);
        params.set(`${node.name}.weven`, sm.even);
        params.set(`${node.name}.wscale`, new Float32Array([wq.scale]));
        if (node.op === 'pgconv2d') {
          params.set(`${node.name}.threshold`, checkThresholds(tensor(tensors, `${node.name}.threshold`, node.outChannels), `tensor '${node.name}.threshold'`).slice());
        }
        break;
      }
      case 'pact':
        params.set(`${node.name}.alpha`, tensor(tensors, `${node.param ?? node.name}.upper_bound`, 1).slice());
        break;
      case 'quantize':
        // one clip per bit-width, the same name in and out (values checked with every parameter: nn/validate)
        if (node.clip) {
          for (const key of widthKeys(graph)) {
            const name = quantizeClipTensor(node.name, key), t = tensors[name];
            if (t === undefined) throw new RangeError(`missing tensor '${name}' (${clipTensorRole(node.name, key)}: one per bit-width of bitList)`);
            checkFloat32(t, `tensor '${name}' (${clipTensorRole(node.name, key)})`);
            if (t.length !== 1) throw new RangeError(`tensor '${name}' (${clipTensorRole(node.name, key)}) must hold 1 value, got ${t.length}`);
            params.set(name, t.slice());
          }
        }
        break;
      case 'batchnorm': {
        for (const key of bnKeys(graph, node)) {
          const p = node.switchable ? `${node.name}.${key}` : node.name;
          const { alpha, beta } = foldBatchNorm(
            tensor(tensors, `${p}.weight`, node.channels), tensor(tensors, `${p}.bias`, node.channels),
            tensor(tensors, `${p}.running_mean`, node.channels), tensor(tensors, `${p}.running_var`, node.channels), node.eps);
          params.set(`${node.name}.${key}.alpha`, alpha);
          params.set(`${node.name}.${key}.beta`, beta);
        }
        break;
      }
      default:
        break;
    }
  }
  return params;
}
