/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Only how long a test that hangs takes to fail: tests wait for events, and a loaded machine is slower.
  testTimeout: 120_000,
  // Two cores: gVisor sandboxes are CPU-bound, so more parallel files only queue behind each other.
  maxWorkers: 2,
  // The chaos test restarts the shared dockerd: it runs on its own afterwards (jest.chaos.config.js).
  testPathIgnorePatterns: ['/node_modules/', '/test/chaos\\.test\\.ts$'],
};
