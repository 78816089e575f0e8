import { randomUUID } from 'node:crypto';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { createActor, type Actor, type AnyEventObject, type InspectionEvent } from 'xstate';
import type { NewStepRun } from '../db/history.ts';
import type { WorkflowRow } from '../db/schema.ts';
import type { WorkflowStore } from '../db/store.ts';
import { VersionConflictError, fileSize, type NewDatasetFile } from '../db/workflows.ts';
import type { Table } from '../handlers/types.ts';
import { EVENT_TYPES, MACHINE_VERSION, workflowMachine, type StepLogic, type WorkflowEvent, type WorkflowInput, type WorkflowMachine } from '../machine/machine.ts';
import { TERMINAL_STATUSES, isStepPhase, type Phase, type TopPhase, type WorkflowStatus } from '../machine/table.ts';
import { migrateSnapshot, type SnapshotMigration } from '../machine/migrations.ts';
import { WorkflowStateValidator, retryRejection } from '../machine/validator.ts';
import type { ArtifactCache } from './artifacts.ts';
import type { Bus } from '../db/bus.ts';
import { CHANNELS, type LiveInstance } from '../db/cluster.ts';
import { ConflictError, EventNotAcceptedError, NeedsMigrationError, PersistenceError, RestoringError, StepCrashedError, WorkflowNotFoundError } from './errors.ts';
import { logTransition, sanitizeEvent } from './events.ts';
import { firstState } from './first-state.ts';
import { LeaseKeeper } from './leases.ts';
import type { Logger } from './logger.ts';
import { AdoptedSignal, InboxRelay } from './relay.ts';
import { phaseOf, statusOf, toView, type WorkflowSnapshot, type WorkflowView } from './view.ts';
import { contextOf, defaultTracer, toTraceparent, traceIdOf } from './tracing.ts';
import { GroupCommitWriter } from './writer.ts';

export interface EngineDeps {
  store: WorkflowStore;
  steps: Record<Phase, StepLogic>;
  logger: Logger;
  /** Extra inspection observer (the Stately inspector); receives every actor's events. */
  inspect?: (event: InspectionEvent) => void;
  /** Called for every committed change, in order per workflow (SSE, metrics). */
  onCommitted?: (view: WorkflowView, change: CommittedChange) => void;
  /** Called for each actor before it starts, new or restored (the inspector announces it). */
  onActorAttached?: (actor: Actor<WorkflowMachine>, how: 'created' | 'restored') => void;
  /** Latency of each persisted change, from the state change to its commit. */
  onPersisted?: (seconds: number) => void;
  retryPersistAfterMs?: number;
  /** Who holds the leases of the workflows this engine runs; stable across restarts of one instance. */
  instanceId?: string;
  /** How long a claim on a workflow holds without renewal. */
  leaseMs?: number;
  /** A failed workflow untouched this long is dropped from memory (it stays in the database). */
  idleFailedMs?: number;
  /** Snapshot migrations by source version (default: src/machine/migrations.ts). */
  migrations?: Readonly<Record<number, SnapshotMigration>>;
  /** The artefact cache the steps read; a create primes it with the upload it checked. */
  artifacts?: ArtifactCache;
  /** Spans for workflows and waits (default: the global provider's, a no-op unless one is registered). */
  tracer?: Tracer;
  /** Notifications from the other instances on the same database (inbox, free work); none on PGlite. */
  bus?: Bus;
  /** Where this instance answers, for the instance table. */
  instanceUrl?: string;
  /** How often this instance writes its heartbeat. */
  heartbeatMs?: number;
  /** An instance silent this long is dead: its workflows are taken over. */
  deadAfterMs?: number;
  /** At most this many workflows run steps here at once; more wait in the table for an instance with room. */
  concurrency?: number;
  /** How long an event relayed to another instance waits for its answer. */
  relayWaitMs?: number;
  /** After this many attempts of one step interrupted by a process death, the step fails with STEP_CRASHED (default 2). */
  maxInterruptions?: number;
  /** Releases what the steps ran on (the worker pool) once stop() has stopped every actor. */
  onStopped?: () => Promise<void>;
}

export interface CommittedChange {
  /** The global id of the change's audit row (its position across all workflows). */
  auditId: number;
  eventType: string;
  fromPhase: TopPhase;
  toPhase: TopPhase;
  status: WorkflowStatus;
}

