// What the command-line modules share: argument parsers, timing, table printing.
import { InvalidArgumentError } from 'commander';
import { kernels } from '../index';

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

export function isaArg(v: string): string {
  const isas = kernels.availableIsas();
  if (!isas.includes(v)) throw new InvalidArgumentError(`--isa must be one of ${isas.join(', ')} (the instruction sets this CPU runs)`);
  return v;
}

/** Help text of the --isa option. */
export function isaHelp(): string {
  return `force an instruction set (${kernels.availableIsas().join(', ')})`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Milliseconds f takes (one call). */
export function timeMs(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Prints rows (the first is the header) as right-aligned columns. */
export function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c])).join('  '));
}
