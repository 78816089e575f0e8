import type { Context, Tracer } from '@opentelemetry/api';
import type { z } from 'zod';
import type { LiveInstance } from '../db/cluster.ts';
import type { WorkflowEngine } from '../engine/engine.ts';
import type { Logger } from '../engine/logger.ts';
import type { WorkflowQueries } from '../engine/queries.ts';
import type { ApiKey } from './config.ts';
import { invalidRequest } from './errors.ts';
import type { IdempotencyKeys } from './idempotency.ts';
import type { ServiceMetrics } from './metrics.ts';
import type { TransitionFeed } from './feed.ts';
import type { StreamOptions } from './stream.ts';

/** What the HTTP app and its routes are built from. */
export interface AppDeps {
  /** The write side: creates workflows and sends them events. */
  engine: WorkflowEngine;
  /** The read side: views, history, inventory, upload checks. */
  queries: WorkflowQueries;
  idempotency: IdempotencyKeys;
  logger: Logger;
  maxUploadBytes: number;
  /** Committed changes, for the SSE streams. */
  feed: TransitionFeed;
  sse: StreamOptions;
  metrics: ServiceMetrics;
  apiKeys: ApiKey[];
  corsOrigins: string[];
  /** HTTP server spans (and the context a create hands the engine). */
  tracer: Tracer;
  /** What /healthz asks the database: workflows left for another machine version, and the live instances. */
  health: () => Promise<[number, LiveInstance[]]>;
}

/** `principal` is the API key's name, or null when auth is off. */
/** `traceContext` is the request's server span in its context: the parent of the workflow a create makes. */
export type AppEnv = { Variables: { correlationId: string; principal: string | null; traceContext: Context } };

/** Parses `input` with `schema` or throws a 400 naming the field and the problem. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw invalidRequest(result.error, where);
  return result.data;
}
