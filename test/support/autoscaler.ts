// An autoscaler on a test's native stack, for the dashboards to have its metrics: in this process, the
// native driver on the stack's own replicas, in dry run (it decides and counts every pass, it never
// scales), added to the stack's Prometheus as job `autoscaler` (file discovery, as `make up`'s services).
import { rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildApp, loadConfig } from '@taskfleet/autoscaler';
import { afterAll, beforeAll } from 'vitest';
import type { EdgeStack } from './edge-stack.ts';
import { native } from './edge-stack.ts';

export function dryRunAutoscaler(stack: EdgeStack): void {
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let target: string | undefined;
  beforeAll(async () => {
    if (!native) return;
    const { host, port } = stack.state.endpoints.prometheus;
    app = await buildApp(
      loadConfig({
        PROMETHEUS_URL: `http://${host}:${port}`,
        AUTOSCALER_DRIVER: 'native',
        TASKFLEET_STACK_DIR: stack.dir,
        AUTOSCALER_DRY_RUN: 'true',
        AUTOSCALER_INTERVAL: '5s',
        LOG_LEVEL: 'warn',
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port: own } = app.server.address() as AddressInfo;
    target = join(stack.dir, 'prometheus', 'targets', 'services', 'autoscaler.json');
    writeFileSync(target, JSON.stringify([{ labels: { job: 'autoscaler' }, targets: [`127.0.0.1:${own}`] }]));
  });
  afterAll(async () => {
    if (target) rmSync(target, { force: true });
    await app?.close();
  });
}
