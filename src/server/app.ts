import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { routePath } from 'hono/route';
import { contextOf } from '../engine/tracing.ts';
import { UNSTORABLE_TEXT_MESSAGE, UploadTooLargeError, isStorableText, printable } from '../engine/uploads.ts';
import { apiKeyAuth } from './auth.ts';
import type { AppDeps, AppEnv } from './context.ts';
import { ApiError, RETRY_AFTER_SECONDS, errorResponse } from './errors.ts';
import { HEALTH_TIMEOUT_MS, createHealthProbe } from './health.ts';
import { DOCS_HTML, DOCS_INIT_JS, apiRoutes, body, correlationHeaders, documentConfig, errors, json, withSecurity } from './openapi.ts';
import { healthSchema, openApiSchema } from './responses.ts';
import { machineRoutes } from './routes/machine.ts';
import { uiRoutes } from './routes/ui.ts';
import { statsRoutes } from './routes/stats.ts';
import { workflowRoutes } from './routes/workflows.ts';

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const DOCS_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};
/** Swagger UI's files from the installed package, read once per app. */
async function docsAsset(docsCache: Map<string, Uint8Array<ArrayBuffer>>, file: string): Promise<{ body: Uint8Array<ArrayBuffer> | string; type: string } | null> {
  if (file === 'docs-init.js') return { body: DOCS_INIT_JS, type: 'text/javascript; charset=utf-8' };
  const type = DOCS_ASSETS[file];
  if (!type) return null;
  let body = docsCache.get(file);
  if (!body) {
    const root = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    body = new Uint8Array(await readFile(join(root, file)));
    docsCache.set(file, body);
  }
  return { body, type };
}

const getHealth = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  tags: ['operations'],
  summary: 'Health: 200 when the database answers (status restoring while the last run’s workflows come back)',
  request: { headers: correlationHeaders },
  responses: { 200: json(healthSchema, 'Healthy'), ...errors() },
});

const getMetrics = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  tags: ['operations'],
  summary: 'Prometheus metrics (text exposition format)',
  request: { headers: correlationHeaders },
  responses: { 200: body('text/plain', 'Prometheus text format 0.0.4'), ...errors(401, 403) },
});

const getOpenApiDocument = createRoute({
  method: 'get',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  tags: ['documentation'],
  summary: 'This OpenAPI 3.1 document',
  request: { headers: correlationHeaders },
  responses: { 200: json(openApiSchema, 'The OpenAPI document'), ...errors() },
});

