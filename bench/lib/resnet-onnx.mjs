// ONNX exports of fixture A's Any-Precision ResNet-20 (../shared/fixtures/A, ARCH.md), built in
// code from its state_dict, for ONNX Runtime baselines of the same network:
//  * fp32: the reference's bits = 32 function — quantised convs use (tanh(W)/M)·E, activations
//    are ReLU, every switchable batch norm uses its bn_dict.32 copy. anyprec at 32 bits computes
//    the same function, so the outputs are compared.
//  * int8: the reference's 8-bit network as an int8 deployment would run it — activations
//    quantised with QuantizeLinear(scale 1/255, zero point 0), which is exactly the 8-bit
//    activation unit (round(clamp(x,0,1)·255)/255); the 8-bit weights (DoReFa levels) re-coded as
//    per-output-channel symmetric int8; batch norms bn_dict.8. Each block's conv0 has bn1 folded
//    in and act1 as its output scale: one QLinearConv (uint8 codes in and out). conv1 feeds the
//    float residual add: ConvInteger with the weights shifted to uint8 (zero point 128: ORT's
//    fast path; int8 weights there are ~5× slower) -> Cast -> Mul(scale). The stem, the two 1×1
//    shortcut convs and the FC stay float (full precision in the reference and in anyprec).
// BatchNormalization nodes keep the default epsilon 1e-5 (the reference's).
import { DataType, graphModel } from './onnx.mjs';
import { int8PerChannel } from './nets.mjs';

/**
 * @param {Map<string, {data: Float32Array, shape: number[]}>} tensors  the state_dict
 * @param {'fp32' | 'int8'} kind
 * @param {typeof import('../../dist/index.js').WeightQuantizer} WeightQuantizer
 * @returns {Uint8Array} ModelProto bytes; input X [N,3,32,32], output Y [N,10]
 */
