// What an Idempotency-Key is, and what "the same request" means, for every layer that honours one:
// the gateway's Redis fast path and each service that records keys with the effect they guard (the
// task service, in the same transaction as the task). Both must agree, or a retry could be a replay at
// one layer and a "different request" (422) at the other (docs/gateway.md, ADR 0009).
import { createHash } from 'node:crypto';

/** The header's allowed form: 1–255 visible ASCII characters (the IETF httpapi draft leaves it open). */
const KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * The key a client sent: undefined without one, 'invalid' when the header is there but malformed
 * (the caller answers 400 in its own error code).
 */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined | 'invalid' {
  if (header === undefined) return undefined;
  return typeof header === 'string' && KEY.test(header) ? header : 'invalid';
}

/** A fixed-size digest of the key (32 bytes): what is stored, so a long key costs no more than a short one. */
export const keyDigest = (key: string): Buffer => createHash('sha256').update(key).digest();

/**
 * The request a key was first used for: method, path with query, and the body exactly as sent. The
 * gateway forwards bodies byte for byte, so a service computes the same fingerprint as the gateway.
 */
export function requestFingerprint(method: string, url: string, body: Buffer | undefined): Buffer {
  return createHash('sha256')
    .update(`${method} ${url}\n`)
    .update(body ?? '')
    .digest();
}

/** Set on an answer that repeats the first answer to a key instead of running the request again. */
export const REPLAYED_HEADER = 'idempotent-replayed';
