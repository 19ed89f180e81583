// Unit and integration tests. Integration suites spawn the built node
// (dist/), so `make test` builds before it runs jest.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: [
    '<rootDir>/node/test/**/*.test.ts',
    '<rootDir>/operator/test/**/*.test.ts',
    // Cross-cutting: packaging (chart, manifests, images).
    '<rootDir>/test/**/*.test.ts',
  ],
  testTimeout: 60000,
  maxWorkers: 2,
};
