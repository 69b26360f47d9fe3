/**
 * The end-to-end, SSE and idempotency files again, on Redis Cluster and on Postgres through PgBouncer in
 * transaction mode (test/pooled.setup.ts starts both). `npm test` runs them after the suite.
 */
module.exports = {
  ...require('./jest.config'),
  testPathIgnorePatterns: ['/node_modules/'],
  testMatch: ['<rootDir>/test/{missions.e2e,api.events,sse.end,api.idempotency,api.rateLimit,tenantSlots,llmLimiter,deployment.pooled}.test.ts'],
  globalSetup: '<rootDir>/test/pooled.setup.ts',
  globalTeardown: '<rootDir>/test/pooled.teardown.ts',
};