export interface SendMeta {
  correlationId?: string | null;
  actor?: string | null;
}

export interface CreateRequest extends SendMeta {
  name: string;
  files: NewDatasetFile[];
  /** The files already parsed (by checkUpload), handed to the first step so it parses nothing. */
  tables?: Table[];
  options?: WorkflowInput['options'];
  autoStart: boolean;
  /** The trace context of the request that creates it (its HTTP span, child of an incoming traceparent). */
  traceContext?: Context;
}

interface Live {
  id: string;
  actor: Actor<WorkflowMachine>;
  version: number;
  persistedJson: string;
  phase: TopPhase;
  changedAt: number;
  correlationId: string | null;
  /** The workflow's stored traceparent: its spans' parent. */
  traceParent: string | null;
  /** The span of the backoff or review wait in progress, ended by the next change. */
  wait: Span | null;
  createdAt: Date;
  /** Who sent the external event being processed, for the audit row. */
  pendingMeta: SendMeta | null;
  lastCommit: Promise<unknown>;
  stopped: boolean;
  /**
   * Records of step attempts that just ended, held until the change they lead to (the next phase,
   * a retry, a failure) is enqueued, so record and transition commit together: a crash can never
   * leave a success recorded whose transition was lost (the step would then succeed twice).
   */
  heldRuns: NewStepRun[];
  /** Attempts of the current phase's step that a process death interrupted (the claim counted them). */
  interruptions: number;
}

/** Interrupted attempts of one step after which it fails with STEP_CRASHED (MAX_STEP_INTERRUPTIONS). */
export const DEFAULT_MAX_INTERRUPTIONS = 2;

function ordinal(n: number): string {
  return n === 1 ? 'first' : n === 2 ? 'second' : n === 3 ? 'third' : `${n}th`;
}

/** Owns the live actors: creates, restores, sends, and persists every change through the group writer. */
export class WorkflowEngine {
  private readonly live = new Map<string, Live>();
  private readonly loading = new Map<string, Promise<Live | { holder: string }>>();
  private readonly machine: WorkflowMachine;
  private readonly writer: GroupCommitWriter;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private stopping = false;
  restoring = false;
  private readonly leases: LeaseKeeper;
  private readonly tracer: Tracer;
  private readonly relay: InboxRelay;
  private readonly bus: Bus | undefined;
  private registered: Promise<void>;
  /** Whether unowned work may be waiting in the table (a notification said so, or a claim came back full). */
  private workWaiting = true;
  private filling: Promise<void> | null = null;
  private fillTimer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;
  /** Workflows this process stopped running without finishing them (evicted): taking one back is no interruption. */
  private readonly letGo = new Set<string>();

  constructor(private readonly deps: EngineDeps) {
    this.tracer = deps.tracer ?? defaultTracer();
    this.machine = workflowMachine.provide({ actors: deps.steps });
    this.writer = new GroupCommitWriter(deps.store, {
      onRunsLost: (error, count) => deps.logger.warn({ err: error, count }, 'step-run records not stored'),
    });
    this.leases = new LeaseKeeper({
      store: deps.store,
      logger: deps.logger,
      instanceId: deps.instanceId ?? randomUUID(),
      leaseMs: deps.leaseMs ?? 30_000,
      held: () => [...this.live.keys()],
      lost: (id) => {
        const live = this.live.get(id);
        // A workflow that completed gave up its lease in the same statement; its commit evicts it.
        if (!live || live.phase === 'completed') return;
        deps.logger.warn({ workflowId: id }, 'lease lost to another instance; actor stopped here');
        this.evict(live, false);
      },
      heartbeatMs: deps.heartbeatMs,
      deadAfterMs: deps.deadAfterMs,
      heartbeat: () => deps.store.heartbeat(this.instanceId, deps.instanceUrl ?? null),
      adopt: async () => (this.restoring ? 0 : (await this.restoreAll({ quiet: true })).restored),
      onBeat: (beat) => {
        this.evictIdleFailed();
        this.relay.drain();
        // Once a minute or so: instances silent for a day, answered inbox events older than an hour.
        if (beat % 30 === 0) {
          void deps.store.forgetInstances(24 * 3_600_000).catch(() => {});
          void deps.store.expireInbox(3_600_000).catch(() => {});
        }
      },
    });
    this.bus = deps.bus;
    this.relay = new InboxRelay({
      store: deps.store,
      bus: deps.bus ?? { subscribe: () => () => {}, onListening: () => () => {}, listening: false, close: async () => {} },
      logger: deps.logger,
      instanceId: this.leases.instanceId,
      waitMs: deps.relayWaitMs,
      apply: (id, event, meta) => this.send(id, event, meta),
      adopt: async (id) => this.live.has(id) || (await this.claim(id)) !== null,
    });
    this.unsubscribe =
      deps.bus?.subscribe((channel, payload) => {
        if (channel === CHANNELS.work && payload !== this.instanceId) {
          this.workWaiting = true;
          this.scheduleFill(0);
        }
      }) ?? (() => {});
    this.registered = this.leases.register().catch((error: unknown) => deps.logger.warn({ err: error }, 'instance not registered yet; the next heartbeat tries again'));
  }

