import { OpenAPIHono, type Hook } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import { z } from 'zod';
import type { AppEnv } from './context.ts';
import { invalidRequest } from './errors.ts';
import { errorSchema } from './responses.ts';

// The pieces every route declaration shares (src/server/routes use them with createRoute): the
// error answers, the headers, the tags, and the document's frame. The document is generated from
// the route declarations by @hono/zod-openapi, from the same zod schemas that validate the requests.

const WHERE: Record<string, string> = { query: 'query', param: 'path', header: 'header', json: 'request body', form: 'form field', cookie: 'cookie' };

/** A request the route's zod schemas refuse becomes our 400 INVALID_REQUEST, naming the field. */
const throwInvalid: Hook<unknown, AppEnv, string, undefined> = (result) => {
  if (!result.success) throw invalidRequest(result.error as ZodError, WHERE[result.target] ?? result.target);
  return undefined;
};

/** A Hono app whose `openapi()` routes validate with their zod schemas and answer our error shape. */
export function apiRoutes(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: throwInvalid });
}

export const TAGS = [
  { name: 'workflows', description: 'Create workflows from CMDB exports, read their state, send them events' },
  { name: 'inventory', description: 'What a workflow found: assets, dependencies, quarantined records, column mappings' },
  { name: 'streams', description: 'Server-Sent Events of committed changes' },
  { name: 'operations', description: 'Health, metrics, statistics and the statechart' },
  { name: 'documentation', description: 'This description and its interactive reference' },
] as const;
export type Tag = (typeof TAGS)[number]['name'];

const correlationHeader = {
  'X-Correlation-Id': { description: 'The request id (yours if you sent a valid one); stored with the workflow and its audit rows', schema: { type: 'string' as const } },
};
const retryAfterHeader = { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer' as const } } };

const ERROR_DESCRIPTIONS = {
  400: 'Invalid request (code INVALID_REQUEST, INVALID_JSON, JSON_TOO_DEEP, UNREADABLE_FILE, UNKNOWN_EVENT, …), naming the field',
  401: 'No valid API key (UNAUTHORIZED); only when API keys are configured',
  403: 'The API key’s role may not do this (FORBIDDEN)',
  404: 'No such workflow (WORKFLOW_NOT_FOUND)',
  409: 'The current state does not accept the event (EVENT_NOT_ACCEPTED, with accepted), a newer version was written (VERSION_CONFLICT) or the Idempotency-Key is in use (IDEMPOTENCY_IN_PROGRESS)',
  413: 'The upload is over MAX_UPLOAD_MB (PAYLOAD_TOO_LARGE)',
  415: 'Content-Type not accepted (UNSUPPORTED_MEDIA_TYPE)',
  422: 'The Idempotency-Key was used with another request (IDEMPOTENCY_KEY_REUSED)',
  500: 'A defect (INTERNAL); logged with the correlation id',
  503: 'The database is unavailable or did not confirm a change (DATABASE_UNAVAILABLE, PERSISTENCE_UNAVAILABLE with applied false or "unknown"), the service is starting (STARTING) or restoring the workflow (RESTORING), or the instance holding the workflow did not answer (HOLDER_UNRESPONSIVE); retry after Retry-After',
} as const;
export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

interface ErrorAnswer {
  description: string;
  headers: Record<string, { description: string; schema: { type: 'string' | 'integer' } }>;
  content: { 'application/json': { schema: typeof errorSchema } };
}

/** The error answers of a route: the Error schema under each status, with Retry-After on 503. */
export function errors<S extends ErrorStatus>(...statuses: S[]): Pick<Record<ErrorStatus, ErrorAnswer>, S | 400 | 500 | 503> {
  // Every route can answer these: a query value the database cannot store, a defect, the database away.
  const answers = {} as Record<ErrorStatus, ErrorAnswer>;
  for (const status of [400, ...statuses, 500, 503] as ErrorStatus[]) {
    answers[status] = {
      description: ERROR_DESCRIPTIONS[status],
      headers: status === 503 ? { ...correlationHeader, ...retryAfterHeader } : correlationHeader,
      content: { 'application/json': { schema: errorSchema } },
    };
  }
  return answers;
}

/** A success answer with a JSON body. */
export function json<T extends z.ZodType>(schema: T, description: string, headers: Record<string, { description: string; schema: { type: 'string' | 'integer' } }> = {}) {
  return { description, headers: { ...correlationHeader, ...headers }, content: { 'application/json': { schema } } };
}

/** A success answer with a body of another media type (text, HTML, an event stream). */
export function body<M extends string>(mediaType: M, description: string, schema: z.ZodType = z.string()) {
  return { description, headers: correlationHeader, content: { [mediaType]: { schema } } as Record<M, { schema: z.ZodType }> };
}

export const idempotencyHeaders = z.object({
  'Idempotency-Key': z
    .string()
    .optional()
    .meta({ description: 'Makes a retried request safe: a repeat with the same key and body gets the first answer (Idempotent-Replayed: true) and applies nothing; 1–200 visible ASCII characters, e.g. a UUID' }),
  'X-Correlation-Id': z.string().optional().meta({ description: 'Your request id ([A-Za-z0-9._:-], up to 128); echoed and stored on the audit rows' }),
});

export const correlationHeaders = z.object({
  'X-Correlation-Id': z.string().optional().meta({ description: 'Your request id ([A-Za-z0-9._:-], up to 128); echoed in the answer' }),
});

export interface DocumentOptions {
  /** The origin the document is served from: its only server. */
  origin: string;
  /** API keys are configured: every operation but the public ones needs a bearer token. */
  apiKeys: boolean;
}

/** Operations anyone may call, with or without API keys. */
const PUBLIC_OPERATIONS = new Set(['getHealth', 'getOpenApiDocument', 'getDocs']);

/** The document's frame around the generated paths; security as configured. */
export function documentConfig(options: DocumentOptions) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Discovery Flow',
      version: '0.1.0',
      description:
        'Durable CMDB discovery workflows: create a workflow from an export, drive it with events, read its inventory. ' +
        'Every error is { code, message } plus details; every answer carries X-Correlation-Id. ' +
        (options.apiKeys ? 'Send Authorization: Bearer <token> on every request except /healthz, /openapi.json and /docs.' : 'API keys are off on this instance: no authorization needed.'),
      license: { name: 'Proprietary', url: `${options.origin}/docs` },
    },
    // Relative: the instance that served this document, whatever name or proxy the client reached it by
    // (an absolute http://localhost:3000 would also fail redocly's no-server-example.com rule).
    servers: [{ url: '/', description: 'This instance' }],
    tags: TAGS.map((t) => ({ ...t })),
  };
}

interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses?: Record<string, unknown>;
}

/**
 * Adds the bearer scheme and each operation's security: with API keys, the bearer token on every
 * operation but the public ones (which also lose their 401/403 answers); without, none anywhere.
 */
export function withSecurity<D extends { paths?: unknown; components?: unknown }>(doc: D, apiKeys: boolean): D {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Operation>>;
  for (const operations of Object.values(paths)) {
    for (const op of Object.values(operations)) {
      const open = !apiKeys || PUBLIC_OPERATIONS.has(op.operationId ?? '');
      op.security = open ? [] : [{ bearerAuth: [] }];
      if (open && op.responses) {
        delete op.responses['401'];
        delete op.responses['403'];
      }
    }
  }
  if (!apiKeys) return doc;
  const components = (doc.components ?? {}) as Record<string, unknown>;
  return {
    ...doc,
    components: {
      ...components,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key token from API_KEYS (name:token:role)' } },
    },
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
