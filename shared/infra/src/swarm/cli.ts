#!/usr/bin/env node
// taskfleet-swarm — Docker Swarm deploys and the lab behind `make lab-up|lab-status|lab-down`,
// `make swarm-secrets` and `make swarm-deploy` (docs/deploy-swarm.md).
//
//   node shared/infra/src/swarm/cli.ts lab-up                 three DinD nodes, the registry, the stack
//   node shared/infra/src/swarm/cli.ts lab-status [--json]    manager, edge, nodes, services
//   node shared/infra/src/swarm/cli.ts lab-down               remove everything the lab made
//   node shared/infra/src/swarm/cli.ts secrets --dir DIR      make the missing secret files
//   node shared/infra/src/swarm/cli.ts deploy --secrets DIR --registry HOST:PORT [--version V]
//        deploy deploy/swarm/stack.yml as `taskfleet` through DOCKER_HOST (a manager), after the checks
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DeployRefused, deployStack, STACK_FILE } from './deploy.ts';
import { labDir, labDown, labStatus, labUp, STACK } from './lab.ts';
import { ensureSecrets } from './secrets.ts';

const USAGE =
  'usage: taskfleet-swarm lab-up | lab-status [--json] | lab-down | secrets --dir DIR | deploy --secrets DIR --registry HOST:PORT [--version V]';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    dir: { type: 'string' },
    secrets: { type: 'string' },
    registry: { type: 'string', default: process.env.TASKFLEET_REGISTRY },
    version: { type: 'string', default: process.env.TASKFLEET_VERSION ?? '0.1.0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
const started = Date.now();
const progress = (m: string) =>
  err(`[swarm ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${m}`);

async function main(): Promise<number> {
  const [command] = positionals;
  const dir = labDir();
  switch (command) {
    case 'lab-up': {
      const info = await labUp({ dir, progress });
      out(
        `the lab is up: 3 nodes, stack ${STACK} converged (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      );
      out(`edge:        ${info.edge}   ${info.edgeTls} (self-signed: curl -k)`);
      out(`prometheus:  ${info.prometheus}`);
      out(`manager:     docker exec -it ${info.manager} sh   (or DOCKER_HOST=${info.dockerHost} docker …)`);
      return 0;
    }
    case 'lab-status': {
      const status = await labStatus(dir);
      if (!status) {
        if (values.json) out(JSON.stringify({ running: false, nodes: [], services: [] }));
        else out('no lab running (make lab-up)');
        return 1;
      }
      if (values.json) {
        out(JSON.stringify({ running: true, ...status }, null, 2));
      } else {
        out(`manager ${status.manager}   edge ${status.edge}   prometheus ${status.prometheus}`);
        for (const n of status.nodes)
          out(
            `  node ${n.name.padEnd(6)} ${n.role.padEnd(18)} ${n.state.padEnd(6)} ${n.availability.padEnd(7)} ${n.labels.join(' ')}`,
          );
        for (const s of status.services)
          out(
            `  ${s.name.padEnd(40)} ${s.mode.padEnd(15)} ${s.replicas.padEnd(22)} ${s.converged ? '' : 'CONVERGING'}`,
          );
      }
      return status.services.length > 0 && status.services.every((s) => s.converged) ? 0 : 1;
    }
    case 'lab-down': {
      const removed = await labDown({ dir, progress });
      out(
        removed.length > 0
          ? `removed ${removed.length} lab objects; nothing of the lab is left`
          : 'no lab to remove',
      );
      return 0;
    }
    case 'secrets': {
      if (!values.dir) break;
      const made = await ensureSecrets(resolve(values.dir));
      out(
        made.length > 0
          ? `made ${made.join(', ')} in ${values.dir} (mode 0600)`
          : `every secret file is there in ${values.dir}`,
      );
      return 0;
    }
    case 'deploy': {
      if (!values.secrets || !values.registry) break;
      if (!process.env.DOCKER_HOST)
        progress("DOCKER_HOST is not set: deploying through this machine's engine");
      await deployStack({
        target: { host: process.env.DOCKER_HOST },
        stack: STACK,
        composeFiles: [STACK_FILE],
        secretsDir: resolve(values.secrets),
        registry: values.registry,
        env: { TASKFLEET_VERSION: values.version },
        progress,
      });
      out(`stack ${STACK} deployed and converged`);
      return 0;
    }
  }
  err(USAGE);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof DeployRefused) {
      err(e.message);
      process.exit(3);
    }
    err(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
