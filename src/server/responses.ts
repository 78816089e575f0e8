import { z } from 'zod';
import { VOCABULARY } from '../engine/view.ts';

// What the API answers, as zod schemas: the routes declare them (src/server/routes), the OpenAPI
// document is generated from those declarations, and the typed-client test checks the app against it.

const { phases: STEP_PHASES, topPhases: TOP_PHASES, statuses: STATUSES, assetTypes: ASSET_TYPES, flags: COMPLETION_FLAGS, events: EVENT_TYPES, stepOutcomes: STEP_OUTCOMES } = VOCABULARY;

const dateTime = z.string().meta({ format: 'date-time' });
const cell = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const errorSchema = z
  .looseObject({
    code: z.string().meta({ description: 'Stable machine-readable code, e.g. INVALID_REQUEST, NOT_FOUND, EVENT_NOT_ACCEPTED' }),
    message: z.string().meta({ description: 'What went wrong and what to do, for a person' }),
    hint: z.string().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional().meta({ description: 'Validation problems, one per field' }),
  })
  .meta({ id: 'Error', description: 'Every error: a code and a message, plus details where useful' });

export const errorRecordSchema = z
  .object({
    code: z.string(),
    phase: z.enum([...STEP_PHASES, 'pending']),
    attempt: z.int(),
    message: z.string(),
    hint: z.string(),
    at: dateTime,
    retryable: z.boolean(),
  })
  .meta({ id: 'ErrorRecord', description: 'A failed step attempt: code, message under 2 KB and a hint' });

// A string or a nested object of strings; typed loosely because XState's StateValue may hold undefined leaves.
const stateValue = z.unknown().meta({ description: 'The full XState state value: a string ("completed") or a nested object ({"field_mapping":"review"})' });

export const viewSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    phase: z.enum(TOP_PHASES),
    status: z.enum(STATUSES),
    value: stateValue,
    accepted: z.array(z.string()).readonly().meta({ description: `The events the current status accepts (of ${EVENT_TYPES.join(', ')})` }),
    flags: z.record(z.enum(COMPLETION_FLAGS), z.boolean()),
    attempts: z.record(z.enum(STEP_PHASES), z.int()),
    errors: z.array(errorRecordSchema).meta({ description: 'Newest last' }),
    review: z
      .object({ required: z.boolean(), reasons: z.array(z.string()), approved: z.boolean(), overrides: z.record(z.string(), z.string()) })
      .nullable(),
    wakeAt: dateTime.nullable().meta({ description: 'When the current backoff ends' }),
    context: z.record(z.string(), z.unknown()).meta({ description: 'Phase outputs as small summaries, under the seed names (cmdb_data, source_analysis, …)' }),
    options: z.record(z.string(), z.unknown()),
    version: z.int().meta({ description: 'Bumped by every persisted change; equals the seq of its latest audit row' }),
    correlationId: z.string().nullable(),
    traceId: z.string().nullable().meta({ description: 'The OpenTelemetry trace id of the workflow (null when tracing is off)' }),
    createdAt: dateTime,
    updatedAt: dateTime,
    raw: z.unknown().optional().meta({ description: 'The persisted XState snapshot (with ?raw=true)' }),
  })
  .meta({ id: 'WorkflowView', description: 'The snapshot view of a workflow' });

/** A page of a list: `items`, and `nextCursor` to pass as `cursor` for the next page (null on the last). */
export function pageOf<T extends z.ZodType>(item: T, id: string) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id });
}

export const historyItemSchema = z
  .object({
    seq: z.int().meta({ description: 'Gapless from 1 per workflow' }),
    event: z.unknown().meta({ description: 'The event and its payload, secrets redacted ({ type, … })' }),
    eventType: z.string().meta({ description: 'START, RETRY, CANCEL, APPROVE_MAPPINGS, workflow.created, workflow.restored or an xstate.* internal event' }),
    fromPhase: z.string().nullable(),
    toPhase: z.string(),
    value: z.unknown(),
    status: z.string(),
    at: dateTime,
    durationMs: z.int().nullable().meta({ description: 'Time spent in the previous state' }),
    correlationId: z.string().nullable(),
    actor: z.string().nullable(),
  })
  .meta({ id: 'HistoryItem', description: 'One audit row: a persisted change' });


export const stepRunSchema = z
  .object({
    phase: z.enum(STEP_PHASES),
    attempt: z.int(),
    startedAt: dateTime,
    endedAt: dateTime.nullable(),
    durationMs: z.int().nullable(),
    outcome: z.enum(STEP_OUTCOMES).meta({ description: 'interrupted: the process stopped during the attempt (kill -9, shutdown); it ran again after the restore' }),
    error: z.unknown().meta({ description: 'The ErrorRecord of a failed attempt, else null' }),
  })
  .meta({ id: 'StepRun', description: 'One step attempt' });

