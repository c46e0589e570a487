// The zoo's gated pre-activation ResNet-20 (w2/a4, B/Bhb 4/2) with its gates calibrated to 50% off
// on seeded inputs, and the gate settings the gated-network tests sweep: shared by the tests that
// compare a gated network's paths and routes bit for bit (gated-plan, gated-int8-high).
import { Model, Tensor, zoo } from '../../lib';

export const GATE_OFFSETS: Array<number | 'closed'> = [-1e30, -0.02, 0, 0.03, 0.08, 'closed'];

/** Run options for one entry of GATE_OFFSETS. */
export const gateOpts = (off: number | 'closed') => (off === 'closed' ? { gate: 'closed' as const } : { gateOffset: off });

/** Gated-on outputs per gated layer of a call's stats. */
export const gateOns = (stats: { layers: Array<{ gate?: { on: number } }> }) => stats.layers.filter((l) => l.gate).map((l) => l.gate!.on);

/** A fresh gated zoo model (weights seed 7, gates calibrated at 0.5 off) and its inputs for each batch size. */
export function gatedZooModel(batches: number[]): { model: Model; xs: Map<number, Tensor> } {
  const graph = zoo.gatedPreactResnet({ bits: 4, highBits: 2 });
  const model = Model.build(graph, zoo.randomTensors(graph, 7)).setPrecision({ weights: 2, activations: 4 });
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const input = (n: number) => new Tensor(Float32Array.from({ length: n * 3 * 32 * 32 }, () => rand() * 2 - 1), [n, 3, 32, 32]);
  model.calibrateGates(input(4), 0.5);
  return { model, xs: new Map(batches.map((n) => [n, input(n)])) };
}
