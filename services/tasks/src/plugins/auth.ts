// Who is calling: a bearer access token (JWT) issued by the users service, verified here against its
// public keys (JWKS) by the shared verifier. The owner of every task operation is the token's subject —
// never a header or body field a client could set. See docs/adr/0002-identity-contract.md.
import { BearerVerifier, bearerAuth, jwksFromText, jwksFromUrl } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { TasksErrors } from '../errors.ts';

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const { AUTH_JWKS, AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE } = config;
    const verifier = new BearerVerifier({
      keys: AUTH_JWKS ? jwksFromText(AUTH_JWKS) : jwksFromUrl(AUTH_JWKS_URL!),
      issuer: AUTH_ISSUER,
      audience: AUTH_AUDIENCE,
      // The users service publishes a new key well before it signs with it (ADR 0005).
      refreshSeconds: 600,
    });
    await app.register(bearerAuth, { verifier, errors: TasksErrors });
  },
  { name: 'auth' },
);
