// The server's status page (`GET /`) in a real headless browser (Debian's chromium): the server runs
// the bundled MNIST model and answers a few seconds of requests, then chromium loads the page, lets
// it poll the feed (virtual time) and dumps the DOM. The charts must show that feed: one point per
// second of it, ordered as its values are, the objective flat, and the summary naming the objective
// and the precision in use. Without chromium the suite is skipped with the reason printed; `npm test`
// installs chromium (as root) or stops naming the apt-get line, and counts a skipped test as failed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const anyprec = require('anyprec');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createServer } = require('@anyprec/server');

const MODEL_DIR = path.resolve(__dirname, '..', 'models', 'mnist');
const SLO_MS = 250;

/** The chromium executable: $CHROMIUM, else the first of the usual names on PATH. */
function findChromium(): string | null {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      const f = path.join(dir, name);
      try {
        fs.accessSync(f, fs.constants.X_OK);
        return f;
      } catch { /* not here */ }
    }
  }
  return null;
}
const CHROMIUM = findChromium();
if (!CHROMIUM) {
  console.warn('server-page.test.ts SKIPPED: no chromium on PATH (set CHROMIUM=/path or, as root: apt-get install -y --no-install-recommends chromium)');
}

/** chromium --headless --dump-dom: the page's DOM after `budgetMs` of virtual time (the event loop stays free to serve it). */
function dumpDom(url: string, budgetMs: number): Promise<string> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
    `--user-data-dir=${profile}`, `--virtual-time-budget=${budgetMs}`, '--dump-dom', url];
  return new Promise<string>((resolve, reject) => {
    const child = spawn(CHROMIUM as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(profile, { recursive: true, force: true });
      if (code === 0 && out.includes('</html>')) resolve(out);
      else reject(new Error(`chromium exited with ${code ?? signal}:\n${err.slice(-2000)}`));
    });
  });
}

/** The points of one <path data-series=name> inside <svg id=chartId>, one array per unbroken run. */
function seriesRuns(dom: string, chartId: string, name: string): Array<Array<[number, number]>> {
  const svg = new RegExp(`<svg[^>]*\\bid="${chartId}"[^>]*>([\\s\\S]*?)</svg>`).exec(dom);
  if (!svg) throw new Error(`no <svg id="${chartId}"> in the page`);
  const p = new RegExp(`<path data-series="${name}" d="([^"]*)"`).exec(svg[1]);
  if (!p) throw new Error(`no series ${name} in chart ${chartId}`);
  const runs: Array<Array<[number, number]>> = [];
  for (const m of p[1].matchAll(/([ML])([-\d.]+) ([-\d.]+)/g)) {
    if (m[1] === 'M') runs.push([]);
    runs[runs.length - 1].push([Number(m[2]), Number(m[3])]);
  }
  return runs;
}

/** Heights drawn for values: equal values at one height, a larger value never lower on screen (smaller y). */
function expectOrderedLike(values: number[], ys: number[]) {
  expect(ys).toHaveLength(values.length);
  for (let i = 0; i < values.length; i++) {
    for (let j = 0; j < values.length; j++) {
      if (values[i] === values[j]) expect(ys[i]).toBeCloseTo(ys[j], 6);
      else if (values[i] > values[j]) expect(ys[i]).toBeLessThan(ys[j]);
    }
  }
}

