import { createHash } from 'node:crypto';
import { and, asc, desc, eq, getTableColumns, gt, inArray, isNull, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Database } from './client.ts';
import {
  artifacts,
  assets,
  datasetFiles,
  dependencies,
  idempotencyKeys,
  stepRuns,
  workflowTransitions,
  workflows,
  type AssetRow,
  type DependencyRow,
  type NewTransitionRow,
  type NewWorkflowRow,
  type StepRunRow,
  type TransitionRow,
  type WorkflowRow,
} from './schema.ts';

export interface NewDatasetFile {
  name: string;
  format: string | null;
  content: Uint8Array;
}

/** One persisted change of one workflow: its new row state plus the audit row that explains it. */
export interface WorkflowChange {
  workflowId: string;
  /** The version the row must still have; the change writes expectedVersion + 1. */
  expectedVersion: number;
  phase: string;
  status: string;
  snapshot: unknown;
  machineVersion: number;
  at: Date;
  transition: Omit<NewTransitionRow, 'workflowId' | 'seq' | 'at'>;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface UpsertCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export interface AssetInput {
  assetKey: string;
  name: string | null;
  assetType: string;
  assetSubtype: string | null;
  environment: string | null;
  osFamily: string | null;
  application: string | null;
  data: unknown;
}

export interface DependencyInput {
  edgeKey: string;
  sourceKey: string;
  targetKey: string;
  type: string;
  origin: string;
  port: number | null;
  count: number;
  data: unknown;
}

export interface NewStepRun {
  workflowId: string;
  phase: string;
  attempt: number;
  startedAt: Date;
  endedAt: Date;
  outcome: 'succeeded' | 'failed' | 'timed_out' | 'cancelled';
  error: unknown;
}

export interface PhaseStatsRow {
  phase: string;
  attempts: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  cancelled: number;
  retries: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

/** Thrown when a workflow row no longer has the version a writer expected. */
export class VersionConflictError extends Error {
  readonly workflowIds: string[];
  constructor(workflowIds: string[]) {
    super(`Version conflict on workflow(s) ${workflowIds.join(', ')}: another writer changed them first.`);
    this.workflowIds = workflowIds;
  }
}

const TERMINAL_STATUSES = ['completed', 'failed'];
const UPSERT_BATCH = 5_000;

function stepRunRow(run: NewStepRun) {
  return { ...run, durationMs: run.endedAt.getTime() - run.startedAt.getTime() };
}

/** A workflow another instance does not hold: no owner, ours, or a lease that ran out. */
function claimable(owner: string): SQL {
  return or(isNull(workflows.owner), eq(workflows.owner, owner), lt(workflows.leaseUntil, sql`now()`))!;
}

function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

function hashOf(value: unknown): string {
  return createHash('sha1').update(JSON.stringify(value)).digest('base64url');
}

/** An opaque cursor for keyset or offset pagination. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** Decodes a cursor made by encodeCursor; null for anything else. */
export function decodeCursor(cursor: string | undefined, arity: number): (string | number)[] | null {
  if (!cursor) return null;
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts.length === arity && parts.every((p) => typeof p === 'string' || typeof p === 'number')) return parts;
  } catch {
    // fall through: a malformed cursor is reported by the caller
  }
  return null;
}

export class InvalidCursorError extends Error {
  constructor() {
    super('The cursor is not one this service issued; pass nextCursor from the previous page unchanged.');
  }
}

function cursorOrThrow(cursor: string | undefined, arity: number): (string | number)[] | null {
  const parts = decodeCursor(cursor, arity);
  if (cursor && !parts) throw new InvalidCursorError();
  return parts;
}

/** All SQL of the service. Every method is a factory-free call on the injected database. */
export class WorkflowStore {
  constructor(readonly db: Database) {}

