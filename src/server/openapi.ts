import { z } from 'zod';
import {
  assetQuerySchema,
  createBodySchema,
  eventBodySchema,
  listQuerySchema,
  pageQuerySchema,
  rawUploadQuerySchema,
  statsQuerySchema,
  viewQuerySchema,
} from './schemas.ts';

type Method = 'get' | 'post';

interface Operation {
  method: Method;
  /** OpenAPI path, `{id}` style. */
  path: string;
  summary: string;
  query?: z.ZodObject;
  body?: Record<string, z.ZodType | 'binary' | 'text'>;
  responses: Record<number, string>;
  stream?: boolean;
}

const ERRORS = { 400: 'Invalid request', 404: 'Unknown workflow' };

/** Every route of the API, documented from the same zod schemas that validate its requests. */
export const OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/workflows',
    summary: 'Create a workflow from CMDB files (JSON envelope, or a raw CSV, JSON or XLSX body with ?name=)',
    query: rawUploadQuerySchema,
    body: {
      'application/json': createBodySchema,
      'text/csv': 'text',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'binary',
    },
    responses: { 201: 'Created; the snapshot view', 400: 'Invalid request', 413: 'Upload over the limit', 415: 'Unsupported content type' },
  },
  { method: 'get', path: '/workflows', summary: 'List workflows, newest first', query: listQuerySchema, responses: { 200: '{ items, nextCursor }', 400: 'Invalid query' } },
  { method: 'get', path: '/workflows/stream', summary: 'Server-Sent Events: every committed change of every workflow', responses: { 200: 'text/event-stream' }, stream: true },
  { method: 'get', path: '/workflows/{id}', summary: 'The snapshot view of a workflow', query: viewQuerySchema, responses: { 200: 'The snapshot view', ...ERRORS } },
  {
    method: 'post',
    path: '/workflows/{id}/events',
    summary: 'Send START, RETRY, CANCEL or APPROVE_MAPPINGS; answers once the change is persisted',
    body: { 'application/json': eventBodySchema },
    responses: { 200: 'The snapshot view after the change', ...ERRORS, 409: 'The current state does not accept the event', 415: 'Not JSON' },
  },
  {
    method: 'get',
    path: '/workflows/{id}/stream',
    summary: 'Server-Sent Events: the view on every persisted change; id = audit seq; resumable with Last-Event-ID',
    responses: { 200: 'text/event-stream', ...ERRORS },
    stream: true,
  },
  { method: 'get', path: '/workflows/{id}/history', summary: 'The audit trail, oldest first', query: pageQuerySchema, responses: { 200: '{ items, nextCursor }', ...ERRORS } },
  { method: 'get', path: '/workflows/{id}/steps', summary: 'Every step attempt with its outcome', query: pageQuerySchema, responses: { 200: '{ items, nextCursor }', ...ERRORS } },
  { method: 'get', path: '/workflows/{id}/assets', summary: 'The normalised asset inventory', query: assetQuerySchema, responses: { 200: '{ items, nextCursor }', ...ERRORS } },
  { method: 'get', path: '/workflows/{id}/dependencies', summary: 'Dependency edges', query: pageQuerySchema, responses: { 200: '{ items, nextCursor }', ...ERRORS } },
  { method: 'get', path: '/workflows/{id}/quarantine', summary: 'Records held back by validation', query: pageQuerySchema, responses: { 200: '{ items, nextCursor }', ...ERRORS } },
  { method: 'get', path: '/workflows/{id}/mappings', summary: 'Column to canonical field mappings', query: pageQuerySchema, responses: { 200: '{ items, nextCursor }', ...ERRORS } },
  { method: 'get', path: '/stats', summary: 'Per-phase success and failure rates, retries and durations', query: statsQuerySchema, responses: { 200: 'Statistics', 400: 'Invalid query' } },
  { method: 'get', path: '/machine', summary: 'The statechart config as JSON, for Stately Studio and other visualisers', responses: { 200: 'Machine config' } },
  { method: 'get', path: '/machine.mmd', summary: 'The statechart as a Mermaid stateDiagram-v2', responses: { 200: 'Mermaid text' } },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', responses: { 200: 'Prometheus text format' } },
  { method: 'get', path: '/healthz', summary: 'Database reachable', responses: { 200: 'Healthy', 503: 'Database unreachable' } },
  { method: 'get', path: '/openapi.json', summary: 'This document', responses: { 200: 'OpenAPI 3.1' } },
  { method: 'get', path: '/docs', summary: 'Interactive API reference', responses: { 200: 'HTML' } },
];

const errorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function parameters(op: Operation) {
  const params: Record<string, unknown>[] = [];
  if (op.path.includes('{id}')) params.push({ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
  if (op.query) {
    const schema = jsonSchema(op.query) as { properties?: Record<string, unknown>; required?: string[] };
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      params.push({ name, in: 'query', required: schema.required?.includes(name) ?? false, schema: property });
    }
  }
  if (op.stream && op.path.includes('{id}')) params.push({ name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } });
  return params;
}

/** The OpenAPI 3.1 document of the API. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const responses = Object.fromEntries(
      Object.entries(op.responses).map(([status, description]) => [
        status,
        Number(status) >= 400 ? { description, content: { 'application/json': { schema: errorSchema } } } : { description },
      ]),
    );
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      summary: op.summary,
      parameters: parameters(op),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: Object.fromEntries(
                Object.entries(op.body).map(([type, schema]) => [
                  type,
                  { schema: schema === 'binary' ? { type: 'string', format: 'binary' } : schema === 'text' ? { type: 'string' } : jsonSchema(schema) },
                ]),
              ),
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Discovery Flow',
      version: '0.1.0',
      description: 'Durable CMDB discovery workflows: create a workflow from an export, drive it with events, read its inventory.',
    },
    paths,
  };
}

/** Swagger UI served from the project's own swagger-ui-dist (no CDN). */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Discovery Flow API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/docs-init.js"></script>
</body>
</html>`;

export const DOCS_INIT_JS = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`;
