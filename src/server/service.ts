import type { InspectionEvent } from 'xstate';
import type { Bus } from '../db/bus.ts';
import type { WorkflowStore } from '../db/store.ts';
import { ArtifactCache } from '../engine/artifacts.ts';
import { WorkflowEngine, type EngineDeps } from '../engine/engine.ts';
import { WorkflowQueries } from '../engine/queries.ts';
import { StepPool } from '../engine/step-pool.ts';
import type { Logger } from '../engine/logger.ts';
import { INLINE_MAX_UPLOAD_BYTES, type StepHooks } from '../engine/steps.ts';
import { readFiles, withContent } from '../engine/uploads.ts';
import { fileSize } from '../db/workflows.ts';
import { uploadKey } from '../engine/step-logic.ts';
import type { StepLogic } from '../machine/machine.ts';
import type { Phase } from '../machine/table.ts';
import { createApp } from './app.ts';
import type { ApiKey } from './config.ts';
import { ServiceMetrics } from './metrics.ts';
import { IDEMPOTENCY_CLAIM_MS } from './idempotency.ts';
import type { Tracer } from '@opentelemetry/api';
import { defaultTracer } from '../engine/tracing.ts';
import { TransitionFeed } from './feed.ts';
import { clusterFeed } from './cluster-feed.ts';
import { CHANNELS } from '../db/cluster.ts';
import { SSE_HEARTBEAT_MS, SSE_RETRY_MS, type StreamOptions } from './stream.ts';

export interface WireOptions {
  store: WorkflowStore;
  /** The store on the health pool (DatabaseHandle.healthDb), which /healthz reads; default: `store`. */
  healthStore?: Pick<WorkflowStore, 'countWithStatus' | 'liveInstances'>;
  logger: Logger;
  maxUploadBytes: number;
  /** Builds the step actors; the hooks feed the step metrics and batch step-run records into the group commit. */
  steps: (hooks: StepHooks) => Record<Phase, StepLogic>;
  inspect?: (event: InspectionEvent) => void;
  onActorAttached?: EngineDeps['onActorAttached'];
  retryPersistAfterMs?: number;
  apiKeys?: ApiKey[];
  corsOrigins?: string[];
  instanceId?: string;
  leaseMs?: number;
  heartbeatMs?: number;
  deadAfterMs?: number;
  concurrency?: number;
  /** Interrupted attempts of one step after which it fails with STEP_CRASHED. */
  maxInterruptions?: number;
  instanceUrl?: string;
  /** Notifications from the other instances on the same database. */
  bus?: Bus;
  /** An Idempotency-Key claim still in progress after this long is taken over by a retry (its request died). */
  idempotencyClaimMs?: number;
  /** Spans of workflows, steps, waits and requests (default: the global provider's tracer, a no-op unless one is registered). */
  tracer?: Tracer;
  /** SSE heartbeat and retry intervals (defaults: 15 s and 3 s); tests shorten them. */
  sse?: Partial<StreamOptions>;
  /** Worker threads the computing steps run in (STEP_WORKERS); 0 or none: on the main thread. */
  stepWorkers?: number;
  /** Each step thread's heap limit in MB (STEP_WORKER_MAX_MB); none: V8's default. */
  stepWorkerMaxMb?: number;
  /** Uploads up to this size run their steps on the main thread even with step workers (tests set 0 to use the pool). */
  inlineMaxUploadBytes?: number;
}

