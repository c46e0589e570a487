'use strict';
// createServer(model, options): the HTTP face of a model (fastify), its queue, its precision
// governor and its metrics.

const path = require('path');
const fs = require('fs');
const Fastify = require('fastify');
const { Governor } = require('./governor');
const { InferenceQueue, HttpError } = require('./queue');
const { createMetrics } = require('./metrics');
const { fromJson, fromBinary, GATES, inputSpec, sampleInput } = require('./input');
const { RateLimitedLog } = require('./ratelog');

const PUBLIC = path.join(__dirname, '..', 'public');

/** Ops whose result for one sample depends on the other samples of the batch. */
const BATCH_DEPENDENT_OPS = new Set(['dynquantize']);

/** model -> the worker count a server set on it (a model starts with 1) */
const workersSet = new WeakMap();

function batchDependent(graph) {
  return graph.nodes.filter((n) => BATCH_DEPENDENT_OPS.has(n.op)).map((n) => n.name);
}

function isGated(node) {
  return node.op === 'pgconv2d' || ((node.op === 'qconv2d' || node.op === 'qlinear') && !!node.gate);
}

const inferBodySchema = {
  type: 'object',
  required: ['shape', 'data'],
  additionalProperties: false,
  properties: {
    shape: { type: 'array', minItems: 2, maxItems: 4, items: { type: 'integer', minimum: 1 } },
    data: { type: 'array', items: { type: 'number' } },
    bits: {
      anyOf: [
        { type: 'integer' },
        {
          type: 'object', required: ['weights', 'activations'], additionalProperties: false,
          properties: { weights: { type: 'integer' }, activations: { type: 'integer' } },
        },
      ],
    },
    gate: { type: 'string', enum: GATES },
    gateOffset: { type: 'number' },
    deadlineMs: { type: 'number', exclusiveMinimum: 0 },
  },
};

function formatSchemaErrors(errors, dataVar) {
  const e = errors.find((x) => x.keyword === 'anyOf') ?? errors[0];
  const where = `${dataVar}${e.instancePath.replace(/\//g, '.')}`;
  let msg = `${where} ${e.message}`;
  if (e.keyword === 'additionalProperties') msg = `${where} has an unknown field '${e.params.additionalProperty}'`;
  if (e.keyword === 'enum') msg += ` (${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')})`;
  if (e.keyword === 'anyOf' && e.instancePath.endsWith('/bits')) msg = `${where} must be a bit-width or { weights, activations }`;
  const err = new Error(msg);
  err.statusCode = 400;
  err.code = 'BAD_REQUEST';
  return err;
}

/** The default offer: the model's integer bit-widths, weights = activations. */
function defaultPrecisions(graph) {
  return graph.bitList.filter((b) => b >= 1 && b <= 8).map((b) => ({ weights: b, activations: b }));
}

/** A number as JSON.stringify writes it (non-finite: null). */
function jsonNumber(v) {
  return Number.isFinite(v) ? String(v) : 'null';
}

/**
 * The answer to POST /v1/infer as JSON text, written directly: the same text JSON.stringify gives
 * for { logits, argmax, bits, pinned, bitOps, ms, queueMs, computeMs, gateFraction? } without
 * building the arrays and objects first (each row's argmax as Tensor.argmax: the first largest).
 */
function answerJson(r, ms) {
  const y = r.output;
  const f = r.features;
  let logits = '';
  let argmax = '';
  for (let i = 0; i < r.n; i++) {
    const o = i * f;
    let row = jsonNumber(y[o]);
    let best = 0;
    for (let j = 1; j < f; j++) {
      row += ',' + jsonNumber(y[o + j]);
      if (y[o + j] > y[o + best]) best = j;
    }
    logits += (i ? ',[' : '[') + row + ']';
    argmax += (i ? ',' : '') + best;
  }
  let s = `{"logits":[${logits}],"argmax":[${argmax}],"bits":{"weights":${r.precision.weights},"activations":${r.precision.activations}},` +
    `"pinned":${!!r.pinned},"bitOps":${jsonNumber(r.bitOps)},"ms":${jsonNumber(ms)},"queueMs":${jsonNumber(r.queueMs)},"computeMs":${jsonNumber(r.computeMs)}`;
  if (r.gate && r.gate.layers.length) s += `,"gateFraction":${jsonNumber(r.gate.fraction)}`;
  return s + '}';
}

