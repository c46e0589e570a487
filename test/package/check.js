// Run inside an app that installed the packed anyprec tarball (x64 node, or arm64 node under
// qemu): the addon must load from the shipped prebuild and compute exact results.
'use strict';
const path = require('path');
const assert = require('assert');
const { kernels } = require('anyprec');

const root = path.dirname(require.resolve('anyprec/package.json'));
const binary = require('node-gyp-build').path(root);
let failures = 0;
function check(name, fn) {
  try {
    fn();
    console.log(`ok - ${process.arch} ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${process.arch} ${name}: ${e.message}`);
  }
}

check('loads the shipped prebuild', () => {
  assert.match(binary, new RegExp(`prebuilds[\\\\/]linux-${process.arch}[\\\\/]`));
});
check(`isa ${kernels.isa()} computes exact bitGemm`, () => {
  const m = 3, n = 11, k = 130;
  let s = 7;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 16) & 7;
  const a = new Uint8Array(m * k).map(rnd), b = new Uint8Array(n * k).map(rnd);
  for (const isa of kernels.availableIsas()) {
    kernels.setIsa(isa);
    const c = kernels.bitGemm(kernels.pack(a, m, k, 3), kernels.pack(b, n, k, 3),
      { aEncoding: 'unsigned', bEncoding: 'bipolar' });
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let want = 0;
      for (let t = 0; t < k; t++) want += a[i * k + t] * (2 * b[j * k + t] - 7);
      assert.strictEqual(c[i * n + j], want, `${isa} C[${i}][${j}]`);
    }
  }
});
process.exitCode = failures ? 1 : 0;
