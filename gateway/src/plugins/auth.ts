// Access tokens verified at the edge of the API by the shared verifier (same algorithms, cache and
// failure semantics as the services behind): the users service's public keys are fetched through the
// same replicas the gateway routes to, trying each in turn.
import type { KeySource } from '@taskfleet/service';
import { BearerVerifier, bearerAuth } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { GatewayErrors } from '../errors.ts';
import type { UpstreamGroup } from '../upstreams.ts';

const jwksThrough =
  (users: UpstreamGroup): KeySource =>
  async () => {
    for (const upstream of users.upstreams) {
      try {
        const res = await upstream.pool.request({
          method: 'GET',
          path: '/.well-known/jwks.json',
          headersTimeout: 2_000,
          bodyTimeout: 2_000,
        });
        if (res.statusCode === 200) return await res.body.text();
        await res.body.dump();
      } catch {
        // the next replica
      }
    }
    throw new Error('no replica of the users service served its JWKS');
  };

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const verifier = new BearerVerifier({
      keys: jwksThrough(app.upstreams.users),
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      refreshSeconds: config.JWKS_CACHE_SECONDS,
    });
    await app.register(bearerAuth, { verifier, errors: GatewayErrors });
  },
  { name: 'auth', dependencies: ['upstreams'] },
);
