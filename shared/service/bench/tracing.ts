// What tracing costs a request (docs/performance.md "Tracing"): CPU of a service process per request,
// with the tracing SDK off, sampling 10 % and sampling 100 % (exporting to a counting OTLP receiver).
// The process is the runService fixture of shared/service's tests (service defaults, one route) started
// as every service is (`--import tracing-register.ts`); 8 keep-alive connections send 10,000 requests
// after 2,000 to warm up; its CPU comes from /proc. Three alternating rounds, medians.
//   node --conditions=@taskfleet/source shared/service/bench/tracing.ts
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts, startOtlpReceiver } from '@taskfleet/infra';

const FIXTURE = join(import.meta.dirname, '..', 'test', 'fixtures', 'slow-service.ts');
const REGISTER = join(import.meta.dirname, '..', 'src', 'tracing-register.ts');
const SETTINGS = ['off', '0.1', '1'] as const;

/** User + system CPU of a process so far, in µs (clock ticks of 10 ms). */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function cpuPerRequest(setting: (typeof SETTINGS)[number], receiver: string): Promise<number> {
  const [port] = await freePorts(1);
  const tracing =
    setting === 'off'
      ? { OTEL_SDK_DISABLED: 'true' }
      : {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver,
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: setting,
        };
  const child = spawn(process.execPath, ['--conditions=@taskfleet/source', `--import=${REGISTER}`, FIXTURE], {
    env: {
      ...process.env,
      PORT: String(port),
      LOG_LEVEL: 'info',
      SLOW_MS: '0',
      OTEL_SERVICE_NAME: 'bench',
      ...tracing,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    for (;;) {
      if (
        await fetch(`${url}/health/live`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await sleep(100);
    }
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const get = () =>
      new Promise<void>((resolve, reject) =>
        request(`${url}/slow`, { agent }, (res) => res.resume().on('end', resolve))
          .on('error', reject)
          .end(),
      );
    const send = async (n: number) => {
      let sent = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (sent++ < n) await get();
        }),
      );
    };
    await send(2_000);
    const before = cpuUs(child.pid!);
    await send(10_000);
    const used = cpuUs(child.pid!) - before;
    agent.destroy();
    return used / 10_000;
  } finally {
    child.kill('SIGKILL');
  }
}

const receiver = await startOtlpReceiver({ keepSpans: false });
// A Map, not an object: "1" would sort before "off" as an integer key.
const runs = new Map<string, number[]>(SETTINGS.map((setting) => [setting, []]));
for (let round = 0; round < 3; round++)
  for (const setting of SETTINGS) runs.get(setting)!.push(await cpuPerRequest(setting, receiver.url));
await receiver.close();
for (const [setting, values] of runs) {
  const median = [...values].sort((a, b) => a - b)[1]!;
  process.stdout.write(
    `tracing ${setting.padEnd(4)} ${median.toFixed(0)} µs CPU per request (runs ${values.map((v) => v.toFixed(0)).join(', ')})\n`,
  );
}
