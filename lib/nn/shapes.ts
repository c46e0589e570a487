// Shape inference: every node's per-sample output shape, and the MACs of weighted nodes.
import type { GraphSpec, NodeSpec } from './graph';
import * as ops from './ops';

/** Per-sample shape of every node's output: [H, W, C] for images, [F] for features. */
export function inferShapes(graph: GraphSpec): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const input = graph.inputShape;
  shapes.set('input', input.length === 3 ? [input[1], input[2], input[0]] : [input[0]]);
  for (const node of graph.nodes) {
    const s = shapes.get(node.inputs[0])!;
    const where = `node ${node.name} (${node.op})`;
    const needImage = () => {
      if (s.length !== 3) throw new RangeError(`${where} needs an image input, got shape [${s.join(', ')}]`);
    };
    let out: number[];
    switch (node.op) {
      case 'conv2d':
      case 'qconv2d':
      case 'smconv2d':
      case 'pgconv2d': {
        needImage();
        if (s[2] !== node.inChannels) throw new RangeError(`${where} expects ${node.inChannels} input channels, gets ${s[2]}`);
        const [kh, kw] = node.kernel, [sh, sw] = node.stride, [ph, pw] = node.padding, [dh, dw] = node.dilation;
        const oh = Math.floor((s[0] + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
        const ow = Math.floor((s[1] + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
        if (oh < 1 || ow < 1) throw new RangeError(`${where}: kernel larger than its padded ${s[0]}x${s[1]} input`);
        out = [oh, ow, node.outChannels];
        break;
      }
      case 'linear':
      case 'qlinear':
        if (s.length !== 1 || s[0] !== node.inFeatures) {
          throw new RangeError(`${where} expects [${node.inFeatures}] features, gets [${s.join(', ')}] (flatten first?)`);
        }
        out = [node.outFeatures];
        break;
      case 'batchnorm':
        if (s[s.length - 1] !== node.channels) throw new RangeError(`${where} has ${node.channels} channels, input has ${s[s.length - 1]}`);
        out = s;
        break;
      case 'maxpool2d':
      case 'avgpool2d': {
        needImage();
        const g = ops.poolGeom([1, ...s], node.kernel, node.stride, node.padding);
        if (g.oh < 1 || g.ow < 1) throw new RangeError(`${where}: window larger than its input`);
        out = [g.oh, g.ow, s[2]];
        break;
      }
      case 'globalavgpool':
        needImage();
        out = [s[2]];
        break;
      case 'subsample':
        needImage();
        out = [Math.ceil(s[0] / node.stride[0]), Math.ceil(s[1] / node.stride[1]), node.padChannels[0] + s[2] + node.padChannels[1]];
        break;
      case 'flatten':
        out = [s.reduce((a, b) => a * b, 1)];
        break;
      case 'add': {
        const t = shapes.get(node.inputs[1])!;
        if (t.join() !== s.join()) throw new RangeError(`${where} adds shapes [${s.join(', ')}] and [${t.join(', ')}]`);
        out = s;
        break;
      }
      default:
        out = s;
    }
    shapes.set(node.name, out);
  }
  return shapes;
}

/** MACs per sample of a weighted node. */
export function nodeMacs(node: NodeSpec, shapes: Map<string, number[]>): number {
  const o = shapes.get(node.name)!;
  if (node.op === 'conv2d' || node.op === 'qconv2d' || node.op === 'smconv2d' || node.op === 'pgconv2d') return o[0] * o[1] * o[2] * node.inChannels * node.kernel[0] * node.kernel[1];
  if (node.op === 'linear' || node.op === 'qlinear') return node.inFeatures * node.outFeatures;
  return 0;
}
