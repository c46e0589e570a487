// Steps without a quantised GEMM: float conv / linear, batch norm (with a fused activation
// quantiser), activations, pooling, layout and the dynamic quantiser.
import * as kernels from '../../core/kernels';
import { quantizeDynamic } from '../../core/signmag';
import type { NodeSpec } from '../graph';
import type { Act } from '../ops';
import * as ops from '../ops';
import { convShape, NotLowerable } from '../lower';
import type { Lowering } from '../lower';
import type { Precision } from '../precision';
import { nodeMacs } from '../shapes';
import { clipAffine, codesAct, maxField, floatAct, floatsOf, keep, reuse, signCodes } from './step';
import type { PlanContext, RunContext, Step } from './step';

/**
 * A batch norm and the activation quantiser after it, in one native pass. A clipped quantiser
 * (`clip`): at b < 32 the batch norm divided by α makes the codes of clamp(y/α, 0, 1); at 32 the
 * clamp to [0, α]. A 1-bit sign never comes here (plan.ts runs it as a step of its own).
 */
export function bnQuantizeStep(node: NodeSpec & { op: 'batchnorm' }, q: NodeSpec & { op: 'quantize' }, ctx: PlanContext): Step {
  const shapes = ctx.shapes;
  const { bits, clip } = ctx.quantizer(q);
  const { alpha, beta } = ctx.bn(node);
  const codes = bits !== 32 && clip !== undefined ? clipAffine(alpha, beta, clip, node.channels) : { scale: alpha, shift: beta };
  const hi = bits === 32 && clip !== undefined ? clip : Infinity;
  const shape = shapes.get(node.name)!;
  return {
    nodes: [node.name, q.name], op: 'batchnorm+quantize', output: q.name, macsPerSample: 0, weightBits: 0, activationBits: 0,
    exec: (env, n, rc) => {
      const x = floatsOf(env.get(node.inputs[0])!, rc, `${q.name}:in`);
      if (bits === 32) {
        const y = kernels.channelAffine(x, node.channels, alpha, beta, 0, hi, reuse<Float32Array>(rc, q.name, Float32Array, x.length));
        return floatAct(keep(rc, q.name, y), n, shape);
      }
      const y = kernels.quantizeActivations(x, node.channels, codes.scale, codes.shift, bits, reuse<Uint8Array>(rc, q.name, Uint8Array, x.length));
      return codesAct(keep(rc, q.name, y), bits, n, shape, clip);
    },
    lower: (b) => {
      const x = b.floats(node.inputs[0]);
      const out = b.set(q.name, b.value(shape, bits, clip)).buf;
      const count = b.n * shape.reduce((a, c) => a * c, 1), channels = node.channels;
      if (bits === 32) b.op({ op: 'affine', x, out, count, channels, scale: alpha, shift: beta, min: 0, ...maxField(hi) });
      else b.op({ op: 'quantize', x, out, count, channels, scale: codes.scale, shift: codes.shift, bits });
    },
  };
}

/**
 * A float conv2d / linear layer with what the plan fused after it (chain[0] is the layer; then
 * optionally a batch norm, then optionally a ReLU or an activation quantiser): one native call of
 * the float convolution, the weights packed once for the plan, the batch norm, clamp and quantiser
 * in its epilogue. The same bits as the unfused steps (the GEMM of the lowered input, then
 * channelAffine / quantizeActivations).
 */
