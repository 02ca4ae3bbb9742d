#!/usr/bin/env node
// taskfleet-stack — the native stack runner behind `make up`, `make down` and `make status`.
//
//   node shared/infra/src/cli.ts up     [--dir DIR] [--base-port N] [--replicas 1|2] [--autoscaler live|dry-run|off]
//   node shared/infra/src/cli.ts down   [--dir DIR] [--purge]
//   node shared/infra/src/cli.ts status [--dir DIR] [--json]
//   node shared/infra/src/cli.ts scale  tasks=N gateway=M users=K worker=W [--dir DIR]
//                                      (any of them; exit 2 bad input, 75 another scale is running)
//   node shared/infra/src/cli.ts env    [--dir DIR]          (connection settings as KEY=value lines)
//   node shared/infra/src/cli.ts deps                        (install missing Debian packages, as root)
//   node shared/infra/src/cli.ts token  [--user UUID]        (a development access token, local only)
// With --runtime docker, up/down/status/clean run docker-compose.yml instead (compose-cli.ts).
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { mintDevToken } from './components/services.ts';
import { composeMain } from './compose-cli.ts';
import { stackEnv } from './env.ts';
import { repoPath } from './paths.ts';
import { parseScaleArgs, ScaleError, scaleStack } from './scale.ts';
import { stackStatus, startStack, stopStack } from './stack.ts';
import { ensurePackages, missingPackages } from './system.ts';

const USAGE =
  'usage: taskfleet-stack up|down|status|env|deps|token [--dir DIR] [--base-port N] [--replicas 1|2] [--autoscaler live|dry-run|off] [--json] [--purge] [--runtime native|docker]\n' +
  '       taskfleet-stack scale SERVICE=N … [--dir DIR]   (tasks, users, gateway, worker; 1 to 8 each)';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: process.env.TASKFLEET_STACK_DIR ?? repoPath('.stack') },
    'base-port': { type: 'string', default: process.env.TASKFLEET_BASE_PORT ?? '21000' },
    // Replicas of gateway, tasks and users: 2 for failover; 1 on a small host (docs/performance.md).
    replicas: { type: 'string', default: process.env.TASKFLEET_REPLICAS ?? '2' },
    // The autoscaler on tasks and gateway: live unless TASKFLEET_AUTOSCALER or
    // TASKFLEET_AUTOSCALER_DRY_RUN say otherwise (docs/native-stack.md).
    autoscaler: { type: 'string', default: autoscalerDefault(process.env) },
    json: { type: 'boolean', default: false },
    purge: { type: 'boolean', default: false },
    runtime: { type: 'string', default: 'native' },
    user: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

/**
 * `--autoscaler`'s default: TASKFLEET_AUTOSCALER (live, dry-run, off) when set, else dry-run when
 * TASKFLEET_AUTOSCALER_DRY_RUN is 1 or true (the variable the Swarm stack reads too), else live.
 */
function autoscalerDefault(env: NodeJS.ProcessEnv): string {
  if (env.TASKFLEET_AUTOSCALER) return env.TASKFLEET_AUTOSCALER;
  const dry = (env.TASKFLEET_AUTOSCALER_DRY_RUN ?? '').toLowerCase();
  if (dry === '1' || dry === 'true') return 'dry-run';
  if (dry === '' || dry === '0' || dry === 'false') return 'live';
  return `TASKFLEET_AUTOSCALER_DRY_RUN=${env.TASKFLEET_AUTOSCALER_DRY_RUN}`; // refused below
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);
const dir = resolve(values.dir);
const started = Date.now();
const progress = (m: string) =>
  err(`[stack ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${m}`);

function printStatus(): boolean {
  const { components } = stackStatus(dir);
  if (values.json) {
    out(JSON.stringify({ dir, components }, null, 2));
  } else if (components.length === 0) {
    out(`no stack running in ${dir}`);
  } else {
    out(`${'NAME'.padEnd(20)} ${'KIND'.padEnd(13)} ${'PID'.padEnd(8)} ${'ADDRESS'.padEnd(22)} STATE`);
    for (const c of components) {
      out(
        `${c.name.padEnd(20)} ${c.kind.padEnd(13)} ${String(c.pid).padEnd(8)} ${c.address.padEnd(22)} ${c.alive ? 'up' : 'DOWN'}`,
      );
    }
  }
  return components.length > 0 && components.every((c) => c.alive);
}

