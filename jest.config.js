// Tests are compiled by `tsc` (npm run build, run by pretest) and run from dist/.
const common = { testEnvironment: 'node', roots: ['<rootDir>/dist/test'], moduleFileExtensions: ['js', 'json'] };
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['**/unit/**/*.test.js'] },
    { ...common, displayName: 'integration', testMatch: ['**/integration/**/*.test.js'], testTimeout: 600000 },
  ],
  // Two test files at once (each on its own dev server, S3 server, ports and folders): 13 min instead of
  // 23 for the whole suite on 2 cores; every test is written for a busy machine (no timing assertions).
  maxWorkers: 2,
};
