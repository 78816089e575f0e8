import { and, eq, inArray, isNull, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm';
import { STEP_PHASES, TERMINAL_STATUSES } from '../machine/table.ts';
import { rowsOf, type Database } from './client.ts';
import { instances, workflows, type WorkflowRow } from './schema.ts';

/**
 * A workflow no live instance holds: no owner, ours, a lease that ran out, or an owner whose heartbeat
 * is older than `deadAfterMs` (it died: its workflows are taken over at once, not lease by lease). An
 * owner with no instance row at all (an older version) keeps its workflows until their leases run out.
 */
function claimable(owner: string, deadAfterMs: number): SQL {
  return or(
    isNull(workflows.owner),
    eq(workflows.owner, owner),
    lt(workflows.leaseUntil, sql`now()`),
    sql`exists (select 1 from ${instances} where ${instances.id} = ${workflows.owner} and ${instances.heartbeatAt} < now() - ${deadAfterMs} * interval '1 millisecond')`,
  )!;
}

/** Statuses whose workflows wait for a person and use no capacity: every instance may hold any number. */
const WAITING_STATUSES = ['awaiting_review'] as const;

/**
 * The claim takes over a row whose holder was running a step (status running, an owner that did not
 * hand it back): the holder died or was killed during the attempt, so the claim counts it, durably and
 * before the step runs again here. A row handed back by a shutdown has no owner and is not counted;
 * nor is one this very process let go of and takes back (`countOwn` false: an actor evicted after a
 * failed write, say), since nothing died.
 */
function countInterruption(owner: string, countOwn: boolean): SQL {
  return sql`case
    when ${workflows.owner} is not null and (${workflows.owner} <> ${owner} or ${countOwn}) and ${workflows.status} = 'running'
      and ${workflows.phase} in (${sql.join(STEP_PHASES.map((p) => sql`${p}`), sql`, `)})
    then ${workflows.interruptions} + 1 else ${workflows.interruptions} end`;
}

function leaseUntil(leaseMs: number): SQL {
  return sql`now() + ${leaseMs} * interval '1 millisecond'`;
}

/** How long an instance may stay silent before its workflows are taken over (INSTANCE_TIMEOUT_SECONDS). */
export const DEFAULT_DEAD_AFTER_MS = 10_000;

export interface ClaimOptions {
  /** An owner whose heartbeat is older than this is dead. */
  deadAfterMs?: number;
  /** At most this many busy (not waiting) workflows are claimed. */
  busyLimit?: number;
  /** Also claim workflows marked needs_migration (at start-up, when the code may have learnt their version). */
  includeNeedsMigration?: boolean;
  /** Leave the rows `owner` already holds (the periodic adoption: those run here already). */
  excludeOwn?: boolean;
}

/** A raw row as drizzle's typed queries return it (timestamps as dates). */
function normaliseRow(row: WorkflowRow): WorkflowRow {
  const date = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
  return { ...row, leaseUntil: date(row.leaseUntil), createdAt: date(row.createdAt)!, updatedAt: date(row.updatedAt)! };
}

/** Leases: which instance runs which workflow, and until when its claim holds without renewal. */
export function leaseStore(db: Database) {
  return {
    /**
     * Claims the unfinished workflows no live instance holds and returns the claimed rows: the ones this
     * instance must restore. Waiting ones (at the review) are all taken; busy ones at most `busyLimit`,
     * oldest first, skipping rows another instance is claiming this moment (SKIP LOCKED), so several
     * instances share them instead of queueing on each other's row locks.
     */
    async claimUnfinished(owner: string, leaseMs: number, options: ClaimOptions = {}): Promise<WorkflowRow[]> {
      const deadAfterMs = options.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
      const skip = [...TERMINAL_STATUSES, ...WAITING_STATUSES, ...(options.includeNeedsMigration ? [] : ['needs_migration'])];
      const free = options.excludeOwn ? and(claimable(owner, deadAfterMs), sql`${workflows.owner} is distinct from ${owner}`)! : claimable(owner, deadAfterMs);
      const limit = Math.max(0, Math.floor(options.busyLimit ?? 1_000_000));
      return rowsOf<WorkflowRow>(
        await db.execute(sql`
          with waiting as (
            select id from ${workflows} where status in (${sql.join(WAITING_STATUSES.map((s) => sql`${s}`), sql`, `)}) and ${free}
            for update skip locked
          ),
          busy as (
            select id from ${workflows} where status not in (${sql.join(skip.map((s) => sql`${s}`), sql`, `)}) and ${free}
            order by created_at limit ${limit} for update skip locked
          )
          update ${workflows} set owner = ${owner}, lease_until = ${leaseUntil(leaseMs)}, interruptions = ${countInterruption(owner, true)}
          where id in (select id from waiting union all select id from busy)
          returning id, name, phase, status, snapshot, machine_version as "machineVersion", version, correlation_id as "correlationId",
            trace_parent as "traceParent", owner, lease_until as "leaseUntil", interruptions, created_at as "createdAt", updated_at as "updatedAt"`),
      ).map(normaliseRow);
    },

    /**
     * Claims one workflow for `owner`; null when it does not exist, is completed, or another live
     * instance holds it. `countOwn`: whether a row `owner` holds counts as interrupted (it does when an
     * earlier process of this instance held it; not when this process let go of it a moment ago).
     */
    async claim(id: string, owner: string, leaseMs: number, deadAfterMs = DEFAULT_DEAD_AFTER_MS, countOwn = true): Promise<WorkflowRow | null> {
      const [row] = await db
        .update(workflows)
        .set({ owner, leaseUntil: leaseUntil(leaseMs), interruptions: countInterruption(owner, countOwn) })
        .where(and(eq(workflows.id, id), ne(workflows.status, 'completed'), claimable(owner, deadAfterMs)))
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
