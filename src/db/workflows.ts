import { and, desc, eq, lt, or, sql, type SQL } from 'drizzle-orm';
import { AppError } from '../errors.ts';
import type { TopPhase, WorkflowStatus } from '../machine/table.ts';
import { rowsOf, type Database } from './client.ts';
import type { HistoryStore, NewStepRun } from './history.ts';
import { keysetPage, type Page, type PageRequest } from './paging.ts';
import { base64, FILE_PART_BYTES, type StoredUpload, type UploadStore } from './uploads.ts';
import { datasetFiles, stepRuns, workflowTransitions, workflows, type NewTransitionRow, type NewWorkflowRow, type WorkflowRow } from './schema.ts';

/**
 * One file of a new workflow: its bytes in memory, or a large upload already stored in parts
 * (streamed to the database as it arrived, see uploadParts).
 */
export type NewDatasetFile = { name: string; format: string | null } & ({ content: Uint8Array; upload?: undefined } | { content?: undefined; upload: StoredUpload });

/** A new file's size in bytes, wherever its bytes are. */
export function fileSize(file: NewDatasetFile): number {
  return file.content ? file.content.byteLength : file.upload.sizeBytes;
}

/** One persisted change of one workflow: its new row state plus the audit row that explains it. */
export interface WorkflowChange {
  workflowId: string;
  /** The version the row must still have; the change writes expectedVersion + 1. */
  expectedVersion: number;
  phase: TopPhase;
  status: WorkflowStatus;
  snapshot: unknown;
  machineVersion: number;
  at: Date;
  transition: Omit<NewTransitionRow, 'workflowId' | 'seq' | 'at'>;
}

export interface WorkflowFilter extends PageRequest {
  status?: WorkflowStatus;
  phase?: TopPhase;
}

export interface PersistResult {
  /** Workflows whose version had moved on: none of their changes were written. */
  conflicts: string[];
  /** The global id of each audit row written, by auditKey(workflow, seq). */
  auditIds: Map<string, number>;
}

export const auditKey = (workflowId: string, seq: number) => `${workflowId}:${seq}`;

/** Thrown when a workflow row no longer has the version a writer expected. */
export class VersionConflictError extends AppError {
  readonly workflowIds: string[];
  constructor(workflowIds: string[]) {
    super('VERSION_CONFLICT', `Version conflict on workflow(s) ${workflowIds.join(', ')}: another writer changed them first.`, { status: 409 });
    this.workflowIds = workflowIds;
  }
}