  /** How many live workflows are running steps (not waiting for a person): what the concurrency limit counts. */
  get busyCount(): number {
    let n = 0;
    for (const live of this.live.values()) if (this.isBusy(live)) n += 1;
    return n;
  }

  private isBusy(live: Live): boolean {
    const status = statusOf(live.actor.getSnapshot().value);
    return status !== 'awaiting_review' && status !== 'failed' && status !== 'completed';
  }

  private get capacity(): number {
    return Math.max(0, (this.deps.concurrency ?? 256) - this.busyCount);
  }

  /** Claims waiting unowned work up to the free capacity, soon (debounced). */
  private scheduleFill(delayMs: number): void {
    if (this.stopping || this.fillTimer || !this.workWaiting) return;
    this.fillTimer = setTimeout(() => {
      this.fillTimer = null;
      if (this.filling) return this.scheduleFill(50);
      this.filling = this.restoreAll({ quiet: true })
        .then(() => undefined, (error: unknown) => this.deps.logger.warn({ err: error }, 'free work not claimed'))
        .finally(() => (this.filling = null));
    }, delayMs);
    this.fillTimer.unref();
  }

  get instanceId(): string {
    return this.leases.instanceId;
  }

  private evictIdleFailed(): void {
    const cutoff = Date.now() - (this.deps.idleFailedMs ?? 10 * 60_000);
    const idle = [...this.live.values()].filter((l) => l.phase === 'failed' && l.changedAt < cutoff);
    if (idle.length === 0) return;
    for (const live of idle) this.evict(live, false);
    void this.leases.release(idle.map((l) => l.id));
  }

  /** The instances sharing the database that wrote a heartbeat within the timeout, read through `store` (default: the engine's). */
  liveInstances(store: Pick<WorkflowStore, 'liveInstances'> = this.deps.store): Promise<LiveInstance[]> {
    return store.liveInstances(this.leases.deadAfterMs);
  }

  get liveCount(): number {
    return this.live.size;
  }

  get writerStats() {
    return this.writer.stats;
  }

  /**
   * Called by a step attempt before its body runs: the error that ends it instead, when earlier
   * attempts of this step were interrupted by process deaths `maxInterruptions` times (an export
   * that kills the process would otherwise be resumed, and kill it, forever).
   */
  crashGuard(workflowId: string, phase: Phase): StepCrashedError | null {
    const live = this.live.get(workflowId);
    const limit = this.deps.maxInterruptions ?? DEFAULT_MAX_INTERRUPTIONS;
    if (!live || live.phase !== phase || live.interruptions < limit) return null;
    return new StepCrashedError(phase, live.interruptions);
  }

  /** Queues a step-run record into the next group commit. */
  recordStepRun(run: NewStepRun): void {
    // A step stopped by our own shutdown was not cancelled by anyone: the next restore records it as interrupted.
    if (this.stopping && run.outcome === 'cancelled') return;
    const live = this.live.get(run.workflowId);
    if (live && !live.stopped && (run.outcome === 'succeeded' || run.outcome === 'failed')) live.heldRuns.push(run);
    else this.writer.recordStepRun(run);
  }

  /** Writes the records a workflow held for a change that will not come (it is being stopped). */
  private releaseHeldRuns(live: Live): void {
    for (const run of live.heldRuns.splice(0)) this.writer.recordStepRun(run);
  }

