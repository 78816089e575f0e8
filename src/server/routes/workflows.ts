import { Readable } from 'node:stream';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import busboy from 'busboy';
import type { Context, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { WorkflowEngine } from '../../engine/engine.ts';
import type { WorkflowQueries } from '../../engine/queries.ts';
import { UploadTooLargeError, assertJsonDepth, type StoredUpload, type UploadFile } from '../../engine/uploads.ts';
import { parseWith, type AppDeps, type AppEnv } from '../context.ts';
import { apiRoutes, body, correlationHeaders, errors, idempotencyHeaders, json } from '../openapi.ts';
import { assetSchema, changeEventSchema, dependencySchema, historyItemSchema, mappingSchema, pageOf, quarantinedSchema, stepRunSchema, viewSchema } from '../responses.ts';
import { ApiError } from '../errors.ts';
import { idempotent } from '../idempotency.ts';
import { STREAM_ALL_DESCRIPTION, STREAM_ONE_DESCRIPTION, streamAllWorkflows, streamWorkflow } from '../stream.ts';
import {
  assetQuerySchema,
  createBodySchema,
  rawJsonExportSchema,
  streamHeadersSchema,
  eventBodySchema,
  idParamSchema,
  listQuerySchema,
  pageQuerySchema,
  rawUploadQuerySchema,
  streamQuerySchema,
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
async function readCreate(c: Context, queries: WorkflowQueries): Promise<CreateRequest> {
  const type = mediaType(c);
  if (type === 'multipart/form-data') return readMultipart(c, queries);
  const query = parseWith(rawUploadQuerySchema, c.req.query(), 'query');
  const raw = async (format: string, body: { content: Uint8Array } | { upload: StoredUpload }): Promise<CreateRequest> => {
    const name = query.filename ?? (query.name && FILE_EXTENSION.test(query.name) ? query.name : `${query.name ?? 'upload'}.${format}`);
    return { name: query.name ?? name, files: [{ name, format, ...body }], ...uploadOptions(query) };
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
    return raw('json', { content: new TextEncoder().encode(JSON.stringify(body)) });
  }
  if (RAW_CSV_TYPES.includes(type)) return raw('csv', await rawBody(c, queries));
  if (type === XLSX_TYPE) return raw('xlsx', await rawBody(c, queries));
  throw unsupported(type);
}

/**
 * A raw file body, streamed into storage a part at a time as it arrives (see receiveUpload); read
 * whole only when an Idempotency-Key made the request's hash read it already.
 */
async function rawBody(c: Context, queries: WorkflowQueries): Promise<{ content: Uint8Array } | { upload: StoredUpload }> {
  if (c.req.raw.bodyUsed) return { content: new Uint8Array(await c.req.arrayBuffer()) };
  return queries.receiveUpload(c.req.raw.body);
}

function unsupported(type: string): ApiError {
  return new ApiError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type ${type || '(none)'} is not accepted. Send multipart/form-data (curl -F file=@servers.csv), application/json ({ files: [...] } or a JSON export), text/csv, or ${XLSX_TYPE}.`,
  );
}

/** Runs before the route's schemas: a content type no reader takes is our 415 naming the ones accepted. */
const acceptUploadTypes: MiddlewareHandler = async (c, next) => {
  const type = mediaType(c);
  if (type !== 'application/json' && type !== 'multipart/form-data' && type !== XLSX_TYPE && !RAW_CSV_TYPES.includes(type)) throw unsupported(type);
  await next();
};

function uploadOptions(query: RawUploadQuery): Pick<CreateRequest, 'options' | 'autoStart'> {
  return {
    // Left out means "ask when the mapping needs a person"; false means never ask.
    options: query.reviewMappings === undefined ? {} : { reviewMappings: query.reviewMappings === 'true' },
    autoStart: query.autoStart !== 'false',
  };
}

/** A form's request: its text parts checked as the raw upload's options, and at least one file. */
function formRequest(fields: Record<string, string>, files: UploadFile[]): CreateRequest {
  const query = parseWith(rawUploadQuerySchema, fields, 'form field');
  if (files.length === 0) {
    throw new ApiError(400, 'NO_FILES', 'The form has no file part; send each file as its own part, e.g. curl -F file=@servers.csv.');
  }
  return { name: query.name ?? files.map((f) => f.name).join(', '), files, ...uploadOptions(query) };
}

/**
 * A browser form or `curl -F file=@a.csv -F file=@b.csv`: every file part is an uploaded file (its
 * format from its name, else sniffed); text parts are the raw upload's options (name,
 * reviewMappings, autoStart), which the query string may give too. Read as it arrives (busboy):
 * each file part is streamed into storage a part at a time (receiveUpload), so the process holds
 * one part of the body at a time, as with a raw body, and stops at the upload limit. Uploads
 * already written are deleted if the form fails. A body an Idempotency-Key's hash read already is
 * read from memory the same way.
 */
async function readMultipart(c: Context, queries: WorkflowQueries): Promise<CreateRequest> {
  const body = c.req.raw.bodyUsed ? [new Uint8Array(await c.req.arrayBuffer())] : c.req.raw.body;
  const files: UploadFile[] = [];
  const fields: Record<string, string> = { ...c.req.query() };
  const limit = queries.maxUploadBytes;
  let used = 0;
  let receiving = Promise.resolve();
  try {
    await new Promise<void>((resolve, reject) => {
      let form: busboy.Busboy;
      try {
        form = busboy({ headers: { 'content-type': c.req.header('content-type') ?? '' } });
      } catch (error) {
        reject(invalidMultipart(error));
        return;
      }
      let failed = false;
      const fail = (error: unknown) => {
        failed = true;
        reject(error);
      };
      form.on('field', (key, value) => {
        fields[key] = value;
      });
      form.on('file', (_field, stream, info) => {
        // After a failure the rest of the form is read and dropped, so the answer can be sent.
        if (failed) return void stream.resume();
        const name = info.filename || `upload-${files.length + 1}`;
        // Parts arrive one after the other; each is read once the one before it is stored.
        receiving = receiving.then(
          async () => {
            const body = await queries.receiveUpload(stream, limit - used).catch((error: unknown) => {
              stream.resume();
              // The limit is per workflow: name it, not what was left of it for this file.
              throw error instanceof UploadTooLargeError ? new UploadTooLargeError(limit) : error;
            });
            used += 'content' in body ? body.content.byteLength : body.upload.sizeBytes;
            files.push({ name, ...body });
          },
          (error: unknown) => {
            stream.resume();
            throw error;
          },
        );
        receiving.catch(fail);
      });
      form.on('error', (error) => fail(invalidMultipart(error)));
      form.on('close', () => receiving.then(resolve, reject));
      const source = body === null ? Readable.from([]) : Array.isArray(body) ? Readable.from(body) : Readable.fromWeb(body as never);
      source.on('error', (error) => fail(invalidMultipart(error))).pipe(form);
    });
    // Inside the try: a form whose text parts are refused deletes its uploads too.
    return formRequest(fields, files);
  } catch (error) {
    await receiving.catch(() => {});
    for (const file of files) if (file.upload) await queries.dropUpload(file.upload.id);
    throw error;
  }
}

function invalidMultipart(error: unknown): ApiError {
  return new ApiError(400, 'INVALID_MULTIPART', `The multipart/form-data body cannot be read: ${(error as Error).message}.`);
}

const ID = { params: idParamSchema };
const XLSX_BODY = { schema: z.string().meta({ format: 'binary' }) };
const MULTIPART_SCHEMA = {
  type: 'object' as const,
  required: ['file'],
  properties: {
    file: { type: 'array' as const, items: { type: 'string' as const, format: 'binary' }, description: 'One part per file (any part name; format from the file name, else sniffed)' },
    name: { type: 'string' as const, description: 'The workflow name (default: the file names)' },
    reviewMappings: { type: 'string' as const, enum: ['true', 'false'] },
    autoStart: { type: 'string' as const, enum: ['true', 'false'] },
  },
};

const createWorkflow = createRoute({
  method: 'post',
  path: '/',
  operationId: 'createWorkflow',
  tags: ['workflows'],
  summary: 'Create (and by default start) a workflow from CMDB files',
  description:
    'Send the files as a JSON envelope ({ name, files: [{ name, content, encoding }], options }), as multipart/form-data (one part per file; ' +
    'text parts name, reviewMappings, autoStart), or one raw file body (CSV, JSON export, XLSX) with ?name=. Answers once the workflow is stored.',
  request: {
    query: rawUploadQuerySchema,
    headers: idempotencyHeaders,
    body: {
      required: true,
      content: {
        'application/json': { schema: z.union([createBodySchema, rawJsonExportSchema]) },
        // A plain schema: the parts are files, which the handler reads and checks (readMultipart).
        'multipart/form-data': { schema: MULTIPART_SCHEMA },
        'text/csv': { schema: z.string().meta({ description: 'One CSV (or TSV, pipe- or semicolon-separated) file; text/plain, application/csv and text/tab-separated-values are read the same way' }) },
        'text/plain': { schema: z.string() },
        'application/csv': { schema: z.string() },
        'text/tab-separated-values': { schema: z.string() },
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': XLSX_BODY,
      },
    },
  },
  responses: {
    201: json(viewSchema, 'Created; the snapshot view. Location names the workflow', {
      Location: { description: 'The new workflow: /workflows/{id}', schema: { type: 'string' } },
    }),
    ...errors(401, 403, 409, 413, 415, 422),
  },
});

const listWorkflows = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listWorkflows',
  tags: ['workflows'],
  summary: 'List workflows, newest first',
  request: { query: listQuerySchema, headers: correlationHeaders },
  responses: { 200: json(pageOf(viewSchema, 'WorkflowPage'), 'A page of workflow views'), ...errors(401, 403) },
});

const streamAll = createRoute({
  method: 'get',
  path: '/stream',
  operationId: 'streamWorkflows',
  tags: ['streams'],
  summary: 'Server-Sent Events: every committed change of every workflow',
  description: STREAM_ALL_DESCRIPTION,
  request: { query: streamQuerySchema, headers: streamHeadersSchema },
  responses: { 200: body('text/event-stream', 'The event stream; each event’s data is a WorkflowChange', changeEventSchema), ...errors(401, 403) },
});

const getWorkflow = createRoute({
  method: 'get',
  path: '/{id}',
  operationId: 'getWorkflow',
  tags: ['workflows'],
  summary: 'The snapshot view of a workflow',
  request: { ...ID, query: viewQuerySchema, headers: correlationHeaders },
  responses: { 200: json(viewSchema, 'The snapshot view'), ...errors(401, 403, 404) },
});

const sendEvent = createRoute({
  method: 'post',
  path: '/{id}/events',
  operationId: 'sendWorkflowEvent',
  tags: ['workflows'],
  summary: 'Send START, RETRY, CANCEL or APPROVE_MAPPINGS',
  description: 'Answers with the view once the change is persisted. An event the current state does not take is a 409 listing the accepted ones.',
  request: { ...ID, headers: idempotencyHeaders, body: { required: true, content: { 'application/json': { schema: eventBodySchema } } } },
  responses: { 200: json(viewSchema, 'The snapshot view after the change'), ...errors(401, 403, 404, 409, 415, 422) },
});

const streamOne = createRoute({
  method: 'get',
  path: '/{id}/stream',
  operationId: 'streamWorkflow',
  tags: ['streams'],
  summary: 'Server-Sent Events: the view of one workflow on every persisted change',
  description: STREAM_ONE_DESCRIPTION,
  request: { ...ID, query: streamQuerySchema, headers: streamHeadersSchema },
  responses: {
    200: body('text/event-stream', 'The event stream; each event’s data is a WorkflowChange', changeEventSchema),
    204: { description: 'The workflow is at rest and the client has seen its latest change: nothing more will come (EventSource stops reconnecting)' },
    ...errors(401, 403, 404),
  },
});

const listOf = <T extends z.ZodType, Q extends z.ZodObject>(path: string, operationId: string, summary: string, item: T, id: string, query: Q, tag: 'workflows' | 'inventory' = 'inventory') =>
  createRoute({
    method: 'get',
    path,
    operationId,
    tags: [tag],
    summary,
    request: { ...ID, query, headers: correlationHeaders },
    responses: { 200: json(pageOf(item, id), `A page of ${id.replace(/Page$/, '').toLowerCase()} items`), ...errors(401, 403, 404) },
  });

const history = listOf('/{id}/history', 'getWorkflowHistory', 'The audit trail, oldest first (seq gapless from 1)', historyItemSchema, 'HistoryPage', pageQuerySchema, 'workflows');
const steps = listOf('/{id}/steps', 'getWorkflowSteps', 'Every step attempt with its outcome, duration and error', stepRunSchema, 'StepRunPage', pageQuerySchema, 'workflows');
const assets = listOf('/{id}/assets', 'listAssets', 'The normalised asset inventory, optionally of one asset type', assetSchema, 'AssetPage', assetQuerySchema);
const dependencies = listOf('/{id}/dependencies', 'listDependencies', 'Dependency edges', dependencySchema, 'DependencyPage', pageQuerySchema);
const quarantine = listOf('/{id}/quarantine', 'listQuarantine', 'Records held back by validation, with their findings', quarantinedSchema, 'QuarantinePage', pageQuerySchema);
const mappings = listOf('/{id}/mappings', 'listMappings', 'Column to canonical field mappings with confidence and evidence', mappingSchema, 'MappingPage', pageQuerySchema);

export function workflowRoutes(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { engine, queries } = deps;
  const routes = apiRoutes();

  routes.openapi(streamAll, (c) => streamAllWorkflows(c, deps, deps.sse));

  routes.openapi({ ...createWorkflow, middleware: [acceptUploadTypes] }, (c) =>
    idempotent(c, deps.idempotency, c.get('principal'), async () => {
      const request = await readCreate(c, queries);
      try {
        const { files, tables } = await queries.checkUpload(request.files);
        const view = await engine.create({
          name: request.name,
          files,
          ...(tables ? { tables } : {}),
          options: request.options,
          autoStart: request.autoStart,
          correlationId: c.get('correlationId'),
          actor: c.get('principal'),
          traceContext: c.get('traceContext'),
        });
        c.header('Location', `/workflows/${view.id}`);
        return c.json(view, 201);
      } catch (error) {
        // Refused or not created: a streamed upload's parts are deleted now rather than left to expire.
        for (const file of request.files) if (file.upload) await queries.dropUpload(file.upload.id);
        throw error;
      }
    }),
  );

  routes.openapi(listWorkflows, async (c) => c.json(await queries.list(c.req.valid('query')), 200));

  routes.openapi(getWorkflow, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await queries.get(id, { raw: c.req.valid('query').raw === 'true' }), 200);
  });

  routes.openapi(
    {
      ...sendEvent,
      // Before the schema: our own answers for a wrong content type, bad JSON and an unknown event type.
      middleware: [
        async (c, next) => {
          if (mediaType(c) !== 'application/json') {
            throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the event as application/json, for example {"type":"START"}.');
          }
          const body = await readJson(c);
          const type = (body as { type?: unknown } | null)?.type;
          if (typeof type !== 'string' || !eventBodySchema.options.some((o) => o.shape.type.value === type)) {
            throw new ApiError(400, 'UNKNOWN_EVENT', `Unknown event type ${JSON.stringify(type ?? null)}; send one of START, RETRY, CANCEL, APPROVE_MAPPINGS.`);
          }
          await next();
        },
      ],
    },
    (c) =>
      idempotent(c, deps.idempotency, c.get('principal'), async () => {
        const { id } = c.req.valid('param');
        const event = c.req.valid('json') as WorkflowEvent;
        if (event.type === 'APPROVE_MAPPINGS' && event.overrides) await queries.checkOverrides(id, event.overrides);
        return c.json(await engine.send(id, event, { correlationId: c.get('correlationId'), actor: c.get('principal') }), 200);
      }),
  );

  routes.openapi(streamOne, async (c) => streamWorkflow(c, deps, deps.sse, c.req.valid('param').id));

  routes.openapi(history, async (c) => c.json(await queries.history(c.req.valid('param').id, c.req.valid('query')), 200));
  routes.openapi(steps, async (c) => c.json(await queries.steps(c.req.valid('param').id, c.req.valid('query')), 200));
  routes.openapi(assets, async (c) => c.json(await queries.assets(c.req.valid('param').id, c.req.valid('query')), 200));
  routes.openapi(dependencies, async (c) => c.json(await queries.dependencies(c.req.valid('param').id, c.req.valid('query')), 200));
  routes.openapi(quarantine, async (c) => c.json(await queries.quarantine(c.req.valid('param').id, c.req.valid('query')), 200));
  routes.openapi(mappings, async (c) => c.json(await queries.mappings(c.req.valid('param').id, c.req.valid('query')), 200));

  return routes;
}
