// 2 threads ÷ 1 thread per width, batch 1 and 64, before / after in ONE process: two built checkouts
// (their dist/ and addons) side by side, runSync timed in interleaved rounds (sides and thread counts
// alternate in rotating order); medians per case. Models: the bundled ResNet-20 (models/mnist) and
// the zoo's resnet20 / cnn with random weights. Each side and thread count runs its own model
// instance (the same weights and input), as a process that keeps one thread count would.
// usage: node bench/threads.cjs BEFORE_DIR AFTER_DIR [rounds=7]   ONLY=bundled:1,resnet20:64 limits to net:batch;
//        BITS=1,2 limits widths; THREADS=2 the many-thread count (default 2).
const path = require('path');
const [beforeDir, afterDir, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 7);
const many = Number(process.env.THREADS || 2);
const sides = [['before', require(path.resolve(beforeDir, 'dist'))], ['after', require(path.resolve(afterDir, 'dist'))]];
const bundled = path.resolve(__dirname, '..', 'models', 'mnist', 'resnet20-any.anyprec');
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
async function mk(lib, net, batch) {
  if (net === 'bundled') {
    const m = await lib.load(bundled);
    const input = m.graph.input ?? { shape: m.graph.inputShape, dtype: 'float32' };
    const per = input.shape.reduce((a, b) => a * b, 1) * batch;
    const x = input.dtype === 'uint8'
      ? new lib.Uint8Tensor(Uint8Array.from({ length: per }, (_, i) => (i * 7919) % 256), [batch, ...input.shape])
      : new lib.Tensor(Float32Array.from({ length: per }, (_, i) => ((i * 7919) % 997) / 997), [batch, ...input.shape]);
    return { m, x, bits: [1, 2, 4, 8, 32] };
  }
  const z = lib.zoo;
  const g = net === 'resnet20' ? z.resnet20() : z.cnn();
  const m = lib.Model.build(g, z.randomTensors(g, 7));
  const n = g.inputShape.reduce((a, b) => a * b, 1) * batch;
  const d = new Float32Array(n); let s = 12345;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; d[i] = (s >>> 8) / 16777216; }
  return { m, x: new lib.Tensor(d, [batch, ...g.inputShape]), bits: [1, 2, 4, 8, 32] };
}
(async () => {
  const only = process.env.ONLY ? process.env.ONLY.split(',') : null;
  const bitsOnly = process.env.BITS ? process.env.BITS.split(',').map(Number) : null;
  const out = [];
  for (const net of ['bundled', 'resnet20', 'cnn']) for (const batch of [1, 64]) {
    if (only && !only.includes(`${net}:${batch}`)) continue;
    // one model per side and thread count: a model's kept arenas share one memory budget, and the
    // programs of two thread counts (two batch-64 slices each) would evict each other's arenas
    const built = [];
    for (const [name, lib] of sides) {
      const perThreads = {};
      for (const t of [1, many]) perThreads[t] = await mk(lib, net, batch);
      built.push({ name, lib, perThreads, ...perThreads[1] });
    }
    for (const bits of built[0].bits) {
      if (bitsOnly && !bitsOnly.includes(bits)) continue;
      const opts = bits === 32 ? { bits: 32 } : { bits };
      const ref = built[0].m.runSync(built[0].x, opts).data;
      let same = true;
      // warm: every side at both thread counts (a program at n > 1 threads first measures its ops' widths)
      for (const s of built) for (const t of [1, many]) {
        s.lib.kernels.setThreads(t);
        const { m, x } = s.perThreads[t];
        for (let i = 0; i < 25; i++) {
          const y = m.runSync(x, opts).data;
          for (let j = 0; j < y.length; j++) if (y[j] !== ref[j]) { same = false; break; }
        }
      }
      const reps = batch === 64 ? 1 : 10;
      const times = {};
      const order = [];
      for (const s of built) for (const t of [1, many]) order.push([s, t]);
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < order.length; k++) {
          const [s, t] = order[(k + r) % order.length];
          s.lib.kernels.setThreads(t);
          const { m, x } = s.perThreads[t];
          m.runSync(x, opts);
          const t0 = process.hrtime.bigint();
          for (let i = 0; i < reps; i++) m.runSync(x, opts);
          (times[`${s.name}${t}`] ??= []).push(Number(process.hrtime.bigint() - t0) / 1e6 / reps);
        }
      }
      const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, med(v)]));
      const row = { net, batch, bits, ...m, before21: m[`before${many}`] / m.before1, after21: m[`after${many}`] / m.after1,
        after1_before1: m.after1 / m.before1, afterN_beforeN: m[`after${many}`] / m[`before${many}`], same };
      out.push(row);
      console.log(`${net.padEnd(8)} b${String(batch).padEnd(3)} ${String(bits).padStart(2)}b  ms: before 1t ${m.before1.toFixed(3)} ${many}t ${m[`before${many}`].toFixed(3)} | after 1t ${m.after1.toFixed(3)} ${many}t ${m[`after${many}`].toFixed(3)}  ` +
        `${many}t/1t before ${row.before21.toFixed(3)} after ${row.after21.toFixed(3)}  after/before 1t ${row.after1_before1.toFixed(3)} ${many}t ${row.afterN_beforeN.toFixed(3)}  same ${same}`);
    }
  }
  console.log(JSON.stringify({ rounds, many, cases: out }));
})();
