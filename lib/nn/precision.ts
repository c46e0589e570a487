// Bit-width selection: the whole model, per layer, and per call.
import { checkBits } from '../core/check';

/** Weight and activation bit-widths: 1..8, or 32 for float. */
export interface Precision {
  weights: number;
  activations: number;
}

/** A bit-width for both, or the two separately. */
export type PrecisionInput = number | Partial<Precision>;

/** Per-layer overrides, by node name. */
export type LayerPrecisions = Record<string, PrecisionInput>;

export function toPrecision(p: PrecisionInput, name: string, base?: Precision): Precision {
  if (typeof p === 'number') {
    const b = checkBits(p, name, true);
    return { weights: b, activations: b };
  }
  // Arrays and boxed numbers are objects without weights / activations: refused, not read as
  // "keep the current setting".
  if (p === null || typeof p !== 'object' || Array.isArray(p) || p instanceof Number || p instanceof String ||
      ArrayBuffer.isView(p)) {
    const got = p === null ? 'null' : Array.isArray(p) ? 'an array' : p instanceof Number ? 'a boxed Number' : typeof p;
    throw new TypeError(`${name} must be a bit-width or { weights, activations } (a number or an object), got ${got}`);
  }
  for (const key of Object.keys(p)) {
    if (key !== 'weights' && key !== 'activations') {
      throw new TypeError(`${name}.${key} is not a precision field (weights, activations)`);
    }
  }
  const w = p.weights ?? base?.weights;
  const a = p.activations ?? base?.activations;
  if (w === undefined || a === undefined) {
    throw new TypeError(`${name} must give both weights and activations`);
  }
  return { weights: checkBits(w, `${name}.weights`, true), activations: checkBits(a, `${name}.activations`, true) };
}

export function precisionKey(global: Precision, layers: Record<string, Precision>): string {
  const names = Object.keys(layers).sort();
  return `${global.weights}/${global.activations}|` + names.map((n) => `${n}=${layers[n].weights}/${layers[n].activations}`).join(',');
}
