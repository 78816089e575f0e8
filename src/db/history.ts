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
