import { VersionConflictError, type NewStepRun, type WorkflowChange, type WorkflowStore } from '../db/store.ts';

interface Pending {
  change: WorkflowChange;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface WriterStats {
  batches: number;
  changes: number;
}

/**
 * Group commit: one writer drains the changes of all workflows into a single transaction.
 * Changes of one workflow stay in order because only one flush runs at a time. A caller that
 * must not tell the outside world about a change before it is durable awaits `enqueue`.
 */
export class GroupCommitWriter {
  private queue: Pending[] = [];
  private runs: NewStepRun[] = [];
  private flushing: Promise<void> | null = null;
  readonly stats: WriterStats = { batches: 0, changes: 0 };

  constructor(
    private readonly store: WorkflowStore,
    private readonly options: { maxBatch?: number; onBatch?: (size: number, seconds: number) => void; onRunsLost?: (error: unknown, count: number) => void } = {},
  ) {}

  /** Queues a step-run record for the next batch; nobody waits for it (it is a record, not a state). */
  recordStepRun(run: NewStepRun): void {
    this.runs.push(run);
    if (!this.flushing) this.flushing = this.drain();
  }

  enqueue(change: WorkflowChange): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.queue.push({ change, resolve, reject }));
    if (!this.flushing) this.flushing = this.drain();
    return done;
  }

  /** Resolves once everything enqueued so far is committed or rejected. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.runs.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 1_000);
        const runs = this.runs.splice(0, 2_000);
        await this.commit(batch, runs);
      }
    } finally {
      this.flushing = null;
    }
  }

  private async commit(batch: Pending[], runs: NewStepRun[]): Promise<void> {
    const started = performance.now();
    try {
      const { conflicts } = await this.store.persistChanges(
        batch.map((p) => p.change),
        runs,
      );
      this.stats.batches += 1;
      this.stats.changes += batch.length;
      this.options.onBatch?.(batch.length, (performance.now() - started) / 1000);
      // Only the workflows another writer changed first lose; the rest of the batch is committed.
      const losers = new Set(conflicts);
      for (const p of batch) {
        if (losers.has(p.change.workflowId)) p.reject(new VersionConflictError([p.change.workflowId]));
        else p.resolve();
      }
    } catch (error) {
      for (const p of batch) p.reject(error);
      if (runs.length > 0) this.options.onRunsLost?.(error, runs.length);
    }
  }
}
