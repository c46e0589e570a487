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
            stride: node.stride, padding: node.padding, dilation: node.dilation, quantized: node.op.startsWith('q') });
        } else {
          layers.push({ kind: 'linear', name: node.name, w, b, inF: node.inFeatures, outF: out, quantized: node.op.startsWith('q') });
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
    const one = onnxLayer(l, x, y, shape, initializers, act);
    nodes.push(...one.nodes);
    shape = one.shape;
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
 * Per-output-channel symmetric int8 codes of a weight tensor [out, ...] (what ONNX Runtime's
 * static quantiser makes with per_channel and QInt8 weights): scale[o] = max|w[o]| / 127,
 * code = round(w / scale) in -127..127.
 */
export function int8PerChannel(w, out) {
  const per = w.length / out;
  const codes = new Int8Array(w.length);
  const scale = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let mx = 0;
    for (let t = 0; t < per; t++) mx = Math.max(mx, Math.abs(w[o * per + t]));
    const sc = mx > 0 ? mx / 127 : 1;
    scale[o] = sc;
    for (let t = 0; t < per; t++) codes[o * per + t] = Math.max(-127, Math.min(127, Math.round(w[o * per + t] / sc)));
  }
  return { codes, scale };
}

/**
 * The int8 export of the same chain, in the operators ONNX Runtime runs fastest (measured here:
 * QLinearConv ~2× its fp32 Conv; ConvInteger with int8 weights ~5× slower than fp32, so it is
 * not used; MatMulInteger uint8×int8 is its fast int8 GEMM). Every layer that anyprec quantises
 * and whose input comes from an activation quantiser (values in [0, 1], possibly through
 * max-pool / flatten) runs on 8-bit activation codes (scale 1/255, zero point 0 — exactly
 * anyprec's 8-bit activation quantiser round(clip(x,0,1)·255)/255) and per-output-channel
 * symmetric int8 weights (batch norm, the 32-bit set, folded in first):
 *  * conv followed by a quantiser: QLinearConv with an int32 bias and output scale 1/255 — the
 *    output codes are the next quantiser's (saturating at 0 and 255 = the clip);
 *  * conv not followed by one: ConvInteger with the weights shifted to uint8 (zero point 128,
 *    ORT's fast u8×u8 path) -> Cast -> Mul(scale) -> Add(bias);
 *  * linear: MatMulInteger (uint8 × int8) -> Cast -> Mul(scale) -> Add(bias), and
 *    QuantizeLinear when a quantiser follows.
 * Max-pool and flatten run on the uint8 codes; float layers (the stem, the classifier) stay
 * float, as in anyprec, behind a DequantizeLinear. Returns { bytes, quantizedLayers, floatLayers }.
 */
