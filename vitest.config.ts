import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// One run, several projects (one per package plus the repo-wide config checks). Projects inherit this
// root config. Integration tests share one real stack started by the global setup (shared/infra).
export default defineConfig({
  // Workspace packages resolve to their TypeScript sources, as under `node --conditions=@taskfleet/source`.
  ssr: { resolve: { conditions: ['@taskfleet/source', ...defaultServerConditions] } },
  test: {
    globalSetup: ['shared/infra/src/vitest/global-setup.ts'],
    // Tests talk to real servers: generous limits, but a hung test still ends.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    maxWorkers: 3,
    projects: [
      { extends: true, test: { name: 'infra', include: ['shared/infra/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'events', include: ['shared/events/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'tasks', include: ['services/tasks/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'users', include: ['services/users/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'worker', include: ['services/worker/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'gateway', include: ['gateway/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'bench', include: ['bench/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'repo', include: ['test/**/*.test.ts'] } },
    ],
  },
});