  /** Inserts a workflow with its first audit row and its files, atomically. */
  async createWorkflow(row: NewWorkflowRow, transition: NewTransitionRow, files: NewDatasetFile[]): Promise<void> {
    // One statement, so one round trip and atomic without BEGIN/COMMIT; the foreign keys are
    // checked at its end, when the workflow row exists.
    const at = (d: Date | undefined) => (d ?? new Date()).toISOString();
    const fileInsert =
      files.length > 0
        ? sql`, f as (insert into ${datasetFiles} (workflow_id, idx, name, format, size_bytes, content) values ${sql.join(
            files.map((f, idx) => sql`(${row.id}, ${idx}, ${f.name}, ${f.format}, ${f.content.byteLength}, ${f.content})`),
            sql`, `,
          )})`
        : sql``;
    await this.db.execute(sql`
      with w as (
        insert into ${workflows} (id, name, phase, status, snapshot, machine_version, version, correlation_id, owner, lease_until, created_at, updated_at)
        values (${row.id}, ${row.name}, ${row.phase}, ${row.status}, ${JSON.stringify(row.snapshot)}::jsonb, ${row.machineVersion}, ${row.version},
          ${row.correlationId ?? null}, ${row.owner ?? null}, ${row.leaseUntil ? row.leaseUntil.toISOString() : null}::timestamptz,
          ${at(row.createdAt)}::timestamptz, ${at(row.updatedAt)}::timestamptz)
        returning id
      ),
      a as (
        insert into ${workflowTransitions} (workflow_id, seq, event_type, event, from_phase, to_phase, value, status, at, duration_ms, correlation_id, actor)
        values (${transition.workflowId}, ${transition.seq}, ${transition.eventType}, ${JSON.stringify(transition.event)}::jsonb, ${transition.fromPhase ?? null},
          ${transition.toPhase}, ${JSON.stringify(transition.value)}::jsonb, ${transition.status}, ${at(transition.at)}::timestamptz,
          ${transition.durationMs ?? null}::int, ${transition.correlationId ?? null}, ${transition.actor ?? null})
      )${fileInsert}
      select id from w`);
  }

