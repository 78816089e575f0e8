import { bigint, customType, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import type { Phase, TopPhase, WorkflowStatus } from '../machine/table.ts';

/** How one step attempt ended. `interrupted`: the process stopped (kill -9, shutdown) during the attempt; the restore records it and runs the step again. */
export const STEP_OUTCOMES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted'] as const;
export type StepOutcome = (typeof STEP_OUTCOMES)[number];

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

/** One row per workflow: the persisted XState snapshot plus the columns the API filters on. */
export const workflows = pgTable(
  'workflows',
  {
    id: text().primaryKey(),
    name: text().notNull(),
    phase: text().$type<TopPhase>().notNull(),
    status: text().$type<WorkflowStatus>().notNull(),
    snapshot: jsonb().notNull(),
    machineVersion: integer().notNull(),
    /** Optimistic concurrency: every persisted change adds one; equals the last audit seq. */
    version: integer().notNull(),
    correlationId: text(),
    /** The W3C traceparent of the workflow's trace (its root span), when tracing is on: step spans are its children. */
    traceParent: text(),
    /** The service instance running this workflow, and until when its claim holds (a lease row). */
    owner: text(),
    leaseUntil: timestamp({ withTimezone: true, mode: 'date' }),
    /**
     * Attempts of the current step that a process death interrupted (its holder died or was killed
     * while the step ran): counted by the claim that takes the workflow over, before the step runs
     * again; reset when the workflow leaves the phase. Past the limit the step fails with STEP_CRASHED.
     */
    interruptions: integer().notNull().default(0),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('workflows_created_idx').on(t.createdAt.desc(), t.id.desc()), index('workflows_status_idx').on(t.status)],
);

/**
 * The audit trail: one row per persisted change, seq gapless from 1 per workflow. `id` is the global
 * position of the row across all workflows (the all-workflows SSE stream's event id).
 */
export const workflowTransitions = pgTable(
  'workflow_transitions',
  {
    id: bigint({ mode: 'number' }).generatedAlwaysAsIdentity(),
    workflowId: text()
      .notNull()
      .references(() => workflows.id, { onDelete: 'cascade' }),
    seq: integer().notNull(),
    eventType: text().notNull(),
    event: jsonb().notNull(),
    fromPhase: text().$type<TopPhase>(),
    toPhase: text().$type<TopPhase>().notNull(),
    value: jsonb().notNull(),
    status: text().$type<WorkflowStatus>().notNull(),
    at: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    durationMs: integer(),
    correlationId: text(),
    actor: text(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.seq] }), uniqueIndex('workflow_transitions_id_idx').on(t.id)],
);

/** Uploaded files, kept as bytes: never in the snapshot. */
export const datasetFiles = pgTable(
  'dataset_files',
  {
    workflowId: text()
      .notNull()
      .references(() => workflows.id, { onDelete: 'cascade' }),
    idx: integer().notNull(),
    name: text().notNull(),
    format: text(),
    sizeBytes: bigint({ mode: 'number' }).notNull(),
    /** The bytes of a file of at most one part; null when they are in upload_parts (uploadId) or, for older rows, dataset_file_parts. */
    content: bytea(),
    /** The upload_parts holding a larger file's bytes, stored before the workflow was created. */
    uploadId: text(),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.idx] }), index('dataset_files_upload_idx').on(t.uploadId)],
);

/**
 * A large upload's bytes, one part per row, written as they arrive (each part its own statement,
 * so PGlite's one backend serves other clients between them) before the workflow exists. A
 * dataset_files row names them by upload_id; parts no row names are an upload that failed or was
 * cut off, and are deleted after an hour (expireUploads).
 */
export const uploadParts = pgTable(
  'upload_parts',
  {
    uploadId: text().notNull(),
    part: integer().notNull(),
    content: bytea().notNull(),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.uploadId, t.part] }), index('upload_parts_created_idx').on(t.createdAt)],
);

/** Step outputs too big for the snapshot, keyed by (workflow, key) so a re-run step overwrites. */
export const artifacts = pgTable(
  'artifacts',
  {
    workflowId: text()
      .notNull()
      .references(() => workflows.id, { onDelete: 'cascade' }),
    key: text().notNull(),
    /** Older rows only: artefacts are now stored as JSON text in `json`. */
    data: jsonb(),
    /** Older rows only: the artefact as UTF-8 JSON bytes. */
    body: bytea(),
    /**
     * The artefact as JSON text. Text, not jsonb (parsing and re-printing a large value costs more
     * than it saves) and not bytea: PGlite converts bytea parameters and results to and from hex one
     * byte at a time, on the API's thread (35 MB: 23 s to write and 10 s to read, against 2.2 s and
     * 0.4 s as text). JSON.stringify escapes NUL and lone surrogates, so any value fits a text column.
     */
    json: text(),
    /** Bumped by every write, so a process can tell whether its cached copy is still current. */
    version: integer().notNull().default(1),
    updatedAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.key] })],
);

/** Every step attempt, whatever its outcome. */
export const stepRuns = pgTable(
  'step_runs',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    workflowId: text()
      .notNull()
      .references(() => workflows.id, { onDelete: 'cascade' }),
    phase: text().$type<Phase>().notNull(),
    attempt: integer().notNull(),
    startedAt: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    endedAt: timestamp({ withTimezone: true, mode: 'date' }),
    durationMs: integer(),
    outcome: text().$type<StepOutcome>().notNull(),
    error: jsonb(),
  },
  (t) => [index('step_runs_workflow_idx').on(t.workflowId, t.id), index('step_runs_started_idx').on(t.startedAt)],
);

