import { encodeCursor, offsetPage, type Page, type PageRequest } from '../db/paging.ts';
import type { AssetRow, DependencyRow, StepRunRow, TransitionRow } from '../db/schema.ts';
import type { WorkflowStore } from '../db/store.ts';
import type { WorkflowFilter } from '../db/workflows.ts';
import { AppError } from '../errors.ts';
import type { Asset, DependencyEdge, FieldMapping, MappingOutput, QuarantinedRecord, ValidationOutput } from '../handlers/types.ts';
import { STEP_PHASES, type TopPhase, type WorkflowStatus } from '../machine/table.ts';
import { ARTIFACT } from './artifacts.ts';
import { WorkflowNotFoundError } from './errors.ts';
import { checkUpload, receiveUpload, type UploadFile } from './uploads.ts';
import type { NewDatasetFile } from '../db/workflows.ts';
import type { Table } from '../handlers/types.ts';
import { rowToView, type WorkflowView } from './view.ts';

export interface QueryDeps {
  store: WorkflowStore;
  maxUploadBytes: number;
  /** Parses an upload to check it (default: here, keeping the tables); null when it kept none. */
  parseUpload?: (files: NewDatasetFile[]) => Promise<Table[] | null>;
}

export interface HistoryItem {
  seq: number;
  event: unknown;
  eventType: string;
  fromPhase: string | null;
  toPhase: string;
  value: unknown;
  status: string;
  at: string;
  durationMs: number | null;
  correlationId: string | null;
  actor: string | null;
}

/**
 * What the SSE streams send for each persisted change: one shape for every event. `view` is the
 * workflow's view after the change; a replayed change (a client resuming with Last-Event-ID) carries
 * null, except the newest of a per-workflow replay, which carries the current view.
 */
export interface WorkflowChangeEvent {
  workflowId: string;
  /** The workflow's audit seq, which is its version after this change. */
  seq: number;
  /** The audit row's global id: the all-workflows stream's position. */
  auditId: number;
  eventType: string;
  fromPhase: TopPhase | null;
  toPhase: TopPhase;
  status: WorkflowStatus;
  at: string;
  view: WorkflowView | null;
}

export function changeEventOf(row: TransitionRow, view: WorkflowView | null): WorkflowChangeEvent {
  return {
    workflowId: row.workflowId,
    seq: row.seq,
    auditId: row.id,
    eventType: row.eventType,
    fromPhase: row.fromPhase,
    toPhase: row.toPhase,
    status: row.status,
    at: row.at.toISOString(),
    view,
  };
}

const DAY_MS = 86_400_000;
const REPLAY_PAGE = 500;

function historyItem(row: TransitionRow): HistoryItem {
  return {
    seq: row.seq,
    event: row.event,
    eventType: row.eventType,
    fromPhase: row.fromPhase,
    toPhase: row.toPhase,
    value: row.value,
    status: row.status,
    at: row.at.toISOString(),
    durationMs: row.durationMs,
    correlationId: row.correlationId,
    actor: row.actor,
  };
}

function stepItem(row: StepRunRow) {
  return {
    phase: row.phase,
    attempt: row.attempt,
    startedAt: row.startedAt.toISOString(),
    endedAt: row.endedAt?.toISOString() ?? null,
    durationMs: row.durationMs,
    outcome: row.outcome,
    error: row.error,
  };
}

export type AssetItem = Asset & { updatedAt: string };
export type DependencyItem = DependencyEdge & { updatedAt: string };

function dependencyItem(row: DependencyRow): DependencyItem {
  return { ...(row.data as DependencyEdge), updatedAt: row.updatedAt.toISOString() };
}

/**
 * The handlers count rows from 0 (an index into the table); the API, like the messages, the CLI and
 * the console, counts them from 1: the first record after the header is row 1.
 */
const rowNumber = (index: number) => index + 1;

function assetItem(row: AssetRow): AssetItem {
  const asset = row.data as Asset;
  return { ...asset, source_row: rowNumber(asset.source_row), updatedAt: row.updatedAt.toISOString() };
}

function quarantineItem(record: QuarantinedRecord): QuarantinedRecord {
  return { ...record, row: rowNumber(record.row), findings: record.findings.map((f) => ({ ...f, row: rowNumber(f.row) })) };
}

function mapPage<T, U>(page: Page<T>, map: (item: T) => U): Page<U> {
  return { items: page.items.map(map), nextCursor: page.nextCursor };
}

const rate = (part: number, whole: number) => (whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000);

/**
 * The engine's read side: what the API may know about workflows, as views, from the database. It
 * owns the artefact keys and the paging; every per-workflow read answers 404 for an unknown id.
 */
export class WorkflowQueries {
  constructor(private readonly deps: QueryDeps) {}

  /** The committed view, read from the database (the source of truth). */
  async get(id: string, options: { raw?: boolean } = {}): Promise<WorkflowView> {
    const row = await this.deps.store.getWorkflow(id);
    if (!row) throw new WorkflowNotFoundError(id);
    return rowToView(row, options.raw ?? false);
  }

  /** Workflows newest first. */
  async list(filter: WorkflowFilter): Promise<Page<WorkflowView>> {
    return mapPage(await this.deps.store.listWorkflows(filter), (row) => rowToView(row, false));
  }

  /** The audit trail, oldest first. */
  async history(id: string, page: PageRequest): Promise<Page<HistoryItem>> {
    await this.get(id);
    return mapPage(await this.deps.store.getHistory(id, page), historyItem);
  }