const getDocs = createRoute({
  method: 'get',
  path: '/docs',
  operationId: 'getDocs',
  tags: ['documentation'],
  summary: 'Interactive API reference (Swagger UI, served from this instance)',
  request: { headers: correlationHeaders },
  responses: { 200: body('text/html', 'The reference page'), ...errors() },
});

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = apiRoutes();

  app.use('*', async (c, next) => {
    const given = c.req.header('x-correlation-id');
    const id = given && CORRELATION_ID.test(given) ? given : randomUUID();
    c.set('correlationId', id);
    c.header('X-Correlation-Id', id);
    // A server span, the child of the caller's W3C traceparent when it sent one.
    const parent = contextOf(c.req.header('traceparent')) ?? ROOT_CONTEXT;
    const span = deps.tracer.startSpan(c.req.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path, 'correlation.id': id } }, parent);
    c.set('traceContext', trace.setSpan(parent, span));
    const traceId = span.isRecording() ? span.spanContext().traceId : undefined;
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      // The matched route pattern, never the raw path: ids would explode the label set.
      const route = c.res.status === 404 && !c.req.path.startsWith('/workflows/') ? 'unmatched' : routePath(c, -1);
      deps.metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
      span.updateName(`${c.req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
      if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      deps.logger.info(
        { correlationId: id, ...(traceId ? { traceId } : {}), method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round(seconds * 1000) },
        'request',
      );
    }
  });

  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  );
  if (deps.corsOrigins.length > 0) {
    app.use(
      '*',
      cors({
        origin: deps.corsOrigins.includes('*') ? '*' : deps.corsOrigins,
        allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Correlation-Id', 'Last-Event-ID'],
        exposeHeaders: ['X-Correlation-Id', 'Location'],
      }),
    );
  }

  // The console's page and code are public (before the API-key check); its API calls carry the key.
  app.route('/', uiRoutes());

  // Refuses a body that cannot hold an upload under the limit before reading it all; the upload
  // itself is checked by the engine. Base64 inflates uploads by a third; leave room for the JSON around them.
  const maxBody = Math.ceil(deps.maxUploadBytes * 1.4) + 1024 * 1024;
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBody,
      onError: () => {
        throw new UploadTooLargeError(deps.maxUploadBytes);
      },
    }),
  );

  app.use('*', apiKeyAuth(deps.apiKeys));

  // Query values reach filters, cursors and stored names: refuse text the database cannot store.
  app.use('*', async (c, next) => {
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (!isStorableText(name) || values.some((v) => !isStorableText(v))) {
        throw new ApiError(400, 'INVALID_REQUEST', `Invalid query: ${printable(name)}: ${UNSTORABLE_TEXT_MESSAGE}.`, {
          issues: [{ path: printable(name), message: UNSTORABLE_TEXT_MESSAGE }],
        });
      }
    }
    await next();
  });

  const probe = createHealthProbe(deps.health);
  app.openapi(getHealth, async (c) => {
    const health = await probe();
    if (!health.ok) {
      const message =
        health.reason === 'timeout'
          ? `The database did not answer within ${HEALTH_TIMEOUT_MS} ms; workflows resume once it does.`
          : 'The database cannot be reached; workflows resume once it is back.';
      return c.json({ code: 'DATABASE_UNREACHABLE', message, status: 'unavailable', database: 'unreachable' }, 503, { 'Retry-After': RETRY_AFTER_SECONDS });
    }
    const [needsMigration, instances] = health.value;
    return c.json(
      {
        // restoring: just started, the workflows of the last run are being brought back (events to them: 503)
        status: deps.engine.restoring ? ('restoring' as const) : ('ok' as const),
        database: 'reachable' as const,
        liveWorkflows: deps.engine.liveCount,
        needsMigration,
        // The instances sharing the database that wrote a heartbeat within INSTANCE_TIMEOUT_SECONDS.
        instance: deps.engine.instanceId,
        instances: instances.map((i) => ({ id: i.id, url: i.url, startedAt: i.startedAt.toISOString(), heartbeatAt: i.heartbeatAt.toISOString(), workflows: i.workflows })),
        ...(needsMigration > 0 ? { detail: `${needsMigration} workflow(s) were stored by another machine version and are left untouched; list them with GET /workflows?status=needs_migration.` } : {}),
      },
      200,
    );
  });

  app.openapi(getMetrics, async (c) => {
    const { body, contentType } = await deps.metrics.render();
    return c.text(body, 200, { 'content-type': contentType });
  });

  const docsCache = new Map<string, Uint8Array<ArrayBuffer>>();
  app.openapi(getOpenApiDocument, (c) => {
    const origin = new URL(c.req.url).origin;
    const doc = app.getOpenAPI31Document(documentConfig({ origin, apiKeys: deps.apiKeys.length > 0 }));
    return c.json(withSecurity(doc, deps.apiKeys.length > 0), 200);
  });
  app.openapi(getDocs, (c) => c.html(DOCS_HTML));
  app.get('/docs/assets/:file', async (c) => {
    const asset = await docsAsset(docsCache, c.req.param('file'));
    if (!asset) return c.json({ code: 'NOT_FOUND', message: `No documentation asset ${c.req.param('file')}.` }, 404);
    return c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' });
  });

  app.route('/workflows', workflowRoutes(deps));
  app.route('/stats', statsRoutes(deps));
  app.route('/', machineRoutes());

  app.notFound((c: Context) => c.json({ code: 'NOT_FOUND', message: `No route for ${c.req.method} ${c.req.path}.` }, 404));
  app.onError((error, c) => errorResponse(error, c, deps.logger));
  return app;
}