  /**
   * Persists the changes of many workflows in ONE statement (group commit, one round trip). Per
   * workflow, the row gets its latest state, guarded by the version its first change expected, and
   * every change adds one audit row with seq = its new version — both or neither, since the audit
   * rows are inserted only for the rows the update matched. A workflow whose version no longer
   * matches (another writer got there first) writes nothing; its id is returned. Step runs recorded
   * meanwhile ride along.
   */
  async persistChanges(changes: WorkflowChange[], runs: NewStepRun[] = []): Promise<{ conflicts: string[] }> {
    if (changes.length === 0) {
      await this.recordStepRuns(runs);
      return { conflicts: [] };
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
    const updated = rowsOf<{ id: string }>(
      await this.db.execute(sql`
        with v as (
          select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
            as v(id text, expected int, version int, phase text, status text, snapshot jsonb, machine_version int, at timestamptz)
        ),
        u as (
          update ${workflows} as w set
            phase = v.phase, status = v.status, snapshot = v.snapshot, machine_version = v.machine_version,
            version = v.version, updated_at = v.at,
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
        ),
        r as (
          insert into ${stepRuns} (workflow_id, phase, attempt, started_at, ended_at, duration_ms, outcome, error)
          select r.workflow_id, r.phase, r.attempt, r.started_at, r.ended_at, r.duration_ms, r.outcome, r.error
          from jsonb_to_recordset(${JSON.stringify(runRows)}::jsonb)
            as r(workflow_id text, phase text, attempt int, started_at timestamptz, ended_at timestamptz, duration_ms int, outcome text, error jsonb)
        )
        select id from u`),
    );
    const ok = new Set(updated.map((r) => r.id));
    return { conflicts: [...latest.keys()].filter((id) => !ok.has(id)) };
  }

  async getWorkflow(id: string): Promise<WorkflowRow | null> {
    const [row] = await this.db.select().from(workflows).where(eq(workflows.id, id)).limit(1);
    return row ?? null;
  }

  async listWorkflows(filter: { status?: string; phase?: string; limit: number; cursor?: string }): Promise<Page<WorkflowRow>> {
    const after = cursorOrThrow(filter.cursor, 2);
    const conditions: SQL[] = [];
    if (filter.status) conditions.push(eq(workflows.status, filter.status));
    if (filter.phase) conditions.push(eq(workflows.phase, filter.phase));
    if (after) {
      const [createdAt, id] = after as [string, string];
      const at = new Date(createdAt);
      conditions.push(or(lt(workflows.createdAt, at), and(eq(workflows.createdAt, at), lt(workflows.id, id)))!);
    }
    const rows = await this.db
      .select()
      .from(workflows)
      .where(and(...conditions))
      .orderBy(desc(workflows.createdAt), desc(workflows.id))
      .limit(filter.limit + 1);
    const items = rows.slice(0, filter.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > filter.limit && last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null };
  }

  /**
   * Claims every unfinished workflow that no live instance holds (no owner, our own, or an expired
   * lease) and returns the claimed rows: the ones this instance must restore.
   */
  async claimUnfinished(owner: string, leaseMs: number): Promise<WorkflowRow[]> {
    return this.db
      .update(workflows)
      .set({ owner, leaseUntil: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where(and(notInArray(workflows.status, TERMINAL_STATUSES), claimable(owner)))
      .returning();
  }

  /** Claims one workflow for `owner`; null when it does not exist, is completed, or another live instance holds it. */
  async claim(id: string, owner: string, leaseMs: number): Promise<WorkflowRow | null> {
    const [row] = await this.db
      .update(workflows)
      .set({ owner, leaseUntil: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where(and(eq(workflows.id, id), ne(workflows.status, 'completed'), claimable(owner)))
      .returning();
    return row ?? null;
  }

  /** Extends the leases `owner` still holds; returns the ids it holds no longer. */
  async renewLeases(owner: string, ids: string[], leaseMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const renewed = await this.db
      .update(workflows)
      .set({ leaseUntil: sql`now() + ${leaseMs} * interval '1 millisecond'` })
      .where(and(eq(workflows.owner, owner), inArray(workflows.id, ids)))
      .returning({ id: workflows.id });
    const held = new Set(renewed.map((r) => r.id));
    return ids.filter((id) => !held.has(id));
  }

  /** Gives up `owner`'s leases so another instance may take the workflows over at once. */
  async releaseLeases(owner: string, ids?: string[]): Promise<void> {
    await this.db
      .update(workflows)
      .set({ owner: null, leaseUntil: null })
      .where(and(eq(workflows.owner, owner), ids ? inArray(workflows.id, ids) : undefined));
  }

  /**
   * Reserves an idempotency key. Returns null when this request is the first with the key (it then
   * runs and calls finishIdempotent), else the stored outcome of the first one.
   */
  async beginIdempotent(scope: string, key: string, requestHash: string): Promise<{ requestHash: string; status: number; body: unknown } | null> {
    const inserted = await this.db.insert(idempotencyKeys).values({ scope, key, requestHash, status: 0 }).onConflictDoNothing().returning({ key: idempotencyKeys.key });
    if (inserted.length > 0) return null;
    const [row] = await this.db
      .select({ requestHash: idempotencyKeys.requestHash, status: idempotencyKeys.status, body: idempotencyKeys.body })
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
    // Deleted in between (the first request failed): let this one run.
    return row ?? null;
  }

  async finishIdempotent(scope: string, key: string, status: number, body: unknown): Promise<void> {
    await this.db.update(idempotencyKeys).set({ status, body }).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
  }

  async abandonIdempotent(scope: string, key: string): Promise<void> {
    await this.db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key), eq(idempotencyKeys.status, 0)));
  }

  async expireIdempotencyKeys(olderThanMs: number): Promise<number> {
    const deleted = await this.db
      .delete(idempotencyKeys)
      .where(lt(idempotencyKeys.createdAt, new Date(Date.now() - olderThanMs)))
      .returning({ key: idempotencyKeys.key });
    return deleted.length;
  }

  async countWithStatus(status: string): Promise<number> {
    const [row] = await this.db.select({ n: sql<number>`count(*)::int` }).from(workflows).where(eq(workflows.status, status));
    return row?.n ?? 0;
  }

  async setStatus(id: string, status: string): Promise<void> {
    await this.db.update(workflows).set({ status }).where(eq(workflows.id, id));
  }

  async getHistory(id: string, page: { limit: number; cursor?: string }): Promise<Page<TransitionRow>> {
    const after = cursorOrThrow(page.cursor, 1);
    const rows = await this.db
      .select()
      .from(workflowTransitions)
      .where(and(eq(workflowTransitions.workflowId, id), after ? gt(workflowTransitions.seq, Number(after[0])) : undefined))
      .orderBy(asc(workflowTransitions.seq))
      .limit(page.limit + 1);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last ? encodeCursor([last.seq]) : null };
  }

  async loadFiles(workflowId: string): Promise<{ name: string; format: string | null; content: Uint8Array }[]> {
    return this.db
      .select({ name: datasetFiles.name, format: datasetFiles.format, content: datasetFiles.content })
      .from(datasetFiles)
      .where(eq(datasetFiles.workflowId, workflowId))
      .orderBy(asc(datasetFiles.idx));
  }

  /** Stores an artefact (as JSON bytes) and returns its new version. */
  /** The workflow's files without their content. */
  async listFiles(workflowId: string): Promise<{ name: string; format: string | null; sizeBytes: number }[]> {
    return this.db
      .select({ name: datasetFiles.name, format: datasetFiles.format, sizeBytes: datasetFiles.sizeBytes })
      .from(datasetFiles)
      .where(eq(datasetFiles.workflowId, workflowId))
      .orderBy(asc(datasetFiles.idx));
  }

  async putArtifact(workflowId: string, key: string, data: unknown): Promise<number> {
    const body = new Uint8Array(Buffer.from(JSON.stringify(data)));
    const [row] = await this.db
      .insert(artifacts)
      .values({ workflowId, key, body, data: null, version: 1 })
      .onConflictDoUpdate({
        target: [artifacts.workflowId, artifacts.key],
        set: { body, data: null, version: sql`${artifacts.version} + 1`, updatedAt: new Date() },
      })
      .returning({ version: artifacts.version });
    return row!.version;
  }

  async getArtifact<T>(workflowId: string, key: string): Promise<T | null> {
    return (await this.getArtifactVersioned<T>(workflowId, key))?.value ?? null;
  }

  async getArtifactVersioned<T>(workflowId: string, key: string): Promise<{ value: T; version: number } | null> {
    const [row] = await this.db
      .select({ body: artifacts.body, data: artifacts.data, version: artifacts.version })
      .from(artifacts)
      .where(and(eq(artifacts.workflowId, workflowId), eq(artifacts.key, key)))
      .limit(1);
    if (!row) return null;
    const value = (row.body ? JSON.parse(Buffer.from(row.body).toString('utf8')) : row.data) as T;
    return { value, version: row.version };
  }

  /** The artefact's current version without its payload: a cheap check of a cached copy. */
  async artifactVersion(workflowId: string, key: string): Promise<number | null> {
    const [row] = await this.db
      .select({ version: artifacts.version })
      .from(artifacts)
      .where(and(eq(artifacts.workflowId, workflowId), eq(artifacts.key, key)))
      .limit(1);
    return row?.version ?? null;
  }

  async recordStepRuns(runs: NewStepRun[]): Promise<void> {
    if (runs.length > 0) await this.db.insert(stepRuns).values(runs.map(stepRunRow));
  }

  async listStepRuns(workflowId: string, page: { limit: number; cursor?: string }): Promise<Page<StepRunRow>> {
    const after = cursorOrThrow(page.cursor, 1);
    const rows = await this.db
      .select()
      .from(stepRuns)
      .where(and(eq(stepRuns.workflowId, workflowId), after ? gt(stepRuns.id, Number(after[0])) : undefined))
      .orderBy(asc(stepRuns.id))
      .limit(page.limit + 1);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last ? encodeCursor([last.id]) : null };
  }

