import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps, AppEnv } from '../context.ts';
import { apiRoutes, correlationHeaders, errors, json } from '../openapi.ts';
import { statsSchema } from '../responses.ts';
import { statsQuerySchema } from '../schemas.ts';

const getStats = createRoute({
  method: 'get',
  path: '/',
  operationId: 'getStats',
  tags: ['operations'],
  summary: 'Per-phase success and failure rates, retries and durations (default: the last 24 h)',
  request: { query: statsQuerySchema, headers: correlationHeaders },
  responses: { 200: json(statsSchema, 'Statistics computed from the database'), ...errors(401, 403) },
});

/** GET /stats: per-phase success and failure rates, retries and durations, from the database. */
export function statsRoutes(deps: AppDeps): OpenAPIHono<AppEnv> {
  const routes = apiRoutes();
  routes.openapi(getStats, async (c) => {
    const { since } = c.req.valid('query');
    return c.json(await deps.queries.stats(since ? new Date(since) : undefined), 200);
  });
  return routes;
}
