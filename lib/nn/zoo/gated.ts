// Precision-gated versions of the zoo's networks: gates on quantised convs and linears.
import type { GraphSpec, PrecisionGate } from '../graph';
import { preactResnet, PreactResnetOptions } from './any-precision';
import type { ZooOptions } from './builder';
import { cnn } from './digits';

/** B and Bhb of the gates the gated builders add. */
export interface GateChoice {
  /** B: the activation bits the gates split (default 4; must be in the bit list). */
  bits?: number;
  /** Bhb: the bits every output gets (default 2). */
  highBits?: number;
}

/**
 * A copy of `g` with a precision gate { bits, highBits } on its quantised convs and linears
 * (every one, or those named in `layers`); thresholds are tensors `${layer}.threshold`.
 */
export function withGates(g: GraphSpec, gate: GateChoice = {}, layers?: string[]): GraphSpec {
  const spec: PrecisionGate = { bits: gate.bits ?? 4, highBits: gate.highBits ?? 2 };
  const names = layers ? new Set(layers) : undefined;
  if (names) {
    for (const l of names) {
      if (!g.nodes.some((n) => n.name === l && (n.op === 'qconv2d' || n.op === 'qlinear'))) {
        throw new RangeError(`layers: '${l}' is not a qconv2d / qlinear node of the graph`);
      }
    }
  }
  const nodes = g.nodes.map((n) => ((n.op === 'qconv2d' || n.op === 'qlinear') && (!names || names.has(n.name)) ? { ...n, gate: { ...spec } } : n));
  return { ...g, nodes };
}

/**
 * The MNIST CNN (cnn()) with precision gates (default B = 4, Bhb = 2) on its two quantised convs
 * and its quantised FC layer. Thresholds come with randomTensors (0) — set them with
 * model.calibrateGates (per-channel quantiles) or model.setGateThresholds.
 */
export function gatedCnn(o: ZooOptions & GateChoice = {}): GraphSpec {
  return withGates(cnn(o), o);
}

/**
 * The Any-Precision pre-activation ResNet (preactResnet(); ResNet-20 by default, bit list
 * 1, 2, 4, 8, 32) with precision gates (default B = 4, Bhb = 2) on all its quantised convs.
 */
export function gatedPreactResnet(o: PreactResnetOptions & GateChoice = {}): GraphSpec {
  return withGates(preactResnet(o), o);
}
