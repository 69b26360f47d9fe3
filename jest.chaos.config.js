/** The chaos test, alone: it restarts the dockerd every other test file uses. `npm test` runs it after the suite. */
module.exports = { ...require('./jest.config'), testPathIgnorePatterns: ['/node_modules/'], testMatch: ['<rootDir>/test/chaos.test.ts'] };
