/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Only how long a test that hangs takes to fail: tests wait for events, and a loaded machine is slower.
  testTimeout: 120_000,
  // Two cores: gVisor sandboxes are CPU-bound, so more parallel files only queue behind each other.
  maxWorkers: 2,
  // Tests that restart or freeze the shared dockerd run on their own afterwards (jest.alone.config.js), and
  // those about the pooled deployment only in it (jest.pooled.config.js).
  testPathIgnorePatterns: ['/node_modules/', '\\.alone\\.test\\.ts$', '\\.pooled\\.test\\.ts$'],
};
