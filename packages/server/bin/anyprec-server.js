#!/usr/bin/env node
'use strict';
// anyprec-server <model> [--port 8080] [--host 127.0.0.1] [--slo-p95-ms 50] [--workers N]
//   [--threads T] [--model-workers M] [--max-batch B] [--inline-run-ms MS] [--body-limit-mb 32] [--log-level info]
// <model>: an anyprec model file, or zoo:<name> (random-weight demo model).
// --workers N: N server processes (node:cluster) sharing the port; each loads the same model file.

const cluster = require('node:cluster');
const os = require('node:os');

const USAGE = `usage: anyprec-server <model-file | zoo:NAME> [options]
  --port P            TCP port (default 8080; 0 = any free port)
  --host H            address to bind (default 127.0.0.1)
  --slo-p95-ms MS     p95 latency objective the precision governor keeps (default 50)
  --workers N         server processes through node:cluster (default 1)
  --threads T         kernel threads per model call (default: the library's default)
  --model-workers M   worker threads per process running model calls (default 1)
  --max-batch B       micro-batch up to B samples (default 1 = off; refused for batch-dependent models)
  --inline-run-ms MS  run a call that costs at most MS ms on the event loop when nothing else waits
                      (runSync: no thread hand-off; blocks the loop that long; default 0 = off)
  --body-limit-mb MB  largest request body (default 32)
  --log-level L       fatal|error|warn|info|debug|silent (default info)
  -h, --help`;

function fail(msg) {
  process.stderr.write(`anyprec-server: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: 8080, host: '127.0.0.1', sloP95Ms: 50, workers: 1, threads: undefined, modelWorkers: 1, maxBatch: 1, bodyLimitMb: 32, logLevel: 'info' };
  const num = (name, v, { int = true, min = 0, max = Infinity } = {}) => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max) {
      fail(`${name} must be ${int ? 'an integer' : 'a number'} in ${min}..${max}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const val = () => (a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      case '--port': o.port = num('--port', val(), { max: 65535 }); break;
      case '--host': o.host = val(); if (!o.host) fail('--host needs an address'); break;
      case '--slo-p95-ms': o.sloP95Ms = num('--slo-p95-ms', val(), { int: false, min: 0.001 }); break;
      case '--workers': o.workers = num('--workers', val(), { min: 1, max: 256 }); break;
      case '--threads': o.threads = num('--threads', val(), { min: 1, max: 256 }); break;
      case '--model-workers': o.modelWorkers = num('--model-workers', val(), { min: 1, max: 64 }); break;
      case '--max-batch': o.maxBatch = num('--max-batch', val(), { min: 1, max: 1024 }); break;
      case '--inline-run-ms': o.inlineRunMs = num('--inline-run-ms', val(), { int: false, min: 0, max: 1000 }); break;
      case '--body-limit-mb': o.bodyLimitMb = num('--body-limit-mb', val(), { int: false, min: 0.001, max: 4096 }); break;
      case '--log-level': o.logLevel = val(); break;
      default:
        if (a.startsWith('-')) fail(`unknown option ${a}`);
        rest.push(a);
    }
  }
  if (rest.length !== 1) fail(rest.length === 0 ? 'a model is required' : `one model expected, got ${rest.join(' ')}`);
  o.model = rest[0];
  return o;
}

async function serve(o) {
  const anyprec = require('anyprec');
  const { createServer, loadModelSpec } = require('../src');
  if (o.threads !== undefined) anyprec.kernels.setThreads(o.threads);
  const model = await loadModelSpec(o.model);
  const server = createServer(model, {
    sloP95Ms: o.sloP95Ms, modelWorkers: o.modelWorkers, maxBatch: o.maxBatch, bodyLimitMb: o.bodyLimitMb, inlineRunMs: o.inlineRunMs,
    logger: o.logLevel === 'silent' ? false : { level: o.logLevel },
  });
  const address = await server.listen({ port: o.port, host: o.host });
  const who = cluster.isWorker ? `worker ${process.pid}` : `pid ${process.pid}`;
  process.stdout.write(`anyprec-server: ${o.model} listening on ${address} (${who}, p95 objective ${o.sloP95Ms} ms)\n`);
  let stopping = false;
  const stop = (sig) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`anyprec-server: ${sig}: draining (${who})\n`);
    server.close().then(() => process.exit(0), (e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (cluster.isWorker) process.on('disconnect', () => stop('disconnect'));
}

function primary(o) {
  const n = Math.min(o.workers, Math.max(1, os.availableParallelism?.() ?? os.cpus().length) * 4);
  process.stdout.write(`anyprec-server: starting ${n} worker processes\n`);
  let stopping = false;
  // A worker is replaced only if it had come up (listened): one that dies while starting (a model it
  // cannot load, a port it cannot bind) would die again, so the primary does not loop on it.
  const served = new Set();
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('listening', (worker) => served.add(worker.id));
  cluster.on('exit', (worker, code, signal) => {
    const left = Object.keys(cluster.workers ?? {}).length;
    if (stopping) {
      if (left === 0) process.exit(0);
      return;
    }
    if (!served.has(worker.id)) {
      process.stderr.write(`anyprec-server: worker ${worker.process.pid} failed while starting (${signal ?? code}); not restarted\n`);
      if (left === 0) process.exit(1);
      return;
    }
    process.stderr.write(`anyprec-server: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    cluster.fork();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.workers > 1 && cluster.isPrimary) {
  primary(opts);
} else {
  serve(opts).catch((e) => {
    process.stderr.write(`anyprec-server: ${e.message}\n`);
    process.exit(1);
  });
}