const nullableString = z.string().nullable();

export const assetSchema = z
  .looseObject({
    asset_key: z.string(),
    source_table: z.string(),
    source_row: z.int().meta({ description: 'Row number in its table, counted from 1: the first record after the header is row 1' }),
    source_key: nullableString,
    name: nullableString,
    hostname: nullableString,
    fqdn: nullableString,
    ip_addresses: z.array(z.string()),
    asset_class: nullableString,
    asset_type: z.enum(ASSET_TYPES),
    asset_subtype: nullableString,
    os_name: nullableString,
    os_family: nullableString,
    environment: z.string(),
    application: nullableString,
    classification: z.object({ confidence: z.number(), evidence: z.array(z.string()) }),
    attributes: z.record(z.string(), cell),
    updatedAt: dateTime,
  })
  .meta({ id: 'Asset', description: 'A normalised asset; canonical fields keep their snake_case names (more fields than listed here)' });

export const dependencySchema = z
  .looseObject({
    edge_key: z.string(),
    source_key: z.string(),
    target_key: z.string(),
    type: z.string(),
    origin: z.enum(['relation', 'flow', 'implied']),
    port: z.int().nullable(),
    process: nullableString,
    count: z.int(),
    updatedAt: dateTime,
  })
  .meta({ id: 'Dependency', description: 'A directed dependency edge between two asset keys (or external: endpoints)' });

const findingSchema = z.object({
  table: z.string(),
  row: z.int().meta({ description: 'Counted from 1: the first record after the header is row 1' }),
  column: z.string().optional(),
  severity: z.enum(['error', 'warning']),
  code: z.string(),
  message: z.string(),
});

export const quarantinedSchema = z
  .object({
    table: z.string(),
    row: z.int().meta({ description: 'Counted from 1: the first record after the header is row 1 (as in messages, the CLI and the console)' }),
    record: z.record(z.string(), cell),
    findings: z.array(findingSchema),
  })
  .meta({ id: 'QuarantinedRecord', description: 'A record held back by validation, with its findings' });

export const mappingSchema = z
  .object({
    file: z.string(),
    source: z.string(),
    target: z.string(),
    confidence: z.number(),
    reason: z.string(),
    decidedBy: z.string().meta({ description: 'header, values, header_and_values, content or override' }),
    evidence: z.array(z.string()),
  })
  .meta({ id: 'FieldMapping', description: 'A column mapped to a canonical field' });

export const statsSchema = z
  .object({
    since: dateTime,
    workflows: z.record(z.string(), z.int()).meta({ description: 'Workflows created since then, by status' }),
    phases: z.array(
      z.object({
        phase: z.enum(STEP_PHASES),
        attempts: z.int(),
        succeeded: z.int(),
        failed: z.int(),
        timedOut: z.int(),
        cancelled: z.int(),
        interrupted: z.int(),
        retries: z.int(),
        successRate: z.number().nullable(),
        failureRate: z.number().nullable(),
        p50Ms: z.number().nullable(),
        p95Ms: z.number().nullable(),
      }),
    ),
  })
  .meta({ id: 'Stats', description: 'Per-phase statistics from the database' });

export const healthSchema = z
  .object({
    status: z.enum(['ok', 'restoring']),
    database: z.literal('reachable'),
    liveWorkflows: z.int(),
    needsMigration: z.int(),
    instance: z.string().meta({ description: 'This instance (INSTANCE_ID)' }),
    instances: z
      .array(z.object({ id: z.string(), url: z.string().nullable(), startedAt: z.string(), heartbeatAt: z.string(), workflows: z.int().meta({ description: 'Unfinished workflows it holds' }) }))
      .meta({ description: 'The live instances sharing the database (heartbeat within INSTANCE_TIMEOUT_SECONDS)' }),
    detail: z.string().optional(),
  })
  .meta({ id: 'Health' });

export const machineSchema = z.record(z.string(), z.unknown()).meta({ id: 'MachineConfig', description: 'The statechart config, for createMachine(…) in Stately Studio' });

export const openApiSchema = z.record(z.string(), z.unknown()).meta({ description: 'This OpenAPI 3.1 document' });

export const changeEventSchema = z
  .object({
    workflowId: z.uuid(),
    seq: z.int().meta({ description: 'The workflow’s audit seq, which is its version after this change; the event id on /workflows/{id}/stream' }),
    auditId: z.int().meta({ description: 'The audit row’s global id; the event id on /workflows/stream' }),
    eventType: z.string(),
    fromPhase: z.string().nullable(),
    toPhase: z.string(),
    status: z.string(),
    at: dateTime,
    view: viewSchema.nullable().meta({ description: 'The view after the change; null on replayed changes except the newest of a per-workflow replay' }),
  })
  .meta({ id: 'WorkflowChange', description: 'The data of every SSE event (unnamed, type message): one persisted change' });
