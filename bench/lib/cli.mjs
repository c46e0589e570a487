// What the benchmark scripts share around their measurements: option parsing (the options
// every script has, positive numbers), progress logging, and loading anyprec from dist/.
import { parseArgs } from 'node:util';

/** Progress goes to stderr, the report to stdout. */
export const log = (...args) => console.error(...args);

/** A duration in ms as seconds for progress lines. */
export const secs = (ms) => `${(ms / 1000).toFixed(ms < 10000 ? 2 : 0)} s`;

/**
 * parseArgs over the script's own `options` plus the ones every benchmark has (--quick,
 * --skip-ort, --no-save, --seed, -h/--help); prints `help` and exits on --help.
 * @returns {object} parseArgs' values
 */
export function parseBenchArgs(argv, options, help) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      ...options,
      'skip-ort': { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  return values;
}

/** The number an option's text gives (`fallback` when the option is absent); it must be > 0. */
export function positiveNumber(text, name, fallback) {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`--${name} must be a positive number, got '${text}'`);
  return v;
}

/** anyprec's ESM entry (dist/index.mjs), or an error that says to build it. */
export async function loadAnyprec() {
  try {
    return await import('../../dist/index.mjs');
  } catch (err) {
    throw new Error(`cannot load anyprec from dist/ (build it first: npm run build)\n${err.message}`);
  }
}
