import type { Bus } from '../db/bus.ts';
import { CHANNELS } from '../db/cluster.ts';
import type { Logger } from '../engine/logger.ts';
import type { FeedEntry, TransitionFeed } from './feed.ts';

/** NOTIFY payloads are limited to 8,000 bytes: a batch stays well under. */
const MAX_PAYLOAD = 7_000;

/**
 * Makes the transition feed cluster-wide: the changes this instance commits are announced with NOTIFY
 * (batched: one NOTIFY per turn of the event loop, ids only: `<instance>` then `<auditId> <workflowId> <seq>`
 * lines), and the announcements of the other instances are published into the local feed without their
 * events, which the streams then read from the audit table.
 */
export function clusterFeed(deps: { feed: TransitionFeed; bus: Bus; instanceId: string; notify(payload: string): Promise<void>; logger: Logger }) {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const lines = pending;
    pending = [];
    let batch = deps.instanceId;
    const send = (payload: string) => void deps.notify(payload).catch((error: unknown) => deps.logger.warn({ err: error }, 'change not announced to the other instances'));
    for (const line of lines) {
      if (batch.length + line.length + 1 > MAX_PAYLOAD) {
        send(batch);
        batch = deps.instanceId;
      }
      batch += `\n${line}`;
    }
    if (batch !== deps.instanceId) send(batch);
  };
  const unsubscribe = deps.bus.subscribe((channel, payload) => {
    if (channel !== CHANNELS.change) return;
    const [from, ...lines] = payload.split('\n');
    if (from === deps.instanceId) return;
    for (const line of lines) {
      const [auditId, workflowId, seq] = line.split(' ');
      const entry: FeedEntry = { auditId: Number(auditId), workflowId: workflowId ?? '', seq: Number(seq) };
      if (entry.workflowId && Number.isFinite(entry.auditId) && Number.isFinite(entry.seq)) deps.feed.publish(entry);
    }
  });
  return {
    /** Announces one committed change of this instance to the others. */
    announce(entry: FeedEntry): void {
      pending.push(`${entry.auditId} ${entry.workflowId} ${entry.seq}`);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    stop: unsubscribe,
  };
}
