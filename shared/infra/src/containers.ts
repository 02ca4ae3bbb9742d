// Is there a Docker engine? `make up` and the test runner choose the docker runtime (compose.ts) when
// one answers; the compose end-to-end and image tests run only then.
import { request } from 'node:http';

/** True when a Docker engine answers on its socket (≈1–10 ms; false at once when there is none). */
export function dockerEngineAnswers(timeoutMs = 1_000): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) return Promise.resolve(true); // tcp/ssh: let testcontainers try
  const socketPath = host ? host.slice('unix://'.length) : '/var/run/docker.sock';
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
