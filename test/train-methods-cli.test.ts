// `anyprec train --method sp|pg|ldp` end to end (dist/cli/main.js) on a tiny network: --json, the
// model file, the run record with the method's per-epoch log, and --resume.
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadSync, Uint8Tensor } from '../lib';
import { fixturePath } from './helpers/fixtures';

const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const MNIST = path.dirname(fixturePath('mnist', 'split.json'));
const tiny = ['--arch', 'resnet8', '--widths', '4,4,8', '--train-limit', '64', '--batch', '32', '--threads', '2', '--data', MNIST];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-methods-cli-'));
const train = (args: string[]) => JSON.parse(execFileSync(process.execPath, [cli, 'train', ...tiny, ...args, '--json'], { encoding: 'utf8' }));

describe('anyprec train --method sp|pg|ldp', () => {
  it('sp: one result per activation switch; the model runs every switch with 1-bit weights', () => {
    const out = path.join(dir, 'sp.anyprec');
    const r = train(['--method', 'sp', '--act-bits', '32,2', '--epochs', '1', '--out', out]);
    expect(r.method).toBe('sp');
    expect(r.results.map((x: { bits: number }) => x.bits)).toEqual([32, 2]);
    expect(r.weightBits).toBe(1);
    // a run under 10 epochs: every switch learns from the labels (--distill off), recorded in the config
    expect(r.distill).toBe(false);
    expect(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')).config.options).toEqual({ activation: 'dorefa', distill: false });
    const m = loadSync(out);
    expect(m.graph.input?.dtype).toBe('uint8'); // its preprocessing is in the graph: raw digits go in
    const digits = new Uint8Tensor(new Uint8Array(2 * 784), [2, 1, 28, 28]);
    for (const a of [32, 2]) expect(m.runSync(digits, { bits: { weights: 1, activations: a } }).shape).toEqual([2, 10]);
  });

  it('sp --act-quant pact / sign: the model file holds the clips / the 1-bit signs, and anyprec eval runs every switch', () => {
    const digits = new Uint8Array(3 * 784).map((_, i) => (i * 37) % 256);
    const input = path.join(dir, 'digits.u8');
    fs.writeFileSync(input, digits);
    for (const [quant, switches, option] of [['pact', [32, 2], { clip: true }], ['sign', [32, 1], { oneBit: 'sign' }]] as const) {
      const out = path.join(dir, `sp-${quant}.anyprec`);
      train(['--method', 'sp', '--act-quant', quant, '--act-bits', switches.join(','), '--epochs', '1', '--out', out]);
      expect(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')).config.options.activation).toBe(quant);
      const m = loadSync(out);
      expect(m.graph.format).toBe('anyprec-graph/3');
      for (const n of m.graph.nodes.filter((x) => x.op === 'quantize')) expect(n).toMatchObject(option);
      for (const a of switches) {
        const r = JSON.parse(execFileSync(process.execPath, [cli, 'eval', out, '--input', input, '--dtype', 'uint8', '--shape', '3,1,28,28',
          '--bits', `1,${a}`, '--json'], { encoding: 'utf8' })) as { logits: number[][] };
        expect(Float32Array.from(r.logits.flat())).toEqual(m.runSync(new Uint8Tensor(digits, [3, 1, 28, 28]), { bits: { weights: 1, activations: a } }).data);
      }
    }
  });

  it('pg (PACT activations): the gate counts of the exported model on the test digits; the model file has gated layers', () => {
    const out = path.join(dir, 'pg.anyprec');
    const r = train(['--method', 'pg', '--bits', '3', '--high-bits', '1', '--weight-bits', '4', '--gate-on', '0.2', '--gate-weight', '4', '--act-quant', 'pact', '--epochs', '1', '--out', out]);
    expect(r.results.map((x: { bits: number }) => x.bits)).toEqual([3]);
    expect(r.gate).toMatchObject({ bits: 3, highBits: 1, weightBits: 4 });
    expect(r.gate.fraction).toBeGreaterThanOrEqual(0);
    expect(r.gate.fraction).toBeLessThanOrEqual(1);
    expect(Object.keys(r.gate.layers)).toHaveLength(6); // the six quantised convs of resnet8
    expect(r.gate.runtimeAccuracy).toBeCloseTo(r.results[0].accuracy, 2);
    expect(loadSync(out).gatedLayers).toHaveLength(6);
    const record = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(record.log[0].extra.gateOnAll).toBeGreaterThanOrEqual(0);
    expect(Object.keys(record.log[0].extra.alphas)).toHaveLength(6); // a learned clip per quantize node
    expect(record.config.options).toMatchObject({ activation: 'pact', gateWeight: 4 });
    // a short pg run's default rate, 1e-2 / epochs (the 1e-3 of longer runs left one epoch far from trained)
    expect(record.config.lr).toBe(1e-2);
    expect(record.digits).toEqual({ train: 64, validation: 1000, test: 2000 });
  });

  it('ldp: per-layer bits in the output and in every epoch of the record; --resume extends the run', () => {
    const out = path.join(dir, 'ldp.anyprec');
    const r = train(['--method', 'ldp', '--penalty', '4', '--bit-range', '2,6', '--epochs', '1', '--out', out]);
    const bits = Object.values(r.layers as Record<string, { weights: number; activations: number }>);
    expect(bits.length).toBeGreaterThan(0);
    for (const b of bits) for (const v of [b.weights, b.activations]) expect(v >= 2 && v <= 6).toBe(true);
    expect(r.bitOps).toBeGreaterThan(0);
    const resumed = train(['--resume', `${out}.ckpt`, '--epochs', '2', '--out', out]);
    expect(resumed.epochs).toBe(2);
    const record = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(record.log).toHaveLength(2);
    // every epoch logs the bits of the six quantised convs; the runtime's precisions add the quantize nodes feeding them
    for (const e of record.log) expect(Object.keys(e.extra.layers).sort()).toEqual(Object.keys(r.layers).sort());
    expect(Object.keys(r.layers)).toHaveLength(6);
    expect(Object.keys(r.precisions)).toHaveLength(12);
    // the model file keeps the learned per-layer precision: a loaded model runs at it without options
    expect(loadSync(out).getPrecision().layers).toEqual(resumed.precisions);
  });

  it('ldp: the bits are frozen for the last fifth of the epochs by default (--freeze-bits 0: never)', () => {
    const out = path.join(dir, 'ldp-freeze.anyprec');
    train(['--method', 'ldp', '--epochs', '10', '--out', out]);
    const record = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(record.config.options.freezeEpochs).toBe(2);
    const bits = record.log.map((e: { extra: { layers: unknown } }) => JSON.stringify(e.extra.layers));
    expect(bits[8]).toBe(bits[7]);
    expect(bits[9]).toBe(bits[7]);
    train(['--method', 'ldp', '--epochs', '1', '--freeze-bits', '0', '--out', out]);
    expect(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')).config.options.freezeEpochs).toBe(0);
  });

  it('rejects bad method options with a message', () => {
    const run = (args: string[]) => {
      try { execFileSync(process.execPath, [cli, 'train', ...tiny, '--out', path.join(dir, 'x.anyprec'), ...args], { encoding: 'utf8', stdio: 'pipe' }); return ''; } catch (e) { return String((e as { stderr: string }).stderr); }
    };
    expect(run(['--method', 'pg', '--bits', '3,4'])).toMatch(/takes one --bits value/);
    expect(run(['--method', 'sp', '--act-quant', 'log'])).toMatch(/activation must be one of dorefa, pact, sign/);
    expect(run(['--method', 'sp', '--distill', 'yes'])).toMatch(/--distill must be on or off, got yes/);
    expect(run(['--method', 'pg', '--act-quant', 'sign'])).toMatch(/activation must be dorefa or pact/);
    expect(run(['--method', 'ldp', '--bit-range', '6,2'])).toMatch(/--bit-range takes lo,hi/);
    expect(run(['--method', 'ldp', '--freeze-bits', '-1'])).toMatch(/--freeze-bits must be an integer >= 0/);
  });
});
