// Kernel coverage on this machine: derives from the CPU's flags (/proc/cpuinfo) the ISAs and
// int8 kernel variants the dispatcher must offer (same feature sets as native/kernels/dispatch.cc
// and i8gemm.cc), checks that the built addon reports exactly those, and prints the variants
// this machine cannot run (their exactness is then checked only where such a CPU runs the tests).
// Exit status 1 on any mismatch. Usage: node scripts/kernel-coverage.cjs (after `npm run build`).
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');

const { kernels } = require(path.join(__dirname, '..', 'dist'));

const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
const line = cpuinfo.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
if (!line) {
  console.log('no flags/Features line in /proc/cpuinfo');
  process.exit(1);
}
const flags = new Set(line.split(':')[1].trim().split(/\s+/));
const has = (...names) => names.every((n) => flags.has(n));

let isas, int8, all;
if (os.arch() === 'x64') {
  const avx2 = has('avx2', 'fma', 'popcnt', 'bmi2');
  const avx512 = avx2 && has('avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vpopcntdq');
  const avx512Vnni = avx512 && has('avx512_vnni');
  const avxVnni = avx2 && has('avx_vnni');
  const amx = avx512Vnni && has('amx_tile', 'amx_int8');
  isas = [avx512 && 'avx512', avx2 && 'avx2', 'scalar'].filter(Boolean);
  int8 = [amx && 'amx', avx512Vnni && 'avx512-vnni', avxVnni && 'avx-vnni', avx2 && 'avx2', 'scalar'].filter(Boolean);
  all = { isas: ['avx512', 'avx2', 'scalar'], int8: ['amx', 'avx512-vnni', 'avx-vnni', 'avx2', 'scalar'] };
} else if (os.arch() === 'arm64') {
  const neon = has('asimd');
  isas = [neon && 'neon', 'scalar'].filter(Boolean);
  int8 = [neon && has('asimddp') && 'neon-dot', neon && 'neon', 'scalar'].filter(Boolean);
  all = { isas: ['neon', 'scalar'], int8: ['neon-dot', 'neon', 'scalar'] };
} else {
  isas = ['scalar'];
  int8 = ['scalar'];
  all = { isas: ['scalar'], int8: ['scalar'] };
}

const gotIsas = kernels.availableIsas();
const gotInt8 = kernels.availableInt8Kernels();
let bad = 0;
function compare(what, want, got) {
  const same = want.length === got.length && want.every((v, i) => v === got[i]);
  console.log(`${what}: CPU flags promise ${want.join(', ')}; the addon reports ${got.join(', ')}${same ? '' : '  <-- MISMATCH'}`);
  if (!same) bad++;
}
compare('ISAs', isas, gotIsas);
compare('int8 kernels', int8, gotInt8);
const notRun = [
  ...all.isas.filter((v) => !gotIsas.includes(v)).map((v) => `ISA ${v}`),
  ...all.int8.filter((v) => !gotInt8.includes(v)).map((v) => `int8 ${v}`),
];
console.log(`not run on this machine (no CPU support): ${notRun.length ? notRun.join(', ') : 'none'}`);
process.exit(bad ? 1 : 0);
