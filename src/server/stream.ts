import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { isAtRest, type WorkflowView } from '../engine/view.ts';

type Listener = (view: WorkflowView) => void;

const KEEPALIVE_MS = 15_000;

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

/**
 * Streams committed views as SSE until `begin` or a view says the workflow ended, or the client
 * goes away. Subscribes before `begin` reads the current state, so no change falls between the two.
 */
export function streamViews(
  c: Context,
  hub: ChangeHub,
  id: string | null,
  begin: (stream: SSEStreamingApi) => Promise<{ sentVersion: number; done: boolean }>,
  idOf: (view: WorkflowView) => string,
): Response {
  const queue: WorkflowView[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = hub.subscribe(id, (view) => {
    queue.push(view);
    wake?.();
  });
  return streamSSE(c, async (stream) => {
    let closed = false;
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    try {
      let { sentVersion, done } = await begin(stream);
      while (!done && !closed) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, KEEPALIVE_MS).unref();
          });
          wake = null;
          if (queue.length === 0 && !closed) await stream.write(': keepalive\n\n');
          continue;
        }
        for (const view of queue.splice(0)) {
          if (id !== null && view.version <= sentVersion) continue;
          await stream.writeSSE({ id: idOf(view), event: 'snapshot', data: JSON.stringify(view) });
          sentVersion = view.version;
          if (id !== null && isAtRest(view.status)) done = true;
        }
      }
    } finally {
      unsubscribe();
    }
  });
}
