// Test tooling: JSON over HTTPS against the edge's own certificate.
import { request as httpsRequest } from 'node:https';

/** A JSON request over HTTPS that trusts exactly `ca` (fetch can't be given a CA without undici). */
export function httpsJson(
  url: string,
  opts: { method: string; body?: unknown; token?: string; headers?: Record<string, string>; ca: Buffer },
): Promise<{ status: number; headers: Record<string, unknown>; json: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = httpsRequest(
      url,
      {
        method: opts.method,
        ca: opts.ca,
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            json: text ? JSON.parse(text) : undefined,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
