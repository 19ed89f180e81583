// How jest finds the workspace packages: at their TypeScript sources, as the
// type-check does (tsconfig.json's paths). Shared by every jest config here.
export const moduleNameMapper = {
  '^@kvring/client$': '<rootDir>/client/src/index.ts',
  '^@kvring/control-plane$': '<rootDir>/test/control-plane/index.ts',
  '^@kvring/test-support/(.+)$': '<rootDir>/test/support/$1',
  '^@kvring/([a-z-]+)/(.+)$': '<rootDir>/$1/src/$2',
  '^(\\.{1,2}/.*)\\.js$': '$1',
};

// Build trees (.cache holds image build contexts with package.json files of
// their own) and compiled output are never test modules.
export const modulePathIgnorePatterns = [
  '<rootDir>/.cache/',
  '<rootDir>/[a-z-]+/dist/',
  '<rootDir>/e2e/logs/',
];
