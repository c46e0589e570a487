// ONNX Runtime's int8 version of fixture A's ResNet-20 as a user would make it: the float network
// (the reference's bits = 32 function, the same one resnet-onnx.mjs exports as 'fp32') quantised
// post-training into a QDQ graph, the format onnxruntime.quantization.quantize_static writes and
// ORT's graph optimiser fuses into QLinearConv / QLinearAdd / QGemm kernels.
//
//  * weights: every conv (the stem, the 18 block convs, the two 1×1 shortcuts) and the FC with
//    the batch norm that follows it folded in, then int8 per output channel (symmetric, axis 0,
//    zero point 0, scale max|w|/127); biases int32 at scale x_scale·w_scale[o];
//  * activations: uint8 per tensor (asymmetric: scale (max−min)/255, zero point round(−min/scale)),
//    min/max calibrated by running the float network on calibration digits (MNIST digits of the
//    train split, disjoint from the 2,000 test digits that accuracy is measured on);
//  * every conv reads DequantizeLinear(uint8 input), DequantizeLinear(int8 weights) and writes
//    QuantizeLinear; the residual Add reads two dequantised tensors and is quantised (QLinearAdd);
//    a ReLU right after a conv is dropped (its output range starts at 0, so zero point 0 clamps
//    exactly as ReLU would: what the quantisation tool does too). The pre-activation batch norms
//    (after each residual Add, where no conv can absorb them; written as Mul + Add, see bn()),
//    global average pool and flatten stay float between a DequantizeLinear and the next
//    QuantizeLinear.
//
// resnet20Calibration() builds the float graph with every tensor that gets a QuantizeLinear as an
// extra output; calibrate() runs it and returns the per-tensor ranges; resnet20Qdq() builds the
// QDQ graph from them. Both come from one builder, so the float graph that is calibrated is the
// graph that is quantised.
import { DataType, graphModel } from './onnx.mjs';
import { int8PerChannel } from './nets.mjs';

const EPS = 1e-5;