  /**
   * Makes the workflow's assets exactly `rows`: inserts new keys, updates changed ones, leaves equal
   * ones untouched and deletes keys no longer produced. Safe to run again after a crash.
   */
  async replaceAssets(workflowId: string, rows: AssetInput[]): Promise<UpsertCounts> {
    return this.replaceInventory(assets, assets.assetKey, workflowId, rows.map((r) => ({ key: r.assetKey, row: r })));
  }

  /** Same contract as replaceAssets, for dependency edges. */
  async replaceDependencies(workflowId: string, rows: DependencyInput[]): Promise<UpsertCounts> {
    return this.replaceInventory(dependencies, dependencies.edgeKey, workflowId, rows.map((r) => ({ key: r.edgeKey, row: r })));
  }

  private async replaceInventory(
    table: typeof assets | typeof dependencies,
    keyColumn: PgColumn,
    workflowId: string,
    rows: { key: string; row: AssetInput | DependencyInput }[],
  ): Promise<UpsertCounts> {
    const { createdAt: _created, updatedAt: _updated, ...written } = getTableColumns(table);
    // (column names are camelCase in the schema and snake_case in the database: casing 'snake_case')
    const columns = Object.entries(written).map(([field, column]) => ({
      field,
      name: column.name.replace(/[A-Z]/g, (c: string) => `_${c.toLowerCase()}`),
      type: column.getSQLType(),
      column,
    }));
    const names = sql.raw(columns.map((c) => `"${c.name}"`).join(', '));
    const definition = sql.raw(columns.map((c) => `"${c.name}" ${c.type}`).join(', '));
    // Every payload column takes the incoming value; only rows whose content hash changed are touched.
    const set = sql.raw(
      columns
        .filter((c) => c.column !== keyColumn && c.field !== 'workflowId')
        .map((c) => `"${c.name}" = excluded."${c.name}"`)
        .concat('"updated_at" = now()')
        .join(', '),
    );
    const keyName = sql.raw(`"${columns.find((c) => c.column === keyColumn)!.name}"`);
    return this.db.transaction(async (tx) => {
      const counts: UpsertCounts = { inserted: 0, updated: 0, unchanged: 0, deleted: 0 };
      for (let i = 0; i < rows.length; i += UPSERT_BATCH) {
        const batch = rows.slice(i, i + UPSERT_BATCH).map(({ row }) => {
          const full: Record<string, unknown> = { ...row, workflowId, contentHash: hashOf(row) };
          return Object.fromEntries(columns.map((c) => [c.name, full[c.field] ?? null]));
        });
        // One JSON parameter per batch, unpacked server-side: far cheaper than thousands of bind values.
        const result = rowsOf<{ inserted: boolean }>(
          await tx.execute(sql`
            insert into ${table} (${names})
            select ${names} from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as r(${definition})
            on conflict ("workflow_id", ${keyName}) do update set ${set}
            where ${table}."content_hash" is distinct from excluded."content_hash"
            returning (xmax = 0) as inserted`),
        );
        const inserted = result.filter((w) => w.inserted).length;
        counts.inserted += inserted;
        counts.updated += result.length - inserted;
        counts.unchanged += batch.length - result.length;
      }
      const keys = JSON.stringify(rows.map((r) => r.key));
      const deleted = await tx
        .delete(table)
        // NOT IN over a subquery is hashed; `<> all(array)` would compare every row with every key.
        .where(and(eq(table.workflowId, workflowId), sql`${keyColumn} not in (select jsonb_array_elements_text(${keys}::jsonb))`))
        .returning({ key: keyColumn });
      counts.deleted = deleted.length;
      return counts;
    });
  }

