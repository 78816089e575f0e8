import { and, eq, gt, gte, lt, sql } from 'drizzle-orm';
import { rowsOf, type Database } from './client.ts';
import { instances, workflowInbox, workflowTransitions, workflows, type InboxRow } from './schema.ts';

/** The channels the instances talk on: NOTIFY payloads carry ids only; the rows say the rest. */
export const CHANNELS = {
  /** `<holder instance id>`: events wait in the inbox for a workflow that instance holds. */
  inbox: 'discovery_inbox',
  /** `<inbox id>`: the answer to an inbox event is stored. */
  outcome: 'discovery_outcome',
  /** `<instance id>`: unowned work is waiting (an instance stopped, or a create found its receiver full). */
  work: 'discovery_work',
  /** `<workflow id>:<audit seq>`: a change was committed. */
  change: 'discovery_change',
} as const;

export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

export interface LiveInstance {
  id: string;
  url: string | null;
  startedAt: Date;
  heartbeatAt: Date;
  /** Unfinished workflows it holds. */
  workflows: number;
}

export interface InboxEvent {
  workflowId: string;
  event: Record<string, unknown>;
  correlationId: string | null;
  actor: string | null;
  fromInstance: string;
}

const ms = (n: number) => sql`${n} * interval '1 millisecond'`;

