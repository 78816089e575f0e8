import type { WorkflowChangeEvent } from '../engine/queries.ts';

/** One committed audit row, as the feed announces it. */
export interface FeedEntry {
  /** The row's global id: the all-workflows stream's position. */
  auditId: number;
  workflowId: string;
  /** The workflow's audit seq (= its version after the change): the per-workflow stream's position. */
  seq: number;
  /** The event to send, when the publisher has it; without it subscribers read it from the audit table. */
  event?: WorkflowChangeEvent;
}

export type FeedListener = (entry: FeedEntry) => void;

/**
 * The transition feed: the committed audit rows, in the order this process learns of them, for the
 * SSE streams. It carries positions, not state: a subscriber that resumes (Last-Event-ID) reads what
 * it missed from the audit table, and an entry published without its event is read from there too.
 *
 * The seam: today the engine publishes each change it committed, event included. To make the streams
 * cluster-wide, a PostgreSQL LISTEN/NOTIFY listener (one NOTIFY per group commit carrying the audit ids
 * and workflow ids, issue 15) calls `publish` with entries from other instances, without events;
 * nothing on the subscriber side changes.
 */
export class TransitionFeed {
  private readonly byWorkflow = new Map<string, Set<FeedListener>>();
  private readonly all = new Set<FeedListener>();

  publish(entry: FeedEntry): void {
    for (const listener of this.byWorkflow.get(entry.workflowId) ?? []) listener(entry);
    for (const listener of this.all) listener(entry);
  }

  /** Subscribes to one workflow (or to all with id null); returns the unsubscribe function. */
  subscribe(id: string | null, listener: FeedListener): () => void {
    if (id === null) {
      this.all.add(listener);
      return () => this.all.delete(listener);
    }
    let set = this.byWorkflow.get(id);
    if (!set) {
      set = new Set();
      this.byWorkflow.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.byWorkflow.delete(id);
    };
  }

  get subscribers(): number {
    let n = this.all.size;
    for (const set of this.byWorkflow.values()) n += set.size;
    return n;
  }
}
