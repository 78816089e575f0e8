import { Hono, type Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { decodeCursor, encodeCursor, type NewDatasetFile } from '../../db/store.ts';
import type { AssetRow, DependencyRow, StepRunRow, TransitionRow } from '../../db/schema.ts';
import { rowToView } from '../../engine/engine.ts';
import type { WorkflowView } from '../../engine/view.ts';
import { parseInputs } from '../../handlers/index.ts';
import type { FileFormat, MappingOutput, ValidationOutput } from '../../handlers/types.ts';
import { isDiscoveryError } from '../../machine/errors.ts';
import type { WorkflowEvent } from '../../machine/machine.ts';
import type { AppDeps, AppEnv } from '../app.ts';
import { parseWith } from '../app.ts';
import { ApiError } from '../errors.ts';
import { idempotent } from '../idempotency.ts';
import {
  assetQuerySchema,
  createBodySchema,
  eventBodySchema,
  idParamSchema,
  listQuerySchema,
  pageQuerySchema,
  rawUploadQuerySchema,
  viewQuerySchema,
  type CreateBody,
} from '../schemas.ts';

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;
const RAW_CSV_TYPES = ['text/csv', 'text/plain', 'application/csv', 'text/tab-separated-values'];
const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

interface ParsedCreate {
  name: string;
  files: NewDatasetFile[];
  options: { retry?: NonNullable<CreateBody['options']>['retry']; reviewMappings: boolean };
  autoStart: boolean;
}

function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw new ApiError(400, 'INVALID_JSON', 'The request body is empty; send a JSON object.');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ApiError(400, 'INVALID_JSON', `The request body is not valid JSON: ${(error as Error).message}.`);
  }
}

function decodeFile(file: CreateBody['files'][number], index: number): NewDatasetFile {
  if (file.encoding === 'base64') {
    if (!BASE64.test(file.content)) {
      throw new ApiError(400, 'INVALID_FILE_ENCODING', `files[${index}] (${file.name}): content is declared base64 but is not valid base64.`);
    }
    return { name: file.name, format: file.format ?? null, content: new Uint8Array(Buffer.from(file.content, 'base64')) };
  }
  return { name: file.name, format: file.format ?? null, content: new TextEncoder().encode(file.content) };
}

function checkSize(files: NewDatasetFile[], maxBytes: number): void {
  const total = files.reduce((n, f) => n + f.content.byteLength, 0);
  if (total > maxBytes) {
    throw new ApiError(
      413,
      'PAYLOAD_TOO_LARGE',
      `The files add up to ${(total / 1048576).toFixed(1)} MB, over the limit of ${(maxBytes / 1048576).toFixed(0)} MB per workflow (MAX_UPLOAD_MB).`,
      { limitBytes: maxBytes, sizeBytes: total },
    );
  }
  files.forEach((f, i) => {
    if (f.content.byteLength === 0) throw new ApiError(400, 'EMPTY_FILE', `files[${i}] (${f.name}) is empty; upload a file with a header row and records.`);
  });
}

