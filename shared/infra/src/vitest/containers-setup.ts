// globalSetup of the `containers` project: build every image of docker-compose.yml from the current
// tree (deploy/images/build.sh; the layer cache makes it seconds when nothing changed, and a cold
// build prints each image's duration), and remove what an earlier run that was killed left behind —
// compose projects named tf-<tag>-<pid> whose process is gone, and containers testcontainers started.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildImages } from '../compose.ts';
import { dockerEngineAnswers } from '../containers.ts';

const exec = promisify(execFile);

export default async function setup(): Promise<void> {
  if (!(await dockerEngineAnswers())) {
    process.stderr.write(
      'containers: no Docker engine answers — the compose and image tests are skipped (make up RUNTIME=docker installs and starts one)\n',
    );
    return;
  }
  await removeLeftovers();
  const started = Date.now();
  process.stderr.write('containers: building the images (deploy/images/build.sh)\n');
  await buildImages({ missingOnly: false });
  process.stderr.write(`containers: images ready in ${Math.round((Date.now() - started) / 1000)} s\n`);
}

async function removeLeftovers(): Promise<void> {
  const { stdout } = await exec('docker', [
    'ps',
    '-a',
    '--filter',
    'label=com.docker.compose.project',
    '--format',
    '{{.Label "com.docker.compose.project"}}',
  ]);
  for (const project of new Set(stdout.split('\n').filter((p) => /^tf-[a-z0-9]+-\d+$/.test(p)))) {
    const pid = Number(project.split('-').at(-1));
    if (isRunning(pid)) continue;
    process.stderr.write(`containers: removing ${project}, left by a run that is gone\n`);
    await removeLabelled(`com.docker.compose.project=${project}`);
  }
  // The image tests label their containers with the test process's PID.
  const { stdout: tc } = await exec('docker', [
    'ps',
    '-a',
    '--filter',
    'label=taskfleet.test-pid',
    '--format',
    '{{.Label "taskfleet.test-pid"}}',
  ]);
  for (const pid of new Set(tc.split('\n').filter(Boolean)))
    if (!isRunning(Number(pid))) await removeLabelled(`taskfleet.test-pid=${pid}`);
}

/** Containers (with their anonymous volumes), then networks and volumes carrying the label. */
async function removeLabelled(label: string): Promise<void> {
  const ids = async (what: string[]) =>
    (await exec('docker', [...what, '-q', '--filter', `label=${label}`])).stdout.split('\n').filter(Boolean);
  const containers = await ids(['ps', '-a']);
  if (containers.length) await exec('docker', ['rm', '-f', '-v', ...containers]);
  const networks = await ids(['network', 'ls']);
  if (networks.length) await exec('docker', ['network', 'rm', ...networks]);
  const volumes = await ids(['volume', 'ls']);
  if (volumes.length) await exec('docker', ['volume', 'rm', ...volumes]);
}
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
