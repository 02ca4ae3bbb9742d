// The stack's state file: which processes we started and where they listen. `down`, `status`, the test
// harness and its watchdog all work from this file only — never from process names.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessIdentity, StopSpec } from './proc.ts';

export const COMPONENT_KINDS = [
  'postgres',
  'pgbouncer',
  'redis',
  'epmd',
  'rabbitmq',
  'nginx',
  'prometheus',
  'alertmanager',
  'exporter',
  'service',
  'autoscaler',
] as const;
export type ComponentKind = (typeof COMPONENT_KINDS)[number];

export interface ComponentRecord extends ProcessIdentity {
  name: string;
  kind: ComponentKind;
  /** host:port of its main listener */
  address: string;
  logFile: string;
  stop: StopSpec;
  /** Components stop tier by tier, ascending; one tier stops in parallel. */
  stopTier: number;
}

export interface HostPort {
  host: string;
  port: number;
}

export interface Endpoints {
  postgres: {
    primary: HostPort;
    replicas: (HostPort & { name: string })[];
    /** Superuser for administration and tests (pause replay, create databases). */
    adminUser: string;
    /** Role the services connect as; owns the application databases. */
    appUser: string;
    /** Passwords: none in the native stack (trust on loopback), generated ones under containers. */
    adminPassword?: string;
    appPassword?: string;
  };
  pgbouncer: HostPort;
  redis: HostPort;
  rabbitmq: HostPort & { user: string; password: string; prometheusPort: number };
  nginx: { host: string; httpPort: number; httpsPort: number; statusPort: number };
  prometheus: HostPort;
  alertmanager: HostPort;
  /** Taskfleet's own service replicas, when the stack runs them (`make up`). */
  services?: (HostPort & { service: string; index: number })[];
  /** The autoscaler, when the stack runs one (`make up`: live on tasks and gateway). */
  autoscaler?: HostPort & { mode: 'live' | 'dry-run' };
}

export interface StackState {
  version: 1;
  /** Local processes (components below); containers are described by compose.ts instead. */
  runtime: 'native';
  dir: string;
  /** For test stacks: when this process is gone, the watchdog stops the stack. */
  ownerPid: number | null;
  createdAt: string;
  /** The fixed layout's base port (`make up`: 21000); absent when the ports were picked free (tests). */
  basePort?: number;
  databases: string[];
  vhosts: string[];
  endpoints: Endpoints;
  components: ComponentRecord[];
}

export const stateFile = (dir: string) => join(dir, 'state.json');

export function readState(dir: string): StackState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as StackState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`unreadable stack state ${stateFile(dir)}: ${(err as Error).message}`);
  }
}

/** Atomic write (rename), so a reader never sees half a file. */
export function writeState(state: StackState): void {
  mkdirSync(state.dir, { recursive: true });
  const tmp = `${stateFile(state.dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, stateFile(state.dir));
}
