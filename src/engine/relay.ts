import type { Bus } from '../db/bus.ts';
import { CHANNELS } from '../db/cluster.ts';
import type { WorkflowStore } from '../db/store.ts';
import type { InboxRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { WorkflowEvent } from '../machine/machine.ts';
import { isDatabaseUnavailable } from './errors.ts';
import type { Logger } from './logger.ts';
import type { WorkflowView } from './view.ts';

export interface RelayDeps {
  store: WorkflowStore;
  bus: Bus;
  logger: Logger;
  instanceId: string;
  /** Applies an event here, as a request to this instance would: the holder's side. */
  apply(id: string, event: WorkflowEvent, meta: { correlationId: string | null; actor: string | null }): Promise<WorkflowView>;
  /** Takes the workflow over when its holder is gone: true when this instance holds it now. */
  adopt(id: string): Promise<boolean>;
  /** How long the sender waits for the holder's answer before it gives up with 503 (it then takes the event back). */
  waitMs?: number;
  /** How often the sender looks at the inbox row itself, in case a notification was missed. */
  pollMs?: number;
}

/** The holder's answer to an inbox event, given to the client of the instance that received it. */
export class RelayedError extends AppError {
  constructor(status: number, body: Record<string, unknown>) {
    const { code, message, hint, ...details } = body;
    super(String(code ?? 'INTERNAL'), String(message ?? ''), { status, hint: typeof hint === 'string' ? hint : undefined, details });
  }
}

export class HolderUnresponsiveError extends AppError {
  constructor(id: string, holder: string) {
    super('HOLDER_UNRESPONSIVE', `Workflow ${id} is run by instance ${holder}, which did not answer in time; the event was not applied. Retry in a moment.`, {
      status: 503,
      retryable: true,
    });
  }
}

/**
 * The holder is gone and this instance took the workflow over: apply the event here after all, or,
 * when `applied`, the dead holder applied it before it died and the answer is the current view.
 */
export class AdoptedSignal extends Error {
  constructor(readonly applied: boolean) {
    super('adopted');
  }
}

/**
 * Events for workflows another instance holds. The sender writes the event to the inbox (one statement
 * with the NOTIFY that wakes the holder) and waits for the answer stored with it; the holder applies
 * inbox events in order, as if they had been sent to it, and stores each answer. If the holder is gone
 * before it took the event, the sender takes the event back and the workflow over, and applies it.
 */
export class InboxRelay {
  private readonly waiters = new Map<number, () => void>();
  private draining: Promise<void> | null = null;
  private drainAgain = false;
  private stopped = false;
  private readonly unsubscribe: () => void;
  private readonly unlisten: () => void;

  constructor(private readonly deps: RelayDeps) {
    this.unsubscribe = deps.bus.subscribe((channel, payload) => {
      if (channel === CHANNELS.inbox && payload === deps.instanceId) this.drain();
      else if (channel === CHANNELS.outcome) this.waiters.get(Number(payload))?.();
    });
    // Back from a lost connection: events may have been posted meanwhile, and answers stored.
    this.unlisten = deps.bus.onListening(() => {
      this.drain();
      for (const wake of this.waiters.values()) wake();
    });
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    this.unlisten();
  }

  /** Sends `event` to `holder` through the inbox and resolves (or rejects) with the holder's answer. */
  async deliver(id: string, holder: string, event: WorkflowEvent, meta: { correlationId: string | null; actor: string | null }): Promise<WorkflowView> {
    const { store } = this.deps;
    const inboxId = await store.postInbox({ workflowId: id, event: { ...event }, ...meta, fromInstance: this.deps.instanceId }, holder);
    const deadline = Date.now() + (this.deps.waitMs ?? 15_000);
    const pollMs = this.deps.pollMs ?? 500;
    try {
      for (;;) {
        const row = await store.getInbox(inboxId);
        if (!row) throw new HolderUnresponsiveError(id, holder);
        if (row.state === 'done') return answer(row);
        if (row.state === 'pending' && (await this.deps.adopt(id))) {
          // The holder is gone (or let go) without taking it: take the event back, then apply it here.
          if (await store.withdrawInbox(inboxId)) throw new AdoptedSignal(false);
          continue;
        }
        if (Date.now() > deadline) {
          if (await store.withdrawInbox(inboxId)) throw new HolderUnresponsiveError(id, holder);
          // Taken by a holder that died before answering: the audit trail says whether it applied it.
          if (row.state === 'taken' && (await this.deps.adopt(id))) {
            if (await store.appliedSince(id, event.type, meta.correlationId, new Date(row.createdAt.getTime() - 1_000))) throw new AdoptedSignal(true);
            throw new AdoptedSignal(false);
          }
          if (Date.now() > deadline + (this.deps.waitMs ?? 15_000)) throw new HolderUnresponsiveError(id, holder);
          // Otherwise the holder is still applying it; its answer follows.
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.deps.bus.listening ? pollMs : Math.min(pollMs, 200));
          function done() {
            clearTimeout(timer);
            resolve();
          }
          this.waiters.set(inboxId, done);
        });
      }
    } finally {
      this.waiters.delete(inboxId);
    }
  }

  /** Applies the pending inbox events of the workflows this instance holds; one pass at a time. */
  drain(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = (async () => {
      do {
        this.drainAgain = false;
        const rows = await this.deps.store.takeInbox(this.deps.instanceId);
        // In order per workflow; different workflows side by side.
        const byWorkflow = new Map<string, InboxRow[]>();
        for (const row of rows) byWorkflow.set(row.workflowId, [...(byWorkflow.get(row.workflowId) ?? []), row]);
        await Promise.all([...byWorkflow.values()].map(async (list) => {
          for (const row of list) await this.applyOne(row);
        }));
        if (rows.length > 0) this.drainAgain = true;
      } while (this.drainAgain && !this.stopped);
    })()
      .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'inbox not drained; trying again on the next heartbeat'))
      .finally(() => (this.draining = null));
  }

  private async applyOne(row: InboxRow): Promise<void> {
    let status: number;
    let body: unknown;
    try {
      body = await this.deps.apply(row.workflowId, row.event as WorkflowEvent, { correlationId: row.correlationId, actor: row.actor });
      status = 200;
    } catch (error) {
      ({ status, body } = describe(error, this.deps.logger, row.workflowId));
    }
    try {
      await this.deps.store.finishInbox(row.id, status, body);
    } catch (error) {
      this.deps.logger.warn({ err: error, workflowId: row.workflowId }, 'inbox answer not stored; its sender answers 503 when it gives up waiting');
    }
  }
}

function answer(row: InboxRow): WorkflowView {
  const status = row.outcomeStatus ?? 500;
  if (status === 200) return row.outcome as WorkflowView;
  throw new RelayedError(status, (row.outcome ?? {}) as Record<string, unknown>);
}

/** The status and body the holder's server would have answered with for `error`. */
function describe(error: unknown, logger: Logger, workflowId: string): { status: number; body: Record<string, unknown> } {
  if (error instanceof AppError) return { status: error.status, body: error.body() };
  if (isDatabaseUnavailable(error)) {
    return { status: 503, body: { code: 'DATABASE_UNAVAILABLE', message: 'The database is unavailable; nothing was changed. Try again shortly.' } };
  }
  logger.error({ err: error, workflowId }, 'inbox event failed');
  return { status: 500, body: { code: 'INTERNAL', message: 'An unexpected error occurred; it has been logged. Retry, and report it if it persists.' } };
}
