// The command line (dist/cli/main.js) as a user meets it: --version, errors in its own terms,
// eval's --bits W,A / --threads / --isa, and engine's per-row kernel path.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { kernels, loadSync, Tensor } from '../lib';
import { fixturePath, readFloat32 } from './helpers/fixtures';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
let tmp = '';
let modelA = '';

function anyprec(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: tmp, timeout: 120000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-cli-'));
  modelA = path.join(tmp, 'a.anyprec');
  const r = anyprec('import', 'resnet20q', fixturePath('A', 'model.safetensors'), '-o', modelA);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('anyprec --version', () => {
  it('prints the package version', () => {
    const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
    for (const flag of ['--version', '-V']) {
      const r = anyprec(flag);
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });
});

describe('errors in command-line terms', () => {
  it.each([
    [['import', 'resnet20q', 'x.safetensors', '-o', 'y', '--mode', 'fast'], /--mode must be requant or truncate/, /options\./],
    [['import', 'pg-resnet20', 'B', '-o', 'y', '--mode', 'truncate'], /--mode does not apply to pg-resnet20/, /options\.weightMode/],
    [['eval', 'missing.anyprec', '--input', 'x', '--shape', '1,3,32,32'], /cannot read .*missing\.anyprec: no such file/, /ENOENT/],
    [['eval', 'text.anyprec', '--input', 'x', '--shape', '1,3,32,32'], /text\.anyprec is not a safetensors file/, /header length/],
    [['eval', 'A', '--input', 'x', '--shape', '1,3,32,32'], /is not an anyprec model.*anyprec import <family>/, /importReference/],
    [['eval', 'a.anyprec', '--input', 'x', '--shape', '1,3,32,32', '--bits', '1,2,3'], /--bits must be 1\.\.8 or 32/, /^$/],
    [['eval', 'a.anyprec', '--input', 'x', '--shape', '1,3,32,32', '--isa', 'sse9'], /--isa must be one of .*scalar/, /^$/],
    [['engine', '--isa', 'sse9'], /--isa must be one of/, /^$/],
  ])('%j', (args, want, unwanted) => {
    fs.writeFileSync(path.join(tmp, 'text.anyprec'), 'this is not a model file, just some text\n');
    const a = args.map((v) => (v === 'A' ? fixturePath('A', 'model.safetensors') : v === 'B' ? fixturePath('B', 'model.safetensors') : v));
    const r = anyprec(...a);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^(anyprec|error): /); // ours, or commander's for a bad flag value
    expect(r.stderr).toMatch(want);
    if (unwanted.source !== '^$') expect(r.stderr).not.toMatch(unwanted);
  });

  it('names the widths a model was trained for when --bits asks for another', () => {
    const r = anyprec('eval', modelA, '--input', fixturePath('A', 'inputs.bin'), '--shape', '64,3,32,32', '--bits', '3');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--bits: this model has no 3-bit activations; it was stored for 1, 2, 4, 8, 32 bits/);
  });
});