export function floatLayerStep(chain: NodeSpec[], ctx: PlanContext): Step {
  const node = chain[0] as NodeSpec & ({ op: 'conv2d' } | { op: 'linear' });
  const bnNode = chain.find((c) => c.op === 'batchnorm') as (NodeSpec & { op: 'batchnorm' }) | undefined;
  const act = chain.find((c) => c.op === 'relu' || c.op === 'quantize');
  const last = chain[chain.length - 1];
  const shape = ctx.shapes.get(last.name)!;
  const inShape = ctx.shapes.get(node.inputs[0])!;
  const isConv = node.op === 'conv2d';
  const k = isConv ? node.inChannels * node.kernel[0] * node.kernel[1] : node.inFeatures;
  const channels = shape[shape.length - 1];
  const bias = node.bias ? ctx.param<Float32Array>(`${node.name}.b`) : null;
  // The epilogue: batch norm (scale, shift), then ReLU (a quantiser at 32 bits is one too, a
  // clipped one clamps at α too) or codes (a clipped quantiser's: of the affine divided by α).
  const bn = bnNode ? ctx.bn(bnNode) : undefined;
  const q = act?.op === 'quantize' ? ctx.quantizer(act) : undefined;
  const bits = q?.bits ?? 32;
  const clip = q?.clip;
  const epilogue: kernels.FloatConvOptions = { bias, scale: bn?.alpha ?? null, shift: bn?.beta ?? null };
  if (act) epilogue.min = 0;
  if (bits === 32 && clip !== undefined) epilogue.max = clip;
  const folded = bits !== 32 && clip !== undefined ? clipAffine(epilogue.scale ?? null, epilogue.shift ?? null, clip, channels) : epilogue;
  const codes = { bias, scale: folded.scale, shift: folded.shift, bits };
  // Weights packed on first use, again only if the parameter is replaced.
  let packed: { source: Float32Array; weights: kernels.FloatWeights } | undefined;
  const weights = (): kernels.FloatWeights => {
    const w = ctx.param<Float32Array>(`${node.name}.w`);
    if (packed?.source !== w) packed = { source: w, weights: kernels.packFloatWeights(w, channels, k) };
    return packed.weights;
  };
  const geometry = isConv ? { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation } : undefined;
  return {
    nodes: chain.map((c) => c.name), op: node.op, output: last.name, macsPerSample: nodeMacs(node, ctx.shapes),
    weightBits: 32, activationBits: 32,
    exec: (env, n, rc) => {
      const x = floatsOf(env.get(node.inputs[0])!, rc, `${last.name}:in`);
      const image = { n, h: inShape[0], w: inShape[1], c: inShape[2] };
      const count = n * shape.reduce((a, b) => a * b, 1);
      const out = reuse(rc, last.name, bits !== 32 ? Uint8Array : Float32Array, count);
      const options = { ...(bits !== 32 ? codes : epilogue), out };
      const y = keep(rc, last.name, geometry ? kernels.floatConv(x, image, geometry, weights(), options) : kernels.floatLinear(x, n, weights(), options));
      return bits !== 32 ? codesAct(y as Uint8Array, bits, n, shape, clip) : floatAct(y as Float32Array, n, shape);
    },
    lower: (b) => {
      const x = b.floats(node.inputs[0]);
      const out = b.set(last.name, b.value(shape, bits, clip)).buf;
      const o: kernels.FloatConvOptions = bits !== 32 ? codes : epilogue;
      b.op({ op: 'floatConv', x, out, shape: convShape(b.n, inShape, geometry), weights: weights().packed, outChannels: channels,
        bias: o.bias, scale: o.scale, shift: o.shift, min: o.min, ...maxField(o.max), bits: bits === 32 ? 0 : bits });
    },
  };
}