/** The instance table (heartbeats) and the inbox of events for workflows held by another instance. */
export function clusterStore(db: Database) {
  return {
    /** Writes this instance's heartbeat (registering it on the first beat). */
    async heartbeat(id: string, url: string | null): Promise<void> {
      await db
        .insert(instances)
        .values({ id, url })
        .onConflictDoUpdate({ target: instances.id, set: { heartbeatAt: sql`now()`, url } });
    },

    /** Removes an instance that stops cleanly: its workflows are free at once. */
    async removeInstance(id: string): Promise<void> {
      await db.delete(instances).where(eq(instances.id, id));
    },

    /** Instances heard from within `aliveMs`, with how many unfinished workflows each holds. */
    async liveInstances(aliveMs: number): Promise<LiveInstance[]> {
      const rows = rowsOf<{ id: string; url: string | null; started_at: unknown; heartbeat_at: unknown; workflows: number | string }>(
        await db.execute(sql`
          select i.id, i.url, i.started_at, i.heartbeat_at,
            (select count(*) from ${workflows} w where w.owner = i.id and w.status not in ('completed', 'failed'))::int as workflows
          from ${instances} i where i.heartbeat_at > now() - ${ms(aliveMs)} order by i.id`),
      );
      return rows.map((r) => ({ id: r.id, url: r.url, startedAt: new Date(String(r.started_at instanceof Date ? r.started_at.toISOString() : r.started_at)), heartbeatAt: new Date(String(r.heartbeat_at instanceof Date ? r.heartbeat_at.toISOString() : r.heartbeat_at)), workflows: Number(r.workflows) }));
    },

    /** Whether `id` is alive: heard from within `aliveMs`. */
    async isAlive(id: string, aliveMs: number): Promise<boolean> {
      const [row] = await db
        .select({ id: instances.id })
        .from(instances)
        .where(and(eq(instances.id, id), gt(instances.heartbeatAt, sql`now() - ${ms(aliveMs)}`)));
      return row !== undefined;
    },

    /** Forgets instances silent for `olderThanMs` (long dead); their leases were taken over long ago. */
    async forgetInstances(olderThanMs: number): Promise<void> {
      await db.delete(instances).where(lt(instances.heartbeatAt, sql`now() - ${ms(olderThanMs)}`));
    },

    /** Queues an event for the holder of its workflow and wakes the holder, in one statement (NOTIFY is sent on commit). */
    async postInbox(entry: InboxEvent, holder: string): Promise<number> {
      const rows = rowsOf<{ id: number | string }>(
        await db.execute(sql`
          with posted as (
            insert into ${workflowInbox} (workflow_id, event, correlation_id, actor, from_instance)
            values (${entry.workflowId}, ${JSON.stringify(entry.event)}::jsonb, ${entry.correlationId}, ${entry.actor}, ${entry.fromInstance})
            returning id
          )
          select id, pg_notify(${CHANNELS.inbox}, ${holder}) from posted`),
      );
      return Number(rows[0]!.id);
    },

    /**
     * Takes the pending inbox events of the workflows `owner` holds, oldest first; rows another
     * instance is taking (or withdrawing) this moment are skipped. Each is then applied and answered.
     */
    async takeInbox(owner: string, limit = 100): Promise<InboxRow[]> {
      const rows = rowsOf<Record<string, unknown>>(
        await db.execute(sql`
          with next as (
            select b.id from ${workflowInbox} b join ${workflows} w on w.id = b.workflow_id
            where b.state = 'pending' and w.owner = ${owner}
            order by b.id limit ${limit} for update of b skip locked
          )
          update ${workflowInbox} b set state = 'taken', taken_by = ${owner}
          from next where b.id = next.id
          returning b.*`),
      );
      return rows.map(inboxRow).sort((a, b) => a.id - b.id);
    },

    /** Stores the answer to an inbox event and wakes its sender. */
    async finishInbox(id: number, status: number, body: unknown): Promise<void> {
      await db.execute(sql`
        with done as (
          update ${workflowInbox} set state = 'done', outcome_status = ${status}, outcome = ${JSON.stringify(body)}::jsonb, done_at = now()
          where id = ${id} returning id
        )
        select pg_notify(${CHANNELS.outcome}, id::text) from done`);
    },

    /** Takes an event back before anyone took it (its holder is gone): true when it was still pending. */
    async withdrawInbox(id: number): Promise<boolean> {
      const rows = await db
        .update(workflowInbox)
        .set({ state: 'withdrawn', doneAt: sql`now()` })
        .where(and(eq(workflowInbox.id, id), eq(workflowInbox.state, 'pending')))
        .returning({ id: workflowInbox.id });
      return rows.length > 0;
    },

    async getInbox(id: number): Promise<InboxRow | null> {
      const [row] = await db.select().from(workflowInbox).where(eq(workflowInbox.id, id));
      return row ?? null;
    },

    /**
     * Whether an event of this type and correlation id reached the audit trail at or after `since`: the
     * holder that took an inbox event and died either applied it (and this says so) or did not.
     */
    async appliedSince(workflowId: string, eventType: string, correlationId: string | null, since: Date): Promise<boolean> {
      const [row] = await db
        .select({ seq: workflowTransitions.seq })
        .from(workflowTransitions)
        .where(
          and(
            eq(workflowTransitions.workflowId, workflowId),
            eq(workflowTransitions.eventType, eventType),
            correlationId === null ? sql`${workflowTransitions.correlationId} is null` : eq(workflowTransitions.correlationId, correlationId),
            gte(workflowTransitions.at, since),
          ),
        )
        .limit(1);
      return row !== undefined;
    },

    /** Deletes answered inbox rows older than `olderThanMs`. */
    async expireInbox(olderThanMs: number): Promise<void> {
      await db.delete(workflowInbox).where(lt(workflowInbox.createdAt, sql`now() - ${ms(olderThanMs)}`));
    },

    /** Wakes the instances (the change feed, free work): NOTIFY outside any data change. */
    async notify(channel: Channel, payload: string): Promise<void> {
      await db.execute(sql`select pg_notify(${channel}, ${payload})`);
    },
  };
}

function inboxRow(r: Record<string, unknown>): InboxRow {
  const date = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
  return {
    id: Number(r.id),
    workflowId: String(r.workflow_id),
    event: r.event,
    correlationId: (r.correlation_id as string | null) ?? null,
    actor: (r.actor as string | null) ?? null,
    fromInstance: String(r.from_instance),
    state: r.state as InboxRow['state'],
    takenBy: (r.taken_by as string | null) ?? null,
    outcomeStatus: (r.outcome_status as number | null) ?? null,
    outcome: r.outcome ?? null,
    createdAt: date(r.created_at)!,
    doneAt: date(r.done_at),
  };
}

export type ClusterStore = ReturnType<typeof clusterStore>;
