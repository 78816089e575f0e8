import { Hono } from 'hono';
import { parseWith, type AppDeps, type AppEnv } from '../context.ts';
import { statsQuerySchema } from '../schemas.ts';

/** GET /stats: per-phase success and failure rates, retries and durations, from the database. */
export function statsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/', async (c) => {
    const query = parseWith(statsQuerySchema, c.req.query(), 'query');
    return c.json(await deps.queries.stats(query.since ? new Date(query.since) : undefined));
  });
  return routes;
}