function quantile(xs, q) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/**
 * @param {import('anyprec').Model} model
 * @param {object} [options] see index.d.ts
 */
function createServer(model, options = {}) {
  if (!model || typeof model.runDetailed !== 'function' || !model.graph) {
    throw new TypeError('model must be an anyprec Model');
  }
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const clock = options.clock ?? (() => performance.now());
  const graph = model.graph;
  const gatedLayers = graph.nodes.filter(isGated).map((n) => n.name);
  const dependent = batchDependent(graph);
  const concurrency = options.modelWorkers ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new RangeError(`modelWorkers must be an integer in 1..64, got ${String(options.modelWorkers)}`);
  }
  // setWorkers restarts the model's worker pool (the first call after it pays for a worker start
  // and plan builds): only when this differs from what a server last asked of this model.
  if ((workersSet.get(model) ?? 1) !== concurrency) {
    model.setWorkers(concurrency);
    workersSet.set(model, concurrency);
  }
  let maxBatch = options.maxBatch ?? 1;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${String(options.maxBatch)}`);
  if (maxBatch > 1 && dependent.length > 0) {
    throw new RangeError(`maxBatch > 1 (micro-batching) is refused for this model: its answers depend on the batch (dynamic per-batch activation scales in ${dependent.join(', ')})`);
  }
  if (options.batching !== undefined && options.batching !== 'auto' && options.batching !== 'on') {
    throw new RangeError(`batching must be 'auto' or 'on', got ${JSON.stringify(options.batching)}`);
  }
  const batching = { requested: maxBatch, enabled: maxBatch > 1, reason: maxBatch > 1 ? 'requested; kept if calibration shows a batch is cheaper per sample' : 'off (opt-in with maxBatch > 1)' };
  const inlineRunMs = options.inlineRunMs ?? 0;
  if (typeof inlineRunMs !== 'number' || !Number.isFinite(inlineRunMs) || inlineRunMs < 0) {
    throw new RangeError(`inlineRunMs must be a finite number of ms >= 0 (0: off), got ${String(options.inlineRunMs)}`);
  }
  const maxSamples = options.maxSamplesPerRequest ?? 64;
  const bodyLimit = Math.round((options.bodyLimitMb ?? 32) * 1024 * 1024);
  const sloP95Ms = options.sloP95Ms ?? 50;
  const precisions = options.precisions ?? defaultPrecisions(graph);
  for (const p of precisions) {
    if (!graph.bitList.includes(p.weights) || !graph.bitList.includes(p.activations)) {
      throw new RangeError(`precisions: w${p.weights}a${p.activations} is not offered by this model (bitList ${graph.bitList.join(', ')})`);
    }
  }
  const governor = options.governor ?? new Governor({
    sloP95Ms, precisions, clock, concurrency, ...(options.governorOptions ?? {}),
    gateOffsetFor: gatedLayers.length ? options.gateOffsetFor : undefined,
  });

  const log = options.logger === undefined ? false : options.logger;
  const app = Fastify({
    logger: log,
    logController: new Fastify.LogController({ disableRequestLogging: true }), // errors go through the rate-limited log
    bodyLimit,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    connectionTimeout: options.connectionTimeoutMs ?? 0,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false } },
    schemaErrorFormatter: formatSchemaErrors,
  });
  const rlog = new RateLimitedLog(app.log, options.logsPerSecond ?? 5, clock);

  let metrics;
  // prom-client children, the labels resolved once rather than per request
  const computeByPrecision = {};
  const precisionChosen = {};
  const queue = new InferenceQueue(model, {
    governor, concurrency, maxBatch: 1, clock, detailed: gatedLayers.length > 0,
    // inlineRunMs: a call whose measured cost is at most this runs as runSync on the event loop
    // (when nothing else waits or computes): no hand-off to the kernel threads and back
    inline: inlineRunMs > 0 && typeof governor.costOf === 'function'
      ? (p, samples) => governor.costOf(p) * samples <= inlineRunMs : undefined,
    onComputed: (ev) => {
      metrics.computations.inc();
      (computeByPrecision[`w${ev.precision.weights}a${ev.precision.activations}`] ??= metrics.compute.labels(`w${ev.precision.weights}a${ev.precision.activations}`)).observe(ev.computeMs / 1000);
      metrics.bitOps.inc(ev.stats.bitOps);
      if (ev.stats.gate && ev.stats.gate.layers.length) metrics.gate.observe(ev.stats.gate.fraction);
    },
    onDropped: (reason) => metrics.dropped.inc({ reason }),
    onAborted: (reason) => metrics.aborted.inc({ reason }),
  });
  metrics = createMetrics({ queue, governor, defaultMetrics: options.defaultMetrics ?? true });

  const state = { ready: false, closing: false, calibration: null };
  // The status feed: one point a second of request rate, p50 / p95 and the precision in use.
  const feed = [];
  let lat = [];
  let count = 0;
  let bitsSum = 0;
  const sample = () => {
    const p = governor.current();
    feed.push({ t: Date.now(), rps: count, p50: quantile(lat, 0.5), p95: quantile(lat, 0.95), sloMs: governor.slo,
      bits: { weights: p.weights, activations: p.activations }, meanActivationBits: count ? bitsSum / count : null, queue: queue.depth });
    if (feed.length > 300) feed.shift();
    lat = []; count = 0; bitsSum = 0;
  };
  const sampler = setInterval(sample, 1000);
  sampler.unref();

  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit }, (req, body, done) => done(null, body));

  app.setErrorHandler((err, request, reply) => {
    let status = err.statusCode ?? 500;
    if (err.validation) status = 400;
    if (status >= 500 && status !== 503 && status !== 504) rlog.error('server', { err }, 'request failed');
    else if (status !== 499) rlog.warn(`client-${status}`, { status, msg: err.message }, 'rejected request');
    const code = status === 413 ? 'BODY_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE'
      : err.code && !String(err.code).startsWith('FST_') ? err.code : status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
    let message = err.message;
    if (status === 413) message = `the body is larger than the limit of ${bodyLimit} bytes (--body-limit-mb)`;
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err instanceof SyntaxError)) message = `the body is not valid JSON: ${err.message}`;
    if (request.routeOptions.url === '/v1/infer' && status !== 499) countAnswer(status); // 499: nobody to answer
    closeWhenDraining(reply);
    reply.code(status).send({ error: code, message, statusCode: status });
  });
  app.setNotFoundHandler((request, reply) => {
    closeWhenDraining(reply);
    reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${request.method} ${request.url}`, statusCode: 404 });
  });

  /** prom-client children per status code: the label resolved once, not per request */
  const requestsByCode = {};
  const countAnswer = (code) => (requestsByCode[code] ??= metrics.requests.labels(String(code))).inc();
  // One hook only, onRequest (the arrival time). The answer's metrics are counted where it is
  // made (the infer handler, the error handler), and the connection: close of draining is set by
  // each handler: an onResponse hook makes fastify add and remove two listeners per response and
  // an onSend hook runs a hook chain per answer, ~20 us of CPU per request together (Zen 3,
  // fastify.inject, instant model). The hook takes a callback, not an async function: an async
  // hook costs a promise and a microtask hop per request.
  app.addHook('onRequest', (request, reply, done) => { request.t0 = clock(); done(); });
  // While draining, answers close their connection: a keep-alive socket would hold close() open
  // until its timeout.
  function closeWhenDraining(reply) {
    if (state.closing) reply.header('connection', 'close');
  }

  // what a request may hold, and the binary header sets already checked (input.js)
  const limits = { maxSamples, gated: gatedLayers.length > 0, headerCache: new Map() };
  app.post('/v1/infer', {
    schema: { body: { content: { 'application/json': { schema: inferBodySchema } } } },
  }, async (request, reply) => {
    if (!state.ready) await ready();
    const binary = Buffer.isBuffer(request.body);
    const parsed = binary ? fromBinary(request.body, request.headers, model, limits) : fromJson(request.body, model, limits);
    const deadline = parsed.deadlineMs !== undefined ? request.t0 + parsed.deadlineMs : undefined;
    const handle = queue.submit({ x: parsed.x, pinned: parsed.pinned, gate: parsed.gate, gateOffset: parsed.gateOffset, deadline });
    let r;
    if (handle.settled()) { // computed inline, within submit(): no client to watch
      r = await handle.promise;
    } else {
      const onClose = () => { if (!reply.raw.writableFinished) handle.cancel('disconnected'); };
      reply.raw.on('close', onClose);
      try {
        r = await handle.promise;
      } finally {
        reply.raw.off('close', onClose);
      }
    }
    const ms = clock() - request.t0;
    governor.record(r.precision, ms, r.computeMs * r.n / r.batch);
    const pk = `${r.precision.weights},${r.precision.activations},${!!r.pinned}`;
    (precisionChosen[pk] ??= metrics.precision.labels(String(r.precision.weights), String(r.precision.activations), String(!!r.pinned))).inc();
    lat.push(ms); count++; bitsSum += r.precision.activations;
    countAnswer(200);
    metrics.latency.observe(ms / 1000);
    closeWhenDraining(reply);
    reply.type('application/json; charset=utf-8');
    return answerJson(r, ms);
  });

  app.get('/v1/model', async (request, reply) => {
    closeWhenDraining(reply);
    const ops = {};
    for (const n of graph.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
    const top = governor.current();
    let perSample = null;
    try { perSample = model.bitOps(1, { bits: top }); } catch { /* precision not plannable: leave it out */ }
    return {
      inputShape: graph.inputShape, input: inputSpec(model), bitList: graph.bitList, weightMode: graph.weightMode,
      nodes: graph.nodes.length, ops, gatedLayers, batchDependent: dependent.length > 0, batchDependentLayers: dependent,
      macsPerSample: perSample?.macs ?? null, bitOpsPerSample: perSample?.bitOps ?? null,
      precision: { weights: top.weights, activations: top.activations },
      modelDefault: model.getPrecision().model,
      governor: governor.describe(), batching, inlineRunMs, modelWorkers: concurrency, maxSamplesPerRequest: maxSamples, bodyLimitBytes: bodyLimit,
      calibration: state.calibration,
    };
  });
  app.get('/v1/status', async (request, reply) => {
    closeWhenDraining(reply);
    return { sloP95Ms: governor.slo, points: feed, governor: governor.describe() };
  });
  app.get('/metrics', async (request, reply) => {
    closeWhenDraining(reply);
    reply.header('content-type', metrics.register.contentType);
    return metrics.register.metrics();
  });
  app.get('/healthz', async (request, reply) => {
    closeWhenDraining(reply);
    return { status: 'ok', pid: process.pid };
  });
  app.get('/readyz', async (request, reply) => {
    closeWhenDraining(reply);
    if (state.closing) return reply.code(503).send({ status: 'draining' });
    if (!state.ready) return reply.code(503).send({ status: 'starting' });
    return { status: 'ready', queueDepth: queue.depth };
  });
  const page = fs.existsSync(path.join(PUBLIC, 'index.html')) ? fs.readFileSync(path.join(PUBLIC, 'index.html')) : null;
  app.get('/', async (request, reply) => {
    closeWhenDraining(reply);
    if (!page) return reply.code(404).send({ error: 'NOT_FOUND', message: 'no status page', statusCode: 404 });
    reply.type('text/html; charset=utf-8');
    return page;
  });

  // Calibration: the cost of each offered precision (batch 1, through the worker threads), so
  // the governor knows what it can trade before the first request; and whether a batch is cheaper
  // per sample (micro-batching stays on only then).
  let readyPromise;
  // the call the queue makes for traffic (run(), or runDetailed() for a gated model)
  const modelCall = (x, o) => (queue.detailed ? model.runDetailed(x, o) : model.run(x, o));
  function ready() {
    readyPromise ??= (async () => {
      const reps = options.calibrationRuns ?? 5;
      const x1 = sampleInput(model, 1);
      const costs = {};
      if (reps > 0) {
        for (const p of precisions) {
          await modelCall(x1, { bits: p }); // starts the workers and builds this precision's plan: not timed
          const t = [];
          for (let i = 0; i < reps; i++) {
            const t0 = clock();
            await modelCall(x1, { bits: p });
            t.push(clock() - t0);
          }
          costs[`w${p.weights}a${p.activations}`] = quantile(t, 0.5);
          governor.record(p, NaN, quantile(t, 0.5));
        }
        governor.window.length = 0; // calibration runs are not traffic
        if (maxBatch > 1) {
          const k = Math.min(maxBatch, 8);
          const xk = sampleInput(model, k);
          const top = governor.current();
          const t = [];
          await modelCall(xk, { bits: top });
          for (let i = 0; i < reps; i++) {
            const t0 = clock();
            await modelCall(xk, { bits: top });
            t.push(clock() - t0);
          }
          const perSample = quantile(t, 0.5) / k;
          const single = costs[`w${top.weights}a${top.activations}`];
          batching.enabled = options.batching === 'on' || perSample < 0.9 * single;
          batching.reason = `batch of ${k}: ${perSample.toFixed(3)} ms/sample vs ${single.toFixed(3)} ms at batch 1: ${batching.enabled ? 'on' : 'off (no gain)'}`;
        }
      }
      if (reps === 0 && maxBatch > 1) {
        batching.enabled = options.batching === 'on';
        batching.reason = batching.enabled ? 'forced on (batching: on)' : 'off: not calibrated (calibrationRuns 0)';
      }
      queue.maxBatch = batching.enabled ? maxBatch : 1;
      state.calibration = { runs: reps, costsMs: costs };
      state.ready = true;
    })();
    return readyPromise;
  }

  let closePromise;
  const server = {
    app, governor, queue, metrics, model,
    /** Calibrates (once); resolves when /readyz says ready. */
    ready: async () => { await ready(); await app.ready(); return server; },
    /** Starts listening (default 127.0.0.1, port 0 = any); resolves the address. */
    listen: async ({ port = 0, host = '127.0.0.1' } = {}) => {
      await server.ready();
      return app.listen({ port, host });
    },
    /**
     * Graceful stop: /readyz says draining at once; after graceMs (time for a load balancer to
     * notice) the listener closes, requests in flight finish, then the model's workers stop.
     */
    close: ({ graceMs = 0 } = {}) => {
      closePromise ??= (async () => {
        state.closing = true; // /readyz answers 503 from now on: load balancers stop sending
        if (graceMs > 0) await new Promise((r) => setTimeout(r, graceMs));
        await app.close();
        await queue.idle();
        clearInterval(sampler);
        rlog.flush();
        if (options.closeModel !== false) await model.close();
      })();
      return closePromise;
    },
    get address() { return app.server.address(); },
  };
  return server;
}

module.exports = { createServer, batchDependent, defaultPrecisions, HttpError, answerJson };
