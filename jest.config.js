// Unit and integration tests. Integration suites spawn the built programs
// (each package's dist/), so `make test` builds before it runs jest.
// Workspace packages resolve to their TypeScript sources here, as in the
// type-check (tsconfig.json's paths).
import { moduleNameMapper, modulePathIgnorePatterns } from './jest.modules.js';

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  moduleNameMapper,
  modulePathIgnorePatterns,
  testMatch: [
    '<rootDir>/node/test/**/*.test.ts',
    '<rootDir>/operator/test/**/*.test.ts',
    '<rootDir>/client/test/**/*.test.ts',
    '<rootDir>/cli/test/**/*.test.ts',
    '<rootDir>/bench/test/**/*.test.ts',
    '<rootDir>/demo-legacy/test/**/*.test.ts',
    // Cross-cutting: packaging (chart, manifests, images).
    '<rootDir>/test/**/*.test.ts',
  ],
  testTimeout: 60000,
  maxWorkers: 2,
};
