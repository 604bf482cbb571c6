/** Jest in ESM mode (the @actions toolkit is ESM-only). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Installs the Debian packages the real-server tests need (haproxy, nginx, Prometheus, …) where missing.
  globalSetup: '<rootDir>/test/global-setup.mjs',
  testTimeout: 60000,
  // Integration suites start real servers; two workers fit a 2-core machine.
  maxWorkers: 2,
};
