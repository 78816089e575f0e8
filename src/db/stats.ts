import { gt, sql } from 'drizzle-orm';
import { rowsOf, type Database } from './client.ts';
import { stepRuns, workflows } from './schema.ts';

export interface PhaseStatsRow {
  phase: string;
  attempts: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  cancelled: number;
  interrupted: number;
  retries: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

/** Aggregates over step runs and workflows, for GET /stats. */
export function statsStore(db: Database) {
  return {
    /** Per phase: attempts by outcome, retries and duration percentiles of the step runs since `since`. */
    async stepStats(since: Date): Promise<PhaseStatsRow[]> {
      return rowsOf<PhaseStatsRow>(
        await db.execute(sql`
          select phase,
            count(*)::int as attempts,
            (count(*) filter (where outcome = 'succeeded'))::int as succeeded,
            (count(*) filter (where outcome in ('failed', 'timed_out')))::int as failed,
            (count(*) filter (where outcome = 'timed_out'))::int as "timedOut",
            (count(*) filter (where outcome = 'cancelled'))::int as cancelled,
            (count(*) filter (where outcome = 'interrupted'))::int as interrupted,
            (count(*) filter (where attempt > 1))::int as retries,
            percentile_cont(0.5) within group (order by duration_ms)::float8 as "p50Ms",
            percentile_cont(0.95) within group (order by duration_ms)::float8 as "p95Ms"
          from ${stepRuns}
          where started_at >= ${since.toISOString()}::timestamptz
          group by phase`),
      );
    },

    /** Workflows created since `since`, by status. */
    async workflowCounts(since: Date): Promise<Record<string, number>> {
      const rows = await db
        .select({ status: workflows.status, n: sql<number>`count(*)::int` })
        .from(workflows)
        .where(gt(workflows.createdAt, since))
        .groupBy(workflows.status);
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    },
  };
}

export type StatsStore = ReturnType<typeof statsStore>;