  /** Live workflows per top-level phase, for the active gauge. */
  livePhases(): Map<TopPhase, number> {
    const phases = new Map<TopPhase, number>();
    for (const live of this.live.values()) phases.set(live.phase, (phases.get(live.phase) ?? 0) + 1);
    return phases;
  }

  async create(request: CreateRequest): Promise<WorkflowView> {
    const id = randomUUID();
    const input = { workflowId: id, name: request.name, options: request.options };
    const now = new Date();
    const meta = { correlationId: request.correlationId ?? null, actor: request.actor ?? null };
    const first = firstState(input, request.autoStart, { ...meta, at: now, files: request.files.map((f) => ({ name: f.name, bytes: fileSize(f) })) });
    const { snapshot } = first;
    // The workflow's root span: a child of the creating request's span; every step attempt and wait is its child.
    const root = this.tracer.startSpan(
      'workflow',
      { attributes: { 'workflow.id': id, 'workflow.name': request.name, 'workflow.files': request.files.length }, startTime: now },
      request.traceContext,
    );
    const traceParent = toTraceparent(root.spanContext());
    const version = first.transitions.length;
    // Full: the workflow waits in the table, unowned, for whichever instance has room first.
    const queued = request.autoStart && this.capacity === 0;
    const auditIds = await this.deps.store.createWorkflow(
      {
        id,
        name: request.name,
        phase: phaseOf(snapshot.value),
        status: statusOf(snapshot.value),
        snapshot: first.persisted,
        machineVersion: MACHINE_VERSION,
        version,
        correlationId: meta.correlationId,
        traceParent,
        owner: queued ? null : this.instanceId,
        leaseUntil: queued ? null : this.leases.leaseUntil(now),
        createdAt: now,
        updatedAt: now,
      },
      first.transitions,
      request.files,
    ).finally(() => root.end());
    this.deps.logger.info({ workflowId: id, correlationId: request.correlationId, traceId: traceIdOf(traceParent), files: request.files.length }, 'workflow created');
    const view = toView(snapshot.value, snapshot.context, { version, correlationId: meta.correlationId, traceId: traceIdOf(traceParent), createdAt: now, updatedAt: now });
    // The stream hears of a new workflow by its last audit row: START when it started at once, else its creation.
    const last = first.transitions.at(-1)!;
    const change = { auditId: auditIds.at(-1) ?? 0, eventType: last.eventType, fromPhase: last.fromPhase ?? 'pending', toPhase: view.phase, status: view.status };
    if (queued) {
      this.deps.logger.info({ workflowId: id }, 'concurrency limit reached: workflow queued for an instance with room');
      this.workWaiting = true;
      void this.deps.store.notify(CHANNELS.work, this.instanceId).catch(() => {});
      this.deps.onCommitted?.(view, change);
      return view;
    }
    this.deps.artifacts?.primeUpload(
      id,
      request.files.map((f) => ({ name: f.name, format: f.format, bytes: fileSize(f), ...(f.upload ? { uploadId: f.upload.id } : {}) })),
      request.tables,
    );
    const actor = createActor(this.machine, { snapshot: first.persisted as WorkflowSnapshot, input });
    this.attach(id, actor, { version, persistedJson: JSON.stringify(first.persisted), correlationId: meta.correlationId, traceParent, createdAt: now });
    this.deps.onCommitted?.(view, change);
    return view;
  }

  /** Applies an event and resolves with the view once the resulting change is durable. */
  async send(id: string, event: WorkflowEvent, meta: SendMeta = {}): Promise<WorkflowView> {
    if (this.stopping) throw new PersistenceError(new Error('engine stopping'), { neverSent: true });
    const acquired = await this.acquire(id, event.type);
    if ('holder' in acquired) {
      // Another live instance runs it: the event goes through the inbox, the answer is the holder's.
      try {
        return await this.relay.deliver(id, acquired.holder, event, { correlationId: meta.correlationId ?? null, actor: meta.actor ?? null });
      } catch (error) {
        if (!(error instanceof AdoptedSignal)) throw error;
        const adopted = await this.acquire(id, event.type);
        if ('holder' in adopted) throw new PersistenceError(new Error('workflow taken over by a third instance'));
        if (!error.applied) return this.sendLocal(adopted, event, meta);
        const current = adopted.actor.getSnapshot();
        return toView(current.value, current.context, {
          version: adopted.version,
          correlationId: adopted.correlationId,
          traceId: traceIdOf(adopted.traceParent),
          createdAt: adopted.createdAt,
          updatedAt: new Date(adopted.changedAt),
        });
      }
    }
    return this.sendLocal(acquired, event, meta);
  }

