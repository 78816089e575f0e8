import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { WorkflowChangeEvent } from '../engine/queries.ts';
import { isAtRest } from '../engine/view.ts';
import type { AppDeps } from './context.ts';
import { ApiError } from './errors.ts';
import type { FeedEntry } from './feed.ts';

/** How often an idle stream sends a comment line, so proxies and clients know it is alive. */
export const SSE_HEARTBEAT_MS = 15_000;
/** What `retry:` tells EventSource to wait before reconnecting after a dropped connection. */
export const SSE_RETRY_MS = 3_000;

export interface StreamOptions {
  heartbeatMs: number;
  retryMs: number;
}

export const STREAM_EVENTS_DESCRIPTION =
  'Every event is an unnamed `message` (so `EventSource.onmessage` gets it) whose data is one JSON WorkflowChange: ' +
  '`workflowId`, `seq` (the workflow’s audit seq = its version after the change), `auditId` (the audit row’s global id), ' +
  '`eventType`, `fromPhase`, `toPhase`, `status`, `at`, and `view` (the WorkflowView after the change; null on replayed changes ' +
  'except the newest of a per-workflow replay). The stream starts with `retry: 3000` and sends a `: heartbeat` comment every 15 s when idle.';

export const STREAM_ONE_DESCRIPTION =
  `${STREAM_EVENTS_DESCRIPTION} Event ids are the workflow’s seq. Without Last-Event-ID the first event is the current state; with it, ` +
  'the changes after it, oldest first. The stream ends after a terminal state (completed, failed, needs_migration); a connection with ' +
  'Last-Event-ID at or past the last change of a workflow at rest answers 204, which tells EventSource to stop reconnecting.';

export const STREAM_ALL_DESCRIPTION =
  `${STREAM_EVENTS_DESCRIPTION} Event ids are the audit rows’ global ids: reconnect with Last-Event-ID to get every change committed ` +
  'after it (replayed with view: null), then the live ones. Never ends by itself.';

function parseLastEventId(c: Context): number | null {
  const given = c.req.header('last-event-id') ?? c.req.query('lastEventId');
  if (given === undefined || given === '') return null;
  if (!/^\d{1,15}$/.test(given)) {
    throw new ApiError(400, 'INVALID_LAST_EVENT_ID', 'Last-Event-ID must be the id of an event this stream sent (a number).');
  }
  return Number(given);
}

const send = (stream: SSEStreamingApi, id: number, event: WorkflowChangeEvent) => stream.writeSSE({ id: String(id), data: JSON.stringify(event) });

/**
 * Streams what the feed announces until `done` says the stream is over or the client goes away.
 * Subscribes before `replay` reads the database, so no change falls between the two; entries the
 * replay already sent are skipped by their (workflow, seq).
 */
function streamFeed(
  c: Context,
  deps: AppDeps,
  options: StreamOptions,
  workflowId: string | null,
  replay: (stream: SSEStreamingApi, sent: Set<string>) => Promise<boolean>,
  position: (event: WorkflowChangeEvent) => number,
): Response {
  const queue: FeedEntry[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = deps.feed.subscribe(workflowId, (entry) => {
    queue.push(entry);
    wake?.();
  });
  return streamSSE(c, async (stream) => {
    let closed = false;
    stream.onAbort(() => {
      closed = true;
      wake?.();
    });
    try {
      await stream.write(`retry: ${options.retryMs}\n\n`);
      // The replay's (workflow, seq) pairs, so a live entry it already covered is not sent twice.
      const sent = new Set<string>();
      let done = await replay(stream, sent);
      let lastSeq = 0;
      for (const key of sent) lastSeq = Math.max(lastSeq, Number(key.slice(key.lastIndexOf(':') + 1)));
      while (!done && !closed) {
        if (queue.length === 0) {
          const timer = setTimeout(() => wake?.(), options.heartbeatMs);
          await new Promise<void>((resolve) => (wake = resolve));
          clearTimeout(timer);
          wake = null;
          if (queue.length === 0 && !closed) await stream.write(': heartbeat\n\n');
          continue;
        }
        for (const entry of queue.splice(0)) {
          // Already replayed; on one workflow's stream, anything at or before the last seq sent.
          if (sent.has(`${entry.workflowId}:${entry.seq}`) || (workflowId !== null && entry.seq <= lastSeq)) continue;
          const event = entry.event ?? (await deps.queries.changeById(entry.auditId));
          if (!event) continue;
          await send(stream, position(event), event);
          lastSeq = Math.max(lastSeq, event.seq);
          if (workflowId !== null && event.view && isAtRest(event.view.status)) done = true;
        }
      }
    } finally {
      unsubscribe();
    }
  });
}

/** GET /workflows/:id/stream. */
export async function streamWorkflow(c: Context, deps: AppDeps, options: StreamOptions, id: string): Promise<Response> {
  const resumeFrom = parseLastEventId(c);
  const view = await deps.queries.get(id);
  // At rest and nothing the client has not seen: nothing more will ever come. 204 stops EventSource.
  if (isAtRest(view.status) && resumeFrom !== null && resumeFrom >= view.version) return c.body(null, 204);
  return streamFeed(
    c,
    deps,
    options,
    id,
    async (stream, sent) => {
      // Read again after subscribing: a change committed in between is either here or in the queue.
      const current = await deps.queries.get(id);
      // No Last-Event-ID: the current state (its last change, with the view); else every change after it.
      const after = resumeFrom ?? current.version - 1;
      for await (const event of deps.queries.changesAfter(current, after)) {
        await send(stream, event.seq, event);
        sent.add(`${event.workflowId}:${event.seq}`);
      }
      return isAtRest(current.status);
    },
    (event) => event.seq,
  );
}

/** GET /workflows/stream. */
export function streamAllWorkflows(c: Context, deps: AppDeps, options: StreamOptions): Response {
  const resumeFrom = parseLastEventId(c);
  return streamFeed(
    c,
    deps,
    options,
    null,
    async (stream, sent) => {
      if (resumeFrom === null) return false;
      for await (const event of deps.queries.allChangesAfter(resumeFrom)) {
        await send(stream, event.auditId, event);
        sent.add(`${event.workflowId}:${event.seq}`);
      }
      return false;
    },
    (event) => event.auditId,
  );
}
