// `anyprec train` end to end (dist/cli/main.js): --json output, model file, run record, Ctrl-C
// checkpoint and --resume.
import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadSync, Tensor, Uint8Tensor } from '../lib';
import { Trainer } from '../lib/train/trainer';
import { loadMnist, PLAIN_DIGITS } from '../lib/train';
import { fixturePath } from './helpers/fixtures';

const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const MNIST = path.dirname(fixturePath('mnist', 'split.json'));
const tiny = ['--arch', 'resnet8', '--widths', '4,4,8', '--train-limit', '64', '--batch', '32', '--threads', '2', '--data', MNIST];

describe('anyprec train', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-train-cli-'));
  it('--json prints method, epochs, model and per-width accuracies; the model file loads and runs at every width', () => {
    const out = path.join(dir, 'm.anyprec');
    const r = JSON.parse(execFileSync(process.execPath, [cli, 'train', ...tiny, '--epochs', '1', '--bits', '2,32', '--out', out, '--json'], { encoding: 'utf8' }));
    expect(r.method).toBe('any');
    expect(r.epochs).toBe(1);
    expect(r.model).toBe(out);
    expect(r.results.map((x: { bits: number }) => x.bits).sort((a: number, b: number) => a - b)).toEqual([2, 32]);
    for (const x of r.results) expect(x.accuracy >= 0 && x.accuracy <= 1).toBe(true);
    const m = loadSync(out);
    expect(m.graph.bitList).toEqual([2, 32]);
    // it takes raw uint8 digits (the preprocessing is in its graph), not floats
    expect(m.graph.input?.dtype).toBe('uint8');
    for (const bits of [2, 32]) expect(m.runSync(new Uint8Tensor(new Uint8Array(2 * 784), [2, 1, 28, 28]), { bits }).shape).toEqual([2, 10]);
    expect(() => m.runSync(Tensor.zeros([2, 1, 28, 28]))).toThrow(/x must be a Uint8Tensor/);
    const record = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(record.log).toHaveLength(1);
    expect(record.config.seed).toBe(0);
    expect(fs.existsSync(`${out}.ckpt`)).toBe(true);
    // the default split holds out the last 1,000 training digits and validates on them every epoch
    expect(record.digits).toEqual({ train: 64, validation: 1000, test: 2000 });
    expect(Object.keys(record.log[0].validation).sort()).toEqual(['2', '32']);
  });
  it('--validation 0 trains on every training digit (no validation), kept for --resume', () => {
    const out = path.join(dir, 'v0.anyprec');
    // the loader: 0 held out leaves all 8,000 training digits to train on, 1,000 leave 7,000
    expect(loadMnist(MNIST, PLAIN_DIGITS, 0, { test: 1 }).train.n).toBe(8000);
    expect(loadMnist(MNIST, PLAIN_DIGITS, 1000, { test: 1 }).train.n).toBe(7000);
    execFileSync(process.execPath, [cli, 'train', ...tiny, '--epochs', '1', '--bits', '32', '--validation', '0', '--out', out, '--json'], { encoding: 'utf8' });
    const record = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(record.digits).toEqual({ train: 64, validation: 0, test: 2000 });
    expect(record.config.validation).toBe(0);
    expect(record.log[0].validation).toBeUndefined();
    const resume = (args: string[]) => {
      try { execFileSync(process.execPath, [cli, 'train', '--data', MNIST, '--out', out, '--resume', `${out}.ckpt`, '--epochs', '1', ...args], { encoding: 'utf8', stdio: 'pipe' }); return ''; } catch (e) { return String((e as { stderr: string }).stderr); }
    };
    expect(resume(['--validation', '1000'])).toMatch(/--validation 1000 differs from the checkpoint's 0/);
  });
  it('rejects bad options with a message', () => {
    const run = (args: string[]) => {
      try { execFileSync(process.execPath, [cli, 'train', ...tiny, '--out', path.join(dir, 'x.anyprec'), ...args], { encoding: 'utf8', stdio: 'pipe' }); return ''; } catch (e) { return String((e as { stderr: string }).stderr); }
    };
    expect(run(['--method', 'some'])).toMatch(/--method must be any or fixed/);
    expect(run(['--epochs', '0'])).toMatch(/--epochs must be an integer >= 1/);
    expect(run(['--method', 'fixed', '--bits', '2,4'])).toMatch(/exactly one/);
    expect(run(['--weight-mode', 'top'])).toMatch(/--weight-mode must be requant or truncate, got top/);
    expect(run(['--method', 'sp', '--weight-mode', 'truncate'])).toMatch(/--weight-mode truncate is for --method any and fixed/);
    expect(run(['--bn-calibration', '-1'])).toMatch(/--bn-calibration must be an integer >= 0/);
    expect(run(['--augment-shift', '9'])).toMatch(/--augment-shift must be an integer in 0..8/);
    expect(run(['--augment-shift', '-1'])).toMatch(/--augment-shift must be an integer >= 0/);
    expect(run(['--validation', '-1'])).toMatch(/--validation must be an integer >= 0/);
    expect(run(['--validation', '8000'])).toMatch(/--validation must be below 8000/);
  });
  it('SIGINT writes a checkpoint and exits 130; --resume finishes the run', async () => {
    const out = path.join(dir, 'int.anyprec'), ckpt = `${out}.ckpt`;
    const child = spawn(process.execPath, [cli, 'train', ...tiny, '--epochs', '1000', '--bits', '32', '--out', out], { stdio: 'pipe' });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // the first epoch's checkpoint shows that training (and the SIGINT handler) is running
    while (!fs.existsSync(ckpt)) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/checkpoint written to/);
    const t = Trainer.loadCheckpoint(ckpt);
    expect(t.epoch).toBeGreaterThanOrEqual(1);
    expect(t.epoch).toBeLessThan(1000);
    const r = JSON.parse(execFileSync(process.execPath, [cli, 'train', ...tiny, '--resume', ckpt, '--epochs', String(t.epoch + 1), '--out', out, '--json'], { encoding: 'utf8' }));
    expect(r.epochs).toBe(t.epoch + 1);
    expect(fs.existsSync(out)).toBe(true);
  });
});
