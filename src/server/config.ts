import { hostname } from 'node:os';
import { z } from 'zod';
import { defaultStepWorkers } from '../engine/step-pool.ts';
import type { FaultConfig, ReviewThresholds } from '../engine/steps.ts';

const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', ''])
  .default('0')
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const faultSchema = z
  .string()
  .optional()
  .transform((value, ctx): FaultConfig | undefined => {
    if (!value) return undefined;
    const faults: FaultConfig = { transient: 0, timeout: 0, slow: 0, slowMs: 2_000 };
    for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [key, raw] = part.split('=');
      const n = Number(raw);
      if (!key || !(key in faults) || !Number.isFinite(n) || n < 0 || (key !== 'slowMs' && n > 1)) {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not key=share with key transient, timeout or slow (share 0..1), or slowMs=milliseconds` });
        return z.NEVER;
      }
      faults[key as keyof FaultConfig] = n;
    }
    if (faults.transient + faults.timeout + faults.slow > 1) {
      ctx.addIssue({ code: 'custom', message: 'the shares of transient, timeout and slow add up to more than 1' });
      return z.NEVER;
    }
    return faults;
  });

export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKey {
  name: string;
  token: string;
  role: Role;
}

const apiKeysSchema = z
  .string()
  .optional()
  .transform((value, ctx): ApiKey[] => {
    if (!value) return [];
    const keys: ApiKey[] = [];
    for (const entry of value.split(',').map((e) => e.trim()).filter(Boolean)) {
      const [name, token, role, ...rest] = entry.split(':');
      if (!name || !token || !role || rest.length > 0 || !(ROLES as readonly string[]).includes(role)) {
        ctx.addIssue({ code: 'custom', message: `entry "${name ?? ''}:…" must be name:token:role with role read, write or admin` });
        return z.NEVER;
      }
      if (token.length < 16) {
        ctx.addIssue({ code: 'custom', message: `the token of "${name}" is shorter than 16 characters; use a long random token` });
        return z.NEVER;
      }
      const twin = keys.find((k) => k.token === token);
      if (twin) {
        // One token under two names or roles would make the role a request gets depend on list order.
        ctx.addIssue({ code: 'custom', message: `"${twin.name}" (${twin.role}) and "${name}" (${role}) have the same token; give every key its own token` });
        return z.NEVER;
      }
      keys.push({ name, token, role: role as Role });
    }
    return keys;
  });

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v ? v : undefined))
    .refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL'),
  DATA_DIR: z.string().min(1).default('./.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: flag,
  MAX_UPLOAD_MB: z.coerce.number().positive().max(10_000).default(100),
  FAULT_INJECTION: faultSchema,
  API_KEYS: apiKeysSchema,
  ALLOW_ANONYMOUS: flag,
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v ? v.split(',').map((o) => o.trim()).filter(Boolean) : []))
    .refine((origins) => origins.every((o) => o === '*' || /^https?:\/\/[^/]+$/.test(o)), 'must be a comma-separated list of origins like https://cmdb.example.com'),
  INSTANCE_ID: z.string().trim().min(1).max(200).optional(),
  LEASE_SECONDS: z.coerce.number().min(1).max(3600).default(30),
  INSTANCE_HEARTBEAT_SECONDS: z.coerce.number().min(0.1).max(600).default(2),
  INSTANCE_TIMEOUT_SECONDS: z.coerce.number().min(1).max(3600).default(10),
  INSTANCE_CONCURRENCY: z.coerce.number().int().min(1).max(1_000_000).default(256),
  MAX_STEP_INTERRUPTIONS: z.coerce.number().int().min(1).max(1_000).default(2),
  STEP_WORKERS: z.coerce.number().int().min(0).max(256).optional(),
  STEP_WORKER_MAX_MB: z.coerce.number().int().min(16).max(1_048_576).optional(),
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  DB_QUERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  DB_STARTUP_WAIT_SECONDS: z.coerce.number().min(0).max(3600).default(60),
  IDEMPOTENCY_CLAIM_SECONDS: z.coerce.number().min(1).max(86_400).default(60),
  INSPECT: flag,
  INSPECT_PORT: z.coerce.number().int().min(1).max(65_535).default(8080),
  MAPPING_REVIEW_CONFIDENCE: z.coerce.number().min(0).max(1).default(0.7),
  QUARANTINE_REVIEW_SHARE: z.coerce.number().min(0).max(1).default(0.5),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ message: 'must be the base URL of an OTLP/HTTP receiver, e.g. http://localhost:4318' }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ message: 'must be the full URL of an OTLP/HTTP traces receiver, e.g. http://localhost:4318/v1/traces' }).optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).max(200).default('discovery-flow'),
});

export interface Config {
  port: number;
  host: string;
  database: { url: string } | { dataDir: string };
  /** PostgreSQL: opening a connection or waiting for a pooled one, and one statement. */
  databaseTimeouts: { connectMs: number; queryMs: number };
  /** An Idempotency-Key claim in progress longer than this is taken over by a retry. */
  idempotencyClaimMs: number;
  /** How long start-up keeps trying to reach PostgreSQL before it gives up. */
  databaseWaitMs: number;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  logPretty: boolean;
  maxUploadBytes: number;
  faults: FaultConfig | undefined;
  inspect: { enabled: boolean; port: number };
  apiKeys: ApiKey[];
  allowAnonymous: boolean;
  /** Holder name of this instance's workflow leases; the same after a restart, so it takes its own back at once. */
  instanceId: string;
  leaseMs: number;
  /** How often this instance writes its heartbeat, and how long a silent instance keeps its workflows. */
  heartbeatMs: number;
  deadAfterMs: number;
  /** Workflows running steps here at once; more wait in the table for an instance with room. */
  concurrency: number;
  /** Attempts of one step a process death may interrupt before the step fails with STEP_CRASHED. */
  maxInterruptions: number;
  /** Worker threads the computing steps run in, so they never block the API's event loop; 0: on the main thread (debugging). */
  stepWorkers: number;
  /** Each step thread's heap limit; a step that needs more fails with STEP_OUT_OF_MEMORY and the process lives on. */
  stepWorkerMaxMb: number | undefined;
  corsOrigins: string[];
  /** When the mapping review asks a person. */
  review: ReviewThresholds;
  /** OTLP/HTTP trace export, when an endpoint is set; null: no tracer provider, the API's no-op tracer. */
  tracing: TracingConfig | null;
  /** Things start-up should say once, in the log: a setting that did not do what it seems to ask. */
  notices: string[];
}

export interface TracingConfig {
  /** Where spans are POSTed (OTLP/HTTP, JSON). */
  tracesUrl: string;
  serviceName: string;
}

/** The traces URL as the OpenTelemetry spec builds it: the signal's own endpoint as given, else the base one plus /v1/traces. */
function tracingConfig(tracesEndpoint: string | undefined, endpoint: string | undefined, serviceName: string): TracingConfig | null {
  if (tracesEndpoint) return { tracesUrl: tracesEndpoint, serviceName };
  if (endpoint) return { tracesUrl: `${endpoint.replace(/\/+$/, '')}/v1/traces`, serviceName };
  return null;
}

export class ConfigError extends Error {}

/** Parses the environment once; a bad value stops start-up with a message naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  // Without API keys the service is open to whoever reaches it: loopback only, unless told otherwise.
  const loopbackOnly = e.API_KEYS.length === 0 && !e.ALLOW_ANONYMOUS;
  const notices =
    loopbackOnly && e.HOST !== '127.0.0.1' && e.HOST !== 'localhost' && e.HOST !== '::1'
      ? [`HOST=${e.HOST} ignored: binding 127.0.0.1 because no API_KEYS are set and anyone reaching ${e.HOST} could change workflows; set API_KEYS, or ALLOW_ANONYMOUS=1 to bind ${e.HOST} anyway`]
      : [];
  return {
    port: e.PORT,
    host: loopbackOnly ? '127.0.0.1' : e.HOST,
    database: e.DATABASE_URL ? { url: e.DATABASE_URL } : { dataDir: e.DATA_DIR },
    databaseTimeouts: { connectMs: e.DB_CONNECT_TIMEOUT_MS, queryMs: e.DB_QUERY_TIMEOUT_MS },
    databaseWaitMs: Math.round(e.DB_STARTUP_WAIT_SECONDS * 1000),
    idempotencyClaimMs: Math.round(e.IDEMPOTENCY_CLAIM_SECONDS * 1000),
    logLevel: e.LOG_LEVEL,
    // Human-readable in a terminal (npm start by hand), JSON lines otherwise.
    logPretty: env.LOG_PRETTY === undefined ? Boolean(process.stdout.isTTY) : e.LOG_PRETTY,
    maxUploadBytes: Math.round(e.MAX_UPLOAD_MB * 1024 * 1024),
    faults: e.FAULT_INJECTION,
    inspect: { enabled: e.INSPECT, port: e.INSPECT_PORT },
    apiKeys: e.API_KEYS,
    instanceId: e.INSTANCE_ID ?? `${hostname()}:${e.PORT}`,
    leaseMs: Math.round(e.LEASE_SECONDS * 1000),
    heartbeatMs: Math.round(e.INSTANCE_HEARTBEAT_SECONDS * 1000),
    deadAfterMs: Math.round(e.INSTANCE_TIMEOUT_SECONDS * 1000),
    concurrency: e.INSTANCE_CONCURRENCY,
    maxInterruptions: e.MAX_STEP_INTERRUPTIONS,
    stepWorkers: e.STEP_WORKERS ?? defaultStepWorkers(),
    stepWorkerMaxMb: e.STEP_WORKER_MAX_MB,
    allowAnonymous: e.ALLOW_ANONYMOUS,
    corsOrigins: e.CORS_ORIGINS,
    review: { confidence: e.MAPPING_REVIEW_CONFIDENCE, quarantineShare: e.QUARANTINE_REVIEW_SHARE },
    tracing: tracingConfig(e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, e.OTEL_EXPORTER_OTLP_ENDPOINT, e.OTEL_SERVICE_NAME),
    notices,
  };
}
