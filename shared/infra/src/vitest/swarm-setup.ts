// globalSetup of the `swarm` project: the three-node Swarm lab (swarm/lab.ts), brought up — or reused
// when one is already running, as `make lab-up` leaves it — and its addresses provided to the tests.
// Without a Docker engine the tests are skipped, saying why. The lab is removed at the end unless it was
// already there before the run or TASKFLEET_KEEP_LAB=1 (then `make lab-down` removes it).
import type { TestProject } from 'vitest/node';
import { dockerEngineAnswers } from '../containers.ts';
import { type LabInfo, labDir, labDown, labIsOurs, labLeftovers, labUp } from '../swarm/lab.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    swarmLab: (LabInfo & { dir: string }) | null;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!(await dockerEngineAnswers())) {
    process.stderr.write(
      'swarm: no Docker engine answers — the Swarm lab tests are skipped (make lab-up installs and starts one)\n',
    );
    project.provide('swarmLab', null);
    return undefined;
  }
  const dir = labDir();
  const before = await labIsOurs(dir);
  const t0 = Date.now();
  const progress = (m: string) =>
    process.stderr.write(`[lab ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);
  const info = await labUp({ dir, progress });
  process.stderr.write(`swarm: the lab is up in ${Math.round((Date.now() - t0) / 1000)} s (${info.edge})\n`);
  project.provide('swarmLab', { ...info, dir });
  const keep = before || process.env.TASKFLEET_KEEP_LAB === '1';
  return async () => {
    if (keep) return;
    const t1 = Date.now();
    await labDown({ dir });
    // `make lab-down` must leave nothing: checked here, on every run that made a lab.
    const left = await labLeftovers();
    if (left.length > 0) throw new Error(`swarm: lab-down left ${left.join(', ')}`);
    process.stderr.write(
      `swarm: the lab is removed, nothing left (${Math.round((Date.now() - t1) / 1000)} s)\n`,
    );
  };
}