/** The rows of a workflow: removed with it. */
const workflowRef = () =>
  text()
    .notNull()
    .references(() => workflows.id, { onDelete: 'cascade' });

/** An asset's inventory columns besides its JSON, shared by the inventory and the staging rows. */
const assetColumns = () => ({
  assetKey: text().notNull(),
  name: text(),
  assetType: text().notNull(),
  assetSubtype: text(),
  environment: text(),
  osFamily: text(),
  application: text(),
});

/** A dependency edge's inventory columns besides its JSON, shared likewise. */
const edgeColumns = () => ({
  edgeKey: text().notNull(),
  sourceKey: text().notNull(),
  targetKey: text().notNull(),
  type: text().notNull(),
  origin: text().notNull(),
  port: integer(),
  count: integer().notNull(),
});

/** The normalised inventory: one row per asset, keyed by workflow and a stable asset key. */
export const assets = pgTable(
  'assets',
  {
    workflowId: workflowRef(),
    ...assetColumns(),
    data: jsonb().notNull(),
    contentHash: text().notNull(),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.assetKey] }), index('assets_type_idx').on(t.workflowId, t.assetType)],
);

export const dependencies = pgTable(
  'dependencies',
  {
    workflowId: workflowRef(),
    ...edgeColumns(),
    data: jsonb().notNull(),
    contentHash: text().notNull(),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.edgeKey] })],
);

/**
 * Staging rows: the assets and edges a step produced, one row each in the order it made them, with
 * the inventory's columns as COPY wrote them (`data` as the JSON text, parsed once when promoted).
 * asset_classification and dependency_analysis replace their workflow's rows; dependency_analysis
 * reads the assets back in batches; database_integration promotes them into the inventory and
 * deletes them. They are never the whole dataset as one value anywhere.
 */
export const stagedAssets = pgTable(
  'staged_assets',
  {
    workflowId: workflowRef(),
    seq: integer().notNull(),
    ...assetColumns(),
    data: text().notNull(),
    contentHash: text().notNull(),
    /** The part of the asset the dependency analysis reads (its identities, the fields implying edges), as JSON text. */
    links: text(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.seq] })],
);

export const stagedDependencies = pgTable(
  'staged_dependencies',
  {
    workflowId: workflowRef(),
    seq: integer().notNull(),
    ...edgeColumns(),
    data: text().notNull(),
    contentHash: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.seq] })],
);

/**
 * A file larger than one part, as versions before upload_parts stored it (now only read): a part
 * (FILE_PART_BYTES) a row, each written and read by a statement of its own. PGlite's WebAssembly
 * memory grows to hold a statement's values and never shrinks; a 53 MB upload in one value grew it
 * by 620 MB, in parts by 50 MB.
 */
export const datasetFileParts = pgTable(
  'dataset_file_parts',
  {
    workflowId: workflowRef(),
    idx: integer().notNull(),
    part: integer().notNull(),
    content: bytea().notNull(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.idx, t.part] })],
);

/** Responses to requests that carried an Idempotency-Key, kept 24 h; status 0 while the first request runs. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    scope: text().notNull(),
    key: text().notNull(),
    requestHash: text().notNull(),
    status: integer().notNull(),
    body: jsonb(),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index('idempotency_created_idx').on(t.createdAt)],
);

/** The service instances sharing this database: each writes its heartbeat every INSTANCE_HEARTBEAT_SECONDS. */
export const instances = pgTable('instances', {
  id: text().primaryKey(),
  /** Where it answers (for /healthz and logs); informative only. */
  url: text(),
  startedAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  heartbeatAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** Where an inbox event stands: waiting for its holder, being applied, answered, or taken back by its sender. */
export type InboxState = 'pending' | 'taken' | 'done' | 'withdrawn';

/**
 * Events that reached an instance not holding their workflow: the holder applies them in order and
 * stores the answer it would have given (status and body), which the receiving instance returns.
 */
export const workflowInbox = pgTable(
  'workflow_inbox',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    workflowId: text()
      .notNull()
      .references(() => workflows.id, { onDelete: 'cascade' }),
    event: jsonb().notNull(),
    correlationId: text(),
    actor: text(),
    fromInstance: text().notNull(),
    state: text().$type<InboxState>().notNull().default('pending'),
    takenBy: text(),
    outcomeStatus: integer(),
    outcome: jsonb(),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    doneAt: timestamp({ withTimezone: true, mode: 'date' }),
  },
  (t) => [index('workflow_inbox_workflow_idx').on(t.workflowId, t.id), index('workflow_inbox_created_idx').on(t.createdAt)],
);

export type WorkflowRow = typeof workflows.$inferSelect;
export type NewWorkflowRow = typeof workflows.$inferInsert;
export type TransitionRow = typeof workflowTransitions.$inferSelect;
export type NewTransitionRow = typeof workflowTransitions.$inferInsert;
export type DatasetFileRow = typeof datasetFiles.$inferSelect;
export type ArtifactRow = typeof artifacts.$inferSelect;
export type StepRunRow = typeof stepRuns.$inferSelect;
export type AssetRow = typeof assets.$inferSelect;
export type DependencyRow = typeof dependencies.$inferSelect;
export type InstanceRow = typeof instances.$inferSelect;
export type InboxRow = typeof workflowInbox.$inferSelect;
