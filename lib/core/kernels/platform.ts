// The platform: which instruction set the kernels run on, and how many threads one call may use.
import { checkInt } from '../check';
import { native } from '../native';
import type { LoadSelfTest } from '../native';

export type { LoadSelfTest };

/** The instruction set the kernels run on in this thread's environment. */
export function isa(): string {
  return native.isa();
}

/** Instruction sets this build contains and this CPU supports, best first. */
export function availableIsas(): string[] {
  return native.availableIsas();
}

/** Forces an instruction set (one of availableIsas()); affects this environment only. */
export function setIsa(name: string): void {
  native.setIsa(name);
}

/** Threads (the caller included) that one kernel call may use; 1 by default. */
export function setThreads(n: number): void {
  native.setThreads(n);
}

export function threads(): number {
  return native.threads();
}

export function hardwareThreads(): number {
  return native.hardwareThreads();
}

/** Runs the register-only popcount loop of the current ISA (the kernels' speed ceiling). */
export function popcountCeiling(iterations: number): { checksum: number; bitMacs: number } {
  checkInt(iterations, 'iterations', 1, 2 ** 40);
  return native.popcountCeiling(iterations);
}

/** The load-time self-test of the current ISA (run when the addon loaded or setIsa chose it): result and cost. */
export function loadSelfTest(): LoadSelfTest {
  return native.selfTest();
}