/** Per-tensor uint8 quantisation of the range [min, max] (widened to include 0). */
export function uint8Params(min, max) {
  const lo = Math.min(0, min), hi = Math.max(0, max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zero = Math.max(0, Math.min(255, Math.round(-lo / scale)));
  return { scale: Math.fround(scale), zero };
}

function build(tensors, WeightQuantizer, mode, ranges) {
  const get = (name) => {
    const t = tensors.get(name);
    if (!t) throw new RangeError(`fixture A: missing tensor '${name}'`);
    return t;
  };
  const nodes = [];
  const inits = [];
  const init = (name, type, dims, data) => {
    inits.push({ name, type, dims, data });
    return name;
  };
  let uid = 0;
  const node = (opType, inputs, attrs) => {
    const y = `${opType}.${uid++}`;
    nodes.push({ opType, inputs, outputs: [y], attrs });
    return y;
  };
  const calibrated = []; // names of the tensors that get a QuantizeLinear (calibration outputs)
  const actParams = new Map(); // tensor -> { scale name, zero name, scale, zero }
  // The quantisation point of a float activation tensor: calib mode records it; qdq mode emits
  // QuantizeLinear -> DequantizeLinear with its calibrated parameters and returns the dequantised name.
  const qdq = (t, label) => {
    if (mode === 'calib') {
      calibrated.push(t);
      actParams.set(t, { label });
      return t;
    }
    const r = ranges.get(label);
    if (!r) throw new RangeError(`QDQ: no calibrated range for '${label}'`);
    const { scale, zero } = uint8Params(r.min, r.max);
    const s = init(`${label}.scale`, DataType.FLOAT, [], Float32Array.of(scale));
    const z = init(`${label}.zero`, DataType.UINT8, [], Uint8Array.of(zero));
    const q = node('QuantizeLinear', [t, s, z]);
    const d = node('DequantizeLinear', [q, s, z]);
    actParams.set(d, { scale });
    return d;
  };
  const bnParams = (prefix) => {
    const [w, b, mean, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((f) => get(`${prefix}.${f}`).data);
    const alpha = Float32Array.from(w, (wc, c) => wc / Math.sqrt(v[c] + EPS));
    const beta = Float32Array.from(b, (bc, c) => bc - mean[c] * alpha[c]);
    return { alpha, beta };
  };
  // A batch norm no conv can absorb (after a residual Add), as the per-channel affine it is at
  // inference: Mul(alpha) -> Add(beta) with [C, 1, 1] constants. ORT's layout optimiser pushes its
  // NCHW<->NHWC transposes through these (not through BatchNormalization: 2 Transposes per norm).
  const bn = (x, prefix) => {
    const { alpha, beta } = bnParams(prefix);
    const c = alpha.length;
    init(`${prefix}.alpha`, DataType.FLOAT, [c, 1, 1], alpha);
    init(`${prefix}.beta`, DataType.FLOAT, [c, 1, 1], beta);
    return node('Add', [node('Mul', [x, `${prefix}.alpha`]), `${prefix}.beta`]);
  };
  // A conv (or the FC) with an optional batch norm folded in. `x` is the (dequantised) input;
  // weights float in calib mode, DequantizeLinear(int8 per channel) in qdq mode.
  const layer = (x, name, w, shape, attrs, bnPrefix, opType = 'Conv') => {
    const out = shape[0];
    const per = w.length / out;
    const wf = Float32Array.from(w);
    let bias = new Float32Array(out);
    if (bnPrefix) {
      const { alpha, beta } = bnParams(bnPrefix);
      for (let o = 0; o < out; o++) for (let t = 0; t < per; t++) wf[o * per + t] *= alpha[o];
      bias = beta;
    }
    if (opType === 'Gemm') bias = Float32Array.from(get('fc.bias').data);
    if (mode === 'calib') {
      init(`${name}.wf`, DataType.FLOAT, shape, wf);
      init(`${name}.bf`, DataType.FLOAT, [out], bias);
      return node(opType, [x, `${name}.wf`, `${name}.bf`], attrs);
    }
    const { codes, scale } = int8PerChannel(wf, out);
    const xs = actParams.get(x).scale;
    init(`${name}.wq`, DataType.INT8, shape, codes);
    init(`${name}.ws`, DataType.FLOAT, [out], scale);
    init(`${name}.wz`, DataType.INT8, [out], new Int8Array(out));
    const bs = Float32Array.from(scale, (s) => s * xs);
    init(`${name}.bq`, DataType.INT32, [out], Int32Array.from(bias, (b, o) => Math.round(b / bs[o])));
    init(`${name}.bs`, DataType.FLOAT, [out], bs);
    init(`${name}.bz`, DataType.INT32, [out], new Int32Array(out));
    const wd = node('DequantizeLinear', [`${name}.wq`, `${name}.ws`, `${name}.wz`], { axis: 0 });
    const bd = node('DequantizeLinear', [`${name}.bq`, `${name}.bs`, `${name}.bz`], { axis: 0 });
    return node(opType, [x, wd, bd], attrs);
  };
  const conv = (x, name, stride, pad, bnPrefix) => {
    const w = get(`${name}.weight`);
    const [, , kh, kw] = w.shape;
    // Quantised layers of the reference use their 32-bit weight function (tanh(W)/M)·E; float ones their tensor.
    const values = name === 'conv0' || name.endsWith('skip_conv') ? w.data : new WeightQuantizer(w.data, 'requant').values(32);
    return layer(x, name, values, w.shape, { kernel_shape: [kh, kw], strides: [stride, stride], pads: [pad, pad, pad, pad] }, bnPrefix);
  };

  let x = qdq('X', 'input');
  x = qdq(conv(x, 'conv0', 1, 1, null), 'conv0');
  for (let i = 0; i < 9; i++) {
    const p = `layers.${i}`;
    const stride = i === 3 || i === 6 ? 2 : 1;
    const a = qdq(node('Relu', [bn(x, `${p}.bn0.bn_dict.32`)]), `${p}.act0`);
    const s = tensors.has(`${p}.skip_conv.weight`) ? qdq(conv(a, `${p}.skip_conv`, stride, 0, `${p}.skip_bn`), `${p}.skip`) : x;
    // conv0 + bn1 + ReLU: in the QDQ graph the ReLU is absorbed by its QuantizeLinear (range from 0).
    const c0 = conv(a, `${p}.conv0`, stride, 1, `${p}.bn1.bn_dict.32`);
    const u = qdq(mode === 'calib' ? node('Relu', [c0]) : c0, `${p}.act1`);
    const v = qdq(conv(u, `${p}.conv1`, 1, 1, null), `${p}.conv1`);
    x = qdq(node('Add', [v, s]), `${p}.add`);
  }
  x = node('Flatten', [node('GlobalAveragePool', [bn(x, 'bn.bn_dict.32')])], { axis: 1 });
  x = qdq(x, 'pool');
  const fcW = get('fc.weight');
  const y = layer(x, 'fc', fcW.data, fcW.shape, { transB: 1 }, null, 'Gemm');
  const outputs = [{ name: 'Y', type: DataType.FLOAT, dims: ['N', fcW.shape[0]] }];
  if (mode === 'calib') {
    nodes.push({ opType: 'Identity', inputs: [y], outputs: ['Y'] });
    // Every quantisation point but the graph input is an extra output (no shape: ORT infers it).
    for (const t of calibrated) if (t !== 'X') outputs.push({ name: t, type: DataType.FLOAT, dims: null });
  } else {
    nodes.push({ opType: 'Identity', inputs: [qdq(y, 'fc')], outputs: ['Y'] });
  }
  const bytes = graphModel({
    name: `fixture-a-resnet20-${mode}`,
    producer: 'anyprec bench/lib/resnet-qdq.mjs',
    nodes,
    initializers: inits,
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: ['N', 3, 32, 32] }],
    outputs,
  });
  const labels = new Map(calibrated.map((t) => [t, actParams.get(t).label]));
  return { bytes, labels };
}

/** The float network with every quantisation point as an extra output: { bytes, labels: Map(output -> label) }. */
export function resnet20Calibration(tensors, WeightQuantizer) {
  return build(tensors, WeightQuantizer, 'calib', null);
}

/**
 * Runs a calibration graph (input 'X', output 'Y' plus one output per quantisation point, as
 * `labels` maps them) over `x` ([n, ...sample] float32) in batches and returns
 * Map(label -> { min, max }), with 'input' (X) and `outputLabel` (Y) included.
 */
export async function calibrate(ort, session, labels, x, n, { sample = [3, 32, 32], outputLabel = 'fc', batch = 64 } = {}) {
  const ranges = new Map();
  const per = sample.reduce((a, b) => a * b, 1);
  const see = (label, data) => {
    const r = ranges.get(label) ?? { min: Infinity, max: -Infinity };
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < r.min) r.min = v;
      if (v > r.max) r.max = v;
    }
    ranges.set(label, r);
  };
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const xs = x.subarray(s * per, (s + m) * per);
    see('input', xs);
    const out = await session.run({ X: new ort.Tensor('float32', xs, [m, ...sample]) });
    for (const [name, label] of labels) if (name !== 'X') see(label, out[name].data);
    see(outputLabel, out.Y.data);
  }
  return ranges;
}

/** The QDQ graph quantised with `ranges` (from calibrate()). */
export function resnet20Qdq(tensors, WeightQuantizer, ranges) {
  return build(tensors, WeightQuantizer, 'qdq', ranges).bytes;
}
