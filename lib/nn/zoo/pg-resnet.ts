// The Precision-Gating ResNet (cornell-zhang/dnn-gating model/pg_cifar10_resnet.py,
// trained with -pg -pact): a post-activation CIFAR ResNet whose blocks are
//   h = PACT(bn1(PGConv(x))),  out = PACT(bn2(QConv(h)) + shortcut(x))   (one PACT alpha per block)
// with a float stem conv/bn/PACT, option-A shortcuts, avg pool over the last map, float linear.
// Every shape comes from the state_dict; only the input size and the bit-widths are options.
import { isFloat32Array } from '../../core/check';
import type { GraphSpec, NodeInit, NodeSpec, Pair } from '../graph';

/** A tensor as loadSafetensorsSync gives it, or a plain Float32Array (then shapes are not checked). */
export type StateTensor = Float32Array | { dtype: string; shape: readonly number[]; data: ArrayLike<number> | BigInt64Array };

export interface PgResnet20Options {
  /** Activation bits B of every quantised conv (default 3). */
  bits?: number;
  /** High (predictor) bits of the PG convs (default 2). */
  highBits?: number;
  /** Weight bits (default 8). */
  weightBits?: number;
  /** Input height = width (default 32). */
  inputSize?: number;
}

export type Tensors = Map<string, StateTensor> | Record<string, StateTensor>;

function entries(t: Tensors): Map<string, StateTensor> {
  if (t instanceof Map) return t;
  if (t === null || typeof t !== 'object') throw new TypeError('tensors must be a Map or an object of tensors');
  return new Map(Object.entries(t));
}

function shapeOf(name: string, t: StateTensor | undefined): readonly number[] | undefined {
  if (t === undefined) return undefined;
  if (ArrayBuffer.isView(t)) return undefined;
  return t.shape;
}

