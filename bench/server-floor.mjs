// Where a batch-1 request's time goes: a waterfall from the machine's loopback floor up to the
// inference server, timed by one client in its own process, interleaved round by round.
//
//   node bench/server-floor.mjs [--model models/mnist/resnet20-any.anyprec | zoo:cnn] [--rounds 300]
//     [--compare DIR (another built checkout: its server as one more row)] [--json out.json]
//
// Every target gets the same request body (one sample of the model's input, binary) and, but for
// the ones that compute, answers with the same bytes the inference server answers with. Each
// round the server process times model.run() and runSync() (8 bits, batch 1), then the client
// sends one request to each target (the order rotating from round to round) over a kept-alive
// socket of its own. Rows:
//   tcp         a raw TCP round trip (Nagle off): the body out, the answer's bytes back
//   http        a bare node:http server answering a constant
//   http+run    node:http awaiting model.run() (body copied into a tensor, answer JSON.stringify'd)
//   fastify     bare fastify answering a constant (octet-stream parser, string reply)
//   fastify+run bare fastify awaiting model.run()
//   fastify+runSync  the same with runSync(): blocks the event loop while it computes (comparison)
//   server      @anyprec/server, POST /v1/infer, 8 bits pinned (x-bits: 8)
// bench/server.mjs imports waterfall() and prints the same table in its report.
import { fork } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