export function resnet20Onnx(tensors, kind, WeightQuantizer) {
  const key = kind === 'fp32' ? '32' : '8';
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
  const tmp = (hint) => `${hint}.${uid++}`;
  const node = (opType, inputs, attrs) => {
    const y = tmp(opType);
    nodes.push({ opType, inputs, outputs: [y], attrs });
    return y;
  };
  if (kind === 'int8') {
    init('x_scale', DataType.FLOAT, [], Float32Array.of(1 / 255));
    init('x_zero', DataType.UINT8, [], Uint8Array.of(0));
    init('w_zero_u8', DataType.UINT8, [], Uint8Array.of(128));
  }
  const floatConv = (x, name, stride, pad) => {
    const w = get(`${name}.weight`);
    const [, , kh, kw] = w.shape;
    init(`${name}.weight`, DataType.FLOAT, w.shape, w.data);
    return node('Conv', [x, `${name}.weight`], { kernel_shape: [kh, kw], strides: [stride, stride], pads: [pad, pad, pad, pad] });
  };
  const bn = (x, prefix) => {
    for (const f of ['weight', 'bias', 'running_mean', 'running_var']) {
      const t = get(`${prefix}.${f}`);
      init(`${prefix}.${f}`, DataType.FLOAT, t.shape, t.data);
    }
    return node('BatchNormalization', [x, `${prefix}.weight`, `${prefix}.bias`, `${prefix}.running_mean`, `${prefix}.running_var`]);
  };
  // Activation unit: fp32 -> ReLU (float); int8 -> uint8 codes (returned as { q }).
  const act = (x) => (kind === 'fp32' ? { f: node('Relu', [x]) } : { q: node('QuantizeLinear', [x, 'x_scale', 'x_zero']) });
  const asFloat = (a) => a.f ?? node('DequantizeLinear', [a.q, 'x_scale', 'x_zero']);
  const bnParams = (prefix) => {
    const [w, b, mean, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((f) => get(`${prefix}.${f}`).data);
    const alpha = Float32Array.from(w, (wc, c) => wc / Math.sqrt(v[c] + 1e-5));
    const beta = Float32Array.from(b, (bc, c) => bc - mean[c] * alpha[c]);
    return { alpha, beta };
  };
  // A quantised 3×3 conv (padding 1). fp32: Conv on float input. int8: `bnAct` = the BN prefix
  // folded into it and an activation unit after it (-> QLinearConv, codes out), else float out.
  const qconv = (a, name, stride, bnAct = null) => {
    const w = get(`${name}.weight`);
    const [out, inC, kh, kw] = w.shape;
    const attrs = { kernel_shape: [kh, kw], strides: [stride, stride], pads: [1, 1, 1, 1] };
    const wq = new WeightQuantizer(w.data, 'requant');
    if (kind === 'fp32') {
      init(`${name}.wq32`, DataType.FLOAT, w.shape, wq.values(32));
      return node('Conv', [a.f, `${name}.wq32`], attrs);
    }
    const w8 = wq.values(8);
    const per = w8.length / out;
    if (bnAct) {
      const { alpha, beta } = bnParams(bnAct);
      for (let o = 0; o < out; o++) for (let t = 0; t < per; t++) w8[o * per + t] *= alpha[o];
      const { codes, scale } = int8PerChannel(w8, out);
      init(`${name}.wq8`, DataType.INT8, [out, inC, kh, kw], codes);
      init(`${name}.ws`, DataType.FLOAT, [out], scale);
      init(`${name}.wz`, DataType.INT8, [out], new Int8Array(out));
      init(`${name}.bq`, DataType.INT32, [out], Int32Array.from(beta, (b, o) => Math.round(b / (scale[o] / 255))));
      return { q: node('QLinearConv', [a.q, 'x_scale', 'x_zero', `${name}.wq8`, `${name}.ws`, `${name}.wz`, 'x_scale', 'x_zero', `${name}.bq`], attrs) };
    }
    const { codes, scale } = int8PerChannel(w8, out);
    init(`${name}.wu8`, DataType.UINT8, [out, inC, kh, kw], Uint8Array.from(codes, (v) => v + 128));
    init(`${name}.mul`, DataType.FLOAT, [out, 1, 1], Float32Array.from(scale, (s) => s / 255));
    const acc = node('ConvInteger', [a.q, `${name}.wu8`, 'x_zero', 'w_zero_u8'], attrs);
    const f = node('Cast', [acc], { to: DataType.FLOAT });
    return node('Mul', [f, `${name}.mul`]);
  };

  let x = floatConv('X', 'conv0', 1, 1);
  for (let i = 0; i < 9; i++) {
    const p = `layers.${i}`;
    const stride = i === 3 || i === 6 ? 2 : 1;
    const a = act(bn(x, `${p}.bn0.bn_dict.${key}`));
    const s = tensors.has(`${p}.skip_conv.weight`) ? bn(floatConv(asFloat(a), `${p}.skip_conv`, stride, 0), `${p}.skip_bn`) : x;
    const u = kind === 'fp32'
      ? act(bn(qconv(a, `${p}.conv0`, stride), `${p}.bn1.bn_dict.${key}`))
      : qconv(a, `${p}.conv0`, stride, `${p}.bn1.bn_dict.${key}`);
    const v = qconv(u, `${p}.conv1`, 1);
    x = node('Add', [v, s]);
  }
  x = bn(x, `bn.bn_dict.${key}`);
  x = node('GlobalAveragePool', [x]);
  x = node('Flatten', [x], { axis: 1 });
  const fcW = get('fc.weight'), fcB = get('fc.bias');
  init('fc.weight', DataType.FLOAT, fcW.shape, fcW.data);
  init('fc.bias', DataType.FLOAT, fcB.shape, fcB.data);
  nodes.push({ opType: 'Gemm', inputs: [x, 'fc.weight', 'fc.bias'], outputs: ['Y'], attrs: { transB: 1 } });
  return graphModel({
    name: `fixture-a-resnet20-${kind}`,
    producer: 'anyprec bench/lib/resnet-onnx.mjs',
    nodes,
    initializers: inits,
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: ['N', 3, 32, 32] }],
    outputs: [{ name: 'Y', type: DataType.FLOAT, dims: ['N', fcW.shape[0]] }],
  });
}
