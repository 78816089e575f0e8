import { mkdirSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { openDatabase } from '../db/client.ts';
import { createStore } from '../db/store.ts';
import { DataDirLockedError, lockDataDir, type DataDirLock } from '../db/data-dir-lock.ts';
import { DatabaseUnreachableError, waitForDatabase } from '../db/wait.ts';
import type { WorkflowEngine } from '../engine/engine.ts';
import type { Logger } from '../engine/logger.ts';
import { createStepActors } from '../engine/steps.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { IDEMPOTENCY_TTL_MS } from './idempotency.ts';
import { startInspector } from './inspector.ts';
import { createLogger } from './logging.ts';
import { startingResponse } from './starting.ts';
import { wireService } from './service.ts';
import { startTelemetry } from './telemetry.ts';

/** An upload's parts no workflow names after this long were cut off (no upload takes an hour to arrive). */
const UNCLAIMED_UPLOAD_TTL_MS = 60 * 60 * 1000;

export interface Service {
  url: string;
  engine: WorkflowEngine;
  stop(): Promise<void>;
}

/** The composition root: config, database, steps, engine, HTTP app. */
export async function startService(config: Config, logger: Logger = createLogger({ level: config.logLevel, pretty: config.logPretty })): Promise<Service> {
  let lock: DataDirLock | null = null;
  if ('dataDir' in config.database) {
    mkdirSync(config.database.dataDir, { recursive: true });
    lock = lockDataDir(config.database.dataDir);
  }
  // Listen first: until the database is open every request gets 503 with Retry-After, never a refused connection.
  let ready: ((request: Request) => Response | Promise<Response>) | null = null;
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: (request) => (ready ? ready(request) : startingResponse(request)), port: config.port, hostname: config.host }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
  logger.info({ url, auth: config.apiKeys.length > 0 ? 'api keys' : 'anonymous' }, 'discovery flow listening');
  if ('url' in config.database) {
    await waitForDatabase(config.database.url, {
      timeoutMs: config.databaseWaitMs,
      connectTimeoutMs: config.databaseTimeouts.connectMs,
      onRetry: ({ target, attempt, reason, retryInMs }) =>
        logger.warn({ database: target, attempt, reason, retryInMs }, `PostgreSQL at ${target} not reachable (${reason}); trying again in ${(retryInMs / 1000).toFixed(1)} s`),
    });
  }
  const handle = await openDatabase(config.database, {
    timeouts: config.databaseTimeouts,
    onConnectionLost: (error) => logger.warn({ err: error }, 'database connection lost; the pool opens a new one'),
    // Nothing can be served without it; a restart reopens it and resumes every unfinished workflow.
    onEmbeddedExit: (error) => {
      logger.error({ err: error }, 'the embedded database stopped; exiting so a restart resumes the unfinished workflows');
      process.exit(1);
    },
  });
  const store = createStore(handle.db);
  const bus = await handle.listen((error) => logger.warn({ err: error }, 'listening connection lost; opening it again'));
  const inspector = config.inspect.enabled ? await startInspector({ port: config.inspect.port, logger }) : null;
  const telemetry = config.tracing ? startTelemetry(config.tracing) : null;
  if (config.tracing) logger.info({ traces: config.tracing.tracesUrl, service: config.tracing.serviceName }, 'exporting traces over OTLP/HTTP');
  const { engine, app } = wireService({
    store,
    healthStore: createStore(handle.healthDb),
    logger,
    maxUploadBytes: config.maxUploadBytes,
    apiKeys: config.apiKeys,
    corsOrigins: config.corsOrigins,
    instanceId: config.instanceId,
    leaseMs: config.leaseMs,
    heartbeatMs: config.heartbeatMs,
    deadAfterMs: config.deadAfterMs,
    concurrency: config.concurrency,
    maxInterruptions: config.maxInterruptions,
    stepWorkers: config.stepWorkers,
    stepWorkerMaxMb: config.stepWorkerMaxMb,
    instanceUrl: url,
    bus,
    idempotencyClaimMs: config.idempotencyClaimMs,
    inspect: inspector?.inspect,
    onActorAttached: inspector?.announce,
    steps: (hooks) => createStepActors({ store, logger, faults: config.faults, review: config.review, ...hooks }),
    ...(telemetry ? { tracer: telemetry.tracer } : {}),
  });
  ready = app.fetch;
  // Restored in the background: reads work meanwhile, events to a workflow not yet restored get 503.
  const restoring = engine.restoreOnStart().then(
    ({ restored }) => logger.info({ database: handle.kind, restored, ...(inspector ? { inspector: inspector.url } : {}) }, 'discovery flow ready'),
    (error: unknown) => logger.error({ err: error }, 'restore failed; unfinished workflows are adopted on the next lease beat'),
  );
  // Hourly: idempotency keys past their day, and the parts of uploads cut off before their workflow was created.
  const sweep = () =>
    Promise.all([
      store.expireIdempotencyKeys(IDEMPOTENCY_TTL_MS).catch((error: unknown) => logger.warn({ err: error }, 'idempotency keys not expired')),
      store.expireUploads(UNCLAIMED_UPLOAD_TTL_MS).catch((error: unknown) => logger.warn({ err: error }, 'unclaimed uploads not deleted')),
    ]);
  void restoring.then(sweep);
  const sweeper = setInterval(() => void sweep(), 60 * 60 * 1000);
  sweeper.unref();
  return {
    url,
    engine,
    async stop() {
      clearInterval(sweeper);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await restoring;
      await engine.stop();
      await bus.close();
      await inspector?.stop();
      await telemetry?.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'traces not flushed'));
      await handle.close();
      lock?.release();
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  for (const notice of config.notices) logger.warn({}, notice);
  const service = await startService(config, logger);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: unfinished workflows resume on the next start');
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main().catch((error: unknown) => {
    // A start-up failure an operator can fix is one line; anything else is a bug and keeps its stack.
    console.error(error instanceof DatabaseUnreachableError || error instanceof DataDirLockedError ? error.message : error);
    process.exit(1);
  });
}