/** Every other node: float layers, element-wise ops, pooling, layout, dynamic quantisers. */
export function plainStep(node: NodeSpec, ctx: PlanContext, prec: Precision): Step {
  const shapes = ctx.shapes;
  const shape = shapes.get(node.name)!;
  const inShape = shapes.get(node.inputs[0])!;
  const step = (exec: (x: Act, n: number, env: Map<string, Act>, rc: RunContext) => Act, macs = 0): Step => ({
    nodes: [node.name], op: node.op, output: node.name, macsPerSample: macs,
    weightBits: macs ? 32 : 0, activationBits: macs ? 32 : 0,
    exec: (env, n, rc) => exec(env.get(node.inputs[0])!, n, env, rc),
    lower: (b) => lowerPlain(node, ctx, b, shape, inShape, prec),
  });
  const float = (data: Float32Array, n: number): Act => ({ kind: 'float', data, shape: [n, ...shape] });
  switch (node.op) {
    case 'conv2d':
    case 'linear':
      return floatLayerStep([node], ctx);
    case 'batchnorm':
      return step((x, n, _env, rc) => {
        const { alpha, beta } = ctx.bn(node);
        const xf = floatsOf(x, rc, `${node.name}:in`);
        const out = reuse<Float32Array>(rc, node.name, Float32Array, xf.length);
        return float(keep(rc, node.name, kernels.channelAffine(xf, node.channels, alpha, beta, -Infinity, Infinity, out)), n);
      });
    case 'relu':
      return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, Infinity), n));
    case 'clamp':
      return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, node.min, node.max), n));
    case 'pact': {
      const alpha = ctx.param<Float32Array>(`${node.name}.alpha`)[0];
      return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, alpha), n));
    }
    case 'subsample':
      return step((x, n) => float(ops.subsample(ops.toFloat(x), n, inShape[0], inShape[1], inShape[2], node.stride,
        node.padChannels[0], node.padChannels[1]), n));
    case 'dynquantize':
      return step((x, n) => {
        const { codes, scale } = quantizeDynamic(ops.toFloat(x), node.bits);
        return { kind: 'codes', codes, bits: node.bits, encoding: 'unsigned', scale, shape: [n, ...shape] };
      });
    case 'quantize': {
      const { bits, clip, sign } = ctx.quantizer(node);
      if (sign) return step((x, n) => ({ kind: 'codes', codes: signCodes(ops.toFloat(x)), bits: 1, encoding: 'bipolar', shape: [n, ...shape] }));
      // a clipped quantiser: the codes of x/α (below 32 bits), or x clamped to [0, α]
      const scale = bits !== 32 && clip !== undefined ? clipAffine(null, null, clip, 1).scale : null;
      return step((x, n) => {
        if (bits === 32) return float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, clip ?? Infinity), n);
        const xf = ops.toFloat(x);
        return codesAct(kernels.quantizeActivations(xf, 1, scale, null, bits), bits, n, shape, clip);
      });
    }
    case 'clampact': {
      const hi = prec.activations === 32 ? Infinity : 1;
      return step((x, n) => float(kernels.channelAffine(ops.toFloat(x), 1, null, null, 0, hi), n));
    }
    case 'sign':
      return step((x, n) => ({ kind: 'codes', codes: signCodes(ops.toFloat(x)), bits: 1, encoding: 'bipolar', shape: [n, ...shape] }));
    case 'maxpool2d':
      return step((x, n) => {
        const dims = { n, h: inShape[0], w: inShape[1], c: inShape[2] };
        const pool = { kernel: node.kernel, stride: node.stride, padding: node.padding };
        if (x.kind === 'codes') return { ...x, codes: kernels.maxPool(x.codes, dims, pool), shape: [n, ...shape] };
        return float(kernels.maxPool(x.data, dims, pool), n);
      });
    case 'avgpool2d':
      return step((x, n) => float(ops.avgPool(ops.toFloat(x), ops.poolGeom([n, ...inShape], node.kernel, node.stride, node.padding)), n));
    case 'globalavgpool':
      return step((x, n, _env, rc) => {
        const out = reuse<Float32Array>(rc, node.name, Float32Array, n * inShape[2]);
        return float(keep(rc, node.name, kernels.globalAvgPool(floatsOf(x, rc, `${node.name}:in`), n, inShape[0], inShape[1], inShape[2], out)), n);
      });
    case 'flatten':
      return step((x, n) => {
        if (inShape.length !== 3) return { ...x, shape: [n, ...shape] };
        const [h, w, c] = inShape;
        if (x.kind === 'codes') return { ...x, codes: ops.nhwcToNchw(x.codes, n, h, w, c), shape: [n, ...shape] };
        return float(ops.nhwcToNchw(x.data, n, h, w, c), n);
      });
    case 'add':
      return step((x, n, env) => float(kernels.addFloats(ops.toFloat(x), ops.toFloat(env.get(node.inputs[1])!)), n));
    case 'dropout':
      return step((x) => x);
    case 'softmax':
      return step((x, n) => {
        const f = shape.reduce((a, b) => a * b, 1);
        return float(ops.softmax(ops.toFloat(x), n, f), n);
      });
    default:
      throw new RangeError(`node ${node.name}: op ${node.op} cannot run here`);
  }
}

