// The end-to-end suites: they run against a real cluster (scripts/e2e.sh
// brings up the local one and runs them inside its network namespace), so
// they have a config of their own and the default `make test` (the top-level
// jest.config.js) never picks them up.
import { moduleNameMapper, modulePathIgnorePatterns } from '../jest.modules.js';

export default {
  rootDir: '..',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  moduleNameMapper,
  modulePathIgnorePatterns,
  // Only e2e/ is crawled: .cache/ holds image build trees with package.json files of their own.
  roots: ['<rootDir>/e2e'],
  testMatch: ['<rootDir>/e2e/test/**/*.test.ts'],
  // Suites share one cluster and run one after the other.
  maxWorkers: 1,
  testTimeout: 300000,
};
