// What a benchmark result needs to say about where it ran (CPU, flags, versions, git state,
// the addon that was loaded) and where results are written. Used by bench/gemm.mjs and
// bench/model.mjs.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/lib/../..). */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Installed version of a dependency (read from node_modules: some packages do not export package.json). */
export function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * Machine, toolchain and repository state.
 * @param {object} kernels  anyprec's kernels namespace
 * @param {string[]} [dirtyPaths]  paths whose uncommitted changes are listed (work in progress)
 */
export function machineInfo(kernels, dirtyPaths = ['native', 'lib']) {
  const cpus = os.cpus();
  let flags = [];
  let mhz = cpus[0]?.speed || null; // 0 in many VMs
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n');
    const field = (name) => info.find((l) => l.startsWith(name))?.split(':')[1]?.trim();
    const all = new Set((field('flags') ?? '').split(/\s+/));
    flags = ['avx2', 'avx512f', 'avx512bw', 'avx512_vpopcntdq', 'avx512_vnni', 'avx_vnni', 'amx_int8'].filter((f) => all.has(f));
    mhz ||= Math.round(Number(field('cpu MHz'))) || null;
  } catch {
    /* not Linux */
  }
  // The binary actually loaded (node-gyp-build falls back to prebuilds/ when build/Release has
  // none, e.g. while someone rebuilds it): native modules sit in require's cache too.
  const loaded = Object.keys(createRequire(import.meta.url).cache)
    .find((f) => f.endsWith('.node') && f.startsWith(root) && !f.includes(`${path.sep}node_modules${path.sep}`));
  const addon = loaded ?? path.join(root, 'build', 'Release', 'anyprec.node');
  let addonInfo = null;
  if (fs.existsSync(addon)) {
    addonInfo = {
      path: path.relative(root, addon),
      loaded: Boolean(loaded),
      builtAt: fs.statSync(addon).mtime.toISOString(),
      sha256: createHash('sha256').update(fs.readFileSync(addon)).digest('hex').slice(0, 16),
    };
  }
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    logicalCpus: cpus.length,
    nominalMHz: mhz,
    cpuFlags: flags,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    tinybench: packageVersion('tinybench'),
    anyprecIsas: kernels.availableIsas(),
    isa: kernels.isa(),
    hardwareThreads: kernels.hardwareThreads(),
    loadAverageStart: os.loadavg(),
    addon: addonInfo,
    git: {
      head: git(['rev-parse', '--short', 'HEAD']),
      log: (git(['log', '--oneline', '-n', '10']) ?? '').split('\n').filter(Boolean),
      dirty: (git(['status', '--porcelain', '--', ...dirtyPaths]) ?? '').split('\n').filter(Boolean),
    },
  };
}

/**
 * Writes bench/results/<prefix>-<ISO date>.json and .md; returns the two paths (relative).
 * @param {string} prefix  e.g. 'model'
 * @param {Date} date  the run's start
 */
export function saveResults(prefix, date, report, markdown) {
  const dir = path.join(root, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const jsonPath = path.join(dir, `${prefix}-${stamp}.json`);
  const mdPath = path.join(dir, `${prefix}-${stamp}.md`);
  fs.writeFileSync(jsonPath, JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(mdPath, markdown + '\n');
  return [path.relative(root, jsonPath), path.relative(root, mdPath)];
}
