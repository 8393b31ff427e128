import { defineConfig } from 'vitest/config';

// Three projects: `npm test` runs them all; `npm test -- --project unit` (or infra) runs on a machine with no
// Redis or PostgreSQL, since only the integration project's global setup checks for them and starts the emulators.
export default defineConfig({
  test: {
    globalSetup: ['test/setup/node.ts'],
    reporters: ['default', './test/setup/summary-reporter.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: {
      // Powertools writes through the global console in dev mode, where tests can read what it emits.
      POWERTOOLS_DEV: 'true',
      // Dev mode turns metrics off unless told otherwise; the tests read the EMF they write.
      POWERTOOLS_METRICS_DISABLED: 'false',
      POWERTOOLS_SERVICE_NAME: 'lambda-infra-test',
      POWERTOOLS_METRICS_NAMESPACE: 'lambda-infra-test',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      // Lambda sets this; Powertools counts a cold start only for on-demand environments.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'infra', include: ['test/infra/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'functions/**/*.test.ts'],
          globalSetup: ['test/setup/node.ts', 'test/setup/global.ts'],
        },
      },
    ],
  },
});
