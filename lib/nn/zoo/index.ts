// Ready-made graphs (built in code) and random parameters for them, one file per family: the MNIST
// MLP and CNN, the Any-Precision networks, their gated versions, and the PG ResNet of dnn-gating.
export type { ZooOptions } from './builder';
export { mlp, cnn } from './digits';
export { preactResnet, resnet20, svhnq } from './any-precision';
export type { PreactResnetOptions } from './any-precision';
export { withGates, gatedCnn, gatedPreactResnet } from './gated';
export type { GateChoice } from './gated';
export { pgResnetGraph } from './pg-resnet';
export type { PgResnet20Options } from './pg-resnet';
export { randomTensors } from './random';
