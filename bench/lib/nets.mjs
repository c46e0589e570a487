// Float32 references of an anyprec graph (bench/model.mjs): the same topology and the same
// random tensors, run by ONNX Runtime (a graph built in code) or by a plain-JS loop (MLPs only).
//
// The weights are what anyprec's own 32-bit path uses: a quantised layer's float weights are
// WeightQuantizer.values(32) = (tanh(w) / max|tanh w|) · E, a float layer's are its tensor.
// Batch norm (the switchable set for 32 bits) is folded into the layer before it:
// W'[o] = W[o] · alpha[o], b'[o] = b[o] · alpha[o] + beta[o]. A quantiser becomes Clip(0, 1) in
// the timed graphs ("the float reference of the same topology"); with `act: 'relu'` it becomes
// ReLU, which is exactly anyprec's bits = 32 behaviour, so outputs can be compared.
import { DataType, graphModel } from './onnx.mjs';

const fr = Math.fround;

function need(tensors, name) {
  const t = tensors[name];
  if (!t) throw new RangeError(`missing tensor '${name}'`);
  return t;
}

/** y = x · alpha + beta folded from one batch norm's tensors (float32 steps, like lib/nn/params). */
function foldBn(tensors, graph, node) {
  const key = graph.bitList.includes(32) ? '32' : String(Math.max(...graph.bitList));
  const p = node.switchable ? `${node.name}.${key}` : node.name;
  const w = need(tensors, `${p}.weight`), b = need(tensors, `${p}.bias`);
  const mean = need(tensors, `${p}.running_mean`), variance = need(tensors, `${p}.running_var`);
  const alpha = new Float32Array(node.channels), beta = new Float32Array(node.channels);
  for (let c = 0; c < node.channels; c++) {
    alpha[c] = fr(w[c] * fr(1 / fr(Math.sqrt(fr(variance[c] + fr(node.eps))))));
    beta[c] = fr(b[c] - fr(mean[c] * alpha[c]));
  }
  return { alpha, beta, key };
}

/**
 * The graph as a chain of float layers with batch norm folded in:
 *   { kind: 'conv', w [out, in, kh, kw], b, kernel, stride, padding, dilation, outC }
 *   { kind: 'linear', w [out, in], b, inF, outF } | { kind: 'act' } | { kind: 'relu' }
 *   { kind: 'maxpool', kernel, stride, padding } | { kind: 'flatten' }
 * @param {object} graph  an anyprec GraphSpec (single chain: every node reads the previous one)
 * @param {Record<string, Float32Array>} tensors  PyTorch-named tensors (zoo.randomTensors)
 * @param {typeof import('../../dist/index.js').WeightQuantizer} WeightQuantizer
 */
export function foldedLayers(graph, tensors, WeightQuantizer) {
  const layers = [];
  const nodes = graph.nodes;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    const prev = i === 0 ? 'input' : nodes[i - 1].name;
    if (node.inputs.length !== 1 || node.inputs[0] !== prev) throw new RangeError(`node ${node.name}: only single chains are supported`);
    switch (node.op) {
      case 'conv2d':
      case 'qconv2d':
      case 'linear':
      case 'qlinear': {
        const raw = need(tensors, `${node.name}.weight`);
        const w = node.op.startsWith('q') ? new WeightQuantizer(raw, graph.weightMode).values(32) : Float32Array.from(raw);
        const out = node.op.endsWith('conv2d') ? node.outChannels : node.outFeatures;
        const fanIn = w.length / out;
        let b = node.bias ? Float32Array.from(need(tensors, `${node.name}.bias`)) : new Float32Array(out);
        const next = nodes[i + 1];
        if (next?.op === 'batchnorm' && next.inputs[0] === node.name) {
          const { alpha, beta } = foldBn(tensors, graph, next);
          for (let o = 0; o < out; o++) {
            for (let t = 0; t < fanIn; t++) w[o * fanIn + t] = fr(w[o * fanIn + t] * alpha[o]);
            b[o] = fr(fr(b[o] * alpha[o]) + beta[o]);
          }
          i++;
        }
        if (node.op.endsWith('conv2d')) {
          layers.push({ kind: 'conv', name: node.name, w, b, outC: out, inC: node.inChannels, kernel: node.kernel,
            stride: node.stride, padding: node.padding, dilation: node.dilation });
        } else {
          layers.push({ kind: 'linear', name: node.name, w, b, inF: node.inFeatures, outF: out });
        }
        break;
      }
      case 'quantize':
        layers.push({ kind: 'act', name: node.name });
        break;
      case 'relu':
        layers.push({ kind: 'relu', name: node.name });
        break;
      case 'maxpool2d':
        layers.push({ kind: 'maxpool', name: node.name, kernel: node.kernel, stride: node.stride, padding: node.padding });
        break;
      case 'flatten':
        layers.push({ kind: 'flatten', name: node.name });
        break;
      case 'dropout':
        break;
      default:
        throw new RangeError(`node ${node.name}: op ${node.op} has no float reference here`);
    }
  }
  return layers;
}

/**
 * ONNX model of the folded layers: input 'X' [N, ...inputShape] (N symbolic), output 'Y'.
 * Conv / Gemm(transB) with bias, Clip(0, 1) (or Relu) for quantisers, MaxPool, Flatten.
 * @param {'clip' | 'relu'} act  what a quantiser becomes
 */
