import { VersionConflictError, type WorkflowChange, type WorkflowStore } from '../db/store.ts';

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
  private flushing: Promise<void> | null = null;
  readonly stats: WriterStats = { batches: 0, changes: 0 };

  constructor(
    private readonly store: WorkflowStore,
    private readonly options: { maxBatch?: number; onBatch?: (size: number, seconds: number) => void } = {},
  ) {}

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
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 1_000);
        await this.commit(batch);
      }
    } finally {
      this.flushing = null;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      await this.store.persistChanges(batch.map((p) => p.change));
      this.stats.batches += 1;
      this.stats.changes += batch.length;
      this.options.onBatch?.(batch.length, (performance.now() - started) / 1000);
      for (const p of batch) p.resolve();
    } catch (error) {
      if (error instanceof VersionConflictError && batch.length > 1) {
        // Only the conflicting workflows lose; commit the others without them.
        const losers = new Set(error.workflowIds);
        const [lost, kept] = partition(batch, (p) => losers.has(p.change.workflowId));
        for (const p of lost) p.reject(new VersionConflictError([p.change.workflowId]));
        if (kept.length > 0) await this.commit(kept);
        return;
      }
      for (const p of batch) p.reject(error);
    }
  }
}

function partition<T>(items: T[], predicate: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (predicate(item) ? yes : no).push(item);
  return [yes, no];
}
