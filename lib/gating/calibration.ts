// Calibration: thresholds chosen from what the gates' high parts look like on a batch.
const fr = Math.fround;

/** Per gated layer, the float high-part outputs float32(float32(O_hb)·unit) seen in a run (rows x channels). */
export type GateProbe = Map<string, { channels: number; values: Float32Array[] }>;

/** Per gated layer, the thresholds a calibration chose and the fraction of outputs it leaves off. */
export interface GateCalibration {
  [layer: string]: { thresholds: Float32Array; off: number };
}

/** Adds one call's high parts of `layer` (integer O_hb, rows x channels) to the probe, in float units. */
export function recordHighParts(probe: GateProbe, layer: string, ohb: Int32Array, unit: number, channels: number): void {
  const v = new Float32Array(ohb.length);
  for (let i = 0; i < ohb.length; i++) v[i] = fr(fr(ohb[i]) * unit);
  let entry = probe.get(layer);
  if (!entry) probe.set(layer, (entry = { channels, values: [] }));
  entry.values.push(v);
}

/** Checks a calibration's target off-fraction: a number in [0, 1). */
export function checkOffFraction(off: unknown): number {
  if (typeof off !== 'number') throw new TypeError(`off must be a number in [0, 1), got ${typeof off}`);
  if (!(off >= 0 && off < 1)) throw new RangeError(`off must be a fraction in [0, 1), got ${off}`);
  return off;
}

/**
 * Per layer of the probe, per channel c: Δ_c = the value with a fraction `off` of the channel's
 * high parts at or below it (so about `off` of its outputs are gated off; fewer where values
 * tie); `off` = 0 gives −Infinity (all on). Returns the thresholds and the fraction each leaves off.
 */
export function quantileThresholds(probe: GateProbe, off: number): GateCalibration {
  checkOffFraction(off);
  const out: GateCalibration = {};
  for (const [layer, { channels, values }] of probe) {
    const rows = values.reduce((a, v) => a + v.length, 0) / channels;
    const col = new Float32Array(rows);
    const thresholds = new Float32Array(channels);
    let offCount = 0;
    for (let c = 0; c < channels; c++) {
      let r = 0;
      for (const v of values) for (let i = c; i < v.length; i += channels) col[r++] = v[i];
      col.sort();
      const kth = Math.round(off * rows);
      thresholds[c] = kth === 0 ? -Infinity : col[kth - 1];
      for (let i = 0; i < rows; i++) if (!(col[i] > thresholds[c])) offCount++;
    }
    out[layer] = { thresholds, off: offCount / (rows * channels) };
  }
  return out;
}