/** Workflow rows: creation with files, the group commit of changes, reads and listing. */
export function workflowStore(db: Database, history: Pick<HistoryStore, 'recordStepRuns'>, uploads: Pick<UploadStore, 'storeUpload' | 'dropUpload'>) {

  /** The create statement of createWorkflow, its large files' bytes already stored as uploads. */
  async function insertWorkflow(row: NewWorkflowRow, transitions: NewTransitionRow | NewTransitionRow[], files: NewDatasetFile[]): Promise<number[]> {
    const at = (d: Date | undefined) => (d ?? new Date()).toISOString();
    const fileInsert =
      files.length > 0
        ? sql`, f as (insert into ${datasetFiles} (workflow_id, idx, name, format, size_bytes, content, upload_id) values ${sql.join(
            files.map((f, idx) =>
              f.content
                ? sql`(${row.id}, ${idx}, ${f.name}, ${f.format}, ${f.content.byteLength}, decode(${base64(f.content)}, 'base64'), null)`
                : sql`(${row.id}, ${idx}, ${f.name}, ${f.format}, ${f.upload.sizeBytes}, null, ${f.upload.id})`,
            ),
            sql`, `,
          )})`
        : sql``;
    const audit = (Array.isArray(transitions) ? transitions : [transitions]).map(
      (t) => sql`(${t.workflowId}, ${t.seq}, ${t.eventType}, ${JSON.stringify(t.event)}::jsonb, ${t.fromPhase ?? null},
          ${t.toPhase}, ${JSON.stringify(t.value)}::jsonb, ${t.status}, ${at(t.at)}::timestamptz,
          ${t.durationMs ?? null}::int, ${t.correlationId ?? null}, ${t.actor ?? null})`,
    );
    const create = sql`
      with w as (
        insert into ${workflows} (id, name, phase, status, snapshot, machine_version, version, correlation_id, trace_parent, owner, lease_until, created_at, updated_at)
        values (${row.id}, ${row.name}, ${row.phase}, ${row.status}, ${JSON.stringify(row.snapshot)}::jsonb, ${row.machineVersion}, ${row.version},
          ${row.correlationId ?? null}, ${row.traceParent ?? null}, ${row.owner ?? null}, ${row.leaseUntil ? row.leaseUntil.toISOString() : null}::timestamptz,
          ${at(row.createdAt)}::timestamptz, ${at(row.updatedAt)}::timestamptz)
        returning id
      ),
      a as (
        insert into ${workflowTransitions} (workflow_id, seq, event_type, event, from_phase, to_phase, value, status, at, duration_ms, correlation_id, actor)
        values ${sql.join(audit, sql`, `)}
        returning seq, id
      )${fileInsert}
      select (select jsonb_agg(id order by seq) from a) as ids from w`;
    return (rowsOf<{ ids: (number | string)[] | null }>(await db.execute(create))[0]?.ids ?? []).map(Number);
  }

  return {
    /**
     * Creates the row, its audit rows and its files in one statement (atomic without BEGIN/COMMIT;
     * the foreign keys are checked at its end, when the workflow row exists); answers the audit
     * rows' global ids, in seq order. A file larger than one part names its upload: parts streamed
     * in already, or written here first, a statement a part, and deleted again if the create fails.
     * No transaction is held across the parts: PGlite's one backend serves no other client while
     * one is open (a 53 MB upload in one transaction kept /healthz waiting past its timeout).
     */
    async createWorkflow(row: NewWorkflowRow, transitions: NewTransitionRow | NewTransitionRow[], files: NewDatasetFile[]): Promise<number[]> {
      const written: StoredUpload[] = [];
      const stored: NewDatasetFile[] = [];
      try {
        for (const f of files) {
          if (f.content && f.content.byteLength > FILE_PART_BYTES) {
            const upload = await uploads.storeUpload(f.content);
            written.push(upload);
            stored.push({ name: f.name, format: f.format, upload });
          } else stored.push(f);
        }
        return await insertWorkflow(row, transitions, stored);
      } catch (error) {
        for (const upload of written) await uploads.dropUpload(upload.id).catch(() => {});
        throw error;
      }
    },

    /**
     * Persists the changes of many workflows in ONE statement (group commit, one round trip). Per
     * workflow, the row gets its latest state, guarded by the version its first change expected, and
     * every change adds one audit row with seq = its new version — both or neither, since the audit
     * rows are inserted only for the rows the update matched. A workflow whose version no longer
     * matches (another writer got there first) writes nothing; its id is returned. Step runs recorded
     * meanwhile ride along.
     */
    async persistChanges(changes: WorkflowChange[], runs: NewStepRun[] = []): Promise<PersistResult> {
      if (changes.length === 0) {
        await history.recordStepRuns(runs);
        return { conflicts: [], auditIds: new Map() };
      }
      const latest = new Map<string, { first: WorkflowChange; last: WorkflowChange }>();
      for (const change of changes) {
        const entry = latest.get(change.workflowId);
        if (entry) {
          if (change.expectedVersion !== entry.last.expectedVersion + 1) {
            throw new Error(`Changes of workflow ${change.workflowId} are not contiguous (${entry.last.expectedVersion} then ${change.expectedVersion}).`);
          }
          entry.last = change;
        } else {
          latest.set(change.workflowId, { first: change, last: change });
        }
      }
      // Three JSON parameters instead of thousands of scalar ones: the statement text never changes,
      // so PostgreSQL parses it cheaply, and the rows are unpacked server-side by jsonb_to_recordset.
      const rows = [...latest.values()].map(({ first, last }) => ({
        id: last.workflowId,
        expected: first.expectedVersion,
        version: last.expectedVersion + 1,
        phase: last.phase,
        status: last.status,
        snapshot: last.snapshot,
        machine_version: last.machineVersion,
        at: last.at.toISOString(),
      }));
      const audit = changes.map((c) => ({
        workflow_id: c.workflowId,
        seq: c.expectedVersion + 1,
        event_type: c.transition.eventType,
        event: c.transition.event,
        from_phase: c.transition.fromPhase ?? null,
        to_phase: c.transition.toPhase,
        value: c.transition.value,
        status: c.transition.status,
        at: c.at.toISOString(),
        duration_ms: c.transition.durationMs ?? null,
        correlation_id: c.transition.correlationId ?? null,
        actor: c.transition.actor ?? null,
      }));
      const runRows = runs.map((run) => ({
        workflow_id: run.workflowId,
        phase: run.phase,
        attempt: run.attempt,
        started_at: run.startedAt.toISOString(),
        ended_at: run.endedAt.toISOString(),
        duration_ms: run.endedAt.getTime() - run.startedAt.getTime(),
        outcome: run.outcome,
        error: run.error,
      }));
      const updated = rowsOf<{ updated: string[]; audit: [string, number, number | string][] }>(
        await db.execute(sql`
          with v as (
            select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
              as v(id text, expected int, version int, phase text, status text, snapshot jsonb, machine_version int, at timestamptz)
          ),
          u as (
            update ${workflows} as w set
              phase = v.phase, status = v.status, snapshot = v.snapshot, machine_version = v.machine_version,
              version = v.version, updated_at = v.at,
              -- interrupted attempts count within one phase: leaving it (done, failed, retried) starts again at 0
              interruptions = case when v.phase = w.phase then w.interruptions else 0 end,
              -- a completed workflow needs no holder any more
              owner = case when v.status = 'completed' then null else w.owner end,
              lease_until = case when v.status = 'completed' then null else w.lease_until end
            from v
            where w.id = v.id and w.version = v.expected
            returning w.id
          ),
          a as (
            insert into ${workflowTransitions} (workflow_id, seq, event_type, event, from_phase, to_phase, value, status, at, duration_ms, correlation_id, actor)
            select t.workflow_id, t.seq, t.event_type, t.event, t.from_phase, t.to_phase, t.value, t.status, t.at, t.duration_ms, t.correlation_id, t.actor
            from jsonb_to_recordset(${JSON.stringify(audit)}::jsonb)
              as t(workflow_id text, seq int, event_type text, event jsonb, from_phase text, to_phase text, value jsonb, status text, at timestamptz, duration_ms int, correlation_id text, actor text)
            where t.workflow_id in (select id from u)
            returning workflow_id, seq, id
          ),
          r as (
            insert into ${stepRuns} (workflow_id, phase, attempt, started_at, ended_at, duration_ms, outcome, error)
            select r.workflow_id, r.phase, r.attempt, r.started_at, r.ended_at, r.duration_ms, r.outcome, r.error
            from jsonb_to_recordset(${JSON.stringify(runRows)}::jsonb)
              as r(workflow_id text, phase text, attempt int, started_at timestamptz, ended_at timestamptz, duration_ms int, outcome text, error jsonb)
          )
          select
            (select coalesce(jsonb_agg(id), '[]'::jsonb) from u) as updated,
            (select coalesce(jsonb_agg(jsonb_build_array(workflow_id, seq, id)), '[]'::jsonb) from a) as audit`),
      );
      const [result] = updated;
      const ok = new Set(result?.updated ?? []);
      const auditIds = new Map((result?.audit ?? []).map(([workflowId, seq, id]) => [auditKey(workflowId, seq), Number(id)]));
      return { conflicts: [...latest.keys()].filter((id) => !ok.has(id)), auditIds };
    },

    async getWorkflow(id: string): Promise<WorkflowRow | null> {
      const [row] = await db.select().from(workflows).where(eq(workflows.id, id)).limit(1);
      return row ?? null;
    },

    /** Newest first, keyset-paged on (createdAt, id). */
    async listWorkflows(filter: WorkflowFilter): Promise<Page<WorkflowRow>> {
      return keysetPage(
        filter,
        2,
        (after, take) => {
          const conditions: SQL[] = [];
          if (filter.status) conditions.push(eq(workflows.status, filter.status));
          if (filter.phase) conditions.push(eq(workflows.phase, filter.phase));
          if (after) {
            const [createdAt, id] = after as [string, string];
            const at = new Date(createdAt);
            conditions.push(or(lt(workflows.createdAt, at), and(eq(workflows.createdAt, at), lt(workflows.id, id)))!);
          }
          return db
            .select()
            .from(workflows)
            .where(and(...conditions))
            .orderBy(desc(workflows.createdAt), desc(workflows.id))
            .limit(take);
        },
        (last) => [last.createdAt.toISOString(), last.id],
      );
    },

    async countWithStatus(status: WorkflowStatus): Promise<number> {
      const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(workflows).where(eq(workflows.status, status));
      return row?.n ?? 0;
    },

    async setStatus(id: string, status: WorkflowStatus): Promise<void> {
      await db.update(workflows).set({ status }).where(eq(workflows.id, id));
    },
  };
}

export type WorkflowRowStore = ReturnType<typeof workflowStore>;
