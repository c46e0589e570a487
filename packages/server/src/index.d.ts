import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Model } from 'anyprec';

export interface Precision { weights: number; activations: number }

export interface GovernorOptions {
  sloP95Ms: number;
  precisions: Precision[];
  /** Initial cost per precision key ('w8a8'), ms per request. */
  costs?: Record<string, number>;
  clock?: () => number;
  concurrency?: number;
  windowMs?: number;
  intervalMs?: number;
  upHoldMs?: number;
  downAt?: number;
  upAt?: number;
  minSamples?: number;
  alpha?: number;
  minSaving?: number;
  /** A cost not measured for this long does not block a step up (default 5000). */
  staleMs?: number;
  /** Steps up only when offered rate × cost / concurrency at the level up is at most this (default 0.9). */
  upUtilization?: number;
  /** A level that failed at arrival rate r is not stepped onto while the rate is above upRate·r (default 0.85)... */
  upRate?: number;
  /** ...for this long after it failed (default 20000 ms), doubled on each quick repeat failure up to maxLimitMs (default 8 × limitMs). */
  limitMs?: number;
  maxLimitMs?: number;
  gateOffsetFor?: (p: Precision, pressure: number) => number | undefined;
}

export interface LadderEntry extends Precision { costMs: number; samples: number }

export interface GovernorState {
  sloP95Ms: number;
  current: Precision;
  level: number;
  tradeable: LadderEntry[];
  notTradeable: Array<LadderEntry & { reason: string }>;
  changes: number;
  /** Offered requests per second over the window (NaN until enough arrived). */
  arrivalRatePerS: number;
  /** Levels held away by the rate they failed at, while that memory holds. */
  rateLimits: Array<{ precision: string; failedAtPerS: number; untilInMs: number }>;
  /** The last level changes (up to 32): when (clock ms), from and to which precision, why, the rate and p95 then. */
  recentChanges: Array<{ atMs: number; from?: string; to: string; why: string; ratePerS: number; p95Ms: number }>;
}

export class Governor {
  constructor(o: GovernorOptions);
  readonly slo: number;
  current(): Precision;
  describe(): GovernorState;
  record(precision: Precision, latencyMs: number, computeMs: number): void;
  /** Counts one arriving request (the server's queue calls it): the offered rate it steers by. */
  arrive(): void;
  /** Offered requests per second over the window; NaN until enough arrived. */
  rate(now?: number): number;
  choose(queued?: number, pinned?: Precision): { precision: Precision; pinned: boolean; gateOffset?: number; predictedMs: number };
  p95(now?: number): number;
  /** The measured cost (ms per request) of an offered precision; NaN when unknown. */
  costOf(precision: Precision): number;
}

export interface ServerOptions {
  sloP95Ms?: number;
  modelWorkers?: number;
  maxBatch?: number;
  batching?: 'auto' | 'on';
  /**
   * Opt-in, for small models only (default 0 = off): a call whose measured cost (the calibration,
   * then the governor's running estimate) is at most this many ms runs as runSync on the event loop
   * when nothing else is queued or computing: no hand-off to the kernel threads and back (two thread
   * wake-ups), at the price of blocking the event loop for that long.
   */
  inlineRunMs?: number;
  maxSamplesPerRequest?: number;
  bodyLimitMb?: number;
  precisions?: Precision[];
  governor?: Governor;
  governorOptions?: Partial<GovernorOptions>;
  gateOffsetFor?: (p: Precision, pressure: number) => number | undefined;
  calibrationRuns?: number;
  logger?: boolean | object;
  logsPerSecond?: number;
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
  defaultMetrics?: boolean;
  clock?: () => number;
  closeModel?: boolean;
}

export interface AnyprecServer {
  app: FastifyInstance;
  governor: Governor;
  queue: { depth: number; inflight: number; computations: number; idle(): Promise<void> };
  metrics: { register: Registry };
  model: Model;
  ready(): Promise<AnyprecServer>;
  listen(o?: { port?: number; host?: string }): Promise<string>;
  close(o?: { graceMs?: number }): Promise<void>;
  readonly address: ReturnType<FastifyInstance['server']['address']>;
}

export function createServer(model: Model, options?: ServerOptions): AnyprecServer;
export function loadModelSpec(spec: string): Promise<Model>;
export const ZOO_MODELS: string[];
export function batchDependent(graph: Model['graph']): string[];
export function defaultPrecisions(graph: Model['graph']): Precision[];
export class HttpError extends Error {
  constructor(statusCode: number, code: string, message: string);
  statusCode: number;
  code: string;
}
