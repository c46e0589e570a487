// Sign-magnitude convolutions over dynamically scaled codes: the plain one ('smconv2d') and the
// PG reference layer ('pgconv2d', through the gating floor).
import * as kernels from '../../core/kernels';
import type { Packed } from '../../core/kernels';
import { signMagnitudeConv, SignMagnitudePacked } from '../../core/signmag-gemm';
import { gateStats, pgConv } from '../../gating';
import type { NodeSpec } from '../graph';
import { nodeMacs } from '../shapes';
import { floatAct, PlanContext, Step } from './step';

export function signMagnitudeStep(node: NodeSpec & ({ op: 'smconv2d' } | { op: 'pgconv2d' }), ctx: PlanContext): Step {
  const outShape = ctx.shapes.get(node.name)!;
  const [h, w, c] = ctx.shapes.get(node.inputs[0])!;
  const weights: SignMagnitudePacked = {
    bits: node.weightBits, odd: ctx.param<Packed>(`${node.name}.wodd`), even: ctx.param<Packed>(`${node.name}.weven`),
    scale: ctx.param<Float32Array>(`${node.name}.wscale`)[0],
  };
  const wStep = weights.scale / (2 ** node.weightBits - 1);
  const k = node.inChannels * node.kernel[0] * node.kernel[1];
  const geom = { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation };
  return {
    nodes: [node.name], op: node.op, output: node.name, macsPerSample: nodeMacs(node, ctx.shapes),
    weightBits: node.weightBits, activationBits: ctx.codeBits.get(node.inputs[0]) ?? 32,
    exec: (env, n, rc) => {
      const x = env.get(node.inputs[0])!;
      if (x.kind !== 'codes' || x.encoding !== 'unsigned' || x.scale === undefined) {
        throw new RangeError(`node ${node.name} (${node.op}) must read the codes of a 'dynquantize' node`);
      }
      const unit = (x.scale / (2 ** x.bits - 1)) * wStep;
      if (node.op === 'smconv2d') {
        rc.step = { activationScale: x.scale };
        return floatAct(signMagnitudeConv(kernels.packConv(x.codes, { n, h, w, c }, geom, x.bits), weights, unit), n, outShape);
      }
      const r = pgConv({ codes: x.codes, shape: { n, h, w, c }, bits: x.bits }, geom, weights,
        { highBits: node.highBits, unit, threshold: ctx.param<Float32Array>(`${node.name}.threshold`), gate: rc.gate });
      const g = gateStats(r.on, r.total, k, node.weightBits, x.bits, node.highBits);
      rc.step = { gate: g, activationScale: x.scale, activationBits: x.bits, bitOps: g.bitOps };
      return floatAct(r.out, n, outShape);
    },
  };
}
