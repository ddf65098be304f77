// Two projects: fast pure unit tests, and end-to-end suites against real Postgres, Redis and kimi-sim.
const swc = ['@swc/jest', {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
}];
const moduleNameMapper = {
  '^@so/(domain|persistence|llm|queue|pool)$': '<rootDir>/libs/$1/src',
  '^@so/(domain|persistence|llm|queue|pool)/(.*)$': '<rootDir>/libs/$1/src/$2',
  '^@so/kimi-sim$': '<rootDir>/apps/kimi-sim/src',
  '^@so/client$': '<rootDir>/libs/client/src',
  '^@so/kimi-sim/(.*)$': '<rootDir>/apps/kimi-sim/src/$1',
};
const common = { rootDir: __dirname, transform: { '^.+\\.ts$': swc }, moduleNameMapper, testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'] };
module.exports = {
  // Top level: Jest ignores testTimeout inside `projects` entries. End-to-end suites boot real services.
  testTimeout: 60000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], testTimeout: 60000, slowTestThreshold: 30 },
  ],
};
