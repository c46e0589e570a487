// Runs in every test file (jest setupFilesAfterEnv): whatever a file sets on the platform — the
// instruction set, the thread count, the GEMM path — is put back when the file ends, so no file's
// result depends on which files ran before it in the same worker.
import { afterAll } from '@jest/globals';
import { kernels } from '../../lib';

const isa = kernels.isa();
const threads = kernels.threads();
const gemmPath = kernels.gemmPathSetting();

afterAll(() => {
  if (kernels.isa() !== isa) kernels.setIsa(isa);
  if (kernels.threads() !== threads) kernels.setThreads(threads);
  if (kernels.gemmPathSetting() !== gemmPath) kernels.setGemmPath(gemmPath);
});