  private async sendLocal(live: Live, event: WorkflowEvent, meta: SendMeta): Promise<WorkflowView> {
    const id = live.id;
    const snapshot = live.actor.getSnapshot();
    if (!snapshot.can(event)) {
      const accepted = this.acceptedEvents(snapshot);
      const reason =
        event.type === 'RETRY' && accepted.includes('RETRY')
          ? (retryRejection(snapshot.context, event.fromPhase) ?? undefined)
          : undefined;
      throw new EventNotAcceptedError(event.type, phaseOf(snapshot.value), statusOf(snapshot.value), accepted, reason);
    }
    live.pendingMeta = meta;
    live.actor.send(event);
    live.pendingMeta = null;
    // The state this event produced, even if later steps move on before its commit completes.
    const after = live.actor.getSnapshot();
    const view = toView(after.value, after.context, {
      version: live.version,
      correlationId: live.correlationId,
      traceId: traceIdOf(live.traceParent),
      createdAt: live.createdAt,
      updatedAt: new Date(live.changedAt),
    });
    try {
      await live.lastCommit;
    } catch (error) {
      if (error instanceof VersionConflictError) throw new ConflictError(id);
      throw new PersistenceError(error);
    }
    return view;
  }

  private acceptedEvents(snapshot: WorkflowSnapshot): string[] {
    return EVENT_TYPES.filter((type) => snapshot.can({ type } as WorkflowEvent));
  }

  /** Restores every unfinished workflow from its snapshot; each carries on where it stopped. */
  async restoreAll(options: { quiet?: boolean; includeOwn?: boolean } = {}): Promise<{ restored: number; skipped: number }> {
    if (this.stopping) return { restored: 0, skipped: 0 };
    await this.registered;
    const busyLimit = this.capacity;
    const rows = await this.leases.claimUnfinished({ busyLimit, includeOwn: options.includeOwn ?? false });
    // Stopped while the claim was in flight: hand the rows straight back rather than run them here.
    if (this.stopping) {
      await this.leases.release(rows.map((r) => r.id)).catch(() => {});
      return { restored: 0, skipped: 0 };
    }
    // As many busy ones as there was room for: more may be waiting.
    this.workWaiting = rows.filter((r) => r.status !== 'awaiting_review').length >= busyLimit;
    let restored = 0;
    let skipped = 0;
    for (const row of rows) {
      if (this.live.has(row.id)) continue;
      try {
        this.restore(row);
        restored += 1;
      } catch (error) {
        skipped += 1;
        this.deps.logger.error({ workflowId: row.id, err: error }, 'workflow not restored');
      }
    }
    if (!options.quiet || skipped > 0) this.deps.logger.info({ restored, skipped }, 'unfinished workflows restored');
    return { restored, skipped };
  }

  /** The first restore after a start, run while the server already answers (events to workflows not yet live: 503). */
  restoreOnStart(): Promise<{ restored: number; skipped: number }> {
    this.restoring = true;
    return this.restoreAll({ includeOwn: true }).finally(() => (this.restoring = false));
  }

  /** Stops every actor without recording anything as failed, then waits for pending writes. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.leases.stop();
    // A claim of free work in flight finishes (and hands its rows back) before the engine is done.
    await this.filling;
    this.relay.stop();
    this.unsubscribe();
    if (this.fillTimer) clearTimeout(this.fillTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    const ids = [...this.live.keys()];
    for (const live of [...this.live.values()]) this.evict(live, false);
    await this.writer.idle();
    // Hand the workflows back at once, so another instance need not wait for the leases to run out,
    // leave the instance table, and tell the others there is work to take.
    await this.leases.release(ids);
    await this.deps.store.removeInstance(this.instanceId).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'instance row not removed'));
    if (ids.length > 0) await this.deps.store.notify(CHANNELS.work, this.instanceId).catch(() => {});
    await this.deps.onStopped?.();
  }

  /** Waits until every change enqueued so far is committed. */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  /** Claims one workflow; one this process let go of itself is not counted as interrupted when taken back. */
  private claim(id: string): Promise<WorkflowRow | null> {
    return this.leases.claim(id, !this.letGo.has(id));
  }

