import { isDatabaseUnavailable } from '../db/client.ts';
import type { NewStepRun } from '../db/history.ts';
import { VersionConflictError, auditKey, type WorkflowChange, type WorkflowRowStore } from '../db/workflows.ts';

const MAX_CONFLICT_RETRIES = 5;

/** Deadlock (40P01) or serialization failure (40001): the same batch succeeds when tried again. */
function isRetryableConflict(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === '40P01' || code === '40001') return true;
  }
  return false;
}

/** The parts a failed batch can be split into: each workflow's changes, and each record. */
function unitsOf(batch: Pending[], runs: NewStepRun[]): number {
  if (batch.length === 0) return runs.length;
  return new Set(batch.map((p) => p.change.workflowId)).size + (runs.length > 0 ? 1 : 0);
}

/** Step-run records kept per lane while the database is away; older ones beyond this are dropped (and counted). */
const MAX_HELD_RUNS = 10_000;

interface Pending {
  change: WorkflowChange;
  /** Step-run records that led to this change: they commit in the same statement. */
  runs: NewStepRun[];
  /** Called with the global id of the change's audit row. */
  resolve: (auditId: number) => void;
  reject: (error: unknown) => void;
}

export interface WriterStats {
  batches: number;
  changes: number;
  /** Batches that failed on one bad item and were split to find it. */
  splits: number;
}

export interface WriterOptions {
  /** Independent writers; a workflow always goes to the same one. */
  lanes?: number;
  maxBatch?: number;
  onRunsLost?: (error: unknown, count: number) => void;
  /** How long a lane holding only step-run records waits after a failed commit before it tries again. */
  retryRunsAfterMs?: number;
}

/** One serial writer: drains whatever is queued into one statement, then the next. */
class Lane {
  queue: Pending[] = [];
  runs: NewStepRun[] = [];
  flushing: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Pick<WorkflowRowStore, 'persistChanges'>,
    private readonly options: WriterOptions,
    private readonly stats: WriterStats,
  ) {}

  kick(): void {
    // Nothing to write: a drain would finish before `flushing` is assigned and leave it set for
    // good, so the lane would never write again (and idle() would spin).
    if (this.flushing || (this.queue.length === 0 && this.runs.length === 0)) return;
    this.flushing = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.runs.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 1_000);
        const runs = batch.flatMap((p) => p.runs).concat(this.runs.splice(0, 2_000));
        const ok = await this.commit(batch, runs);
        // Only held records left and the database away: try again later, not in a tight loop.
        if (!ok && this.queue.length === 0) {
          this.retryLater();
          return;
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  private retryLater(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, this.options.retryRunsAfterMs ?? 1_000);
    this.retryTimer.unref();
  }

  /** Keeps the records of a failed commit for the next one, when the database was merely away. */
  private hold(runs: NewStepRun[], error: unknown): void {
    if (runs.length === 0) return;
    if (!isDatabaseUnavailable(error)) {
      this.options.onRunsLost?.(error, runs.length);
      return;
    }
    this.runs.unshift(...runs);
    const over = this.runs.length - MAX_HELD_RUNS;
    if (over > 0) {
      this.runs.splice(0, over);
      this.options.onRunsLost?.(error, over);
    }
  }

  /**
   * Commits a batch. A deadlock or serialization failure is retried here, never shown. Any other
   * failure that is not the database being away is split: each half is committed on its own, down to
   * the one change that cannot be stored, so only its caller gets the error and every other commits.
   */
  private async commit(batch: Pending[], runs: NewStepRun[]): Promise<boolean> {
    if (batch.length === 0 && runs.length === 0) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        const { conflicts, auditIds } = await this.store.persistChanges(
          batch.map((p) => p.change),
          runs,
        );
        this.stats.batches += 1;
        this.stats.changes += batch.length;
        // Only the workflows another writer changed first lose; the rest of the batch is committed.
        const losers = new Set(conflicts);
        for (const p of batch) {
          if (losers.has(p.change.workflowId)) p.reject(new VersionConflictError([p.change.workflowId]));
          else p.resolve(auditIds.get(auditKey(p.change.workflowId, p.change.expectedVersion + 1)) ?? 0);
        }
        return true;
      } catch (error) {
        if (isRetryableConflict(error) && attempt < MAX_CONFLICT_RETRIES) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
          continue;
        }
        if (isDatabaseUnavailable(error) || unitsOf(batch, runs) <= 1) {
          for (const p of batch) p.reject(error);
          this.hold(runs, error);
          return false;
        }
        return this.split(batch, runs);
      }
    }
  }

  private async split(batch: Pending[], runs: NewStepRun[]): Promise<boolean> {
    this.stats.splits += 1;
    if (batch.length === 0) {
      const half = Math.ceil(runs.length / 2);
      const a = await this.commit([], runs.slice(0, half));
      return (await this.commit([], runs.slice(half))) && a;
    }
    // A workflow's changes stay together and in order: split between workflows, never inside one.
    const ids = [...new Set(batch.map((p) => p.change.workflowId))];
    if (ids.length === 1) {
      const a = await this.commit(batch, []);
      return (await this.commit([], runs)) && a;
    }
    const left = new Set(ids.slice(0, Math.ceil(ids.length / 2)));
    const a = await this.commit(
      batch.filter((p) => left.has(p.change.workflowId)),
      runs,
    );
    return (await this.commit(batch.filter((p) => !left.has(p.change.workflowId)), [])) && a;
  }
}

/**
 * Group commit: pending changes of many workflows go to the database together, one statement per
 * batch. A workflow always uses the same lane and a lane runs one batch at a time, so each
 * workflow's changes stay in order; separate lanes let the database work on two batches at once.
 * A caller that must not tell the outside world about a change before it is durable awaits `enqueue`.
 */
export class GroupCommitWriter {
  private readonly lanes: Lane[];
  readonly stats: WriterStats = { batches: 0, changes: 0, splits: 0 };

  constructor(store: Pick<WorkflowRowStore, 'persistChanges'>, options: WriterOptions = {}) {
    this.lanes = Array.from({ length: Math.max(1, options.lanes ?? 2) }, () => new Lane(store, options, this.stats));
  }

  private laneOf(workflowId: string): Lane {
    let hash = 0;
    for (let i = 0; i < workflowId.length; i++) hash = (hash * 31 + workflowId.charCodeAt(i)) | 0;
    return this.lanes[Math.abs(hash) % this.lanes.length]!;
  }

  /** Queues a step-run record for the next batch; nobody waits for it (it is a record, not a state). */
  recordStepRun(run: NewStepRun): void {
    const lane = this.laneOf(run.workflowId);
    lane.runs.push(run);
    lane.kick();
  }

  /** Resolves with the global id of the change's audit row once it is committed. */
  /** Queues a change, with the step-run records that led to it (committed in the same statement). */
  enqueue(change: WorkflowChange, runs: NewStepRun[] = []): Promise<number> {
    const lane = this.laneOf(change.workflowId);
    const done = new Promise<number>((resolve, reject) => lane.queue.push({ change, runs, resolve, reject }));
    lane.kick();
    return done;
  }

  /** Resolves once everything enqueued so far is committed or rejected. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = this.lanes.map((l) => l.flushing).filter((f): f is Promise<void> => f !== null);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }
}
