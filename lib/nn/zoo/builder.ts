// The zoo's graph builder: nodes appended in execution order, each reading the previous one.
import type { GraphSpec, NodeInit, NodeSpec, Pair, WeightMode } from '../graph';

export interface ZooOptions {
  bitList?: number[];
  weightMode?: WeightMode;
}

export const DEFAULT_BITS = [1, 2, 3, 4, 5, 6, 7, 8, 32];

export class Builder {
  readonly nodes: NodeSpec[] = [];
  last = 'input';
  add(node: NodeInit): string {
    this.nodes.push({ inputs: [this.last], ...node } as NodeSpec);
    this.last = node.name;
    return node.name;
  }
  conv(name: string, op: 'conv2d' | 'qconv2d', inC: number, outC: number, k: number, stride = 1, pad = 0): string {
    const p = (v: number): Pair => [v, v];
    const base = { name, inChannels: inC, outChannels: outC, kernel: p(k), stride: p(stride), padding: p(pad), dilation: p(1) };
    return op === 'conv2d' ? this.add({ ...base, op, bias: false }) : this.add({ ...base, op });
  }
  bn(name: string, channels: number, switchable = true): string {
    return this.add({ name, op: 'batchnorm', channels, eps: 1e-5, switchable });
  }
}

export function graph(b: Builder, inputShape: number[], o: ZooOptions): GraphSpec {
  return { format: 'anyprec-graph/1', inputShape, nodes: b.nodes, bitList: o.bitList ?? DEFAULT_BITS, weightMode: o.weightMode ?? 'truncate' };
}
