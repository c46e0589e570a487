// Kept for code that imported the PG layer from here: it lives in the gating floor now.
export {
  DEFAULT_GATE, gateOn, gateThresholds, pgConv, pgConvDense, packSignMagnitude, signMagnitudeGemm, signMagnitudeConv,
} from '../gating';
export type { GateMode, GateSetting, PgConvOptions, PgConvResult, PgInput, SignMagnitudePacked } from '../gating';