export function onnxInt8Model(graph, layers) {
  const nodes = [];
  const initializers = [
    { name: 'zero', type: DataType.FLOAT, dims: [], data: Float32Array.of(0) },
    { name: 'one', type: DataType.FLOAT, dims: [], data: Float32Array.of(1) },
    { name: 'x_scale', type: DataType.FLOAT, dims: [], data: Float32Array.of(1 / 255) },
    { name: 'x_zero', type: DataType.UINT8, dims: [], data: Uint8Array.of(0) },
    { name: 'w_zero', type: DataType.INT8, dims: [], data: Int8Array.of(0) },
    { name: 'w_zero_u8', type: DataType.UINT8, dims: [], data: Uint8Array.of(128) },
  ];
  const q = [], f = [];
  let x = 'X';
  let codes = false; // x holds uint8 activation codes (scale 1/255)
  let unit = false; // x's values are in [0, 1] (float after Clip, or codes)
  let shape = ['N', ...graph.inputShape];
  const asCodes = (name) => {
    if (codes) return x;
    nodes.push({ opType: 'QuantizeLinear', inputs: [x, 'x_scale', 'x_zero'], outputs: [name] });
    return name;
  };
  const asFloat = (name) => {
    if (!codes) return x;
    nodes.push({ opType: 'DequantizeLinear', inputs: [x, 'x_scale', 'x_zero'], outputs: [name] });
    return name;
  };
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    const y = `t${i}`;
    const int8 = (l.kind === 'conv' || l.kind === 'linear') && l.quantized && unit;
    if (int8) {
      const out = l.kind === 'conv' ? l.outC : l.outF;
      const { codes: wq, scale } = int8PerChannel(l.w, out);
      const mul = Float32Array.from(scale, (s) => s / 255);
      const xq = asCodes(`${y}.xq`);
      const actNext = layers[i + 1]?.kind === 'act';
      if (l.kind === 'conv') {
        const [kh, kw] = l.kernel;
        const attrs = { kernel_shape: [kh, kw], strides: l.stride, dilations: l.dilation, pads: [...l.padding, ...l.padding] };
        const [, , h, w] = shape;
        shape = ['N', l.outC, Math.floor((h + 2 * l.padding[0] - l.dilation[0] * (kh - 1) - 1) / l.stride[0]) + 1,
          Math.floor((w + 2 * l.padding[1] - l.dilation[1] * (kw - 1) - 1) / l.stride[1]) + 1];
        if (actNext) {
          initializers.push({ name: `${l.name}.wq`, type: DataType.INT8, dims: [l.outC, l.inC, kh, kw], data: wq });
          initializers.push({ name: `${l.name}.ws`, type: DataType.FLOAT, dims: [l.outC], data: scale });
          initializers.push({ name: `${l.name}.wz`, type: DataType.INT8, dims: [l.outC], data: new Int8Array(l.outC) });
          initializers.push({ name: `${l.name}.bq`, type: DataType.INT32, dims: [l.outC], data: Int32Array.from(l.b, (b, o) => Math.round(b / mul[o])) });
          nodes.push({ opType: 'QLinearConv', inputs: [xq, 'x_scale', 'x_zero', `${l.name}.wq`, `${l.name}.ws`, `${l.name}.wz`, 'x_scale', 'x_zero', `${l.name}.bq`],
            outputs: [y], attrs });
          q.push(l.name);
          x = y;
          codes = true;
          unit = true;
          i++; // the quantiser is the output scale
          continue;
        }
        initializers.push({ name: `${l.name}.wu8`, type: DataType.UINT8, dims: [l.outC, l.inC, kh, kw], data: Uint8Array.from(wq, (v) => v + 128) });
        initializers.push({ name: `${l.name}.mul`, type: DataType.FLOAT, dims: [l.outC, 1, 1], data: mul });
        initializers.push({ name: `${l.name}.b`, type: DataType.FLOAT, dims: [l.outC, 1, 1], data: l.b });
        nodes.push({ opType: 'ConvInteger', inputs: [xq, `${l.name}.wu8`, 'x_zero', 'w_zero_u8'], outputs: [`${y}.acc`], attrs });
      } else {
        const wt = new Int8Array(l.inF * l.outF); // [K, N] for MatMulInteger
        for (let o = 0; o < l.outF; o++) for (let t = 0; t < l.inF; t++) wt[t * l.outF + o] = wq[o * l.inF + t];
        initializers.push({ name: `${l.name}.wq`, type: DataType.INT8, dims: [l.inF, l.outF], data: wt });
        initializers.push({ name: `${l.name}.mul`, type: DataType.FLOAT, dims: [l.outF], data: mul });
        initializers.push({ name: `${l.name}.b`, type: DataType.FLOAT, dims: [l.outF], data: l.b });
        nodes.push({ opType: 'MatMulInteger', inputs: [xq, `${l.name}.wq`, 'x_zero', 'w_zero'], outputs: [`${y}.acc`] });
        shape = ['N', l.outF];
      }
      nodes.push({ opType: 'Cast', inputs: [`${y}.acc`], outputs: [`${y}.f`], attrs: { to: DataType.FLOAT } });
      nodes.push({ opType: 'Mul', inputs: [`${y}.f`, `${l.name}.mul`], outputs: [`${y}.s`] });
      nodes.push({ opType: 'Add', inputs: [`${y}.s`, `${l.name}.b`], outputs: [y] });
      q.push(l.name);
      x = y;
      codes = false;
      unit = false;
      continue;
    }
    if (l.kind === 'act') {
      // A quantiser on float values: the next int8 layer quantises them (saturating = the clip);
      // kept as Clip when a float consumer follows.
      const next = layers[i + 1];
      const nextInt8 = next && (next.kind === 'conv' || next.kind === 'linear') && next.quantized;
      if (codes) continue; // already codes in [0, 1]
      if (nextInt8) {
        nodes.push({ opType: 'QuantizeLinear', inputs: [x, 'x_scale', 'x_zero'], outputs: [y] });
        codes = true;
      } else {
        nodes.push({ opType: 'Clip', inputs: [x, 'zero', 'one'], outputs: [y] });
      }
      x = y;
      unit = true;
      continue;
    }
    if (l.kind === 'maxpool' || l.kind === 'flatten') {
      const one = onnxLayer(l, x, y, shape, initializers); // MaxPool and Flatten take uint8 too
      nodes.push(...one.nodes);
      shape = one.shape;
      x = y;
      continue;
    }
    x = asFloat(`${y}.dq`);
    codes = false;
    const one = onnxLayer(l, x, y, shape, initializers);
    nodes.push(...one.nodes);
    shape = one.shape;
    if (l.kind === 'conv' || l.kind === 'linear') f.push(l.name);
    unit = false;
    x = y;
  }
  // The graph output Y, float.
  nodes.push(codes
    ? { opType: 'DequantizeLinear', inputs: [x, 'x_scale', 'x_zero'], outputs: ['Y'] }
    : { opType: 'Identity', inputs: [x], outputs: ['Y'] });
  const bytes = graphModel({
    name: 'anyprec-bench-model-int8',
    producer: 'anyprec bench/model.mjs',
    nodes,
    initializers,
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: ['N', ...graph.inputShape] }],
    outputs: [{ name: 'Y', type: DataType.FLOAT, dims: shape }],
  });
  return { bytes, quantizedLayers: q, floatLayers: f };
}

/** One folded layer as fp32 ONNX nodes (a quantiser becomes Clip(0, 1), or Relu); adds its initializers. */
function onnxLayer(l, x, y, shape, initializers, act = 'clip') {
  const nodes = [];
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
  return { nodes, shape };
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
