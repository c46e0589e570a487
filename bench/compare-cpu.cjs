// Before/after CPU time in ONE process, for a shared machine where wall times are noise: two built
// checkouts loaded side by side, ResNet-20 (zoo, random weights, seed 7) runSync at the given
// batch:bits cases, interleaved round by round; per side the process CPU time (user + system: page
// faults included) per call, median over the rounds, and the after/before ratio. Load average
// printed beside it. usage: node bench/compare-cpu.cjs BEFORE_DIR AFTER_DIR [cases=1:1,1:2,64:1,64:2] [rounds=30]
const path = require('path');
const os = require('os');
const [beforeDir, afterDir, casesArg = '1:1,1:2,64:1,64:2', roundsArg = '30'] = process.argv.slice(2);
if (!beforeDir || !afterDir) {
  console.error('usage: node bench/compare-cpu.cjs BEFORE_DIR AFTER_DIR [batch:bits,...] [rounds]');
  process.exit(2);
}
const libs = [require(path.resolve(beforeDir, 'dist')), require(path.resolve(afterDir, 'dist'))];
const rounds = Number(roundsArg);

function resnet(lib, batch) {
  const g = lib.zoo.resnet20();
  const x = new Float32Array(3 * 32 * 32 * batch);
  let s = 12345;
  for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = (s >>> 8) / 16777216; }
  return { model: lib.Model.build(g, lib.zoo.randomTensors(g, 7)), x: new lib.Tensor(x, [batch, 3, 32, 32]) };
}
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
for (const c of casesArg.split(',')) {
  const [batch, bits] = c.split(':').map(Number);
  const sides = libs.map((lib) => resnet(lib, batch));
  const reps = batch >= 64 ? 2 : 40;
  const cpu = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const i of r % 2 ? [1, 0] : [0, 1]) {
      const start = process.cpuUsage();
      for (let k = 0; k < reps; k++) sides[i].model.runSync(sides[i].x, { bits });
      const used = process.cpuUsage(start);
      cpu[i].push((used.user + used.system) / 1e3 / reps);
    }
  }
  const [b, a] = cpu.map(median);
  console.log(`resnet20 batch ${batch} ${bits} bits: CPU ms per call before ${b.toFixed(3)} after ${a.toFixed(3)} after/before ${(a / b).toFixed(3)}`);
}
console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}`);