/** The kernel calls of a plain step (plainStep's exec) into a program; NotLowerable where there are none. */
function lowerPlain(node: NodeSpec, ctx: PlanContext, b: Lowering, shape: number[], inShape: number[], prec: Precision): void {
  const count = b.n * shape.reduce((a, c) => a * c, 1);
  const input = node.inputs[0];
  // A float clamp / affine of the input's floats (channelAffine, channel = i % channels).
  const affine = (channels: number, scale: Float32Array | null, shift: Float32Array | null, min?: number, max?: number): void => {
    const x = b.floats(input);
    b.op({ op: 'affine', x, out: b.set(node.name, b.value(shape)).buf, count, channels, scale, shift, min, max });
  };
  switch (node.op) {
    case 'batchnorm': {
      const { alpha, beta } = ctx.bn(node);
      return affine(node.channels, alpha, beta);
    }
    case 'relu':
      return affine(1, null, null, 0);
    case 'clamp':
      return affine(1, null, null, node.min, node.max);
    case 'pact':
      return affine(1, null, null, 0, ctx.param<Float32Array>(`${node.name}.alpha`)[0]);
    case 'clampact':
      return affine(1, null, null, 0, prec.activations === 32 ? Infinity : 1);
    case 'quantize': {
      const { bits, clip, sign } = ctx.quantizer(node);
      // bipolar codes: no native op makes them, and no quantised layer's lowering reads them
      if (sign) throw new NotLowerable(`node ${node.name}: a 1-bit sign quantiser`);
      if (bits === 32) return affine(1, null, null, 0, clip);
      const x = b.floats(input);
      const scale = clip !== undefined ? clipAffine(null, null, clip, 1).scale : undefined;
      b.op({ op: 'quantize', x, out: b.set(node.name, b.value(shape, bits, clip)).buf, count, channels: 1, ...(scale ? { scale } : {}), bits });
      return;
    }
    case 'maxpool2d': {
      const x = b.get(input);
      const y = b.set(node.name, x.kind === 'codes' ? b.value(shape, x.bits, x.scale) : b.value(shape));
      b.op({ op: 'maxPool', x: x.buf, out: y.buf, shape: [b.n, inShape[0], inShape[1], inShape[2], ...node.kernel, ...node.stride, ...node.padding],
        elemBytes: x.kind === 'codes' ? 1 : 4 });
      return;
    }
    case 'globalavgpool': {
      const x = b.floats(input);
      b.op({ op: 'globalAvgPool', x, out: b.set(node.name, b.value(shape)).buf, n: b.n, h: inShape[0], w: inShape[1], c: inShape[2] });
      return;
    }
    case 'flatten':
    case 'dropout': {
      const x = b.get(input);
      if (node.op === 'dropout' || inShape.length !== 3) {
        b.set(node.name, { ...x, shape: [b.n, ...shape] });
        return;
      }
      const y = b.set(node.name, x.kind === 'codes' ? b.value(shape, x.bits, x.scale) : b.value(shape));
      b.op({ op: 'transpose', x: x.buf, out: y.buf, n: b.n, rows: inShape[0] * inShape[1], cols: inShape[2], elemBytes: x.kind === 'codes' ? 1 : 4 });
      return;
    }
    case 'add': {
      const x = b.floats(input), other = b.floats(node.inputs[1]);
      b.op({ op: 'add', a: x, b: other, out: b.set(node.name, b.value(shape)).buf, count });
      return;
    }
    default:
      throw new NotLowerable(`node ${node.name}: op ${node.op} has no native kernel`);
  }
}
