import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { z } from 'zod';
import { isAtRest, type WorkflowView } from '../engine/view.ts';
import type { AppDeps } from './context.ts';
import { ApiError } from './errors.ts';

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

export const sseSchema = z.string().meta({ description: 'text/event-stream: see the operation description for the events and their payloads' });

export const STREAM_ONE_DESCRIPTION = 'Events: `snapshot` (data: the WorkflowView; id: its version) on every persisted change; on resume with Last-Event-ID, `transition` (data: a HistoryItem; id: its seq) for each missed change, then a `snapshot`. Ends after a terminal state.';
export const STREAM_ALL_DESCRIPTION = 'Events: `snapshot` (data: the WorkflowView of the workflow that changed; id: `<workflow id>:<version>`).';

/** GET /workflows/:id/stream. */
export async function streamWorkflow(c: Context, deps: AppDeps, id: string): Promise<Response> {
  const { queries, hub } = deps;
  const lastEventId = c.req.header('last-event-id') ?? c.req.query('lastEventId');
  const resumeFrom = lastEventId !== undefined && /^\d{1,9}$/.test(lastEventId) ? Number(lastEventId) : null;
  if (lastEventId !== undefined && resumeFrom === null) {
    throw new ApiError(400, 'INVALID_LAST_EVENT_ID', 'Last-Event-ID must be the id (audit seq) of an event this stream sent.');
  }
  await queries.get(id);
  return streamViews(
    c,
    hub,
    id,
    async (stream) => {
      const view = await queries.get(id);
      if (resumeFrom !== null && resumeFrom < view.version - 1) {
        // Replay the transitions the client missed, then the current view.
        for await (const item of queries.historyBetween(id, resumeFrom, view.version)) {
          await stream.writeSSE({ id: String(item.seq), event: 'transition', data: JSON.stringify(item) });
        }
      }
      if (resumeFrom === null || resumeFrom < view.version) {
        await stream.writeSSE({ id: String(view.version), event: 'snapshot', data: JSON.stringify(view) });
      }
      return { sentVersion: view.version, done: isAtRest(view.status) };
    },
    (view) => String(view.version),
  );
}

/** GET /workflows/stream. */
export function streamAllWorkflows(c: Context, deps: AppDeps): Response {
  return streamViews(c, deps.hub, null, async () => ({ sentVersion: 0, done: false }), (view) => `${view.id}:${view.version}`);
}
