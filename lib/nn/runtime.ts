// Kept for code that imported the runtime module: the plan, shapes and statistics now live in
// plan.ts, shapes.ts and types.ts, the gate arithmetic in the gating floor.
export { Plan } from './plan';
export { inferShapes, nodeMacs } from './shapes';
export type { BitOpsReport, LayerStats, RunStats } from './types';
export { gateStats, gateIntThresholds, kernelGateThresholds } from '../gating';
export type { GateStats, GateSummary } from '../gating';
