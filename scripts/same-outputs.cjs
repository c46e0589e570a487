// Bit-identity of two built checkouts of anyprec on the zoo networks: the same weights and inputs
// through both, every precision, batches 1/3/17/64 called in an interleaved order and repeated
// (so a build that keeps buffers between calls is checked on reused buffers, across batch sizes and
// precisions), runSync and run(). Exits 1 on the first difference.
// usage: node scripts/same-outputs.cjs BEFORE_DIR AFTER_DIR   (each dir: npm run build done)
const path = require('path');
const [beforeDir, afterDir] = process.argv.slice(2);
if (!beforeDir || !afterDir) {
  console.error('usage: node scripts/same-outputs.cjs BEFORE_DIR AFTER_DIR');
  process.exit(2);
}
const A = require(path.resolve(beforeDir, 'dist')), B = require(path.resolve(afterDir, 'dist'));

function input(shape, batch, seed) {
  const n = shape.reduce((a, b) => a * b, 1) * batch;
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = (s >>> 8) / 16777216 * 1.5 - 0.25; }
  return x;
}
function build(lib, net) {
  const z = lib.zoo;
  const g = net === 'resnet20' ? z.resnet20() : net === 'cnn' ? z.cnn() : net === 'mlp' ? z.mlp()
    : net === 'svhn' ? z.svhnq(1) : z.gatedPreactResnet({ bits: 4, highBits: 2 });
  return { g, m: lib.Model.build(g, z.randomTensors(g, 7)) };
}
function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}
(async () => {
  let checked = 0;
  for (const net of ['resnet20', 'cnn', 'mlp', 'svhn', 'gated']) {
    const a = build(A, net), b = build(B, net);
    const bits = net === 'gated' ? [4] : a.g.bitList;
    const batches = net === 'svhn' ? [1, 3] : [1, 3, 17, 64, 3, 1];
    for (let round = 0; round < 2; round++) {
      for (const n of batches) {
        for (const bit of bits) {
          const x = input(a.g.inputShape, n, 1000 * n + bit + round);
          const ya = a.m.runSync(new A.Tensor(x, [n, ...a.g.inputShape]), { bits: bit }).data;
          const tb = new B.Tensor(x, [n, ...b.g.inputShape]);
          const yb = b.m.runSync(tb, { bits: bit }).data;
          const yb2 = (await b.m.run(tb, { bits: bit })).data;
          if (!same(ya, yb) || !same(ya, yb2)) {
            console.error(`DIFFERENT: ${net} batch ${n} bits ${bit} round ${round}`);
            process.exit(1);
          }
          checked++;
        }
      }
    }
    await b.m.close?.();
  }
  console.log(`same outputs: ${checked} cases`);
  process.exit(0);
})();
