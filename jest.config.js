// Tests are compiled by `tsc` (npm run build, run by pretest) and run from dist/.
const common = { testEnvironment: 'node', roots: ['<rootDir>/dist/test'], moduleFileExtensions: ['js', 'json'] };
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['**/unit/**/*.test.js'] },
    { ...common, displayName: 'integration', testMatch: ['**/integration/**/*.test.js'], testTimeout: 600000 },
  ],
  maxWorkers: 1,
};
