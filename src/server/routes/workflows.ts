import { Hono, type Context } from 'hono';
import type { WorkflowEngine } from '../../engine/engine.ts';
import { assertJsonDepth, type UploadFile } from '../../engine/uploads.ts';
import { isAtRest } from '../../engine/view.ts';
import { parseWith, type AppDeps, type AppEnv } from '../context.ts';
import { ApiError } from '../errors.ts';
import { idempotent } from '../idempotency.ts';
import { streamViews } from '../stream.ts';
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
  type RawUploadQuery,
} from '../schemas.ts';

type WorkflowEvent = Parameters<WorkflowEngine['send']>[1];

const RAW_CSV_TYPES = ['text/csv', 'text/plain', 'application/csv', 'text/tab-separated-values'];
const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
// A `?name=` that already ends in one of these is the file's name as it is (no `foo.csv.csv`).
const FILE_EXTENSION = /\.(csv|tsv|txt|psv|json|xlsx|xlsm)$/i;

interface CreateRequest {
  name: string;
  files: UploadFile[];
  options: { retry?: NonNullable<CreateBody['options']>['retry']; reviewMappings?: boolean };
  autoStart: boolean;
}

function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw new ApiError(400, 'INVALID_JSON', 'The request body is empty; send a JSON object.');
  assertJsonDepth(text, 'The request body');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ApiError(400, 'INVALID_JSON', `The request body is not valid JSON: ${(error as Error).message}.`);
  }
}

