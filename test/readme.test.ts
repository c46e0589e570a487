// The README is tested: every ```js block is run as written, as a user would run it, against the
// built package (require('anyprec') resolves to this checkout through a node_modules/anyprec link
// in a scratch directory). The block that imports a reference checkpoint finds fixture A's
// model.safetensors under the name it uses. Needs the build (`npm run build`): dist/ and the addon.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fixturePath } from './helpers/fixtures';

const root = path.resolve(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The README's ```js blocks with the line each starts on. */
function jsBlocks(text: string): Array<{ line: number; code: string }> {
  const out: Array<{ line: number; code: string }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```js\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
    if (j >= lines.length) throw new Error(`README.md:${i + 1}: a js block is not closed`);
    out.push({ line: i + 1, code: lines.slice(start, j).join('\n') + '\n' });
    i = j;
  }
  return out;
}

const blocks = jsBlocks(readme);

describe('README examples', () => {
  it('has the examples this test is meant to run', () => {
    // quick start, models, import, precision, workers, gating, kernels, errors
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    expect(fs.existsSync(path.join(root, 'dist', 'index.js'))).toBe(true);
  });

  it('does not use top-level await in CommonJS examples', () => {
    for (const b of blocks) {
      if (/^import .* from /m.test(b.code)) continue; // ES modules may
      const topLevel = b.code.split('\n').filter((l) => /^\S.*\bawait\b/.test(l)); // unindented = top level here
      expect({ line: b.line, topLevel }).toEqual({ line: b.line, topLevel: [] });
    }
  });

  it.each(blocks.map((b) => [b.line, b.code] as const))('the block at README.md:%i runs as written', (line, code) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-readme-'));
    try {
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.symlinkSync(root, path.join(dir, 'node_modules', 'anyprec'), 'dir');
      if (code.includes('resnet20q.safetensors')) {
        fs.copyFileSync(fixturePath('A', 'model.safetensors'), path.join(dir, 'resnet20q.safetensors'));
      }
      const file = path.join(dir, /^import .* from /m.test(code) ? 'example.mjs' : 'example.js');
      fs.writeFileSync(file, code);
      const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 120000 });
      const report = { line, status: r.status, signal: r.signal, stderr: r.stderr };
      expect(report).toEqual({ line, status: 0, signal: null, stderr: '' });
      expect(r.stdout.length).toBeGreaterThan(0); // every example shows something
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