describe('anyprec eval', () => {
  const inputs = () => fixturePath('A', 'inputs.bin');
  const evalJson = (...extra: string[]) => {
    const r = anyprec('eval', modelA, '--input', inputs(), '--shape', '64,3,32,32', '--json', ...extra);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as { bits: unknown; isa: string; threads: number; logits: number[][]; argmax: number[] };
  };

  it('--bits W,A runs W-bit weights with A-bit activations, as the library does', () => {
    const r = evalJson('--bits', '1,4');
    expect(r.bits).toEqual({ weights: 1, activations: 4 });
    const x = new Tensor(readFloat32(inputs()), [64, 3, 32, 32]);
    const model = loadSync(modelA);
    const want = model.runSync(x, { bits: { weights: 1, activations: 4 } });
    expect(Float32Array.from(r.logits.flat())).toEqual(want.data);
    // and it is not the same as either width for both
    const same4 = model.runSync(x, { bits: 4 }).data, same1 = model.runSync(x, { bits: 1 }).data;
    expect(Float32Array.from(r.logits.flat())).not.toEqual(same4);
    expect(Float32Array.from(r.logits.flat())).not.toEqual(same1);
  });

  it('--bits W still means both, and reports a number', () => {
    expect(evalJson('--bits', '2').bits).toBe(2);
  });

  it('--threads and --isa run as asked and give the default answers', () => {
    // The quantised layers are exact on every ISA; the float first and last layers may round
    // differently (another summation order), so logits agree to float precision, argmax exactly.
    const base = evalJson('--bits', '2');
    expect([base.isa, base.threads]).toEqual([kernels.availableIsas()[0], 1]); // the defaults
    const isas = kernels.availableIsas();
    for (const isa of [isas[0], 'scalar']) {
      const r = evalJson('--bits', '2', '--threads', '2', '--isa', isa);
      expect([r.isa, r.threads]).toEqual([isa, 2]);
      expect(r.argmax).toEqual(base.argmax);
      const worst = Math.max(...r.logits.flat().map((v, i) => Math.abs(v - base.logits.flat()[i])));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('--batch and a small --max-memory split the samples and give the one-call answers', () => {
    const whole = evalJson('--bits', '2');
    // 64 MiB holds ~20 samples of this network's activations: 20 + 20 + 20 + 4
    expect(Math.floor(64 * 2 ** 20 / loadSync(modelA).memory.bytesPerSample)).toBeLessThan(64);
    for (const extra of [['--batch', '5'], ['--max-memory', '64'], ['--per-sample']]) {
      const r = evalJson('--bits', '2', ...extra);
      expect(r.logits).toEqual(whole.logits);
    }
  });

  it('a model with batch-wide activation scales is not split unasked', () => {
    const modelB = path.join(tmp, 'b.anyprec');
    expect(anyprec('import', 'pg-resnet20', fixturePath('B', 'model.safetensors'), '-o', modelB).status).toBe(0);
    const base = ['eval', modelB, '--input', fixturePath('B', 'inputs.bin'), '--shape', '64,3,32,32', '--json'];
    const refused = anyprec(...base, '--max-memory', '64');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/activation scale is taken over the whole batch.*give --batch N \(at most 16\)/);
    const whole = anyprec(...base);
    const split = anyprec(...base, '--max-memory', '64', '--batch', '16');
    expect([whole.status, split.status]).toEqual([0, 0]);
    expect(JSON.parse(split.stdout).logits.length).toBe(64);
    // the scales now come from 16 samples at a time, so some logits move
    expect(JSON.parse(split.stdout).logits).not.toEqual(JSON.parse(whole.stdout).logits);
  });

  it('refuses --per-sample with another --batch', () => {
    const r = anyprec('eval', modelA, '--input', inputs(), '--shape', '64,3,32,32', '--per-sample', '--batch', '4');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--per-sample and --batch: give one of them/);
  });

  it('prints W,A widths in words without --json', () => {
    const r = anyprec('eval', modelA, '--input', inputs(), '--shape', '64,3,32,32', '--bits', '1,4');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^bits 1 \(weights\), 4 \(activations\); argmax /);
  });
});

describe('anyprec engine', () => {
  it('labels every row with the path that shape and width really take', () => {
    const [m, k, n] = [4, 256, 64];
    const r = anyprec('engine', '--m', String(m), '--k', String(k), '--n', String(n));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s*[1-8]\s+[1-8]\s/.test(l)).map((l) => l.trim().split(/\s+/));
    expect(rows.map((c) => Number(c[0]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const c of rows) {
      const bits = Number(c[0]);
      const want = kernels.gemmPath(bits, bits, m, n, k);
      expect(c[2]).toBe(want === 'int8' ? `int8:${kernels.int8Kernel(m)}` : 'bitserial');
    }
  });

  it('--model names the GEMM route each quantised layer took at every bit-width', () => {
    const r = anyprec('engine', '--model', 'mlp', '--batch', '2');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s*([1-8]|float)\s+\d/.test(l)).map((l) => l.trim());
    expect(rows.length).toBe(9);
    for (const row of rows.slice(0, 8)) {
      // "3 int8 (measured)" or "1 bitserial (measured), 2 int8 (measured)": the mlp's 3 layers over codes.
      const routes = row.replace(/^(\S+\s+){5}/, '').split(', ');
      let layers = 0;
      for (const part of routes) {
        const m = /^(\d+) (bitserial|int8) \((measured|estimate|rule|forced)\)$/.exec(part);
        expect(m).not.toBeNull();
        layers += Number(m![1]);
      }
      expect(layers).toBe(3);
    }
    expect(rows[8]).toMatch(/^float\s.*\s-$/);
  });
});
