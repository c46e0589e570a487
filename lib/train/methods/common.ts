// Helpers the SP, PG and LDP methods share: the quantised layers of a graph and the quantiser that
// feeds each, a quantised layer's product with given weights, option checks, the distillation step.
import type { GraphSpec, NodeSpec } from '../../nn/graph';
import * as T from '../tape';
import { Param, Tape, Var } from '../tape';
import type { Trainer } from '../trainer';
import { countCorrect } from '../trainer';

export type QNode = NodeSpec & { op: 'qconv2d' | 'qlinear' };

const PASS_THROUGH = new Set(['maxpool2d', 'flatten', 'dropout']);

/** Every qconv2d / qlinear node with the 'quantize' node its input codes come from (through pools, flatten). */
export function quantisedLayers(g: GraphSpec): Array<{ node: QNode; quantizer?: string }> {
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  return g.nodes.filter((n): n is QNode => n.op === 'qconv2d' || n.op === 'qlinear').map((node) => {
    let src = byName.get(node.inputs[0]);
    while (src && PASS_THROUGH.has(src.op)) src = byName.get(src.inputs[0]);
    return { node, quantizer: src?.op === 'quantize' ? src.name : undefined };
  });
}

/** The layer's product with weights `w` (already quantised): conv2d or linear (with its float bias). */
export function layerProduct(tape: Tape | null, node: QNode, x: Var, w: Var, bias?: Param): Var {
  return node.op === 'qconv2d' ? T.conv2d(tape, x, w, node) : T.linear(tape, T.flatten(tape, x), w, bias);
}

/** Multiply-accumulates per sample of a layer output `y` ([n, ..., out]) with fan-in k. */
export function macsPerSample(node: QNode, y: Var): number {
  const k = node.op === 'qconv2d' ? node.inChannels * node.kernel[0] * node.kernel[1] : node.inFeatures;
  return (y.size / y.shape[0]) * k;
}

/** A method option: a number in [min, max] (default when absent). */
export function numberOption(o: Record<string, unknown>, key: string, def: number, min: number, max: number, integer = false): number {
  const v = o[key] ?? def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new RangeError(`options.${key} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function optionsOf(c: { options?: Record<string, unknown> }): Record<string, unknown> {
  const o = c.options ?? {};
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new TypeError('options must be an object of method options');
  return o;
}

/**
 * One optimiser step over several switches: the first on the labels, every later one distilled
 * from the first one's logits (detached), or with `labelsOnly` on the labels too; gradients summed. `extra` may add a loss term per
 * switch (its value is added to the reported loss). `beforeStep` runs after the backward passes and
 * before the optimiser: a method updates its own parameters there (and clears their gradients, so
 * the optimiser leaves them alone). Returns the summed loss and the first switch's correct count.
 */
export function distillStep(t: Trainer, switches: number[], x: Float32Array, labels: ArrayLike<number>, n: number,
                            extra?: (tape: Tape, bits: number) => Var | undefined, labelsOnly = false,
                            beforeStep?: () => void): { loss: number; correct: number } {
  t.opt.zeroGrad();
  let teacher: Float32Array | null = null, loss = 0, correct = 0;
  for (const bits of switches) {
    const tape = new Tape();
    const logits = t.net.forward(x, n, { bits, training: true, tape, hook: t.impl?.hook });
    let l = teacher === null || labelsOnly ? T.crossEntropy(tape, logits, labels) : T.distillationLoss(tape, logits, teacher, t.config.temperature ?? 1);
    const e = extra?.(tape, bits);
    if (e) l = T.add(tape, l, e);
    tape.backward(l);
    loss += l.data[0];
    if (teacher === null) {
      correct = countCorrect(logits.data, labels, n);
      teacher = logits.data;
    }
  }
  beforeStep?.();
  t.opt.step();
  return { loss, correct };
}
