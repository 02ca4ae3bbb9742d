// What the users service issues and checks: argon2id password hashes (bounded, passwords.ts), access
// tokens signed with its private keys (tokens.ts), and — for its own /v1/users/me — the shared bearer
// verifier over its own public keys, so a token is judged here exactly as at the gateway.
import { BearerVerifier, bearerAuth, jwksFromText } from '@taskfleet/service';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { UsersErrors } from '../errors.ts';
import { PasswordHasher } from '../passwords.ts';
import { loadSigningKeys, TokenIssuer } from '../tokens.ts';

declare module 'fastify' {
  interface FastifyInstance {
    passwords: PasswordHasher;
    tokenIssuer: TokenIssuer;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const issuer = new TokenIssuer(await loadSigningKeys(config.AUTH_SIGNING_KEYS), {
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    });
    app.decorate('tokenIssuer', issuer);
    app.decorate(
      'passwords',
      new PasswordHasher({
        concurrency: config.PASSWORD_HASH_CONCURRENCY,
        queue: config.PASSWORD_HASH_QUEUE,
      }),
    );
    const verifier = new BearerVerifier({
      keys: jwksFromText(JSON.stringify(issuer.jwks())),
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      refreshSeconds: 3600, // its own keys: they change only with a restart
    });
    await app.register(bearerAuth, { verifier, errors: UsersErrors });
  },
  { name: 'tokens' },
);
