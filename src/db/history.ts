import { and, asc, eq, gt } from 'drizzle-orm';
import type { Phase } from '../machine/table.ts';
import type { Database } from './client.ts';
import { keysetPage, type Page, type PageRequest } from './paging.ts';
import { stepRuns, workflowTransitions, type StepOutcome, type StepRunRow, type TransitionRow } from './schema.ts';

export interface NewStepRun {
  workflowId: string;
  phase: Phase;
  attempt: number;
  startedAt: Date;
  endedAt: Date;
  outcome: StepOutcome;
  error: unknown;
}

/** The audit trail (one row per persisted change) and the record of every step attempt. */
export function historyStore(db: Database) {
  return {
    /** The audit trail, oldest first. */
    async getHistory(id: string, page: PageRequest): Promise<Page<TransitionRow>> {
      return keysetPage(
        page,
        1,
        (after, take) =>
          db
            .select()
            .from(workflowTransitions)
            .where(and(eq(workflowTransitions.workflowId, id), after ? gt(workflowTransitions.seq, Number(after[0])) : undefined))
            .orderBy(asc(workflowTransitions.seq))
            .limit(take),
        (last) => [last.seq],
      );
    },

    /** Audit rows of every workflow with a global id above `afterId`, in id order (a resuming all-workflows stream). */
    async listTransitionsAfterId(afterId: number, limit: number): Promise<TransitionRow[]> {
      return db.select().from(workflowTransitions).where(gt(workflowTransitions.id, afterId)).orderBy(asc(workflowTransitions.id)).limit(limit);
    },

    async getTransitionById(id: number): Promise<TransitionRow | null> {
      const [row] = await db.select().from(workflowTransitions).where(eq(workflowTransitions.id, id)).limit(1);
      return row ?? null;
    },

    async recordStepRuns(runs: NewStepRun[]): Promise<void> {
      if (runs.length > 0) await db.insert(stepRuns).values(runs.map((run) => ({ ...run, durationMs: run.endedAt.getTime() - run.startedAt.getTime() })));
    },

    async listStepRuns(workflowId: string, page: PageRequest): Promise<Page<StepRunRow>> {
      return keysetPage(
        page,
        1,
        (after, take) =>
          db
            .select()
            .from(stepRuns)
            .where(and(eq(stepRuns.workflowId, workflowId), after ? gt(stepRuns.id, Number(after[0])) : undefined))
            .orderBy(asc(stepRuns.id))
            .limit(take),
        (last) => [last.id],
      );
    },
  };
}

export type HistoryStore = ReturnType<typeof historyStore>;
