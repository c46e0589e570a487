'use strict';
// Prometheus metrics (prom-client), one registry per server (so several servers in one process,
// as in tests, do not collide). Names use the anyprec_ prefix.

const client = require('prom-client');

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

function createMetrics({ queue, governor, defaultMetrics = true }) {
  const register = new client.Registry();
  const registers = [register];
  const m = {
    register,
    requests: new client.Counter({
      name: 'anyprec_requests_total', help: 'Inference requests answered, by HTTP status code',
      labelNames: ['code'], registers,
    }),
    latency: new client.Histogram({
      name: 'anyprec_request_duration_seconds', help: 'End-to-end latency of answered inference requests (parse, queue, compute, reply)',
      buckets: LATENCY_BUCKETS, registers,
    }),
    compute: new client.Histogram({
      name: 'anyprec_compute_duration_seconds', help: 'Time of one model call (per batch), by precision',
      labelNames: ['precision'], buckets: LATENCY_BUCKETS, registers,
    }),
    precision: new client.Counter({
      name: 'anyprec_precision_chosen_total', help: 'Requests computed per precision; pinned = the request chose it',
      labelNames: ['weights', 'activations', 'pinned'], registers,
    }),
    bitOps: new client.Counter({
      name: 'anyprec_bitops_total', help: 'Bit-ops spent (sum over layers of MACs x weight bits x activation bits)', registers,
    }),
    gate: new client.Histogram({
      name: 'anyprec_gate_fraction', help: 'Per gated model call: fraction of gated outputs that got their low bits',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1], registers,
    }),
    dropped: new client.Counter({
      name: 'anyprec_dropped_total', help: 'Requests taken out of the queue uncomputed, by reason (deadline, disconnected)',
      labelNames: ['reason'], registers,
    }),
    aborted: new client.Counter({
      name: 'anyprec_aborted_total', help: 'Requests answered while their model call ran, by reason (deadline, disconnected): the call was aborted through its AbortSignal (never computed if it still waited for a worker, its result discarded if not)',
      labelNames: ['reason'], registers,
    }),
    computations: new client.Counter({
      name: 'anyprec_model_calls_total', help: 'Model calls made (a micro-batch is one call)', registers,
    }),
  };
  new client.Gauge({
    name: 'anyprec_queue_depth', help: 'Requests waiting for a compute slot', registers,
    collect() { this.set(queue.depth); },
  });
  new client.Gauge({
    name: 'anyprec_inflight', help: 'Model calls running', registers,
    collect() { this.set(queue.inflight); },
  });
  new client.Gauge({
    name: 'anyprec_governor_bits', help: "The governor's current precision", labelNames: ['kind'], registers,
    collect() {
      const p = governor.current();
      this.set({ kind: 'weights' }, p.weights);
      this.set({ kind: 'activations' }, p.activations);
    },
  });
  new client.Gauge({
    name: 'anyprec_offered_requests_per_second', help: "Arrival rate the governor steers by (over its window)", registers,
    collect() {
      const r = typeof governor.rate === 'function' ? governor.rate() : NaN;
      if (Number.isFinite(r)) this.set(r);
    },
  });
  new client.Gauge({
    name: 'anyprec_slo_p95_seconds', help: 'The p95 latency objective', registers,
    collect() { this.set(governor.slo / 1000); },
  });
  new client.Gauge({
    name: 'anyprec_precision_cost_seconds', help: 'Measured compute cost per request of each offered precision',
    labelNames: ['weights', 'activations', 'tradeable'], registers,
    collect() {
      const d = governor.describe();
      for (const [list, t] of [[d.tradeable, 'true'], [d.notTradeable, 'false']]) {
        for (const e of list) if (Number.isFinite(e.costMs)) this.set({ weights: e.weights, activations: e.activations, tradeable: t }, e.costMs / 1000);
      }
    },
  });
  if (defaultMetrics) client.collectDefaultMetrics({ register, prefix: 'anyprec_process_' });
  return m;
}

module.exports = { createMetrics, client };