  /** The changes of one workflow after seq `after`, oldest first; the newest carries `view` (the current one). */
  async *changesAfter(view: WorkflowView, after: number): AsyncGenerator<WorkflowChangeEvent> {
    let cursor: string | undefined = encodeCursor([after]);
    while (cursor) {
      const page = await this.deps.store.getHistory(view.id, { limit: REPLAY_PAGE, cursor });
      for (const row of page.items) {
        if (row.seq > view.version) return;
        yield changeEventOf(row, row.seq === view.version ? view : null);
      }
      cursor = page.nextCursor ?? undefined;
    }
  }

  /** The changes of every workflow with a global id above `afterId`, in id order, without views. */
  async *allChangesAfter(afterId: number): AsyncGenerator<WorkflowChangeEvent> {
    for (let after = afterId; ; ) {
      const rows = await this.deps.store.listTransitionsAfterId(after, REPLAY_PAGE);
      for (const row of rows) yield changeEventOf(row, null);
      if (rows.length < REPLAY_PAGE) return;
      after = rows.at(-1)!.id;
    }
  }

  /** The change of one audit row, with the workflow's current view (for feed entries that came without their event). */
  async changeById(auditId: number): Promise<WorkflowChangeEvent | null> {
    const row = await this.deps.store.getTransitionById(auditId);
    if (!row) return null;
    return changeEventOf(row, await this.get(row.workflowId));
  }

  /** Every step attempt with its outcome. */
  async steps(id: string, page: PageRequest): Promise<Page<ReturnType<typeof stepItem>>> {
    await this.get(id);
    return mapPage(await this.deps.store.listStepRuns(id, page), stepItem);
  }

  async assets(id: string, page: PageRequest & { type?: string }): Promise<Page<AssetItem>> {
    await this.get(id);
    return mapPage(await this.deps.store.listAssets(id, page), assetItem);
  }

  async dependencies(id: string, page: PageRequest): Promise<Page<DependencyItem>> {
    await this.get(id);
    return mapPage(await this.deps.store.listDependencies(id, page), dependencyItem);
  }

  /** Records held back by validation; empty until validation ran. */
  async quarantine(id: string, page: PageRequest): Promise<Page<QuarantinedRecord>> {
    await this.get(id);
    const validation = await this.deps.store.getArtifact<ValidationOutput>(id, ARTIFACT.validation);
    return mapPage(offsetPage(validation?.quarantine ?? [], page), quarantineItem);
  }

  /** Column to canonical field mappings; empty until field mapping ran. */
  async mappings(id: string, page: PageRequest): Promise<Page<FieldMapping>> {
    await this.get(id);
    const mapping = await this.deps.store.getArtifact<MappingOutput>(id, ARTIFACT.mappings);
    return offsetPage(mapping?.mappings ?? [], page);
  }

  /** Overrides must name columns the mapping step saw, so a typo is a 400 now rather than a failed workflow later. */
  async checkOverrides(id: string, overrides: Record<string, string>): Promise<void> {
    await this.get(id);
    const mapping = await this.deps.store.getArtifact<MappingOutput>(id, ARTIFACT.mappings);
    if (!mapping) return;
    const known = new Set(mapping.mappings.flatMap((m) => [m.source, `${m.file}:${m.source}`]));
    const unknown = Object.keys(overrides).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new AppError(
        'UNKNOWN_COLUMN',
        `Overrides name columns that are in no uploaded file: ${unknown.join(', ')}. Use the source names from GET /workflows/${id}/mappings.`,
        { details: { unknown } },
      );
    }
  }

  /** The upload limit per workflow (MAX_UPLOAD_MB). */
  get maxUploadBytes(): number {
    return this.deps.maxUploadBytes;
  }

  /** Streams a request body (or a form's file part) into storage when it is larger than one part (see receiveUpload). */
  receiveUpload(body: AsyncIterable<Uint8Array> | null, maxBytes = this.deps.maxUploadBytes) {
    return receiveUpload(body, maxBytes, this.deps.store);
  }

  /** Deletes a streamed upload no workflow was created from (best effort: expireUploads deletes it later otherwise). */
  dropUpload(uploadId: string): Promise<void> {
    return this.deps.store.dropUpload(uploadId).catch(() => {});
  }

  /** Decodes, size-checks and parses an upload before anything is stored (see checkUpload). */
  checkUpload(files: UploadFile[]) {
    return checkUpload(files, this.deps.maxUploadBytes, this.deps.parseUpload);
  }

  /** Workflows left untouched because another machine version stored them. */
  needsMigration(): Promise<number> {
    return this.deps.store.countWithStatus('needs_migration');
  }

  /** Per-phase success and failure rates, retries and durations since `since` (default: the last day). */
  async stats(since: Date = new Date(Date.now() - DAY_MS)) {
    const [rows, workflows] = await Promise.all([this.deps.store.stepStats(since), this.deps.store.workflowCounts(since)]);
    const byPhase = new Map(rows.map((r) => [r.phase, r]));
    const phases = STEP_PHASES.map((phase) => {
      const r = byPhase.get(phase);
      const finished = (r?.succeeded ?? 0) + (r?.failed ?? 0);
      return {
        phase,
        attempts: r?.attempts ?? 0,
        succeeded: r?.succeeded ?? 0,
        failed: r?.failed ?? 0,
        timedOut: r?.timedOut ?? 0,
        cancelled: r?.cancelled ?? 0,
        interrupted: r?.interrupted ?? 0,
        retries: r?.retries ?? 0,
        successRate: rate(r?.succeeded ?? 0, finished),
        failureRate: rate(r?.failed ?? 0, finished),
        p50Ms: r?.p50Ms ?? null,
        p95Ms: r?.p95Ms ?? null,
      };
    });
    return { since: since.toISOString(), workflows, phases };
  }
}