async function parseCreate(c: Context, maxBytes: number): Promise<ParsedCreate> {
  const type = mediaType(c);
  const query = parseWith(rawUploadQuerySchema, c.req.query(), 'query');
  const rawOptions = { reviewMappings: query.reviewMappings === 'true' };
  const rawAutoStart = query.autoStart !== 'false';
  if (type === 'application/json') {
    const body = await readJson(c);
    if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'files' in body) {
      const parsed = parseWith(createBodySchema, body, 'request body');
      const files = parsed.files.map(decodeFile);
      checkSize(files, maxBytes);
      return {
        name: parsed.name ?? files.map((f) => f.name).join(', '),
        files,
        options: { reviewMappings: parsed.options?.reviewMappings ?? false, ...(parsed.options?.retry ? { retry: parsed.options.retry } : {}) },
        autoStart: parsed.options?.autoStart ?? true,
      };
    }
    // Not our envelope: the body is itself a JSON export.
    const name = query.filename ?? `${query.name ?? 'upload'}.json`;
    const files = [{ name, format: 'json', content: new TextEncoder().encode(JSON.stringify(body)) }];
    checkSize(files, maxBytes);
    return { name: query.name ?? name, files, options: rawOptions, autoStart: rawAutoStart };
  }
  if (RAW_CSV_TYPES.includes(type)) {
    const content = new Uint8Array(await c.req.arrayBuffer());
    const name = query.filename ?? `${query.name ?? 'upload'}.csv`;
    const files = [{ name, format: 'csv', content }];
    checkSize(files, maxBytes);
    return { name: query.name ?? name, files, options: rawOptions, autoStart: rawAutoStart };
  }
  if (type === XLSX_TYPE) {
    const content = new Uint8Array(await c.req.arrayBuffer());
    const name = query.filename ?? `${query.name ?? 'upload'}.xlsx`;
    const files = [{ name, format: 'xlsx', content }];
    checkSize(files, maxBytes);
    return { name: query.name ?? name, files, options: rawOptions, autoStart: rawAutoStart };
  }
  throw new ApiError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type ${type || '(none)'} is not accepted. Send application/json ({ files: [...] } or a JSON export), text/csv, or ${XLSX_TYPE}.`,
  );
}

/**
 * Parses the files once before anything is stored, so an unreadable file is a 400 naming it now
 * rather than a workflow that fails later. The analysis step parses them again from the database.
 */
async function assertReadable(files: NewDatasetFile[]): Promise<void> {
  try {
    await parseInputs(
      files.map((f) => ({ name: f.name, content: f.content, ...(f.format ? { format: f.format as FileFormat } : {}) })),
      { maxBytes: Number.MAX_SAFE_INTEGER },
    );
  } catch (error) {
    if (isDiscoveryError(error) && !error.retryable) {
      throw new ApiError(400, error.code, error.message, { hint: error.hint, ...(error.details ?? {}) });
    }
    throw error;
  }
}

function historyItem(row: TransitionRow) {
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

function assetItem(row: AssetRow) {
  return { ...(row.data as Record<string, unknown>), updatedAt: row.updatedAt.toISOString() };
}

function dependencyItem(row: DependencyRow) {
  return { ...(row.data as Record<string, unknown>), updatedAt: row.updatedAt.toISOString() };
}

/** Pages an in-memory list with an opaque offset cursor. */
function pageArray<T>(items: T[], limit: number, cursor: string | undefined): { items: T[]; nextCursor: string | null } {
  const parts = decodeCursor(cursor, 1);
  if (cursor && !parts) throw new ApiError(400, 'INVALID_CURSOR', 'The cursor is not one this service issued; pass nextCursor from the previous page unchanged.');
  const offset = parts ? Number(parts[0]) : 0;
  const slice = items.slice(offset, offset + limit);
  const next = offset + limit < items.length ? encodeCursor([offset + limit]) : null;
  return { items: slice, nextCursor: next };
}

const KEEPALIVE_MS = 15_000;
const ENDED = new Set(['completed', 'failed', 'needs_migration']);

/**
 * Streams committed views as SSE until `isLast` says stop or the client goes away. Subscribes
 * before reading the current state so no change falls between the two.
 */
function streamViews(
  c: Context,
  hub: AppDeps['hub'],
  id: string | null,
  begin: (stream: SSEStreamingApi) => Promise<{ sentVersion: number; done: boolean }>,
  idOf: (view: WorkflowView) => string,
): Response {
  const queue: WorkflowView[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = hub.subscribe(id, (view) => {
    queue.push(view);
    wake?.();
  });
  return streamSSE(c, async (stream) => {
    let closed = false;
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    try {
      let { sentVersion, done } = await begin(stream);
      while (!done && !closed) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, KEEPALIVE_MS).unref();
          });
          wake = null;
          if (queue.length === 0 && !closed) await stream.write(': keepalive\n\n');
          continue;
        }
        for (const view of queue.splice(0)) {
          if (id !== null && view.version <= sentVersion) continue;
          await stream.writeSSE({ id: idOf(view), event: 'snapshot', data: JSON.stringify(view) });
          sentVersion = view.version;
          if (id !== null && ENDED.has(view.status)) done = true;
        }
      }
    } finally {
      unsubscribe();
    }
  });
}

export function workflowRoutes(deps: AppDeps): Hono<AppEnv> {
  const { engine, store, hub } = deps;
  const routes = new Hono<AppEnv>();

  routes.get('/stream', (c) =>
    streamViews(c, hub, null, async () => ({ sentVersion: 0, done: false }), (view) => `${view.id}:${view.version}`),
  );

  const idOf = (c: Context) => parseWith(idParamSchema, { id: c.req.param('id') }, 'path').id;
  const requireWorkflow = async (id: string) => {
    const row = await store.getWorkflow(id);
    if (!row) throw new ApiError(404, 'WORKFLOW_NOT_FOUND', `No workflow has id ${id}. List workflows with GET /workflows.`);
    return row;
  };

  routes.post('/', (c) =>
    idempotent(c, store, c.get('principal'), async () => {
      const request = await parseCreate(c, deps.maxUploadBytes);
      await assertReadable(request.files);
      const view = await engine.create({
        name: request.name,
        files: request.files,
        options: request.options,
        autoStart: request.autoStart,
        correlationId: c.get('correlationId'),
        actor: c.get('principal'),
      });
      c.header('Location', `/workflows/${view.id}`);
      return c.json(view, 201);
    }),
  );

  routes.get('/', async (c) => {
    const query = parseWith(listQuerySchema, c.req.query(), 'query');
    const page = await store.listWorkflows(query);
    return c.json({ items: page.items.map((row) => rowToView(row, false)), nextCursor: page.nextCursor });
  });

  routes.get('/:id', async (c) => {
    const id = idOf(c);
    const query = parseWith(viewQuerySchema, c.req.query(), 'query');
    return c.json(await engine.get(id, { raw: query.raw === 'true' }));
  });

  routes.post('/:id/events', (c) =>
    idempotent(c, store, c.get('principal'), async () => {
      const id = idOf(c);
      if (mediaType(c) !== 'application/json') {
        throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the event as application/json, for example {"type":"START"}.');
      }
      const body = await readJson(c);
      const type = (body as { type?: unknown } | null)?.type;
      if (typeof type !== 'string' || !eventBodySchema.options.some((o) => o.shape.type.value === type)) {
        throw new ApiError(400, 'UNKNOWN_EVENT', `Unknown event type ${JSON.stringify(type ?? null)}; send one of START, RETRY, CANCEL, APPROVE_MAPPINGS.`);
      }
      const event = parseWith(eventBodySchema, body, 'event') as WorkflowEvent;
      if (event.type === 'APPROVE_MAPPINGS' && event.overrides) await checkOverrides(id, event.overrides);
      return c.json(await engine.send(id, event, { correlationId: c.get('correlationId'), actor: c.get('principal') }));
    }),
  );

  /** Overrides must name columns the mapping step saw, so a typo is a 400 now rather than a failed workflow later. */
  async function checkOverrides(id: string, overrides: Record<string, string>): Promise<void> {
    await requireWorkflow(id);
    const mapping = await store.getArtifact<MappingOutput>(id, 'field_mappings');
    if (!mapping) return;
    const known = new Set(mapping.mappings.flatMap((m) => [m.source, `${m.file}:${m.source}`]));
    const unknown = Object.keys(overrides).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new ApiError(400, 'UNKNOWN_COLUMN', `Overrides name columns that are in no uploaded file: ${unknown.join(', ')}. Use the source names from GET /workflows/${id}/mappings.`, {
        unknown,
      });
    }
  }

  routes.get('/:id/stream', async (c) => {
    const id = idOf(c);
    const lastEventId = c.req.header('last-event-id') ?? c.req.query('lastEventId');
    const resumeFrom = lastEventId !== undefined && /^\d{1,9}$/.test(lastEventId) ? Number(lastEventId) : null;
    if (lastEventId !== undefined && resumeFrom === null) {
      throw new ApiError(400, 'INVALID_LAST_EVENT_ID', 'Last-Event-ID must be the id (audit seq) of an event this stream sent.');
    }
    await requireWorkflow(id);
    return streamViews(
      c,
      hub,
      id,
      async (stream) => {
        const row = await requireWorkflow(id);
        if (resumeFrom !== null && resumeFrom < row.version - 1) {
          // Replay the transitions the client missed, then the current view.
          let cursor: string | undefined = encodeCursor([resumeFrom]);
          while (cursor) {
            const page = await store.getHistory(id, { limit: 500, cursor });
            for (const item of page.items.filter((h) => h.seq < row.version)) {
              await stream.writeSSE({ id: String(item.seq), event: 'transition', data: JSON.stringify(historyItem(item)) });
            }
            cursor = page.nextCursor ?? undefined;
          }
        }
        if (resumeFrom === null || resumeFrom < row.version) {
          await stream.writeSSE({ id: String(row.version), event: 'snapshot', data: JSON.stringify(rowToView(row, false)) });
        }
        return { sentVersion: row.version, done: ENDED.has(row.status) };
      },
      (view) => String(view.version),
    );
  });

  routes.get('/:id/history', async (c) => {
    const id = idOf(c);
    const query = parseWith(pageQuerySchema, c.req.query(), 'query');
    await requireWorkflow(id);
    const page = await store.getHistory(id, query);
    return c.json({ items: page.items.map(historyItem), nextCursor: page.nextCursor });
  });

  routes.get('/:id/steps', async (c) => {
    const id = idOf(c);
    const query = parseWith(pageQuerySchema, c.req.query(), 'query');
    await requireWorkflow(id);
    const page = await store.listStepRuns(id, query);
    return c.json({ items: page.items.map(stepItem), nextCursor: page.nextCursor });
  });

  routes.get('/:id/assets', async (c) => {
    const id = idOf(c);
    const query = parseWith(assetQuerySchema, c.req.query(), 'query');
    await requireWorkflow(id);
    const page = await store.listAssets(id, query);
    return c.json({ items: page.items.map(assetItem), nextCursor: page.nextCursor });
  });

  routes.get('/:id/dependencies', async (c) => {
    const id = idOf(c);
    const query = parseWith(pageQuerySchema, c.req.query(), 'query');
    await requireWorkflow(id);
    const page = await store.listDependencies(id, query);
    return c.json({ items: page.items.map(dependencyItem), nextCursor: page.nextCursor });
  });

  routes.get('/:id/quarantine', async (c) => {
    const id = idOf(c);
    const query = parseWith(pageQuerySchema, c.req.query(), 'query');
    await requireWorkflow(id);
    const validation = await store.getArtifact<ValidationOutput>(id, 'validation');
    return c.json(pageArray(validation?.quarantine ?? [], query.limit, query.cursor));
  });

  routes.get('/:id/mappings', async (c) => {
    const id = idOf(c);
    const query = parseWith(pageQuerySchema, c.req.query(), 'query');
    await requireWorkflow(id);
    const mapping = await store.getArtifact<MappingOutput>(id, 'field_mappings');
    return c.json(pageArray(mapping?.mappings ?? [], query.limit, query.cursor));
  });

  return routes;
}