/** The graph of a PG ResNet whose state_dict holds these tensors (names as in PyTorch). */
export function pgResnetGraph(tensors: Tensors, options: PgResnet20Options = {}): GraphSpec {
  const t = entries(tensors);
  const bits = options.bits ?? 3, highBits = options.highBits ?? 2, weightBits = options.weightBits ?? 8;
  const size = options.inputSize ?? 32;
  for (const [k, v, lo, hi] of [['bits', bits, 2, 8], ['highBits', highBits, 1, bits - 1], ['weightBits', weightBits, 1, 8], ['inputSize', size, 1, 1 << 16]] as const) {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`options.${k} must be an integer in ${lo}..${hi}, got ${v}`);
  }
  const convShape = (name: string): [number, number, number, number] => {
    const w = t.get(`${name}.weight`);
    if (w === undefined) throw new RangeError(`state_dict has no '${name}.weight'`);
    const s = shapeOf(name, w);
    if (s === undefined) throw new TypeError(`'${name}.weight' must carry its shape ({ dtype, shape, data }, as loadSafetensorsSync gives)`);
    if (s.length !== 4 || s[2] !== s[3]) throw new RangeError(`'${name}.weight' must be [out, in, k, k], got [${s.join(', ')}]`);
    return [s[0], s[1], s[2], s[3]];
  };
  const p = (v: number): Pair => [v, v];
  const nodes: NodeSpec[] = [];
  let last = 'input';
  const add = (node: NodeInit): string => {
    nodes.push({ inputs: [last], ...node } as NodeSpec);
    return (last = node.name);
  };
  const conv = (name: string, stride: number, extra: Record<string, unknown>) => {
    const [out, inC, k] = convShape(name);
    return { name, inChannels: inC, outChannels: out, kernel: p(k), stride: p(stride), padding: p((k - 1) >> 1), dilation: p(1), ...extra };
  };
  const [stemOut, inChannels, stemK] = convShape('conv1');
  add({ ...conv('conv1', 1, {}), op: 'conv2d', bias: t.has('conv1.bias') } as NodeInit);
  add({ name: 'bn1', op: 'batchnorm', channels: stemOut, eps: 1e-5, switchable: false });
  add({ name: 'relu', op: 'pact' });
  let channels = stemOut, hw = size + 2 * ((stemK - 1) >> 1) - stemK + 1;
  let stages = 0;
  for (let s = 1; t.has(`layer${s}.0.conv1.weight`); s++, stages++) {
    for (let b = 0; t.has(`layer${s}.${b}.conv1.weight`); b++) {
      const q = `layer${s}.${b}`;
      const x = last;
      const stride = s > 1 && b === 0 ? 2 : 1;
      const c1 = conv(`${q}.conv1`, stride, { weightBits, highBits });
      if (c1.inChannels !== channels) throw new RangeError(`'${q}.conv1.weight' reads ${c1.inChannels} channels, the previous layer gives ${channels}`);
      const out = c1.outChannels;
      add({ name: `${q}.quant1`, op: 'dynquantize', bits });
      add({ ...c1, op: 'pgconv2d' } as NodeInit);
      add({ name: `${q}.bn1`, op: 'batchnorm', channels: out, eps: 1e-5, switchable: false });
      add({ name: `${q}.relu1`, op: 'pact', param: `${q}.relu` });
      add({ name: `${q}.quant2`, op: 'dynquantize', bits });
      const c2 = conv(`${q}.conv2`, 1, { weightBits });
      if (c2.inChannels !== out || c2.outChannels !== out) throw new RangeError(`'${q}.conv2.weight' must be [${out}, ${out}, k, k]`);
      add({ ...c2, op: 'smconv2d' } as NodeInit);
      const main = add({ name: `${q}.bn2`, op: 'batchnorm', channels: out, eps: 1e-5, switchable: false });
      let shortcut = x;
      if (stride !== 1 || channels !== out) {
        // Option A: x[:, :, ::2, ::2] padded with out/4 zero channels on both sides.
        const pad = out >> 2;
        if (stride !== 2 || channels + 2 * pad !== out) {
          throw new RangeError(`${q}: option-A shortcut needs stride 2 and in + 2·(out/4) = out channels, got stride ${stride}, ${channels} -> ${out}`);
        }
        shortcut = add({ name: `${q}.shortcut`, op: 'subsample', stride: [2, 2], padChannels: [pad, pad], inputs: [x] });
      }
      add({ name: `${q}.add`, op: 'add', inputs: [main, shortcut] });
      add({ name: `${q}.relu`, op: 'pact' });
      channels = out;
      hw = Math.floor((hw - 1) / stride) + 1;
    }
  }
  if (stages === 0) throw new RangeError(`state_dict has no 'layer1.0.conv1.weight': not a PG ResNet`);
  // F.avg_pool2d(out, out.size()[3]): one window over the whole (square) final map.
  add({ name: 'pool', op: 'avgpool2d', kernel: p(hw), stride: p(hw), padding: p(0) });
  add({ name: 'flatten', op: 'flatten' });
  const lin = shapeOf('linear', t.get('linear.weight'));
  if (lin === undefined || lin.length !== 2 || lin[1] !== channels) {
    throw new RangeError(`state_dict must hold 'linear.weight' [classes, ${channels}] with its shape`);
  }
  add({ name: 'linear', op: 'linear', inFeatures: channels, outFeatures: lin[0], bias: t.has('linear.bias') });
  return { format: 'anyprec-graph/1', inputShape: [inChannels, size, size], nodes, bitList: [bits], weightMode: 'truncate' };
}

/** Float32 tensors of a state_dict (integer entries such as num_batches_tracked are left out). */
export function floatTensors(tensors: Tensors): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of entries(tensors)) {
    if (isFloat32Array(v)) out[name] = v;
    else if (!ArrayBuffer.isView(v) && (v.dtype === 'F32' || v.dtype === 'F16' || v.dtype === 'BF16')) out[name] = v.data as Float32Array;
    else if (!ArrayBuffer.isView(v) && v.dtype === 'F64') out[name] = Float32Array.from(v.data as Float64Array);
  }
  return out;
}
