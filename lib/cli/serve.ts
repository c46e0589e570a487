// `anyprec serve`: the HTTP inference server lives in its own package (@anyprec/server: fastify
// and prom-client stay out of the library's dependencies). This command finds that package (from
// the working directory, then from this installation) and runs its command line with the same
// arguments; without it, it says which npm line installs it.
import type { Command } from 'commander';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const SERVER_PACKAGE = '@anyprec/server';

/** The server package's command-line script, or undefined when the package is not installed. */
export function serverBin(): string | undefined {
  let manifest: string;
  try {
    manifest = require.resolve(`${SERVER_PACKAGE}/package.json`, { paths: [process.cwd(), __dirname] });
  } catch {
    return undefined;
  }
  const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { bin?: string | Record<string, string> };
  const rel = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.['anyprec-server'];
  if (!rel) throw new Error(`${SERVER_PACKAGE} at ${path.dirname(manifest)} has no anyprec-server command: reinstall it (npm install ${SERVER_PACKAGE})`);
  return path.join(path.dirname(manifest), rel);
}

function serve(args: string[]): void {
  const bin = serverBin();
  if (!bin) {
    throw new Error(`serve needs the server package, which is not installed: npm install ${SERVER_PACKAGE}\n` +
      `(it is a separate package so that library users do not install an HTTP stack; then run anyprec serve <model> [options], or npx anyprec-server)`);
  }
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'inherit' });
  // The server drains on SIGTERM / SIGINT: pass them on and leave with its exit status.
  const forward = (sig: NodeJS.Signals) => () => { child.kill(sig); };
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', forward('SIGINT'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(`serve a model over HTTP with the precision governor (runs ${SERVER_PACKAGE}; anyprec serve --help lists its options)`)
    .argument('[args...]', 'a model file or zoo:<name>, then the server options (--port, --host, --slo-p95-ms, --workers, --threads, --body-limit-mb, ...)')
    .helpOption(false)
    .allowUnknownOption()
    .action((args: string[]) => serve(args));
}