async function main(): Promise<number> {
  const [command] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command ? 0 : 2;
  }
  if (values.runtime === 'docker') return composeMain(command, { json: values.json, purge: values.purge });
  if (values.runtime !== 'native') {
    err(`--runtime must be native or docker, not ${values.runtime}`);
    return 2;
  }
  switch (command) {
    case 'up': {
      const basePort = Number(values['base-port']);
      if (!Number.isInteger(basePort) || basePort < 1024)
        throw new Error(`invalid --base-port ${values['base-port']}`);
      if (values.replicas !== '1' && values.replicas !== '2') {
        err('--replicas (TASKFLEET_REPLICAS) must be 1 or 2');
        return 2;
      }
      const replicas = values.replicas === '1' ? 1 : 2;
      const mode = values.autoscaler;
      if (mode !== 'live' && mode !== 'dry-run' && mode !== 'off') {
        err(
          `--autoscaler (TASKFLEET_AUTOSCALER) must be live, dry-run or off, and TASKFLEET_AUTOSCALER_DRY_RUN 1, true, 0 or false: not ${mode}`,
        );
        return 2;
      }
      const state = await startStack({
        dir,
        ports: basePort,
        services: true,
        replicas,
        ...(mode === 'off' ? {} : { autoscaler: { mode } }),
        onProgress: progress,
      });
      printStatus();
      const env = stackEnv(state);
      out('');
      const { nginx } = state.endpoints;
      out(`the API:       https://localhost:${nginx.httpsPort}  (curl --cacert ${dir}/nginx/tls/tls.crt)`);
      out(`               http://localhost:${nginx.httpPort}`);
      for (const r of state.endpoints.services ?? [])
        out(`${`${r.service}-${r.index}:`.padEnd(15)}http://${r.host}:${r.port}  (direct, for operators)`);
      out(`prometheus:    ${env.PROMETHEUS_URL}`);
      out(`alertmanager:  ${env.ALERTMANAGER_URL}`);
      const scaler = state.endpoints.autoscaler;
      out(
        scaler
          ? `autoscaler:    http://${scaler.host}:${scaler.port}  (${scaler.mode === 'live' ? 'live: scales' : 'dry run: decides for'} tasks and gateway; its decisions in ${dir}/logs/autoscaler.log)`
          : 'autoscaler:    off',
      );
      out(`logs:          ${dir}/logs`);
      out(`connection settings: node shared/infra/src/cli.ts env   (stop with: make down)`);
      return 0;
    }
    case 'down':
      await stopStack(dir, progress);
      if (values.purge) rmSync(dir, { recursive: true, force: true });
      progress(
        values.purge ? `stack stopped, ${dir} removed` : 'stack stopped (data kept; --purge removes it)',
      );
      return 0;
    case 'status':
      return printStatus() ? 0 : 3;
    case 'scale': {
      try {
        const results = await scaleStack(dir, parseScaleArgs(positionals.slice(1)), { onProgress: progress });
        for (const r of results) {
          const change = [...r.started.map((n) => `+${n}`), ...r.stopped.map((n) => `-${n}`)].join(' ');
          out(`${r.service}: ${r.from} → ${r.to}${change ? `  (${change})` : ''}`);
          for (const w of r.warnings) err(`warning: ${w}`);
        }
        return 0;
      } catch (e) {
        if (!(e instanceof ScaleError)) throw e;
        err(`taskfleet-stack scale: ${e.message}`);
        if (e.exitCode === 2) err(USAGE);
        return e.exitCode;
      }
    }
    case 'deps': {
      const missing = missingPackages();
      if (missing.length > 0) {
        progress(`installing Debian packages: ${missing.join(' ')}`);
        await ensurePackages();
      }
      return 0;
    }
    case 'token': {
      // A development access token for the native stack (until the users service issues real ones).
      const user = values.user ?? randomUUID();
      out(await mintDevToken(dir, user));
      progress(`token for user ${user}, valid 1 h (local development only)`);
      return 0;
    }
    case 'env': {
      const { state } = stackStatus(dir);
      if (!state) throw new Error(`no stack in ${dir}`);
      for (const [k, v] of Object.entries(stackEnv(state))) out(`${k}=${v}`);
      return 0;
    }
    default:
      err(USAGE);
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    err(`taskfleet-stack: ${e.message}`);
    process.exitCode = 1;
  },
);
