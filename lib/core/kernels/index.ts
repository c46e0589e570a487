// The typed face of the native kernels, one file per family: the platform (ISA, threads), bit-plane
// operands (pack / unpack), the bit-serial GEMM and its int8 path, the precision-gated GEMM, the
// float32 GEMM, convolution lowering and pooling, element-wise ops, and the plan runner.
export * from './platform';
export { ENCODINGS, Packed, packedWords, pack, unpack } from './packed';
export type { EncodingName } from './packed';
export * from './bitgemm';
export * from './gated';
export * from './float';
export * from './conv';
export * from './eltwise';
export * from './runner';