// ---------------------------------------------------------------- the client (child process)
function client() {
  let targets = [];
  let body;
  const tcpRequest = (t) => new Promise((resolve, reject) => {
    let got = 0;
    const onData = (d) => {
      got += d.length;
      if (got >= t.replyLength) {
        t.socket.off('data', onData);
        t.socket.off('error', reject);
        resolve(performance.now() - t0);
      }
    };
    t.socket.on('data', onData);
    t.socket.on('error', reject);
    const t0 = performance.now();
    t.socket.write(body);
  });
  const httpRequest = (t) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port: t.port, path: t.path, method: 'POST', agent: t.agent, headers: t.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const ms = performance.now() - t0;
        if (res.statusCode !== 200) reject(new Error(`${t.name}: HTTP ${res.statusCode} ${text}`));
        else resolve(ms);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
  const request = (t) => (t.kind === 'tcp' ? tcpRequest(t) : httpRequest(t));
  process.on('message', async (m) => {
    try {
      if (m.type === 'setup') {
        body = Buffer.from(m.body);
        for (const t of targets) t.socket?.destroy();
        targets = await Promise.all(m.targets.map(async (t) => {
          if (t.kind !== 'tcp') return { ...t, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
          const socket = net.connect({ host: '127.0.0.1', port: t.port, noDelay: true });
          await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
          return { ...t, socket };
        }));
        process.send({ ok: true });
      } else if (m.type === 'round') { // one request to each target, in m.order
        const ms = new Array(targets.length);
        for (const i of m.order) ms[i] = await request(targets[i]);
        process.send({ ms });
      } else if (m.type === 'block') { // m.n requests in a row to one target
        const t = targets[m.target];
        for (let i = 0; i < m.n; i++) await request(t);
        process.send({ ok: true });
      } else if (m.type === 'exit') {
        for (const t of targets) { t.socket?.destroy(); t.agent?.destroy(); }
        process.exit(0);
      }
    } catch (e) {
      process.send({ error: String(e?.stack ?? e) });
    }
  });
}

// ---------------------------------------------------------------- the targets (server process)
function listening(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

function readBody(req, done) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
}

/**
 * The waterfall for `model` at batch 1, 8 bits: { rounds, isa, loadAverage, runMs, runSyncMs,
 * rows: [{ name, what, median, p95 }] } (ms). `server` is a listening @anyprec/server (its URL)
 * or undefined to start one here.
 */
export async function waterfall(model, { rounds = 300, warmup = 20, cycles = 15, block = 20, serverUrl, inlineRunMs, extra = [] } = {}) {
  const anyprec = require('anyprec');
  const Fastify = require('fastify');
  const input = model.graph.input ?? { shape: model.graph.inputShape, dtype: 'float32' };
  const per = input.shape.reduce((a, b) => a * b, 1);
  const makeInput = (buf) => {
    if (input.dtype === 'uint8') return new anyprec.Uint8Tensor(new Uint8Array(buf), [1, ...input.shape]);
    const d = new Float32Array(per);
    new Uint8Array(d.buffer).set(buf);
    return new anyprec.Tensor(d, [1, ...input.shape]);
  };
  const sample = input.dtype === 'uint8'
    ? Uint8Array.from({ length: per }, (_, i) => (i * 7919) % 256)
    : Float32Array.from({ length: per }, (_, i) => ((i * 7919) % 997) / 997);
  const body = Buffer.from(sample.buffer);
  const x1 = makeInput(body);
  const answer = (y) => JSON.stringify({ logits: [Array.from(y.data)], argmax: [y.argmax()[0]], bits: { weights: 8, activations: 8 } });

  // the inline row's threshold: 2 ms, or twice the 8-bit runSync() when the model costs more (an
  // AVX2-only CPU runs the bundled model at 8 bits in ~3 ms: under 2 ms nothing would be inlined
  // and the row would time the thread-pool path again)
  if (inlineRunMs === undefined) {
    const t = [];
    for (let i = 0; i < 30; i++) { const t0 = performance.now(); model.runSync(x1, { bits: 8 }); if (i >= 10) t.push(performance.now() - t0); }
    inlineRunMs = Math.max(2, Math.ceil(20 * quantile(t, 0.5)) / 10);
  }
  const { createServer } = require('@anyprec/server');
  const own = [];
  if (!serverUrl) {
    own.push(createServer(model, { sloP95Ms: 1e6, closeModel: false, defaultMetrics: false }));
    serverUrl = await own[0].listen({ port: 0 });
  }
  // the same server with inline runs on (runSync on the event loop for calls measured under 2 ms)
  own.push(createServer(model, { sloP95Ms: 1e6, closeModel: false, defaultMetrics: false, inlineRunMs: inlineRunMs }));
  const inlineUrl = await own[own.length - 1].listen({ port: 0 });
  const serverPort = Number(new URL(serverUrl).port);
  const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'x-shape': `1,${input.shape.join(',')}`, 'x-dtype': input.dtype };

  // the constant answer: what the inference server answers to this request
  const reply = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: serverPort, path: '/v1/infer', method: 'POST', headers: { ...headers, 'x-bits': '8', connection: 'close' } }, (res) => {
      readBody(res, (b) => (res.statusCode === 200 ? resolve(b) : reject(new Error(`server: HTTP ${res.statusCode} ${b}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  const replyText = reply.toString('utf8');

  const closers = [];
  // tcp: the answer's bytes back once a whole body has arrived
  const tcp = net.createServer({ noDelay: true }, (sock) => {
    let got = 0;
    sock.on('data', (d) => {
      got += d.length;
      while (got >= body.length) { got -= body.length; sock.write(reply); }
    });
    sock.on('error', () => {});
  });
  const tcpPort = await listening(tcp);
  closers.push(() => new Promise((r) => tcp.close(r)));
  // node:http, constant and awaiting run()
  const httpServer = (handler) => http.createServer({ noDelay: true, keepAliveTimeout: 60_000 }, (req, res) => readBody(req, (b) => handler(b, res)));
  const send = (res, text) => { res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }); res.end(text); };
  const httpConst = httpServer((b, res) => send(res, replyText));
  const httpRun = httpServer((b, res) => { model.run(makeInput(b), { bits: 8 }).then(answer).then((t) => send(res, t)); });
  // fastify, constant, awaiting run() and calling runSync()
  const fastify = (handler) => {
    const app = Fastify();
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (req, b, done) => done(null, b));
    app.post('/v1/infer', handler);
    return app;
  };
  const fConst = fastify(async (req, res) => { res.type('application/json; charset=utf-8'); return replyText; });
  const fRun = fastify(async (req, res) => { res.type('application/json; charset=utf-8'); return answer(await model.run(makeInput(req.body), { bits: 8 })); });
  const fSync = fastify(async (req, res) => { res.type('application/json; charset=utf-8'); return answer(model.runSync(makeInput(req.body), { bits: 8 })); });
  const ports = {};
  for (const [name, s] of [['http', httpConst], ['http+run', httpRun]]) {
    ports[name] = await listening(s);
    closers.push(() => new Promise((r) => { s.closeAllConnections(); s.close(r); }));
  }
  for (const [name, app] of [['fastify', fConst], ['fastify+run', fRun], ['fastify+runSync', fSync]]) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    ports[name] = app.server.address().port;
    closers.push(() => app.close());
  }
  ports.server = serverPort;
  ports['server+inline'] = Number(new URL(inlineUrl).port);
  const rows = [
    { name: 'tcp', what: 'raw TCP round trip (loopback, Nagle off)' },
    { name: 'http', what: 'node:http answering a constant' },
    { name: 'http+run', what: 'node:http awaiting run()' },
    { name: 'fastify', what: 'bare fastify answering a constant' },
    { name: 'fastify+run', what: 'bare fastify awaiting run()' },
    { name: 'fastify+runSync', what: 'bare fastify calling runSync() (blocks the loop)' },
    { name: 'server', what: '@anyprec/server, POST /v1/infer, x-bits 8' },
    { name: 'server+inline', what: `the same, inlineRunMs ${inlineRunMs} (runSync on the loop when idle)`, server: true },
  ];
  rows[0].port = tcpPort;
  for (const r of rows.slice(1)) r.port = ports[r.name];
  // more servers of the same request (e.g. another checkout's, --compare)
  for (const e of extra) rows.push({ name: e.name, what: e.what, port: Number(new URL(e.url).port), server: true });

  const child = fork(fileURLToPath(import.meta.url), ['--floor-client'], { stdio: 'inherit', serialization: 'advanced' });
  const ask = (m) => new Promise((resolve, reject) => {
    child.once('message', (r) => (r.error ? reject(new Error(r.error)) : resolve(r)));
    child.send(m);
  });
  await ask({
    type: 'setup', body,
    targets: rows.map((r) => (r.name === 'tcp'
      ? { name: r.name, kind: 'tcp', port: r.port, replyLength: reply.length }
      : { name: r.name, kind: 'http', port: r.port, path: '/v1/infer', headers: r.name === 'server' || r.server ? { ...headers, 'x-bits': '8' } : headers })),
  });
  const runMs = [];
  const runSyncMs = [];
  const ms = rows.map(() => []);
  const cpuMs = rows.map(() => []);
  const runCpu = [];
  const runSyncCpu = [];
  try {
    for (let i = 0; i < warmup + rounds; i++) {
      let t0 = performance.now();
      await model.run(x1, { bits: 8 });
      const run = performance.now() - t0;
      t0 = performance.now();
      model.runSync(x1, { bits: 8 });
      const sync = performance.now() - t0;
      const order = rows.map((_, j) => (j + i) % rows.length);
      const r = await ask({ type: 'round', order });
      if (i < warmup) continue;
      runMs.push(run);
      runSyncMs.push(sync);
      r.ms.forEach((v, j) => ms[j].push(v));
    }
    // CPU time of this (the server) process per request, all threads: blocks of `block` requests
    // to one target at a time, the targets in turn; run() and runSync() alone in the same turns.
    // Scheduling delays on a busy machine do not count here, unlike in the latencies.
    const cpu = (u) => (u.user + u.system) / 1000;
    for (let c = 0; c < cycles; c++) {
      for (let j = 0; j < rows.length; j++) {
        const u0 = process.cpuUsage();
        await ask({ type: 'block', target: j, n: block });
        cpuMs[j].push(cpu(process.cpuUsage(u0)) / block);
      }
      let u0 = process.cpuUsage();
      for (let k = 0; k < block; k++) await model.run(x1, { bits: 8 });
      runCpu.push(cpu(process.cpuUsage(u0)) / block);
      u0 = process.cpuUsage();
      for (let k = 0; k < block; k++) model.runSync(x1, { bits: 8 });
      runSyncCpu.push(cpu(process.cpuUsage(u0)) / block);
    }
  } finally {
    child.send({ type: 'exit' });
    for (const c of closers) await c();
    for (const o of own) await o.close();
  }
  return {
    rounds, isa: anyprec.kernels.isa(), cpus: os.cpus().length, loadAverage: os.loadavg(),
    runMs: { p10: quantile(runMs, 0.1), median: quantile(runMs, 0.5), p95: quantile(runMs, 0.95), cpu: quantile(runCpu, 0.5) },
    runSyncMs: { p10: quantile(runSyncMs, 0.1), median: quantile(runSyncMs, 0.5), p95: quantile(runSyncMs, 0.95), cpu: quantile(runSyncCpu, 0.5) },
    rows: rows.map((r, j) => ({ name: r.name, what: r.what, p10: quantile(ms[j], 0.1), median: quantile(ms[j], 0.5), p95: quantile(ms[j], 0.95), cpu: quantile(cpuMs[j], 0.5) })),
  };
}

/**
 * The waterfall as text lines: each row's latency median and p95, its step above the row below it,
 * the server process's CPU time per request, and the goal judged two ways.
 */
export function formatWaterfall(w) {
  const f = (v) => v.toFixed(3);
  const at = (name) => w.rows.find((r) => r.name === name);
  // each row's step: a computing row above its constant twin, a constant row above the one before
  const below = { http: 'tcp', 'http+run': 'http', fastify: 'http', 'fastify+run': 'fastify', 'fastify+runSync': 'fastify', server: 'fastify+run', 'server+inline': 'fastify+runSync' };
  const run = w.runMs.median;
  const lines = [`batch 1, 8 bits, ${w.rounds} interleaved rounds, client in its own process (${w.cpus} CPUs, load average ${w.loadAverage.map((v) => v.toFixed(2)).join(' ')}; shared machine: compare within this run only)`,
    `  ${''.padEnd(16)} ${'p10'.padStart(8)} ${'median'.padStart(8)} ${'p95'.padStart(8)} ${'step'.padStart(8)} ${'CPU/req'.padStart(8)}  (ms; step: of the medians; CPU: this process, all threads)`];
  const row = (name, r, step, what) => `  ${name.padEnd(16)} ${f(r.p10).padStart(8)} ${f(r.median).padStart(8)} ${f(r.p95).padStart(8)} ${step.padStart(8)} ${f(r.cpu).padStart(8)}  ${what}`;
  lines.push(row('run()', w.runMs, '', 'the model alone (native async job)'));
  lines.push(row('runSync()', w.runSyncMs, '', 'the model alone, blocking'));
  for (const r of w.rows) {
    const under = below[r.name] ?? (r.name === 'tcp' ? undefined : 'fastify+run');
    lines.push(row(r.name, r, under ? `+${f(r.median - at(under).median)}` : '', `${r.what}${under ? ` (step: above ${under})` : ''}`));
  }
  const server = at('server').median;
  const goal = 1.3 * run + 0.2;
  const above = server - at('http+run').median;
  const allowed = 0.3 * run + 0.2;
  lines.push(`  goal: server <= 1.3 x run() + 0.2 ms = ${f(goal)} ms: ${f(server)} ms, ${server <= goal ? 'met' : 'not met'}` +
    ` (floor: tcp ${f(at('tcp').median)} ms, node:http ${f(at('http').median)} ms, node:http awaiting run() ${f(at('http+run').median)} ms)`);
  lines.push(`  above node:http awaiting run(): ${f(above)} ms; allowed 0.3 x run() + 0.2 ms = ${f(allowed)} ms: ${above <= allowed ? 'met' : 'not met'}` +
    ` · CPU per request above it: ${f(at('server').cpu - at('http+run').cpu)} ms`);
  const inline = at('server+inline').median;
  lines.push(`  with inline runs (opt-in; blocks the event loop for each call): ${f(inline)} ms, goal ${inline <= goal ? 'met' : 'not met'}` +
    ` (${f(inline - at('fastify+runSync').median)} ms above bare fastify calling runSync())`);
  return lines;
}

async function main() {
  const { loadModelSpec } = require('@anyprec/server');
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
  };
  const spec = arg('model', 'models/mnist/resnet20-any.anyprec');
  const model = await loadModelSpec(spec);
  // --compare DIR: the server of another built checkout (e.g. the main branch's), on its own copy
  // of the model and library, as one more row in the same rounds
  const extra = [];
  let other;
  const dir = arg('compare', null);
  if (dir) {
    const theirs = createRequire(`${dir.replace(/\/$/, '')}/package.json`)('./packages/server');
    const m = await theirs.loadModelSpec(spec);
    other = theirs.createServer(m, { sloP95Ms: 1e6, defaultMetrics: false });
    extra.push({ name: 'server@compare', what: `the server of ${dir}`, url: await other.listen({ port: 0 }) });
  }
  const w = await waterfall(model, { rounds: Number(arg('rounds', '300')), extra });
  await model.close();
  if (other) await other.close();
  for (const l of formatWaterfall(w)) console.log(l);
  const out = arg('json', null);
  if (out) (await import('node:fs')).writeFileSync(out, JSON.stringify(w, null, 2));
}

if (process.argv.includes('--floor-client')) client();
else if (process.argv[1] === fileURLToPath(import.meta.url)) main().catch((e) => { console.error(e); process.exit(1); });
