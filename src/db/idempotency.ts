import { and, eq, lt, sql } from 'drizzle-orm';
import type { Database } from './client.ts';
import { idempotencyKeys } from './schema.ts';

/** Responses to requests that carried an Idempotency-Key. */
export function idempotencyStore(db: Database) {
  const where = (scope: string, key: string) => and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key));
  return {
    /**
     * Reserves an idempotency key. Returns null when this request is the first with the key (it then
     * runs and calls finishIdempotent), else the stored outcome of the first one.
     */
    async beginIdempotent(
      scope: string,
      key: string,
      requestHash: string,
      claimMs: number,
    ): Promise<{ requestHash: string; status: number; body: unknown } | null> {
      // A claim still in progress after claimMs belongs to a request whose process died (kill -9
      // between claim and answer): this request takes it over instead of waiting for the clean-up.
      const claimed = await db
        .insert(idempotencyKeys)
        .values({ scope, key, requestHash, status: 0 })
        .onConflictDoUpdate({
          target: [idempotencyKeys.scope, idempotencyKeys.key],
          set: { requestHash, createdAt: sql`now()` },
          setWhere: and(eq(idempotencyKeys.status, 0), eq(idempotencyKeys.requestHash, requestHash), lt(idempotencyKeys.createdAt, sql`now() - ${claimMs} * interval '1 millisecond'`)),
        })
        .returning({ key: idempotencyKeys.key });
      if (claimed.length > 0) return null;
      const [row] = await db
        .select({ requestHash: idempotencyKeys.requestHash, status: idempotencyKeys.status, body: idempotencyKeys.body })
        .from(idempotencyKeys)
        .where(where(scope, key));
      // Deleted in between (the first request failed): let this one run.
      return row ?? null;
    },

    async finishIdempotent(scope: string, key: string, status: number, body: unknown): Promise<void> {
      await db.update(idempotencyKeys).set({ status, body }).where(where(scope, key));
    },

    async abandonIdempotent(scope: string, key: string): Promise<void> {
      await db.delete(idempotencyKeys).where(and(where(scope, key), eq(idempotencyKeys.status, 0)));
    },

    async expireIdempotencyKeys(olderThanMs: number): Promise<number> {
      const deleted = await db
        .delete(idempotencyKeys)
        .where(lt(idempotencyKeys.createdAt, new Date(Date.now() - olderThanMs)))
        .returning({ key: idempotencyKeys.key });
      return deleted.length;
    },
  };
}

export type IdempotencyStore = ReturnType<typeof idempotencyStore>;
