// ONNX Runtime int8 QDQ graphs of the single-chain networks of bench:model (the zoo's MNIST MLP and
// CNN, one conv layer): the fp32 reference graph of bench/lib/nets.mjs (batch norm folded, every
// quantiser a Clip(0, 1)) quantised post-training as for ResNet-20 (bench/lib/resnet-qdq.mjs):
//  * every Conv / Gemm reads DequantizeLinear(int8 weights, per output channel, symmetric, axis 0)
//    and an int32 bias at x_scale·w_scale[o], and its input and output pass QuantizeLinear /
//    DequantizeLinear (uint8, per tensor);
//  * a Clip(0, 1) right after a Conv / Gemm is absorbed by its QuantizeLinear at scale 1/255, zero
//    point 0 (the clamp is the same); elsewhere it stays, followed by that QuantizeLinear;
//  * MaxPool and Flatten keep their input's quantisation parameters (ORT runs them on uint8);
//  * other ranges (the input, a conv or linear output without a Clip, the logits) are min/max
//    calibrated by running the float graph with those tensors as extra outputs.
import { DataType, graphModel } from './onnx.mjs';
import { int8PerChannel } from './nets.mjs';
import { uint8Params } from './resnet-qdq.mjs';

const UNIT = { min: 0, max: 1 }; // the range of a Clip(0, 1)

function build(graph, layers, mode, ranges) {
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
  const calibrated = new Map(); // calibration output name -> label
  const scales = new Map(); // dequantised tensor -> its scale and zero point
  // The quantisation point of `t`: calib mode records it (fixed: known range, nothing to record);
  // qdq mode emits QuantizeLinear -> DequantizeLinear and returns the dequantised tensor.
  const qdq = (t, label, fixed = null) => {
    if (mode === 'calib') {
      if (!fixed) calibrated.set(t, label);
      return t;
    }
    const r = fixed ?? ranges.get(label);
    if (!r) throw new RangeError(`QDQ: no calibrated range for '${label}'`);
    const p = r.scale !== undefined ? r : uint8Params(r.min, r.max);
    const s = init(`${label}.scale`, DataType.FLOAT, [], Float32Array.of(p.scale));
    const z = init(`${label}.zero`, DataType.UINT8, [], Uint8Array.of(p.zero));
    const d = node('DequantizeLinear', [node('QuantizeLinear', [t, s, z]), s, z]);
    scales.set(d, p);
    return d;
  };
  const weighted = (x, l) => {
    const out = l.kind === 'conv' ? l.outC : l.outF;
    const dims = l.kind === 'conv' ? [l.outC, l.inC, ...l.kernel] : [l.outF, l.inF];
    const attrs = l.kind === 'conv'
      ? { kernel_shape: l.kernel, strides: l.stride, dilations: l.dilation, pads: [...l.padding, ...l.padding] }
      : { transB: 1 };
    const op = l.kind === 'conv' ? 'Conv' : 'Gemm';
    if (mode === 'calib') {
      init(`${l.name}.w`, DataType.FLOAT, dims, l.w);
      init(`${l.name}.b`, DataType.FLOAT, [out], l.b);
      return node(op, [x, `${l.name}.w`, `${l.name}.b`], attrs);
    }
    const { codes, scale } = int8PerChannel(l.w, out);
    const bs = Float32Array.from(scale, (s) => s * scales.get(x).scale);
    init(`${l.name}.wq`, DataType.INT8, dims, codes);
    init(`${l.name}.ws`, DataType.FLOAT, [out], scale);
    init(`${l.name}.wz`, DataType.INT8, [out], new Int8Array(out));
    init(`${l.name}.bq`, DataType.INT32, [out], Int32Array.from(l.b, (b, o) => Math.round(b / bs[o])));
    init(`${l.name}.bs`, DataType.FLOAT, [out], bs);
    init(`${l.name}.bz`, DataType.INT32, [out], new Int32Array(out));
    const wd = node('DequantizeLinear', [`${l.name}.wq`, `${l.name}.ws`, `${l.name}.wz`], { axis: 0 });
    const bd = node('DequantizeLinear', [`${l.name}.bq`, `${l.name}.bs`, `${l.name}.bz`], { axis: 0 });
    return node(op, [x, wd, bd], attrs);
  };
  if (layers.some((l) => l.kind === 'act')) {
    init('zero', DataType.FLOAT, [], Float32Array.of(0));
    init('one', DataType.FLOAT, [], Float32Array.of(1));
  }
  let x = qdq('X', 'input');
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    const next = layers[i + 1];
    switch (l.kind) {
      case 'conv':
      case 'linear': {
        const y = weighted(x, l);
        if (next?.kind === 'act') {
          // Clip(0, 1) then uint8 at scale 1/255: in the QDQ graph the QuantizeLinear clamps alone.
          x = qdq(mode === 'calib' ? node('Clip', [y, 'zero', 'one']) : y, `${next.name}`, UNIT);
          i++;
        } else {
          x = qdq(y, l.name);
        }
        break;
      }
      case 'act':
        x = qdq(node('Clip', [x, 'zero', 'one']), l.name, UNIT);
        break;
      case 'relu':
        x = qdq(node('Relu', [x]), l.name);
        break;
      case 'maxpool':
      case 'flatten': {
        const y = l.kind === 'maxpool'
          ? node('MaxPool', [x], { kernel_shape: l.kernel, strides: l.stride, pads: [...l.padding, ...l.padding] })
          : node('Flatten', [x], { axis: 1 });
        x = mode === 'calib' ? y : qdq(y, l.name, scales.get(x)); // same parameters as the input
        break;
      }
      default:
        throw new RangeError(`QDQ: layer kind ${l.kind} is not supported`);
    }
  }
  const last = layers[layers.length - 1];
  const outputs = [{ name: 'Y', type: DataType.FLOAT, dims: null }];
  if (mode === 'calib') {
    // The last tensor is the graph output (its range is read from Y): not an extra output too.
    calibrated.delete(x);
    nodes.push({ opType: 'Identity', inputs: [x], outputs: ['Y'] });
    for (const t of calibrated.keys()) if (t !== 'X') outputs.push({ name: t, type: DataType.FLOAT, dims: null });
  } else {
    nodes.push({ opType: 'Identity', inputs: [x], outputs: ['Y'] });
  }
  const bytes = graphModel({
    name: `anyprec-bench-${mode}`,
    producer: 'anyprec bench/lib/nets-qdq.mjs',
    nodes,
    initializers: inits,
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: ['N', ...graph.inputShape] }],
    outputs,
  });
  return { bytes, labels: calibrated, outputLabel: last.name };
}

/** The float graph with every calibrated quantisation point as an extra output. */
export function chainCalibration(graph, layers) {
  return build(graph, layers, 'calib', null);
}

/** The QDQ graph quantised with `ranges` (from calibrate() over chainCalibration()). */
export function chainQdq(graph, layers, ranges) {
  return build(graph, layers, 'qdq', ranges).bytes;
}
