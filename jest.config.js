/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'], '/node_modules/request-filtering-agent/.+\\.js$': ['@swc/jest'] },
  // request-filtering-agent ships ES modules only: compiled to CommonJS like our own code (node
  // itself loads it with require(esm)).
  transformIgnorePatterns: ['/node_modules/(?!request-filtering-agent/)'],
  // One Postgres and one Temporal dev server for the whole run (see test/support/global-setup.ts).
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Two cores: two workers; each file owns its tenants, task queues and time-skipping server.
  maxWorkers: 2,
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  slowTestThreshold: 20,
};
