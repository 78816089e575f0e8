import { and, eq, inArray, isNull, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm';
import { TERMINAL_STATUSES } from '../machine/table.ts';
import { rowsOf, type Database } from './client.ts';
import { workflows, type WorkflowRow } from './schema.ts';

/** A workflow another instance does not hold: no owner, ours, or a lease that ran out. */
function claimable(owner: string): SQL {
  return or(isNull(workflows.owner), eq(workflows.owner, owner), lt(workflows.leaseUntil, sql`now()`))!;
}

function leaseUntil(leaseMs: number): SQL {
  return sql`now() + ${leaseMs} * interval '1 millisecond'`;
}

/** Leases: which instance runs which workflow, and until when its claim holds without renewal. */
export function leaseStore(db: Database) {
  return {
    /**
     * Claims every unfinished workflow that no live instance holds (no owner, our own, or an expired
     * lease) and returns the claimed rows: the ones this instance must restore.
     */
    async claimUnfinished(owner: string, leaseMs: number): Promise<WorkflowRow[]> {
      return db
        .update(workflows)
        .set({ owner, leaseUntil: leaseUntil(leaseMs) })
        .where(and(notInArray(workflows.status, [...TERMINAL_STATUSES]), claimable(owner)))
        .returning();
    },

    /** Claims one workflow for `owner`; null when it does not exist, is completed, or another live instance holds it. */
    async claim(id: string, owner: string, leaseMs: number): Promise<WorkflowRow | null> {
      const [row] = await db
        .update(workflows)
        .set({ owner, leaseUntil: leaseUntil(leaseMs) })
        .where(and(eq(workflows.id, id), ne(workflows.status, 'completed'), claimable(owner)))
        .returning();
      return row ?? null;
    },

    /**
     * Extends the leases `owner` still holds; returns the ids it holds no longer. Never waits for a
     * row lock: a row the group commit is writing right now is skipped (it stays held, and is renewed
     * on the next beat, well before the lease runs out), so renewals and writes cannot deadlock.
     */
    async renewLeases(owner: string, ids: string[], leaseMs: number): Promise<string[]> {
      if (ids.length === 0) return [];
      const held = rowsOf<{ id: string }>(
        await db.execute(sql`
          with mine as (
            select id from ${workflows}
            where id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)) and owner = ${owner}
          ),
          free as (
            select id from ${workflows} where id in (select id from mine) order by id for update skip locked
          ),
          renewed as (
            update ${workflows} as w set lease_until = ${leaseUntil(leaseMs)} from free where w.id = free.id returning w.id
          )
          select id from mine`),
      );
      const mine = new Set(held.map((r) => r.id));
      return ids.filter((id) => !mine.has(id));
    },

    /** Gives up `owner`'s leases so another instance may take the workflows over at once. */
    async releaseLeases(owner: string, ids?: string[]): Promise<void> {
      await db
        .update(workflows)
        .set({ owner: null, leaseUntil: null })
        .where(and(eq(workflows.owner, owner), ids ? inArray(workflows.id, ids) : undefined));
    },
  };
}

export type LeaseStore = ReturnType<typeof leaseStore>;
