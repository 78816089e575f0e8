import type { WorkflowView } from '../engine/view.ts';

type Listener = (view: WorkflowView) => void;

/** Fans committed workflow views out to SSE subscribers: per workflow, and for all workflows. */
export class ChangeHub {
  private readonly byWorkflow = new Map<string, Set<Listener>>();
  private readonly all = new Set<Listener>();

  publish(view: WorkflowView): void {
    for (const listener of this.byWorkflow.get(view.id) ?? []) listener(view);
    for (const listener of this.all) listener(view);
  }

  /** Subscribes to one workflow (or all with id null); returns the unsubscribe function. */
  subscribe(id: string | null, listener: Listener): () => void {
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