  /** The live actor of a workflow, restored from its row (and claimed) when this instance has none. */
  private async acquire(id: string, eventType: string): Promise<Live | { holder: string }> {
    const existing = this.live.get(id);
    if (existing) return existing;
    if (this.restoring) throw new RestoringError(id);
    let loading = this.loading.get(id);
    if (!loading) {
      loading = (async (): Promise<Live | { holder: string }> => {
        // Claim first: the claim returns the row, so the usual case costs one round trip.
        const claimed = await this.claim(id);
        if (claimed) return this.live.get(id) ?? this.restore(claimed);
        const row = await this.deps.store.getWorkflow(id);
        if (!row) throw new WorkflowNotFoundError(id);
        // A completed workflow takes no event: answer without bringing it to life.
        if (row.status === 'completed') throw new EventNotAcceptedError(eventType, 'completed', 'completed', []);
        return { holder: row.owner ?? '' };
      })().finally(() => this.loading.delete(id));
      this.loading.set(id, loading);
    }
    return loading;
  }

  private restore(row: WorkflowRow, options: { afterEviction?: boolean } = {}): Live {
    const snapshot = migrateSnapshot(row.snapshot, row.machineVersion, MACHINE_VERSION, this.deps.migrations);
    if (!snapshot) {
      void this.deps.store.setStatus(row.id, 'needs_migration').catch(() => {});
      throw new NeedsMigrationError(row.id, row.machineVersion, MACHINE_VERSION);
    }
    // input is ignored when a snapshot is given, but the types ask for it.
    const actor = createActor(this.machine, { snapshot: snapshot as unknown as WorkflowSnapshot, input: { workflowId: row.id, name: row.name } });
    this.deps.logger.info({ workflowId: row.id, phase: row.phase, status: row.status, interruptions: row.interruptions, afterEviction: options.afterEviction ?? false }, 'workflow restored');
    const live = this.attach(row.id, actor, {
      version: row.version,
      persistedJson: JSON.stringify(row.snapshot),
      correlationId: row.correlationId,
      traceParent: row.traceParent,
      createdAt: row.createdAt,
      interruptions: row.status === 'running' && isStepPhase(row.phase) ? row.interruptions : 0,
    });
    if (!options.afterEviction && row.status === 'running' && isStepPhase(row.phase)) this.recordInterruption(live, row, row.phase);
    return live;
  }

  /**
   * A workflow stored as running a step was stopped in the middle of an attempt (kill -9, a crash, a
   * shutdown): the restore leaves a trace of it, an audit row `workflow.restored` naming the interrupted
   * phase and attempt, and that attempt's step run closed as `interrupted` (no record of it exists:
   * runs are written when they end). Both go into the next group commit, before anything the
   * re-run attempt (already started by attach) can enqueue.
   */
  private recordInterruption(live: Live, row: WorkflowRow, phase: Phase): void {
    const snapshot = live.actor.getSnapshot();
    const attempt = snapshot.context.attempt;
    const now = new Date();
    // The running state was stored when the attempt began: the row's last change is its start.
    const startedAt = row.updatedAt;
    const crashed = this.crashGuard(live.id, phase);
    const message = crashed
      ? `The process stopped during attempt ${attempt} of ${phase}, the ${ordinal(live.interruptions)} attempt of this step a process death interrupted; it is not run again.`
      : `The process stopped during attempt ${attempt} of ${phase}; the attempt was run again after the restore.`;
    this.writer.recordStepRun({
      workflowId: live.id,
      phase,
      attempt,
      startedAt,
      endedAt: now,
      outcome: 'interrupted',
      error: {
        code: 'INTERRUPTED',
        phase,
        attempt,
        message,
        hint: crashed ? crashed.hint! : 'Nothing to do: steps are idempotent and the attempt runs again.',
        at: now.toISOString(),
        retryable: !crashed,
      },
    });
    this.tracer
      .startSpan('workflow restored', { attributes: { 'workflow.id': live.id, 'workflow.phase': phase, 'step.attempt': attempt, 'step.outcome': 'interrupted' } }, contextOf(row.traceParent))
      .end();
    this.commit(live, {
      event: { type: 'workflow.restored', instance: this.instanceId, interrupted: { phase, attempt, startedAt: startedAt.toISOString() } },
      snapshot,
      from: phase,
      at: now.getTime(),
      durationMs: now.getTime() - startedAt.getTime(),
      meta: null,
    });
  }

