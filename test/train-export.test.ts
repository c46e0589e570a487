// A trained model exported to the runtime: Model.build(graph, tensors) at every width gives the
// training forward's fake-quantised eval output (any-precision, and SP-Nets' PACT and sign
// activations on the pre-activation ResNet).
import { describe, expect, it } from '@jest/globals';
import { Tensor, kernels, zoo, loadSync } from '../lib';
import type { GraphSpec } from '../lib';
import { Trainer, defaultConfig } from '../lib/train/trainer';
import '../lib/train/methods';
import { loadMnist, PLAIN_DIGITS } from '../lib/train/data';
import { WeightQuantizer } from '../lib/core/quantize';
import { quantizeWeights } from '../lib/train/quant';
import { Param } from '../lib/train/tape';
import { smallCnn } from './helpers/train-graphs';
import { fixturePath } from './helpers/fixtures';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const MNIST = path.dirname(fixturePath('mnist', 'split.json'));

/**
 * The runtime's logits against the training forward's. Both are float32 pipelines over the same
 * quantised values; they differ in summation order (float GEMM vs integer bit-serial sums scaled
 * once), ~1e-7 relative. Where that puts an activation exactly on the other side of a rounding
 * boundary, one code flips and downstream logits move by about one code step (1/255 at 8 bits)
 * times a weight: seen only at 8 bits, where the steps are finest. Bounds: every logit within
 * 1e-4 * max|logit| at 32/4/2/1 bits; at 8 bits within 1e-2 * max|logit|, with at most 5% of the
 * logits off by more than 1e-4 * max|logit|; the predicted class always equal.
 */
function expectTrainingOutput(ours: Float32Array, rt: Float32Array, bits: number, n: number): void {
  let worst = 0, scale = 0, off = 0;
  for (let i = 0; i < rt.length; i++) scale = Math.max(scale, Math.abs(ours[i]));
  const tight = 1e-4 * Math.max(1, scale);
  for (let i = 0; i < rt.length; i++) {
    const d = Math.abs(rt[i] - ours[i]);
    worst = Math.max(worst, d);
    if (d > tight) off++;
  }
  expect(worst).toBeLessThanOrEqual(bits === 8 ? 100 * tight : tight);
  expect(off).toBeLessThanOrEqual(0.05 * rt.length);
  expect(Array.from(new Tensor(rt, [n, 10]).argmax())).toEqual(Array.from(new Tensor(ours, [n, 10]).argmax()));
}

describe('export to the runtime', () => {
  kernels.setThreads(2);
  const data = loadMnist(MNIST, PLAIN_DIGITS, 1000, { train: 256, test: 64 });
  const graphs: Array<[string, GraphSpec]> = [
    ['small CNN (qconv, qlinear, max pool, flatten)', smallCnn()],
    ['pre-activation ResNet (switchable BN, 1x1 shortcut + shared BN, residual add, global pool)',
      zoo.preactResnet({ widths: [4, 8, 8], blocks: 1, inChannels: 1, inputSize: 28 })],
    ['pre-activation ResNet trained truncation-consistent (one 8-bit weight copy, every width its top planes)',
      { ...zoo.preactResnet({ widths: [4, 8, 8], blocks: 1, inChannels: 1, inputSize: 28 }), weightMode: 'truncate' }],
  ];
  for (const [label, graph] of graphs) {
    it(`${label}: runtime output at 32/8/4/2/1 bits = the training forward in eval mode`, () => {
      const tr = new Trainer(graph, defaultConfig({ epochs: 1, batch: 32, lr: 3e-3, seed: 1 }));
      tr.fit(data.train); // 8 steps: trained weights and non-trivial running statistics
      const model = tr.net.toModel();
      expect(model.graph.weightMode).toBe(graph.weightMode);
      // and through the model file: save, load, same outputs
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-train-')), 'm.anyprec');
      model.saveSync(file);
      const loaded = loadSync(file);
      const x = data.test.x, n = data.test.n;
      for (const bits of [32, 8, 4, 2, 1]) {
        const ours = tr.net.forward(x, n, { bits, training: false }).data;
        for (const m of [model, loaded]) expectTrainingOutput(ours, m.runSync(new Tensor(x, [n, 1, 28, 28]), { bits }).data, bits, n);
      }
    });
  }

  // SP-Nets' PACT and sign activations on the pre-activation ResNet: clipped codes (and signs)
  // into residual sums, float shortcuts and quantised convs; 1-bit weights at every switch.
  for (const [activation, switches] of [['pact', [32, 8, 2]], ['sign', [32, 2, 1]]] as const) {
    it(`SP with ${activation} activations on the pre-activation ResNet: runtime output at every switch = the training forward in eval mode, also from the file`, () => {
      const graph = zoo.preactResnet({ widths: [4, 8, 8], blocks: 1, inChannels: 1, inputSize: 28, switchableShortcut: true });
      const tr = new Trainer(graph, defaultConfig({ method: 'sp', bits: [...switches], epochs: 1, batch: 32, lr: 1e-2, seed: 1, options: { activation } }));
      tr.fit(data.train);
      const model = tr.toModel();
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-train-')), 'm.anyprec');
      model.saveSync(file);
      const loaded = loadSync(file);
      const x = data.test.x, n = data.test.n;
      for (const bits of switches) {
        const ours = tr.net.forward(x, n, { bits, training: false, hook: tr.impl!.hook }).data;
        const opts = { bits: { weights: 1, activations: bits } };
        const rt = model.runSync(new Tensor(x, [n, 1, 28, 28]), opts).data;
        expectTrainingOutput(ours, rt, bits, n);
        expect(loaded.runSync(new Tensor(x, [n, 1, 28, 28]), opts).data).toEqual(rt);
      }
    });
  }
  it('the training forward quantises weights exactly as lib/core/quantize (the runtime) does', () => {
    const w = new Float32Array(300).map((_, i) => Math.sin(i * 12.9898) * 0.3);
    const p = new Param('w', w, [300]);
    const wq = new WeightQuantizer(w, 'requant');
    for (const bits of [1, 2, 4, 8, 32]) expect(Array.from(quantizeWeights(null, p, bits).data)).toEqual(Array.from(wq.values(bits)));
    // truncation-consistent: the b-bit codes are the top b bits of the 8-bit codes
    const wt = new WeightQuantizer(w, 'truncate'), q8 = wt.codes(8);
    for (const bits of [1, 2, 4]) {
      expect(Array.from(quantizeWeights(null, p, bits, 'truncate').data)).toEqual(Array.from(wt.values(bits)));
      expect(Array.from(wt.codes(bits))).toEqual(Array.from(q8, (q) => q >> (8 - bits)));
    }
    expect(Array.from(quantizeWeights(null, p, 2, 'truncate').data)).not.toEqual(Array.from(wq.values(2)));
  });
});
