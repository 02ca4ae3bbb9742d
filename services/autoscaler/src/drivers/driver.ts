// What the autoscaler needs from an orchestrator: the services it manages, as they are now, and a way
// to set one's replica count that refuses when the service changed since it was read. Swarm
// (swarm.ts) and the native stack (native.ts) each answer it.
import type { Policy } from '../policy.ts';

export interface ManagedService {
  /** The name metrics and logs use (Swarm: taskfleet_tasks; native: tasks). */
  name: string;
  /** The Prometheus job whose replicas it measures. */
  job: string;
  /** The replica count it is set to now. */
  replicas: number;
  /** Mid-update, rolling back, or paused: not to be touched. */
  updating: boolean;
  policy: Policy;
  /** Per replica, when set: CPU cores, and bytes (the memory signal needs a limit to mean anything). */
  cpuLimit?: number;
  memoryLimit?: number;
}

export interface Listing {
  services: ManagedService[];
  /** Services it should manage but can't (a label it can't parse, a policy with min > max, …). */
  problems: { service: string; problem: string }[];
}

export type ScaleResult =
  | { ok: true }
  /** Someone else changed the service since it was read: nothing was written; read again next pass. */
  | { ok: false; reason: 'conflict' | 'updating' | 'gone'; detail: string };

export interface Driver {
  readonly kind: 'swarm' | 'native';
  list(): Promise<Listing>;
  /** Set the count of a service as listed; refuses (conflict) when it changed since. */
  scale(service: ManagedService, replicas: number): Promise<ScaleResult>;
  close(): Promise<void>;
}

/** The orchestrator could not be listed at start: one line on stderr and exit 1 (server.ts). */
export class OrchestratorUnavailable extends Error {
  override name = 'OrchestratorUnavailable';
}