  private attach(
    id: string,
    actor: Actor<WorkflowMachine>,
    init: { version: number; persistedJson: string; correlationId: string | null; traceParent: string | null; createdAt: Date; interruptions?: number },
  ): Live {
    const snapshot = actor.getSnapshot();
    const live: Live = {
      id,
      actor,
      version: init.version,
      persistedJson: init.persistedJson,
      phase: phaseOf(snapshot.value),
      changedAt: Date.now(),
      correlationId: init.correlationId,
      traceParent: init.traceParent,
      wait: null,
      createdAt: init.createdAt,
      pendingMeta: null,
      lastCommit: Promise.resolve(),
      stopped: false,
      heldRuns: [],
      interruptions: init.interruptions ?? 0,
    };
    this.live.set(id, live);
    this.letGo.delete(id);
    this.deps.onActorAttached?.(actor, init.version === 1 && snapshot.value === 'pending' ? 'created' : 'restored');
    // The inspect hook sees each macrostep's snapshot together with the event that caused it.
    actor.system.inspect({
      next: (event: InspectionEvent) => {
        this.deps.inspect?.(event);
        if (event.type === '@xstate.snapshot' && event.actorRef === actor) this.onSnapshot(live, event.event);
      },
    });
    actor.subscribe({
      error: (error) => {
        this.deps.logger.error({ workflowId: id, err: error }, 'workflow actor errored; it is stopped and will be restored');
        this.evict(live, true);
      },
    });
    // Starting re-emits the restored state; it is already stored (jsonb may only reorder its keys).
    live.stopped = true;
    actor.start();
    live.stopped = false;
    live.persistedJson = JSON.stringify(actor.getPersistedSnapshot());
    return live;
  }

  private onSnapshot(live: Live, event: AnyEventObject): void {
    if (live.stopped) return;
    const snapshot = live.actor.getSnapshot();
    const persisted = live.actor.getPersistedSnapshot();
    const json = JSON.stringify(persisted);
    if (json === live.persistedJson) return;
    const from = live.phase;
    const to = phaseOf(snapshot.value);
    try {
      WorkflowStateValidator.assertMacrostep(from, to);
    } catch (error) {
      // Never persist a move the table forbids; the stored state stays the last valid one.
      this.deps.logger.error({ workflowId: live.id, err: error, from, to }, 'invalid transition refused');
      this.evict(live, false);
      return;
    }
    const now = Date.now();
    const durationMs = now - live.changedAt;
    this.commit(live, { event, snapshot, from, at: now, durationMs, meta: live.pendingMeta });
  }

  /** Enqueues the live actor's current state as the next version with its audit row; on commit, tells the observers. */
  private commit(
    live: Live,
    change: { event: AnyEventObject; snapshot: WorkflowSnapshot; from: TopPhase; at: number; durationMs: number; meta: SendMeta | null },
  ): void {
    const { event, snapshot, from, meta } = change;
    const now = change.at;
    const persisted = live.actor.getPersistedSnapshot();
    const to = phaseOf(snapshot.value);
    const status = statusOf(snapshot.value);
    const expectedVersion = live.version;
    live.version += 1;
    live.persistedJson = JSON.stringify(persisted);
    // The stored count starts again when the workflow leaves the phase (persistChanges does the same).
    if (to !== live.phase) live.interruptions = 0;
    live.phase = to;
    const durationMs = change.durationMs;
    live.changedAt = now;
    this.traceWait(live, snapshot, status, now);
    logTransition(this.deps.logger, { workflowId: live.id, correlationId: live.correlationId }, snapshot.context, { from, to, status, durationMs });
    const committed = this.writer.enqueue(
      {
        workflowId: live.id,
        expectedVersion,
        phase: to,
        status,
        snapshot: persisted,
        machineVersion: MACHINE_VERSION,
        at: new Date(now),
        transition: {
          eventType: event.type,
          event: sanitizeEvent(event),
          fromPhase: from,
          toPhase: to,
          value: snapshot.value,
          status,
          durationMs,
          correlationId: meta?.correlationId ?? live.correlationId,
          actor: meta?.actor ?? null,
        },
      },
      live.heldRuns.splice(0),
    );
    live.lastCommit = committed;
    committed.then(
      (auditId) => {
        this.deps.onPersisted?.((Date.now() - now) / 1000);
        this.deps.onCommitted?.(
          toView(snapshot.value, snapshot.context, {
            version: expectedVersion + 1,
            correlationId: live.correlationId,
            traceId: traceIdOf(live.traceParent),
            createdAt: live.createdAt,
            updatedAt: new Date(now),
          }),
          { auditId, eventType: event.type, fromPhase: from, toPhase: to, status },
        );
        // Its cached upload and outputs are only needed again by a RETRY or an approval, which read them back.
        if (status === 'failed' || status === 'awaiting_review') this.deps.artifacts?.forget(live.id);
        // A completed workflow takes no more events; a failed one stays live for a while, since a
        // RETRY usually follows soon (the heartbeat evicts it once idle).
        if (status === 'completed' && live.version === expectedVersion + 1) this.evict(live, false);
        // Room for one more: take waiting work, if any.
        if (status === 'completed' || status === 'failed' || status === 'awaiting_review') this.scheduleFill(20);
      },
      (error: unknown) => {
        const conflict = error instanceof VersionConflictError;
        this.deps.logger.error({ workflowId: live.id, err: error, conflict }, 'change not persisted; actor evicted');
        this.evict(live, !conflict);
      },
    );
  }

