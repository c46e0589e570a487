// The shipped declarations (dist/**/*.d.ts) type-check in a consumer project that has neither
// @types/node nor the DOM library: a user writing TypeScript must not need either to use anyprec.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function typeCheck(consumer: string): { status: number | null; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-types-'));
  try {
    fs.writeFileSync(path.join(dir, 'consumer.ts'), consumer);
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, skipLibCheck: false, target: 'es2022', module: 'commonjs',
        moduleResolution: 'node', lib: ['es2022'], types: [], typeRoots: [],
        paths: { anyprec: [path.join(root, 'dist', 'index.d.ts')] }, baseUrl: dir,
      },
      files: ['consumer.ts'],
    }));
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', timeout: 120000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the shipped type declarations', () => {
  it('type-check without @types/node and without the DOM library', () => {
    expect(fs.existsSync(path.join(root, 'dist', 'index.d.ts'))).toBe(true);
    const r = typeCheck(`import * as anyprec from 'anyprec';
const t = new anyprec.Tensor(new Float32Array(4), [1, 4]);
export async function use(m: anyprec.Model, signal: anyprec.AbortSignalLike, p: anyprec.FilePath): Promise<number> {
  const y = await m.run(t, { bits: 2, signal });
  const f = anyprec.loadSafetensorsSync(p);
  return y.data.length + Object.keys(f).length + anyprec.kernels.threads();
}
`);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 180000);

  it('the check fails on a declaration that needs Node types (it is not vacuous)', () => {
    const r = typeCheck(`import * as fs from 'fs';\nexport const p: fs.PathLike = 'x';\n`);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/fs/);
  }, 180000);
});
