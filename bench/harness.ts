import { createStore, type WorkflowStore } from '../src/db/store.ts';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import type { WorkflowEngine } from '../src/engine/engine.ts';
import type { Logger } from '../src/engine/logger.ts';
import { defaultStepWorkers } from '../src/engine/step-pool.ts';
import { createStepActors } from '../src/engine/steps.ts';
import type { WorkflowStatus } from '../src/machine/table.ts';
import type { StepOutput } from '../src/machine/machine.ts';
import { PHASE_SPECS, STEP_PHASES, type Phase } from '../src/machine/table.ts';
import { wireService } from '../src/server/service.ts';
import type { PhaseDatabase } from './database.ts';

type StepBodies = NonNullable<Parameters<typeof createStepActors>[1]>;

const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

/** The service's logger at `level`, writing to /dev/null: its cost is measured, its lines are not kept. */
export function benchLogger(level: 'silent' | 'info'): Logger {
  return pino({ level }, pino.destination({ dest: '/dev/null', sync: true }));
}

/** Step bodies that do nothing but return the outputs their phase requires (tiny summaries). */
export function noopBodies(): StepBodies {
  const body = (phase: Phase) => async (): Promise<StepOutput> => ({
    outputs: Object.fromEntries(PHASE_SPECS[phase].required.map((key) => [key, { phase, ok: true }])),
  });
  return {
    data_source_analysis: body('data_source_analysis'),
    data_validation: body('data_validation'),
    field_mapping: body('field_mapping'),
    asset_classification: body('asset_classification'),
    dependency_analysis: body('dependency_analysis'),
    database_integration: body('database_integration'),
  } satisfies Record<(typeof STEP_PHASES)[number], StepBodies[Phase]>;
}

/** Resolves when a committed change of a workflow reaches one of the awaited statuses. */
export class StatusTracker {
  private readonly seen = new Map<string, WorkflowStatus>();
  private readonly waiting = new Map<string, { statuses: readonly WorkflowStatus[]; resolve: (status: WorkflowStatus) => void }>();
  /** Off while only latency is measured, so the map does not grow with every event. */
  recording = true;

  onCommitted(id: string, status: WorkflowStatus): void {
    const waiter = this.waiting.get(id);
    if (waiter) {
      if (waiter.statuses.includes(status)) {
        this.waiting.delete(id);
        waiter.resolve(status);
      }
      return;
    }
    // The change may commit before the creator learns the id: keep the latest status until asked.
    if (this.recording) this.seen.set(id, status);
  }

  waitFor(id: string, statuses: readonly WorkflowStatus[]): Promise<WorkflowStatus> {
    const last = this.seen.get(id);
    this.seen.delete(id);
    if (last && statuses.includes(last)) return Promise.resolve(last);
    return new Promise((resolve) => this.waiting.set(id, { statuses, resolve }));
  }

  clear(): void {
    this.seen.clear();
  }
}

export interface BenchService {
  store: WorkflowStore;
  engine: WorkflowEngine;
  tracker: StatusTracker;
  /** Set once `listen` ran. */
  url: string | null;
  listen(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The service as main.ts wires it (engine, metrics, transition feed, Hono app) around the phase's store,
 * with no-op step bodies wrapped by the real step adapter (step-run records, timeouts, logs), or
 * the real bodies.
 */
export function startBenchService(db: PhaseDatabase, options: { logger: Logger; steps: 'noop' | 'real' }): BenchService {
  const { logger } = options;
  const tracker = new StatusTracker();
  const { engine, app, feed } = wireService({
    store: db.store,
    healthStore: createStore(db.handle.healthDb),
    logger,
    maxUploadBytes: MAX_UPLOAD_BYTES,
    // As main.ts sizes it; STEP_WORKERS=0 measures the steps on the main thread.
    stepWorkers: options.steps === 'real' ? Number(process.env.STEP_WORKERS ?? defaultStepWorkers()) : 0,
    steps: (hooks) => {
      const deps = { store: db.store, logger, maxUploadBytes: MAX_UPLOAD_BYTES, ...hooks };
      return options.steps === 'noop' ? createStepActors(deps, noopBodies()) : createStepActors(deps);
    },
  });
  feed.subscribe(null, (entry) => {
    if (entry.event) tracker.onCommitted(entry.workflowId, entry.event.status);
  });
  let server: ReturnType<typeof serve> | null = null;
  const service: BenchService = {
    engine,
    store: db.store,
    tracker,
    url: null,
    async listen() {
      const started = await new Promise<ReturnType<typeof serve>>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      server = started;
      service.url = `http://127.0.0.1:${(started.address() as AddressInfo).port}`;
      return service.url;
    },
    async stop() {
      const running = server;
      if (running) {
        // Keep-alive sockets of the load clients would hold close() open.
        if ('closeAllConnections' in running) running.closeAllConnections();
        await new Promise<void>((resolve) => running.close(() => resolve()));
      }
      await engine.stop();
    },
  };
  return service;
}

export interface RunOptions {
  concurrency: number;
  /** Park every workflow at the mapping review point instead of running it to the end. */
  park?: boolean;
  files?: { name: string; format: string | null; content: Uint8Array }[];
}

/** Creates `count` workflows, `concurrency` in flight, each awaited to completion (or to review); returns their ids. */
export async function runWorkflows(service: BenchService, count: number, options: RunOptions): Promise<string[]> {
  const ids: string[] = [];
  const target: WorkflowStatus = options.park ? 'awaiting_review' : 'completed';
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      const view = await service.engine.create({
        name: `bench ${next}`,
        files: options.files ?? [],
        options: options.park ? { reviewMappings: true } : undefined,
        autoStart: true,
      });
      const status = await service.tracker.waitFor(view.id, [target, 'failed']);
      if (status !== target) {
        const row = await service.store.getWorkflow(view.id);
        const errors = (row?.snapshot as { context?: { errors?: unknown[] } } | undefined)?.context?.errors ?? [];
        throw new Error(`Workflow ${view.id} ended ${status}, expected ${target}; its errors: ${JSON.stringify(errors)}`);
      }
      ids.push(view.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, count) }, worker));
  return ids;
}

/** Runs a full GC (when node runs with --expose-gc) a few times so freed memory is really gone. */
export async function collectGarbage(): Promise<boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

export function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}
