// Precision gating (Zhang et al., 2020), the floor between the kernels and the networks: gate
// types and modes, the one threshold search and kernel-threshold conversion, the one gated-product
// executor (PG reference layers and gated qconv2d / qlinear alike), the PG reference layer,
// statistics, calibration and the gate-offset search a precision governor needs.
export * from './types';
export * from './thresholds';
export * from './executor';
export * from './pg-conv';
export * from './calibration';
export * from './governor';
export * from './path';
export { packSignMagnitude, signMagnitudeGemm, signMagnitudeConv } from '../core/signmag-gemm';
export type { SignMagnitudePacked } from '../core/signmag-gemm';