export function onnxModel(graph, layers, act = 'clip') {
  const nodes = [];
  const initializers = [];
  if (act === 'clip' && layers.some((l) => l.kind === 'act')) {
    initializers.push({ name: 'zero', type: DataType.FLOAT, dims: [], data: Float32Array.of(0) });
    initializers.push({ name: 'one', type: DataType.FLOAT, dims: [], data: Float32Array.of(1) });
  }
  let x = 'X';
  let shape = ['N', ...graph.inputShape];
  layers.forEach((l, i) => {
    const y = i === layers.length - 1 ? 'Y' : `t${i}`;
    switch (l.kind) {
      case 'conv': {
        const [kh, kw] = l.kernel;
        initializers.push({ name: `${l.name}.w`, type: DataType.FLOAT, dims: [l.outC, l.inC, kh, kw], data: l.w });
        initializers.push({ name: `${l.name}.b`, type: DataType.FLOAT, dims: [l.outC], data: l.b });
        nodes.push({ opType: 'Conv', inputs: [x, `${l.name}.w`, `${l.name}.b`], outputs: [y], attrs: {
          kernel_shape: [kh, kw], strides: l.stride, dilations: l.dilation, pads: [...l.padding, ...l.padding] } });
        const [, , h, w] = shape;
        shape = ['N', l.outC, Math.floor((h + 2 * l.padding[0] - l.dilation[0] * (kh - 1) - 1) / l.stride[0]) + 1,
          Math.floor((w + 2 * l.padding[1] - l.dilation[1] * (kw - 1) - 1) / l.stride[1]) + 1];
        break;
      }
      case 'linear':
        initializers.push({ name: `${l.name}.w`, type: DataType.FLOAT, dims: [l.outF, l.inF], data: l.w });
        initializers.push({ name: `${l.name}.b`, type: DataType.FLOAT, dims: [l.outF], data: l.b });
        nodes.push({ opType: 'Gemm', inputs: [x, `${l.name}.w`, `${l.name}.b`], outputs: [y], attrs: { transB: 1 } });
        shape = ['N', l.outF];
        break;
      case 'act':
        nodes.push(act === 'clip'
          ? { opType: 'Clip', inputs: [x, 'zero', 'one'], outputs: [y] }
          : { opType: 'Relu', inputs: [x], outputs: [y] });
        break;
      case 'relu':
        nodes.push({ opType: 'Relu', inputs: [x], outputs: [y] });
        break;
      case 'maxpool': {
        nodes.push({ opType: 'MaxPool', inputs: [x], outputs: [y], attrs: {
          kernel_shape: l.kernel, strides: l.stride, pads: [...l.padding, ...l.padding] } });
        const [, c, h, w] = shape;
        shape = ['N', c, Math.floor((h + 2 * l.padding[0] - l.kernel[0]) / l.stride[0]) + 1,
          Math.floor((w + 2 * l.padding[1] - l.kernel[1]) / l.stride[1]) + 1];
        break;
      }
      case 'flatten':
        nodes.push({ opType: 'Flatten', inputs: [x], outputs: [y], attrs: { axis: 1 } });
        shape = ['N', shape.slice(1).reduce((a, b) => a * b, 1)];
        break;
      default:
        throw new RangeError(`layer kind ${l.kind}`);
    }
    x = y;
  });
  return graphModel({
    name: 'anyprec-bench-model',
    producer: 'anyprec bench/model.mjs',
    nodes,
    initializers,
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: ['N', ...graph.inputShape] }],
    outputs: [{ name: 'Y', type: DataType.FLOAT, dims: shape }],
  });
}

/**
 * A plain-JS float32 forward pass for an MLP (linear layers and quantisers only): weights kept
 * transposed (K x N) so the inner loop runs along contiguous memory; float32 accumulators.
 * Returns (x: Float32Array [n, inF], n) => Float32Array [n, outF].
 * @param {'clip' | 'relu'} act
 */
export function jsMlp(layers, act = 'clip') {
  const steps = layers.map((l) => {
    if (l.kind === 'act' || l.kind === 'relu') return { kind: l.kind === 'relu' || act === 'relu' ? 'relu' : 'clip' };
    if (l.kind !== 'linear') throw new RangeError(`jsMlp: layer kind ${l.kind} is not supported`);
    const wt = new Float32Array(l.inF * l.outF);
    for (let o = 0; o < l.outF; o++) for (let t = 0; t < l.inF; t++) wt[t * l.outF + o] = l.w[o * l.inF + t];
    return { kind: 'linear', wt, b: l.b, inF: l.inF, outF: l.outF };
  });
  return (x, n) => {
    let cur = x;
    for (const s of steps) {
      if (s.kind === 'linear') {
        const { wt, b, inF, outF } = s;
        const out = new Float32Array(n * outF);
        for (let i = 0; i < n; i++) {
          const row = out.subarray(i * outF, (i + 1) * outF);
          row.set(b);
          for (let t = 0; t < inF; t++) {
            const v = cur[i * inF + t];
            const base = t * outF;
            for (let o = 0; o < outF; o++) row[o] += v * wt[base + o];
          }
        }
        cur = out;
      } else {
        const out = new Float32Array(cur.length);
        if (s.kind === 'clip') for (let i = 0; i < cur.length; i++) out[i] = cur[i] < 0 ? 0 : cur[i] > 1 ? 1 : cur[i];
        else for (let i = 0; i < cur.length; i++) out[i] = cur[i] > 0 ? cur[i] : 0;
        cur = out;
      }
    }
    return cur;
  };
}

/** max |a - b| / max |b| (relative to the reference's largest magnitude). */
export function relativeError(a, b) {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

/** Row-wise argmax of an [n, f] matrix. */
export function argmaxRows(y, n) {
  const f = y.length / n;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < f; j++) if (y[i * f + j] > y[i * f + best]) best = j;
    out[i] = best;
  }
  return out;
}