  /** A backoff or a review wait is a span of the workflow's trace, from its start to the next change. */
  private traceWait(live: Live, snapshot: WorkflowSnapshot, status: WorkflowStatus, now: number): void {
    live.wait?.end(now);
    live.wait = null;
    if (status !== 'backoff' && status !== 'awaiting_review') return;
    const phase = phaseOf(snapshot.value);
    const { attempt, wakeAt } = snapshot.context;
    live.wait = this.tracer.startSpan(
      status === 'backoff' ? 'wait backoff' : 'wait review',
      {
        startTime: now,
        attributes: {
          'workflow.id': live.id,
          'workflow.phase': phase,
          'step.attempt': attempt,
          ...(status === 'backoff' && wakeAt !== null ? { 'backoff.delay_ms': Math.max(0, wakeAt - now), 'backoff.wake_at': new Date(wakeAt).toISOString() } : {}),
        },
      },
      contextOf(live.traceParent),
    );
  }

  /** The parent context of a workflow's step spans: its stored root span. */
  traceContext(workflowId: string): Context | undefined {
    return contextOf(this.live.get(workflowId)?.traceParent);
  }

  /** Drops a live actor; the database row stays the truth. With `resume`, reload it from there later. */
  private evict(live: Live, resume: boolean): void {
    if (live.stopped) return;
    // Its row may still say it runs a step even when the actor moved on in memory (a write of its
    // completion that failed): taking it back here is no process death either way.
    if (resume || isStepPhase(live.phase)) this.letGo.add(live.id);
    this.deps.artifacts?.forget(live.id);
    this.releaseHeldRuns(live);
    live.stopped = true;
    live.wait?.end();
    live.wait = null;
    live.actor.stop();
    if (this.live.get(live.id) === live) this.live.delete(live.id);
    if (resume) this.scheduleResume(live.id);
  }

  /** Reloads a workflow from its row a little later (the database or the actor had a problem), until it works. */
  private scheduleResume(id: string): void {
    if (this.stopping) return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      void this.resume(id);
    }, this.deps.retryPersistAfterMs ?? 1_000);
    timer.unref();
    this.retryTimers.add(timer);
  }

  private async resume(id: string): Promise<void> {
    try {
      if (this.live.has(id) || this.stopping) return;
      const row = await this.claim(id);
      if (row && this.stopping) {
        await this.leases.release([id]).catch(() => {});
        return;
      }
      // Its attempt in flight was stopped here (and recorded as cancelled): not an interruption of the process.
      if (row && !TERMINAL_STATUSES.includes(row.status) && !this.live.has(id)) this.restore(row, { afterEviction: true });
      else if (!this.live.has(id)) this.letGo.delete(id);
    } catch (error) {
      this.deps.logger.error({ workflowId: id, err: error }, 'workflow could not be resumed; retrying');
      this.scheduleResume(id);
    }
  }
}
