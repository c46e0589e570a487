// anyprec training: autodiff tape, quantisers with straight-through estimators, optimisers,
// Any-Precision and fixed-precision training loops, checkpoints, datasets.
export { Var, Param, Tape } from './tape';
export * as ops from './tape';
export { quantizeWeights, quantizeActivations } from './quant';
export { Optimizer, scheduledRate } from './optim';
export type { OptimizerName, OptimizerOptions, ScheduleName, ScheduleOptions } from './optim';
export { Rng } from './rng';
export { TrainNet } from './net';
export type { ForwardOptions } from './net';
export { Trainer, defaultConfig, countCorrect, registerMethod, CHECKPOINT_KIND } from './trainer';
export type { TrainConfig, TrainMethod, EpochRecord, Progress, MethodImpl, MethodDefinition } from './trainer';
export type { SpActivation, SpOptions, PgOptions, LdpOptions } from './methods';
import './methods'; // registers sp, pg, ldp
export { loadMnist, preprocessDigits, digitInput, checkDataset, subset, RESNET_DIGITS, PLAIN_DIGITS } from './data';
export type { Dataset, DigitPreprocessing, MnistSplit } from './data';
export * as native from './native';