/** Wires engine, metrics, transition feed and HTTP app around a store: shared by main and the tests. */
export function wireService(options: WireOptions) {
  const feed = new TransitionFeed();
  // Streams on any instance carry every instance's changes (only where there are others to hear: PostgreSQL).
  let shared: ReturnType<typeof clusterFeed> | null = null;
  const tracer = options.tracer ?? defaultTracer();
  // Stopping the engine destroys it, so a test or a shutdown leaves no thread behind.
  const pool = options.stepWorkers ? new StepPool(options.stepWorkers, options.stepWorkerMaxMb) : null;
  const inlineMax = options.inlineMaxUploadBytes ?? INLINE_MAX_UPLOAD_BYTES;
  // One cache for the steps and for creates, which hand it the upload they checked.
  const artifacts = new ArtifactCache(options.store, { keepTables: !pool });
  // The gauge reads the engine lazily, at scrape time.
  const metrics = new ServiceMetrics(() => engine.livePhases());
  const engine: WorkflowEngine = new WorkflowEngine({
    store: options.store,
    steps: options.steps({
      onAttempt: (phase, outcome, seconds) => metrics.onAttempt(phase, outcome, seconds),
      // The engine exists by the time a step runs.
      recordStepRun: (run) => engine.recordStepRun(run),
      artifacts,
      tracer,
      traceContext: (id) => engine.traceContext(id),
      crashGuard: (id, phase) => engine.crashGuard(id, phase),
      inlineMaxUploadBytes: inlineMax,
      pool,
    }),
    tracer,
    artifacts,
    logger: options.logger,
    inspect: options.inspect,
    onActorAttached: options.onActorAttached,
    retryPersistAfterMs: options.retryPersistAfterMs,
    instanceId: options.instanceId,
    leaseMs: options.leaseMs,
    heartbeatMs: options.heartbeatMs,
    deadAfterMs: options.deadAfterMs,
    concurrency: options.concurrency,
    maxInterruptions: options.maxInterruptions,
    instanceUrl: options.instanceUrl,
    bus: options.bus,
    onCommitted: (view, change) => {
      metrics.onCommitted(change);
      shared?.announce({ auditId: change.auditId, workflowId: view.id, seq: view.version });
      feed.publish({
        auditId: change.auditId,
        workflowId: view.id,
        seq: view.version,
        event: {
          workflowId: view.id,
          seq: view.version,
          auditId: change.auditId,
          eventType: change.eventType,
          fromPhase: change.fromPhase,
          toPhase: change.toPhase,
          status: view.status,
          at: view.updatedAt,
          view,
        },
      });
    },
    onPersisted: (seconds) => metrics.onPersisted(seconds),
    ...(pool ? { onStopped: () => pool.destroy() } : {}),
  });
  if (options.bus) {
    shared = clusterFeed({ feed, bus: options.bus, instanceId: engine.instanceId, logger: options.logger, notify: (payload) => options.store.notify(CHANNELS.change, payload) });
  }
  const queries = new WorkflowQueries({
    store: options.store,
    maxUploadBytes: options.maxUploadBytes,
    // A big upload is parsed in a step worker (at 300,000 rows, 1.2 s and 250 MB off the API's thread). A streamed
    // one is read back from its parts into a buffer moved to the worker, which keeps the tables for the first step.
    parseUpload: async (files) => {
      const loaded = await withContent(files, (upload) => options.store.readUpload(upload));
      if (!pool || files.reduce((n, f) => n + fileSize(f), 0) <= inlineMax) return readFiles(loaded.files);
      await pool.checkUpload(loaded.files, loaded.moved, uploadKey(files.map((f) => ({ uploadId: f.upload?.id }))));
      return null;
    },
  });
  const app = createApp({
    engine,
    queries,
    idempotency: {
      beginIdempotent: (scope, key, hash) => options.store.beginIdempotent(scope, key, hash, options.idempotencyClaimMs ?? IDEMPOTENCY_CLAIM_MS),
      finishIdempotent: (scope, key, status, body) => options.store.finishIdempotent(scope, key, status, body),
      abandonIdempotent: (scope, key) => options.store.abandonIdempotent(scope, key),
    },
    logger: options.logger,
    maxUploadBytes: options.maxUploadBytes,
    feed,
    sse: { heartbeatMs: options.sse?.heartbeatMs ?? SSE_HEARTBEAT_MS, retryMs: options.sse?.retryMs ?? SSE_RETRY_MS },
    metrics,
    apiKeys: options.apiKeys ?? [],
    corsOrigins: options.corsOrigins ?? [],
    tracer,
    health: () => {
      const store = options.healthStore ?? options.store;
      return Promise.all([store.countWithStatus('needs_migration'), engine.liveInstances(store)]);
    },
  });
  return { engine, queries, app, feed, metrics };
}
