import { Hono } from 'hono';
import { z } from 'zod';
import { STEP_PHASES } from '../../machine/table.ts';
import type { AppDeps, AppEnv } from '../app.ts';
import { parseWith } from '../app.ts';

const DAY_MS = 86_400_000;

export const statsQuerySchema = z
  .object({ since: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time such as 2026-01-31T00:00:00Z' }).optional() })
  .strict();

const rate = (part: number, whole: number) => (whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000);

/** GET /stats: per-phase success and failure rates, retries and durations, from the database. */
export function statsRoutes(deps: AppDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/', async (c) => {
    const query = parseWith(statsQuerySchema, c.req.query(), 'query');
    const since = query.since ? new Date(query.since) : new Date(Date.now() - DAY_MS);
    const [rows, workflows] = await Promise.all([deps.store.stepStats(since), deps.store.workflowCounts(since)]);
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
        retries: r?.retries ?? 0,
        successRate: rate(r?.succeeded ?? 0, finished),
        failureRate: rate(r?.failed ?? 0, finished),
        p50Ms: r?.p50Ms ?? null,
        p95Ms: r?.p95Ms ?? null,
      };
    });
    return c.json({ since: since.toISOString(), workflows, phases });
  });
  return routes;
}
