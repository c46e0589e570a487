// The server's command line (packages/server/bin/anyprec-server.js): a zoo model on a free port,
// one process and two (node:cluster), SIGTERM drains and exits 0, bad arguments exit 2.
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const BIN = path.resolve(__dirname, '..', 'packages', 'server', 'bin', 'anyprec-server.js');

function start(args: string[], command: string[] = [BIN]) {
  const child = spawn(process.execPath, [...command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = (count: number) => new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`not listening after 60 s:\n${out}\n${err}`)); }, 60000);
    const check = () => {
      const urls = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/g) ?? [];
      if (urls.length >= count) { clearTimeout(t); resolve(urls[0].replace('listening on ', '')); } else setTimeout(check, 50);
    };
    check();
  });
  return { child, exited, listening, output: () => out + err };
}

describe('anyprec-server CLI', () => {
  it('serves a zoo model and drains on SIGTERM', async () => {
    const s = start(['zoo:mlp', '--port', '0', '--slo-p95-ms', '20', '--threads', '1', '--log-level', 'silent']);
    const url = await s.listening(1);
    const h = await fetch(`${url}/readyz`);
    expect(h.status).toBe(200);
    const m = await (await fetch(`${url}/v1/model`)).json() as any;
    expect(m.inputShape).toEqual([784]);
    expect(m.governor.sloP95Ms).toBe(20);
    const r = await fetch(`${url}/v1/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ shape: [1, 784], data: new Array(784).fill(0.5), bits: 2 }),
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as any).bits).toEqual({ weights: 2, activations: 2 });
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(/SIGTERM: draining/);
  });

  it('--workers 2: two processes share the port (node:cluster)', async () => {
    const s = start(['zoo:mlp', '--port', '0', '--workers', '2', '--log-level', 'silent']);
    const url = await s.listening(2);
    const pids = new Set<number>();
    for (let i = 0; i < 40 && pids.size < 2; i++) {
      // a fresh connection each time, so the cluster's round robin can pick either process
      const r = await fetch(`${url}/healthz`, { headers: { connection: 'close' } });
      pids.add(((await r.json()) as any).pid);
    }
    expect(pids.size).toBe(2);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it.each([
    [['--port', '0'], /a model is required/],
    [['zoo:mlp', '--port', 'x'], /--port must be an integer/],
    [['zoo:mlp', '--slo-p95-ms', '0'], /--slo-p95-ms must be a number/],
    [['zoo:mlp', '--frobnicate'], /unknown option --frobnicate/],
  ])('rejects bad arguments %j with exit code 2', async (args, message) => {
    const s = start(args as string[]);
    expect(await s.exited).toBe(2);
    expect(s.output()).toMatch(message);
  });

  it('exits 1 with a clear message for a model it cannot load', async () => {
    const s = start(['zoo:nothing', '--port', '0']);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/unknown zoo model 'nothing'/);
    const f = start(['/nonexistent/model.anyprec', '--port', '0']);
    expect(await f.exited).toBe(1);
    expect(f.output()).toMatch(/nonexistent/);
  });

  it('--workers: workers that fail while starting are not restarted in a loop; the primary exits 1', async () => {
    const s = start(['zoo:nothing', '--port', '0', '--workers', '2']);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/unknown zoo model 'nothing'/);
    expect(s.output().match(/failed while starting/g)).toHaveLength(2);
    expect(s.output()).not.toMatch(/starting another/);
  });
});

// `anyprec serve` in the library's command line (dist/cli/main.js) runs this package's command line.
describe('anyprec serve', () => {
  const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');

  it('runs @anyprec/server with the same arguments, and passes SIGTERM on (drains, exits 0)', async () => {
    const s = start(['serve', 'zoo:mlp', '--port', '0', '--slo-p95-ms', '30', '--log-level', 'silent'], [CLI]);
    const url = await s.listening(1);
    const m = await (await fetch(`${url}/v1/model`)).json() as any;
    expect(m.governor.sloP95Ms).toBe(30);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(/SIGTERM: draining/);
  });

  it("passes the server's own argument errors through (exit 2)", async () => {
    const s = start(['serve', 'zoo:mlp', '--port', 'x'], [CLI]);
    expect(await s.exited).toBe(2);
    expect(s.output()).toMatch(/--port must be an integer/);
  });

  it('without @anyprec/server installed: exits 1 naming the npm install line', async () => {
    // the package made unresolvable, as in an installation of anyprec alone
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-serve-'));
    const hide = path.join(dir, 'hide-server.js');
    fs.writeFileSync(hide, `const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith('@anyprec/server')) { const e = new Error("Cannot find module '" + request + "'"); e.code = 'MODULE_NOT_FOUND'; throw e; }
  return resolve.call(this, request, ...rest);
};
`);
    try {
      const s = start(['serve', 'zoo:mlp', '--port', '0'], ['-r', hide, CLI]);
      expect(await s.exited).toBe(1);
      expect(s.output()).toMatch(/serve needs the server package, which is not installed: npm install @anyprec\/server/);
      expect(s.output()).not.toMatch(/listening/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
