// What redaction costs a log line (docs/logs.md): the access-log object written by a Fastify logger to
// a null stream, without redaction, with serviceLogger's walk, and with pino's own `redact` paths.
//   node --conditions=@taskfleet/source shared/service/bench/redaction.ts   (prints the best of 6 runs)
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { serviceLogger } from '../src/server.ts';

const HEADERS = ['authorization', 'cookie', '["set-cookie"]'].map((h) => (h.startsWith('[') ? h : `.${h}`));
const FIELDS = ['password', 'refreshToken', 'accessToken', 'token'];
const variants: Record<string, object> = {
  none: { level: 'info' },
  'serviceLogger (walk)': serviceLogger('info') as object,
  'pino redact, exact paths': {
    level: 'info',
    redact: [
      ...HEADERS.flatMap((h) => [`headers${h}`, `req.headers${h}`, `request.headers${h}`, `res.headers${h}`]),
      ...FIELDS.flatMap((f) => [f, `body.${f}`, `req.body.${f}`]),
    ],
  },
  'pino redact, wildcards': {
    level: 'info',
    redact: [
      ...HEADERS.flatMap((h) => [`headers${h}`, `*.headers${h}`]),
      ...FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
    ],
  },
};

const line = { req: { method: 'GET', url: '/v1/tasks/123' }, res: { statusCode: 200 }, responseTime: 1.2 };
const best: Record<string, number> = {};
for (let run = 0; run < 6; run++) {
  for (const [name, options] of Object.entries(variants)) {
    const stream = new Writable({ write: (_c, _e, done) => done() });
    const { log } = Fastify({ logger: { ...options, stream } });
    for (let i = 0; i < 20_000; i++) log.info(line, 'request completed');
    const n = 200_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) log.info(line, 'request completed');
    const us = Number(process.hrtime.bigint() - t0) / n / 1000;
    best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, us);
  }
}
for (const [name, us] of Object.entries(best))
  process.stdout.write(`${name.padEnd(28)} ${us.toFixed(2)} µs/line\n`);