  async listAssets(workflowId: string, page: { limit: number; cursor?: string; type?: string }): Promise<Page<AssetRow>> {
    const after = cursorOrThrow(page.cursor, 1);
    const rows = await this.db
      .select()
      .from(assets)
      .where(
        and(
          eq(assets.workflowId, workflowId),
          page.type ? eq(assets.assetType, page.type) : undefined,
          after ? gt(assets.assetKey, String(after[0])) : undefined,
        ),
      )
      .orderBy(asc(assets.assetKey))
      .limit(page.limit + 1);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last ? encodeCursor([last.assetKey]) : null };
  }

  async listDependencies(workflowId: string, page: { limit: number; cursor?: string }): Promise<Page<DependencyRow>> {
    const after = cursorOrThrow(page.cursor, 1);
    const rows = await this.db
      .select()
      .from(dependencies)
      .where(and(eq(dependencies.workflowId, workflowId), after ? gt(dependencies.edgeKey, String(after[0])) : undefined))
      .orderBy(asc(dependencies.edgeKey))
      .limit(page.limit + 1);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last ? encodeCursor([last.edgeKey]) : null };
  }

  /** Per phase: attempts by outcome, retries and duration percentiles of the step runs since `since`. */
  async stepStats(since: Date): Promise<PhaseStatsRow[]> {
    return rowsOf<PhaseStatsRow>(
      await this.db.execute(sql`
        select phase,
          count(*)::int as attempts,
          (count(*) filter (where outcome = 'succeeded'))::int as succeeded,
          (count(*) filter (where outcome in ('failed', 'timed_out')))::int as failed,
          (count(*) filter (where outcome = 'timed_out'))::int as "timedOut",
          (count(*) filter (where outcome = 'cancelled'))::int as cancelled,
          (count(*) filter (where attempt > 1))::int as retries,
          percentile_cont(0.5) within group (order by duration_ms)::float8 as "p50Ms",
          percentile_cont(0.95) within group (order by duration_ms)::float8 as "p95Ms"
        from ${stepRuns}
        where started_at >= ${since.toISOString()}::timestamptz
        group by phase`),
    );
  }

  async workflowCounts(since: Date): Promise<Record<string, number>> {
    const rows = await this.db
      .select({ status: workflows.status, n: sql<number>`count(*)::int` })
      .from(workflows)
      .where(gt(workflows.createdAt, since))
      .groupBy(workflows.status);
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** Test helper: empties every table. */
  async truncateAll(): Promise<void> {
    await this.db.execute(
      sql`truncate ${workflows}, ${workflowTransitions}, ${datasetFiles}, ${artifacts}, ${stepRuns}, ${assets}, ${dependencies}, ${idempotencyKeys} cascade`,
    );
  }
}
