// Deterministic random parameters for any graph (tests, benchmarks, examples).
import type { GraphSpec } from '../graph';
import { gateThresholdTensor, quantizeClipTensor } from '../graph';
import { bnKeys, widthKeys } from '../params';

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { cos, imul, log, PI, sqrt } = Math;

/** Deterministic random parameters for a graph (He-style weights, non-trivial BN statistics). */
export function randomTensors(g: GraphSpec, seed = 1): Record<string, Float32Array> {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => sqrt(-2 * log(1 - uniform())) * cos(2 * PI * uniform());
  const out: Record<string, Float32Array> = {};
  const fill = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  for (const node of g.nodes) {
    if (node.op === 'conv2d' || node.op === 'qconv2d') {
      const fanIn = node.inChannels * node.kernel[0] * node.kernel[1];
      out[`${node.name}.weight`] = fill(node.outChannels * fanIn, () => normal() * sqrt(2 / fanIn));
      if (node.op === 'conv2d' && node.bias) out[`${node.name}.bias`] = fill(node.outChannels, () => normal() * 0.1);
      if (node.op === 'qconv2d' && node.gate) out[gateThresholdTensor(node)] = new Float32Array(node.outChannels);
    } else if (node.op === 'linear' || node.op === 'qlinear') {
      out[`${node.name}.weight`] = fill(node.outFeatures * node.inFeatures, () => normal() * sqrt(2 / node.inFeatures));
      if (node.bias) out[`${node.name}.bias`] = fill(node.outFeatures, () => normal() * 0.1);
      if (node.op === 'qlinear' && node.gate) out[gateThresholdTensor(node)] = new Float32Array(node.outFeatures);
    } else if (node.op === 'batchnorm') {
      for (const key of bnKeys(g, node)) {
        const p = node.switchable ? `${node.name}.${key}` : node.name;
        out[`${p}.weight`] = fill(node.channels, () => 0.2 + 0.1 * uniform());
        out[`${p}.bias`] = fill(node.channels, () => 0.3 + 0.1 * normal());
        out[`${p}.running_mean`] = fill(node.channels, () => 0.1 * normal());
        out[`${p}.running_var`] = fill(node.channels, () => 0.5 + uniform());
      }
    } else if (node.op === 'quantize' && node.clip) {
      for (const key of widthKeys(g)) out[quantizeClipTensor(node.name, key)] = fill(1, () => 0.5 + 2 * uniform());
    }
  }
  return out;
}
