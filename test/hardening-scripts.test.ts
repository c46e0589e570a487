// Short forms of the fuzz and soak scripts (the long forms: node scripts/fuzz.mjs --seconds 60,
// node scripts/soak.mjs --n 100000). Each runs in its own process: a crash of the fuzzed code
// kills that process, which is what these tests catch (a non-zero exit or a signal).
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');

function script(file: string, args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, file), ...args, '--json'], { encoding: 'utf8', timeout: 90000 });
  const lines = r.stdout.trim().split('\n');
  return { status: r.status, signal: r.signal, stderr: r.stderr, result: JSON.parse(lines[lines.length - 1] || 'null') };
}

describe('fuzz (short form: 10 s, fixed seed)', () => {
  it('ends every case in a result or an error with a message; nothing crashes or hangs', () => {
    const r = script('scripts/fuzz.mjs', ['--seconds', '10', '--seed', '20261206', '--slow', '10']);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.result.failures).toBe(0);
    // every target was exercised, and both outcomes occurred (the mutations are not all refused)
    for (const [name, t] of Object.entries(r.result.targets as Record<string, { cases: number; ok: number; errors: Record<string, number> }>)) {
      expect({ name, some: t.cases > 5 }).toEqual({ name, some: true });
    }
    const structured = r.result.targets['model-structured'];
    expect(structured.ok).toBeGreaterThan(0);
    expect(Object.values(structured.errors as Record<string, number>).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});

describe('soak (short form: 2,000 inferences)', () => {
  it('gives the same answer every time and RSS does not grow past the leak bound', () => {
    const r = script('scripts/soak.mjs', ['--n', '2000']);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(r.result.inferences).toBeGreaterThanOrEqual(2000);
    expect(r.result.wrong).toBe(0);
    expect(r.result.growthPct).toBeLessThanOrEqual(25);
  });
});
