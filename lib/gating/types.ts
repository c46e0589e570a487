// Precision Gating (Zhang et al., 2020): the types every gated layer shares — how a call runs its
// gates (mode and offset), the two gate rules, and what a gate did (statistics).

/** Which outputs get their low bits: the learned gate, every output, or none. */
export type GateMode = 'trained' | 'open' | 'closed';
export const GATE_MODES: readonly GateMode[] = ['trained', 'open', 'closed'];

/**
 * How a trained gate's layer (qconv2d / qlinear with a gate) runs: 'gated' (default) the gate's
 * results through the gated kernel; 'dense' the layer without its gate (what gate 'open' gives:
 * every output its low bits); 'auto' per layer whichever of the two its own measured times say is
 * faster — never slower than not gating, at the price of dense results where it runs dense.
 */
export type GatePath = 'auto' | 'gated' | 'dense';
export const GATE_PATHS: readonly GatePath[] = ['auto', 'gated', 'dense'];

/** How a call runs its gates. */
export interface GateSetting {
  mode: GateMode;
  /** Added to every threshold Δ_c (float32), in the layer's output units: > 0 gives fewer gated-on outputs. */
  offset: number;
  /** Gated qconv2d / qlinear layers with a trained gate: which path (default 'gated'). */
  path?: GatePath;
}

export const DEFAULT_GATE: GateSetting = { mode: 'trained', offset: 0, path: 'gated' };

/** A GateSetting from run options (gate, gateOffset, gatePath), checked; DEFAULT_GATE itself for the defaults. */
export function toGateSetting(mode: unknown = 'trained', offset: unknown = 0, path: unknown = 'gated'): GateSetting {
  if (mode !== 'trained' && mode !== 'open' && mode !== 'closed') {
    const E = typeof mode === 'string' ? RangeError : TypeError;
    throw new E(`gate must be 'trained', 'open' or 'closed', got ${JSON.stringify(mode)}`);
  }
  if (typeof offset !== 'number') throw new TypeError(`gateOffset must be a number, got ${typeof offset}`);
  if (!Number.isFinite(offset)) throw new RangeError(`gateOffset must be a finite number, got ${String(offset)}`);
  if (path !== 'auto' && path !== 'gated' && path !== 'dense') {
    const E = typeof path === 'string' ? RangeError : TypeError;
    throw new E(`gatePath must be 'auto', 'gated' or 'dense', got ${JSON.stringify(path)}`);
  }
  return mode === DEFAULT_GATE.mode && offset === 0 && path === DEFAULT_GATE.path ? DEFAULT_GATE : { mode, offset, path };
}

/**
 * The float predicate a gate evaluates on an output's high part, given its integer high-part
 * accumulator acc_hb (O_hb = acc_hb · 2^L, L the low bits) and one accumulator step `unit`:
 * - 'compare' (anyprec's gated qconv2d / qlinear): float32(float32(acc_hb · 2^L) · unit) > Δ;
 * - 'sigmoid' (the PG reference, pgconv2d): float32 sigmoid(5·(float32(acc_hb · unit · 2^L) − Δ)) > 0.5,
 *   which is O_hb > Δ except in a band so thin that the sigmoid rounds to exactly 0.5.
 * Δ = float32(threshold_c + offset). Both are monotone in acc_hb, which makes them integer thresholds.
 */
export type GateRule = 'compare' | 'sigmoid';

/** The fixed part of a gated layer: the bits it splits, the rule, the thresholds and the unit. */
export interface LayerGate {
  /** B: the activation bits the gate splits. */
  bits: number;
  /** Bhb: the top planes every output gets (1..B−1). */
  highBits: number;
  rule: GateRule;
  /** Float value of one accumulator step of the full-precision product. */
  unit: number;
  /** Δ_c per output channel, in the layer's float units. */
  threshold: Float32Array;
}

