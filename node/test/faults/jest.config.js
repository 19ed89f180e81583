// The fault suite (`make faults` → scripts/faults.sh): one scenario per
// file, one at a time (each runs three nodes, PostgreSQL and the legacy API
// in namespaces of its own). `make test` does not run these; it runs the
// checker's unit tests (*.test.ts) beside them.
import { moduleNameMapper, modulePathIgnorePatterns } from '../../../jest.modules.js';

export default {
  rootDir: '../../..',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  moduleNameMapper,
  modulePathIgnorePatterns,
  testMatch: ['<rootDir>/node/test/faults/scenarios/*.faults.ts'],
  testTimeout: 600_000,
  maxWorkers: 1,
};