(CHROMIUM ? describe : describe.skip)('status page in headless chromium', () => {
  let server: any;
  let base: string;
  let answered = 0;
  beforeAll(async () => {
    const model = await anyprec.load(path.join(MODEL_DIR, 'resnet20-any.anyprec'));
    server = createServer(model, { sloP95Ms: SLO_MS, calibrationRuns: 1, defaultMetrics: false, logger: false });
    base = await server.listen({ port: 0, host: '127.0.0.1' });
    // Real test digits, one per request, for about 2.5 s: the feed gets seconds with traffic.
    const digits = fs.readFileSync(path.join(MODEL_DIR, 'test-digits.u8'));
    const until = Date.now() + 2500;
    for (let i = 0; Date.now() < until; i++) {
      const body = digits.subarray((i % 100) * 784, (i % 100 + 1) * 784);
      const r = await fetch(`${base}/v1/infer`, {
        method: 'POST', body,
        headers: { 'content-type': 'application/octet-stream', 'x-shape': '1,1,28,28', 'x-dtype': 'uint8' },
      });
      if (r.status !== 200) throw new Error(`infer answered ${r.status}: ${await r.text()}`);
      const a = await r.json() as { argmax: number[] };
      if (a.argmax.length === 1) answered++;
      await new Promise((res) => setTimeout(res, 20));
    }
    // At least three points in the feed (one a second): lines, not single dots.
    for (let t = 0; t < 50; t++) {
      const s = await (await fetch(`${base}/v1/status`)).json() as { points: unknown[] };
      if (s.points.length >= 3) break;
      await new Promise((res) => setTimeout(res, 200));
    }
  }, 120000);
  afterAll(async () => { if (server) await server.close(); });

  it('draws the feed: request rate, latency against the objective, precision in use', async () => {
    expect(answered).toBeGreaterThan(5);
    const dom = await dumpDom(`${base}/`, 3000);
    // The feed only grows (one point a second, at most 300 here), so what the page drew is a prefix of it.
    const status = await (await fetch(`${base}/v1/status`)).json() as {
      sloP95Ms: number; points: Array<{ rps: number; p50: number | null; p95: number | null; bits: { weights: number; activations: number } }>;
    };
    const rate = seriesRuns(dom, 'rate', 'rps');
    expect(rate).toHaveLength(1);                  // no gaps: every second has a rate
    const k = rate[0].length;
    expect(k).toBeGreaterThanOrEqual(3);
    expect(status.points.length).toBeGreaterThanOrEqual(k);
    const drawn = status.points.slice(0, k);
    expect(drawn.some((p) => p.rps > 0)).toBe(true);
    const xs = rate[0].map(([x]) => x);
    for (let i = 1; i < k; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]);
    expectOrderedLike(drawn.map((p) => p.rps), rate[0].map(([, y]) => y));

    // p95: a point for each second that had requests (a gap where none), ordered as the values are.
    const p95 = drawn.map((p) => p.p95).filter((v): v is number => v != null);
    expect(p95.length).toBeGreaterThan(0);
    const p95Runs = seriesRuns(dom, 'lat', 'p95');
    expect(p95Runs.flat()).toHaveLength(p95.length);
    // The objective: a flat line across every drawn second, on the same scale as p95.
    const objective = seriesRuns(dom, 'lat', 'objective');
    expect(objective).toHaveLength(1);
    expect(objective[0]).toHaveLength(k);
    expectOrderedLike([...p95, ...new Array(k).fill(SLO_MS)], [...p95Runs.flat(), ...objective[0]].map(([, y]) => y));

    // Precision: weights and activations bits for every drawn second.
    const w = seriesRuns(dom, 'bits', 'weights');
    const a = seriesRuns(dom, 'bits', 'activations');
    expect(w.flat()).toHaveLength(k);
    expect(a.flat()).toHaveLength(k);
    expectOrderedLike(drawn.map((p) => p.bits.weights), w.flat().map(([, y]) => y));
    expectOrderedLike(drawn.map((p) => p.bits.activations), a.flat().map(([, y]) => y));

    // The summary names the objective and the precision of the last drawn second.
    const summary = /<div id="summary">([^<]*)<\/div>/.exec(dom)?.[1] ?? '';
    expect(summary).toContain(`objective p95 ${SLO_MS} ms`);
    const last = drawn[k - 1].bits;
    expect(/ ms, (w\d+a\d+), queue /.exec(summary)?.[1]).toBe(`w${last.weights}a${last.activations}`);
    expect(status.sloP95Ms).toBe(SLO_MS);
  }, 120000);
});
