/** Tests that restart or freeze the dockerd every other test file uses, one file at a time. `npm test` runs them after the suite. */
module.exports = {
  ...require('./jest.config'),
  maxWorkers: 1,
  testPathIgnorePatterns: ['/node_modules/'],
  testMatch: ['<rootDir>/test/*.alone.test.ts'],
};