/** Reads the create request in any of its shapes: the JSON envelope, or one raw JSON, CSV or XLSX file. */
async function readCreate(c: Context): Promise<CreateRequest> {
  const type = mediaType(c);
  if (type === 'multipart/form-data') return readMultipart(c);
  const query = parseWith(rawUploadQuerySchema, c.req.query(), 'query');
  const raw = async (format: string, content: Uint8Array): Promise<CreateRequest> => {
    const name = query.filename ?? (query.name && FILE_EXTENSION.test(query.name) ? query.name : `${query.name ?? 'upload'}.${format}`);
    return { name: query.name ?? name, files: [{ name, format, content }], ...uploadOptions(query) };
  };
  if (type === 'application/json') {
    const body = await readJson(c);
    if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'files' in body) {
      const parsed = parseWith(createBodySchema, body, 'request body');
      return {
        name: parsed.name ?? parsed.files.map((f) => f.name).join(', '),
        files: parsed.files,
        options: {
          ...(parsed.options?.reviewMappings === undefined ? {} : { reviewMappings: parsed.options.reviewMappings }),
          ...(parsed.options?.retry ? { retry: parsed.options.retry } : {}),
        },
        autoStart: parsed.options?.autoStart ?? true,
      };
    }
    // Not our envelope: the body is itself a JSON export.
    return raw('json', new TextEncoder().encode(JSON.stringify(body)));
  }
  if (RAW_CSV_TYPES.includes(type)) return raw('csv', new Uint8Array(await c.req.arrayBuffer()));
  if (type === XLSX_TYPE) return raw('xlsx', new Uint8Array(await c.req.arrayBuffer()));
  throw new ApiError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type ${type || '(none)'} is not accepted. Send multipart/form-data (curl -F file=@servers.csv), application/json ({ files: [...] } or a JSON export), text/csv, or ${XLSX_TYPE}.`,
  );
}

function uploadOptions(query: RawUploadQuery): Pick<CreateRequest, 'options' | 'autoStart'> {
  return {
    // Left out means "ask when the mapping needs a person"; false means never ask.
    options: query.reviewMappings === undefined ? {} : { reviewMappings: query.reviewMappings === 'true' },
    autoStart: query.autoStart !== 'false',
  };
}

/**
 * A browser form or `curl -F file=@a.csv -F file=@b.csv`: every file part is an uploaded file (its
 * format from its name, else sniffed); text parts are the raw upload's options (name,
 * reviewMappings, autoStart), which the query string may give too.
 */
async function readMultipart(c: Context): Promise<CreateRequest> {
  let form: Record<string, string | File | (string | File)[]>;
  try {
    form = await c.req.parseBody({ all: true });
  } catch (error) {
    throw new ApiError(400, 'INVALID_MULTIPART', `The multipart/form-data body cannot be read: ${(error as Error).message}.`);
  }
  const files: File[] = [];
  const fields: Record<string, string> = { ...c.req.query() };
  for (const [key, value] of Object.entries(form)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item === 'string') fields[key] = item;
      else files.push(item);
    }
  }
  const query = parseWith(rawUploadQuerySchema, fields, 'form field');
  if (files.length === 0) {
    throw new ApiError(400, 'NO_FILES', 'The form has no file part; send each file as its own part, e.g. curl -F file=@servers.csv.');
  }
  const upload = await Promise.all(
    files.map(async (file, i) => ({ name: file.name || `upload-${i + 1}`, content: new Uint8Array(await file.arrayBuffer()) })),
  );
  return { name: query.name ?? upload.map((f) => f.name).join(', '), files: upload, ...uploadOptions(query) };
}

export function workflowRoutes(deps: AppDeps): Hono<AppEnv> {
  const { engine, queries, hub } = deps;
  const routes = new Hono<AppEnv>();
  const idOf = (c: Context) => parseWith(idParamSchema, { id: c.req.param('id') }, 'path').id;

  routes.get('/stream', (c) => streamViews(c, hub, null, async () => ({ sentVersion: 0, done: false }), (view) => `${view.id}:${view.version}`));

  routes.post('/', (c) =>
    idempotent(c, deps.idempotency, c.get('principal'), async () => {
      const request = await readCreate(c);
      const { files, tables } = await queries.checkUpload(request.files);
      const view = await engine.create({
        name: request.name,
        files,
        tables,
        options: request.options,
        autoStart: request.autoStart,
        correlationId: c.get('correlationId'),
        actor: c.get('principal'),
      });
      c.header('Location', `/workflows/${view.id}`);
      return c.json(view, 201);
    }),
  );

  routes.get('/', async (c) => c.json(await queries.list(parseWith(listQuerySchema, c.req.query(), 'query'))));

  routes.get('/:id', async (c) => {
    const id = idOf(c);
    const query = parseWith(viewQuerySchema, c.req.query(), 'query');
    return c.json(await queries.get(id, { raw: query.raw === 'true' }));
  });

  routes.post('/:id/events', (c) =>
    idempotent(c, deps.idempotency, c.get('principal'), async () => {
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
      if (event.type === 'APPROVE_MAPPINGS' && event.overrides) await queries.checkOverrides(id, event.overrides);
      return c.json(await engine.send(id, event, { correlationId: c.get('correlationId'), actor: c.get('principal') }));
    }),
  );

  routes.get('/:id/stream', async (c) => {
    const id = idOf(c);
    const lastEventId = c.req.header('last-event-id') ?? c.req.query('lastEventId');
    const resumeFrom = lastEventId !== undefined && /^\d{1,9}$/.test(lastEventId) ? Number(lastEventId) : null;
    if (lastEventId !== undefined && resumeFrom === null) {
      throw new ApiError(400, 'INVALID_LAST_EVENT_ID', 'Last-Event-ID must be the id (audit seq) of an event this stream sent.');
    }
    await queries.get(id);
    return streamViews(
      c,
      hub,
      id,
      async (stream) => {
        const view = await queries.get(id);
        if (resumeFrom !== null && resumeFrom < view.version - 1) {
          // Replay the transitions the client missed, then the current view.
          for await (const item of queries.historyBetween(id, resumeFrom, view.version)) {
            await stream.writeSSE({ id: String(item.seq), event: 'transition', data: JSON.stringify(item) });
          }
        }
        if (resumeFrom === null || resumeFrom < view.version) {
          await stream.writeSSE({ id: String(view.version), event: 'snapshot', data: JSON.stringify(view) });
        }
        return { sentVersion: view.version, done: isAtRest(view.status) };
      },
      (view) => String(view.version),
    );
  });

  routes.get('/:id/history', async (c) => c.json(await queries.history(idOf(c), parseWith(pageQuerySchema, c.req.query(), 'query'))));
  routes.get('/:id/steps', async (c) => c.json(await queries.steps(idOf(c), parseWith(pageQuerySchema, c.req.query(), 'query'))));
  routes.get('/:id/assets', async (c) => c.json(await queries.assets(idOf(c), parseWith(assetQuerySchema, c.req.query(), 'query'))));
  routes.get('/:id/dependencies', async (c) => c.json(await queries.dependencies(idOf(c), parseWith(pageQuerySchema, c.req.query(), 'query'))));
  routes.get('/:id/quarantine', async (c) => c.json(await queries.quarantine(idOf(c), parseWith(pageQuerySchema, c.req.query(), 'query'))));
  routes.get('/:id/mappings', async (c) => c.json(await queries.mappings(idOf(c), parseWith(pageQuerySchema, c.req.query(), 'query'))));

  return routes;
}
