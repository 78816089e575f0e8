import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ApiError } from './errors.ts';

/** Where the outcomes of requests with an Idempotency-Key are kept (the store's idempotency table). */
export interface IdempotencyKeys {
  beginIdempotent(scope: string, key: string, requestHash: string): Promise<{ requestHash: string; status: number; body: unknown } | null>;
  finishIdempotent(scope: string, key: string, status: number, body: unknown): Promise<void>;
  abandonIdempotent(scope: string, key: string): Promise<void>;
}

const KEY = /^[\x21-\x7e]{1,200}$/;
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** A claim in progress longer than any request takes (upload limit parsed, database timeouts) is a dead request's. */
export const IDEMPOTENCY_CLAIM_MS = 60_000;

/**
 * Runs `handler` once per Idempotency-Key: a repeat gets the first response (marked
 * Idempotent-Replayed) and applies nothing. The key is scoped to the route, the path and the caller.
 * Only successful responses are kept: a request that failed applied nothing and frees its key.
 */
export async function idempotent<R extends Response>(c: Context, store: IdempotencyKeys, principal: string | null, handler: () => Promise<R>): Promise<R> {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return handler();
  if (!KEY.test(key)) {
    throw new ApiError(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 200 visible ASCII characters, for example a UUID.');
  }
  const scope = `${c.req.method} ${c.req.path} ${principal ?? ''}`;
  const body = new Uint8Array(await c.req.arrayBuffer());
  const requestHash = createHash('sha256').update(c.req.header('content-type') ?? '').update(body).digest('base64url');
  const previous = await store.beginIdempotent(scope, key, requestHash);
  if (previous) {
    if (previous.requestHash !== requestHash) {
      throw new ApiError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request; use a new key for a new request.');
    }
    if (previous.status === 0) {
      throw new ApiError(409, 'IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed; retry in a moment.');
    }
    c.header('Idempotent-Replayed', 'true');
    // The stored answer is this route's own earlier success, so it has the type the route declares.
    return c.json(previous.body, previous.status as ContentfulStatusCode) as unknown as R;
  }
  let response: R;
  try {
    response = await handler();
  } catch (error) {
    // A request that failed applied nothing: free the key so the client may try again with it.
    await store.abandonIdempotent(scope, key);
    throw error;
  }
  await store.finishIdempotent(scope, key, response.status, await response.clone().json());
  return response;
}