/**
 * What a precision gate did in one call of one layer (pgconv2d, or a qconv2d / qlinear with a
 * gate, in a call where the gate acted). With K the MACs per output and w the weight bits:
 *   bitOps      = K·w·(total·Bhb + on·(B − Bhb))   (the high planes for every output, the low ones where on)
 *   denseBitOps = K·w·total·B                       (the same layer without its gate)
 *   bAvg        = Bhb + fraction·(B − Bhb)          (= bitOps / (macs·w): the activation bits spent on average)
 */
export interface GateStats {
  /** Outputs that got their low bits. */
  on: number;
  /** All outputs of the layer in this call (batch x positions x channels). */
  total: number;
  /** on / total. */
  fraction: number;
  /** B: the activation bits the gate splits. */
  bits: number;
  /** Bhb: the bits every output gets. */
  highBits: number;
  bAvg: number;
  bitOps: number;
  denseBitOps: number;
  /**
   * Gated qconv2d / qlinear layers, in calls with gatePath 'auto' or 'dense': the path this call
   * ran ('dense': the layer without its gate, every output on) and why ("gatePath 'dense'",
   * 'measuring', or the measured comparison such as 'gated 0.62x the dense time'; GatePath).
   */
  path?: 'gated' | 'dense';
  pathReason?: string;
  /**
   * Gated qconv2d / qlinear layers that ran their gated kernel: the route of its high part
   * ('bitserial', 'int8' or 'codes' — the dense int8 route on the high codes read in place, the
   * same results; measured per layer and row count unless kernels.setGemmPath forces one) and why
   * ('measured: int8 0.81x, codes 0.62x the bit-serial time', 'gemmPath').
   */
  high?: 'bitserial' | 'int8' | 'codes';
  highReason?: string;
}

/** The gates of a whole call (RunStats.gate): MAC-weighted over the layers whose gate acted. */
export interface GateSummary {
  /** Gated layers whose gate acted in this call (their first node's name). */
  layers: string[];
  /** Gated layers that ran dense because their input was not B-bit unsigned codes (other precision). */
  inactive: string[];
  /** Calls with gatePath 'auto' or 'dense': those of `layers` that ran dense (GateStats.path; every output on). */
  dense?: string[];
  /** MACs of the `layers`. */
  macs: number;
  /** Σ macs·fraction / Σ macs over `layers` (0 when none). */
  fraction: number;
  /** Σ macs·bAvg / Σ macs over `layers` (0 when none). */
  bAvg: number;
  /** Bit-ops the `layers` spent, and what they would have spent without their gates. */
  bitOps: number;
  denseBitOps: number;
}

/** GateStats of a layer with `perOutput` MACs per output and `wBits`-bit weights. */
export function gateStats(on: number, total: number, perOutput: number, wBits: number, bits: number, highBits: number): GateStats {
  const fraction = total > 0 ? on / total : 0;
  return {
    on, total, fraction, bits, highBits,
    bAvg: highBits + fraction * (bits - highBits),
    bitOps: perOutput * wBits * (total * highBits + on * (bits - highBits)),
    denseBitOps: perOutput * wBits * total * bits,
  };
}

/** The GateSummary of a call from the layers that reported gate stats. */
export function summarizeGates(layers: ReadonlyArray<{ nodes: string[]; macs: number; gate?: GateStats }>,
                               inactive: string[]): GateSummary {
  const gated = layers.filter((l) => l.gate);
  const macs = gated.reduce((a, l) => a + l.macs, 0);
  const weighted = (f: (g: GateStats) => number) => (macs > 0 ? gated.reduce((a, l) => a + l.macs * f(l.gate!), 0) / macs : 0);
  const chosen = gated.some((l) => l.gate!.path !== undefined);
  return {
    layers: gated.map((l) => l.nodes[0]), inactive,
    ...(chosen ? { dense: gated.filter((l) => l.gate!.path === 'dense').map((l) => l.nodes[0]) } : {}), macs,
    fraction: weighted((g) => g.fraction), bAvg: weighted((g) => g.bAvg),
    bitOps: gated.reduce((a, l) => a + l.gate!.bitOps, 0),
    denseBitOps: gated.reduce((a, l) => a + l.gate!.denseBitOps, 0),
  };
}
