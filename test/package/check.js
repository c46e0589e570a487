// Run inside an app that installed the packed anyprec tarball (x64 node, or arm64 node under
// qemu): the addon must load from the shipped prebuild and compute exact results. Every step,
// the require included, runs inside a check, so a prebuild that fails to load prints "not ok".
'use strict';
const path = require('path');
const assert = require('assert');

let failures = 0;
function check(name, fn) {
  try {
    fn();
    console.log(`ok - ${process.arch} node ${process.versions.node} ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${process.arch} node ${process.versions.node} ${name}: ${String(e && e.message).split('\n')[0]}`);
  }
}

let anyprec;
check('require("anyprec") loads', () => {
  anyprec = require('anyprec');
  assert.strictEqual(typeof anyprec.kernels.bitGemm, 'function');
});
check('loads the shipped prebuild', () => {
  const root = path.dirname(require.resolve('anyprec/package.json'));
  const binary = require('node-gyp-build').path(root);
  assert.match(binary, new RegExp(`prebuilds[\\\\/]linux-${process.arch}[\\\\/]`));
});
check('every available ISA computes exact bitGemm', () => {
  assert.ok(anyprec, 'anyprec did not load');
  const { kernels } = anyprec;
  const m = 3, n = 11, k = 130;
  let s = 7;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16) & 7;
  const a = new Uint8Array(m * k).map(rnd), b = new Uint8Array(n * k).map(rnd);
  const isas = kernels.availableIsas();
  for (const isa of isas) {
    kernels.setIsa(isa);
    const c = kernels.bitGemm(kernels.pack(a, m, k, 3), kernels.pack(b, n, k, 3),
      { aEncoding: 'unsigned', bEncoding: 'bipolar' });
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let want = 0;
      for (let t = 0; t < k; t++) want += a[i * k + t] * (2 * b[j * k + t] - 7);
      assert.strictEqual(c[i * n + j], want, `${isa} C[${i}][${j}]`);
    }
  }
  console.log(`# ${process.arch} ISAs checked: ${isas.join(', ')}`);
});
process.exitCode = failures ? 1 : 0;
