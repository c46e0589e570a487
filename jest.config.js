/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 120000,
  // Puts the kernels' ISA, thread count and GEMM path back after each test file.
  setupFilesAfterEnv: ['<rootDir>/test/setup/restore-platform.ts'],
};
