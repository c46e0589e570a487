// Issue 15's diagnostics: the error a failed addon load gives (platform facts, what was looked
// for, the fix for each cause), end to end from a directory without binaries; and `anyprec
// doctor`: platform, addon, ISA, threads, and a self-test that catches a GEMM giving wrong sums.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { kernels } from '../lib';
import { selfTest } from '../lib/cli/doctor';
import { binaryCandidates, loadFailureMessage, platformFacts } from '../lib/core/native';

const root = path.resolve(__dirname, '..');
const facts = { platform: 'linux', arch: 'x64', libc: 'glibc 2.28', node: 'v20.20.2', abi: '115', napi: '9' };
const none = [{ path: '/p/build/Release/anyprec.node', exists: false }, { path: '/p/prebuilds/linux-x64/*.node', exists: false }];
const one = [{ path: '/p/build/Release/anyprec.node', exists: false }, { path: '/p/prebuilds/linux-x64/anyprec.glibc.node', exists: true }];

describe('the addon load error', () => {
  it('names the platform, libc, Node ABI and every file looked for', () => {
    const m = loadFailureMessage(new Error('No native build was found for platform=linux arch=x64'), facts, none);
    expect(m).toMatch(/could not be loaded on linux-x64 \(glibc 2\.28, Node v20\.20\.2, ABI 115, N-API 9\)/);
    expect(m).toContain('/p/build/Release/anyprec.node (not there)');
    expect(m).toContain('/p/prebuilds/linux-x64/*.node (not there)');
    expect(m).toMatch(/Fix: no binary ships for linux-x64 .*npm explore anyprec -- npm run build:native/);
    expect(m).toMatch(/Cause: No native build was found/);
  });

  it.each([
    ['glibc too old', "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found (required by anyprec.glibc.node)",
      /needs glibc >= 2\.32 and this system has glibc 2\.28: upgrade the system, or build it from source/],
    ['libstdc++ too old', "/lib64/libstdc++.so.6: version `GLIBCXX_3.4.30' not found (required by anyprec.glibc.node)",
      /needs a C\+\+ runtime \(libstdc\+\+\) with GLIBCXX_3\.4\.30 .*install a newer libstdc\+\+6, or build it from source/],
    ['wrong architecture', 'anyprec.glibc.node: wrong ELF class: ELFCLASS32', /built for another architecture or system than linux-x64/],
    ['another Node', 'was compiled against a different Node.js version using NODE_MODULE_VERSION 108',
      /built for another Node \(this is v20\.20\.2, ABI 115, N-API 9\)/],
    ['anything else', 'some other failure', /could not be loaded: reinstall anyprec, or build it from source/],
  ])('gives the fix for %s', (_, cause, fix) => {
    const m = loadFailureMessage(new Error(cause), facts, one);
    expect(m).toMatch(fix);
    expect(m).toContain('/p/prebuilds/linux-x64/anyprec.glibc.node\n');
  });

  it('describes this process and finds the binary it loaded', () => {
    const f = platformFacts();
    expect(f.platform).toBe(process.platform);
    expect(f.abi).toBe(process.versions.modules);
    expect(f.libc).toMatch(/^(glibc \d+\.\d+|musl|unknown)$/);
    expect(binaryCandidates().some((c) => c.exists)).toBe(true);
  });

  it('is what loading from a directory without binaries throws (end to end)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-noaddon-'));
    try {
      fs.mkdirSync(path.join(dir, 'dist', 'core'), { recursive: true });
      fs.copyFileSync(path.join(root, 'dist', 'core', 'native.js'), path.join(dir, 'dist', 'core', 'native.js'));
      const r = spawnSync(process.execPath, ['-e', "require('./dist/core/native.js')"], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') }, timeout: 60000,
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`the native addon could not be loaded on ${process.platform}-${process.arch}`);
      expect(r.stderr).toContain(`${path.join(dir, 'build', 'Release', 'anyprec.node')} (not there)`);
      expect(r.stderr).toMatch(/Fix: no binary ships for/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('anyprec doctor', () => {
  it('prints the platform, addon, ISA and threads, and passes its self-test (--json)', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'doctor', '--json'], { encoding: 'utf8', timeout: 120000 });
    expect(r.status).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.platform.arch).toBe(process.arch);
    expect(fs.existsSync(d.addon)).toBe(true);
    expect(d.addon).toMatch(/\.node$/);
    expect(d.availableIsas).toEqual(kernels.availableIsas());
    expect(d.availableIsas).toContain(d.isa);
    expect(d.threads).toBeGreaterThanOrEqual(1);
    expect(d.selfTest.ok).toBe(true);
    expect(d.selfTest.cases).toBe(kernels.availableIsas().length * 2 * 4 * 64);
    expect(d.loadSelfTest).toMatchObject({ isa: d.isa, ok: true, error: null });
    expect(d.loadSelfTest.micros).toBeGreaterThan(0);
    // each kernel family's share, in run order, within the whole
    const fam = d.loadSelfTest.families as Record<string, number>;
    expect(Object.keys(fam)).toEqual(['pack', 'gemm', 'conv', 'gated', 'float']);
    for (const v of Object.values(fam)) expect(v).toBeGreaterThan(0);
    expect(Object.values(fam).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(d.loadSelfTest.micros * 1.001 + 1);
  });

  it('the load-time self-test ran for every ISA selected in this process, and passed', () => {
    const before = kernels.isa();
    try {
      for (const isa of kernels.availableIsas()) {
        kernels.setIsa(isa);
        expect(kernels.loadSelfTest()).toMatchObject({ isa, ok: true, error: null });
      }
    } finally {
      kernels.setIsa(before);
    }
  });

  it('the self-test reports a GEMM that gets one sum wrong, and restores the ISA', () => {
    const isa = kernels.isa();
    const broken = (a: any, b: any, o: any) => {
      const out = Int32Array.from(kernels.bitGemm(a, b, o) as Int32Array);
      if (kernels.isa() === 'scalar' && o.path === 'int8' && a.bits === 3 && b.bits === 5 && o.aEncoding === 'signed') out[7] += 1;
      return out;
    };
    const t = selfTest(broken);
    expect(t.ok).toBe(false);
    expect(t.failures).toEqual(['scalar int8 signed a3 x signed w5: ' + t.failures[0].split(': ')[1]]);
    expect(t.failures[0]).toMatch(/C\[1, 2\] = (-?\d+), expected (-?\d+)$/);
    expect(kernels.isa()).toBe(isa);
  });
});
