// Before/after in ONE process: two built checkouts of anyprec (two addon files, two lib trees) loaded
// side by side, the same zoo networks, weights and inputs, runSync timed interleaved round by round
// (alternating which side goes first); medians and the after/before ratio per case, and whether both
// give the same output bit for bit. A shared, noisy machine moves both sides alike.
// usage: node bench/compare-builds.cjs BEFORE_DIR AFTER_DIR [rounds=15]   (each dir: npm run build done;
//        a checkout of an older commit: git worktree add ../before <rev> && cd ../before && npm ci && npm run build)
//        ONLY=resnet20:1:2,cnn:64:8 limits it to net:batch:bits cases. THREADS=n runs both sides at n kernel
//        threads (default 1); the first runs of a program at n > 1 (Program::kMeasureRuns) measure its ops' threads: run untimed first.
const [beforeDir, afterDir, roundsArg] = process.argv.slice(2);
const path = require('path');
const A = require(path.resolve(beforeDir, 'dist')), B = require(path.resolve(afterDir, 'dist'));
const rounds = Number(roundsArg || 15);
const threads = Number(process.env.THREADS || 1);
for (const lib of [A, B]) lib.kernels.setThreads(threads);
function mk(lib, name, batch) {
  const z = lib.zoo;
  const g = name === 'resnet20' ? z.resnet20() : name === 'cnn' ? z.cnn() : name === 'mlp' ? z.mlp() : z.gatedPreactResnet({ bits: 4, highBits: 2 });
  const m = lib.Model.build(g, z.randomTensors(g, 7));
  const shape = g.inputShape;
  const n = shape.reduce((a, b) => a * b, 1) * batch;
  const x = new Float32Array(n); let s = 12345;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = (s >>> 8) / 16777216; }
  return { m, t: new lib.Tensor(x, [batch, ...shape]) };
}
const cases = [];
for (const [net, batches, bits] of [['resnet20', [1, 64], [1, 2, 4, 8, 32]], ['cnn', [1, 64], [1, 2, 4, 8, 32]], ['mlp', [1, 64], [1, 2, 8]]])
  for (const b of batches) for (const bit of bits) cases.push({ net, b, bit });
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const out = [];
const built = new Map();
const only = process.env.ONLY; for (const c of cases) { if (only && !only.split(',').includes(c.net + ':' + c.b + ':' + c.bit)) continue;
  const key = c.net + c.b;
  if (!built.has(key)) built.set(key, [mk(A, c.net, c.b), mk(B, c.net, c.b)]);
  const [a, b] = built.get(key);
  const opts = { bits: c.bit };
  // same answers (the restructure changes no result)
  const ya = a.m.runSync(a.t, opts).data, yb = b.m.runSync(b.t, opts).data;
  let same = ya.length === yb.length; for (let i = 0; same && i < ya.length; i++) if (ya[i] !== yb[i] && !(Number.isNaN(ya[i]) && Number.isNaN(yb[i]))) same = false;
  if (threads > 1) for (let i = 0; i < 25; i++) for (const side of [a, b]) side.m.runSync(side.t, opts);
  const reps = c.b === 64 ? 1 : 5;
  const ta = [], tb = [];
  for (let r = 0; r < rounds; r++) {
    for (const [side, arr] of (r % 2 ? [[b, tb], [a, ta]] : [[a, ta], [b, tb]])) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) side.m.runSync(side.t, opts);
      arr.push(Number(process.hrtime.bigint() - t0) / 1e6 / reps);
    }
  }
  const row = { net: c.net, batch: c.b, bits: c.bit, beforeMs: med(ta), afterMs: med(tb), ratio: med(tb) / med(ta), sameOutput: same };
  out.push(row);
  console.log(`${c.net.padEnd(9)} b${String(c.b).padEnd(3)} ${String(c.bit).padStart(2)} bits  before ${row.beforeMs.toFixed(3)} ms  after ${row.afterMs.toFixed(3)} ms  after/before ${row.ratio.toFixed(3)}  same output: ${same}`);
}
console.log(JSON.stringify({ rounds, cases: out }));
