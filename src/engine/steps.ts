import { SpanStatusCode, type Context, type Tracer } from '@opentelemetry/api';
import { fromPromise } from 'xstate';
import type { NewStepRun } from '../db/history.ts';
import type { StepRunRow } from '../db/schema.ts';
import type { WorkflowStore } from '../db/store.ts';
import type { UpsertCounts } from '../db/inventory.ts';
import { isAppError } from '../errors.ts';
import { StepTimeoutError, TransientError, describeError, toErrorRecord } from '../machine/errors.ts';
import type { JsonObject, StepInput, StepLogic, StepOutput } from '../machine/machine.ts';
import type { Phase } from '../machine/table.ts';
import { ARTIFACT, ArtifactCache, type ArtifactName, type Artifacts, type ListedFile } from './artifacts.ts';
import { ArtifactMissingError, isDatabaseUnavailable } from './errors.ts';
import type { Logger } from './logger.ts';
import { COMPUTE_STEPS, collectStaged, legacyInventory, uploadKey, type ComputePhase, type FileSummary, type ReviewThresholds, type StepDefinition, type StepIo, type StepRequest } from './step-logic.ts';
import type { StepPool } from './step-pool.ts';
import type { StepTask } from './step-worker.ts';
import { defaultTracer } from './tracing.ts';
import { readFiles } from './uploads.ts';

export type { ReviewThresholds } from './step-logic.ts';

/** How one step attempt ended, as its step-run record keeps it. */
export type StepOutcome = StepRunRow['outcome'];

export interface FaultConfig {
  /** Share of attempts that throw a transient error. */
  transient: number;
  /** Share of attempts that hang past their timeout. */
  timeout: number;
  /** Share of attempts that run slowly (slowMs extra). */
  slow: number;
  slowMs: number;
}

export interface StepDeps {
  store: WorkflowStore;
  logger: Logger;
  faults?: FaultConfig;
  random?: () => number;
  onAttempt?: (phase: Phase, outcome: StepOutcome, seconds: number) => void;
  /** Where step-run records go; the engine batches them into its group commit. Default: one insert each. */
  recordStepRun?: (run: NewStepRun) => void;
  /** The artefact cache shared with the engine, which fills it with the tables parsed at upload. */
  artifacts?: ArtifactCache;
  /** When the mapping review asks a person (defaults: confidence 0.7, quarantined share 0.5). */
  review?: ReviewThresholds;
  /** One span per attempt (default: the global provider's tracer, a no-op unless one is registered). */
  tracer?: Tracer;
  /** The parent of a workflow's step spans: its root span (the engine knows it). */
  traceContext?: (workflowId: string) => Context | undefined;
  /** Worker threads for the computing steps; none (or null): they run on this thread. */
  pool?: StepPool | null;
  /** Asked before a body runs: an error that ends the attempt at once (a step that keeps killing the process). */
  crashGuard?: (workflowId: string, phase: Phase) => Error | null;
  /** Uploads up to this size run their steps on this thread even with a pool (default INLINE_MAX_UPLOAD_BYTES). */
  inlineMaxUploadBytes?: number;
}

/** What the engine's wiring hands to the step actors. */
export type StepHooks = Required<Pick<StepDeps, 'onAttempt' | 'recordStepRun' | 'artifacts' | 'tracer' | 'traceContext' | 'pool' | 'crashGuard' | 'inlineMaxUploadBytes'>>;

export type StepBody = (input: StepInput, signal: AbortSignal) => Promise<StepOutput>;

/** Uploads up to this size have their steps run on the main thread even with a pool (a few ms each). */
export const INLINE_MAX_UPLOAD_BYTES = 256 * 1024;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The six steps: each loads its inputs, runs its pure handler, stores the result and summarises it
 * for the snapshot. With a pool the five computing steps run in its worker threads, handed the
 * upload and artefacts as bytes; without one (STEP_WORKERS=0) the same bodies run here.
 */
export function createStepBodies(deps: StepDeps): Record<Phase, StepBody> {
  const { store, pool } = deps;
  const cache = deps.artifacts ?? new ArtifactCache(store);
  // The machine keeps overrides as strings; the API checked each is a mapping target when the reviewer sent them.
  const request = ({ workflowId, overrides, reviewMappings }: StepInput): StepRequest => ({ workflowId, overrides: overrides as StepRequest['overrides'], reviewMappings, review: deps.review });

  async function artifact<K extends ArtifactName>(workflowId: string, name: K): Promise<Artifacts[K]> {
    const value = await cache.get<Artifacts[K]>(workflowId, ARTIFACT[name]);
    if (value === null) throw new ArtifactMissingError(workflowId, ARTIFACT[name]);
    return value;
  }

  async function artifactBytes(workflowId: string, name: ArtifactName): Promise<Uint8Array> {
    const bytes = await cache.getBytes(workflowId, ARTIFACT[name]);
    if (bytes === null) throw new ArtifactMissingError(workflowId, ARTIFACT[name]);
    return bytes;
  }

  /** The workflow's files without their content: listed once, then from the cache. */
  const listed = (workflowId: string) =>
    cache.files(workflowId, async () =>
      (await store.listFiles(workflowId)).map((f) => ({ name: f.name, format: f.format, bytes: f.sizeBytes, ...(f.uploadId ? { uploadId: f.uploadId } : {}) })),
    );
  const summaries = (files: ListedFile[]): FileSummary[] => files.map(({ name, format, bytes }) => ({ name, format, bytes }));
  const filesOf = async (workflowId: string) => summaries(await listed(workflowId));

  /** Inputs from the cache, parsed here; outputs stored through it. */
  const mainThreadIo = (workflowId: string): StepIo => ({
    load: async (name) => {
      // Parsed records are never stored: parsing the uploaded files again is cheaper than reading
      // them back from the database, and the files never change.
      if (name === 'tables') return cache.tables(workflowId, async () => readFiles(await store.loadFiles(workflowId))) as never;
      if (name === 'graphAssets') return collectStaged(store.readStaged(workflowId, 'assets', 'links')) as never;
      return artifact(workflowId, name as ArtifactName) as never;
    },
    files: () => filesOf(workflowId),
    save: (key, value) => cache.put(workflowId, key, value),
    stage: (encoded) => store.stageInventory(workflowId, encoded),
  });

  const onMainThread =
    (step: StepDefinition): StepBody =>
    (input) =>
      step.run(request(input), mainThreadIo(input.workflowId));

  const inWorker =
    (phase: ComputePhase, step: StepDefinition, workers: StepPool): StepBody =>
    async (input, signal) => {
      const { workflowId } = input;
      const artifacts: StepTask['artifacts'] = {};
      for (const name of step.needs) if (name !== 'tables' && name !== 'graphAssets') artifacts[name] = await artifactBytes(workflowId, name);
      const files = await listed(workflowId);
      const task = { phase, request: request(input), files: summaries(files), upload: uploadKey(files), artifacts };
      const { summary, saves } = await workers.run(task, signal, {
        // Read from the database each time: the main thread keeps no copy of a big upload.
        files: () => store.loadFiles(workflowId),
        stage: (kind, parts) => store.stageInventory(workflowId, { kind, chunks: parts }),
        readStaged: (kind, column) => store.readStaged(workflowId, kind, column),
      });
      for (const save of saves) await cache.putBytes(workflowId, save.key, save.bytes);
      return summary;
    };

  /**
   * A small upload's steps take milliseconds: they run here rather than queue in the pool behind a
   * big export's (with one step thread, a 100-row workflow waited 34 s behind a 100k-row one).
   */
  const runsHere = async (workflowId: string) =>
    (await filesOf(workflowId)).reduce((n, f) => n + f.bytes, 0) <= (deps.inlineMaxUploadBytes ?? INLINE_MAX_UPLOAD_BYTES);

  const compute = Object.fromEntries(
    (Object.entries(COMPUTE_STEPS) as [ComputePhase, StepDefinition][]).map(([phase, step]) => {
      if (!pool) return [phase, onMainThread(step)];
      const here = onMainThread(step);
      const there = inWorker(phase, step, pool);
      const body: StepBody = async (input, signal) => ((await runsHere(input.workflowId)) ? here(input, signal) : there(input, signal));
      return [phase, body];
    }),
  ) as Record<ComputePhase, StepBody>;

  return {
    ...compute,
    // Promotes the staged rows into the inventory, all in the database: nothing of them passes through here.
    database_integration: async (input) => {
      const { workflowId } = input;
      const assets = await artifact(workflowId, 'assets');
      const dependencies = await artifact(workflowId, 'dependencies');
      for (const encoded of legacyInventory(workflowId, assets, dependencies)) await store.stageInventory(workflowId, encoded);
      const counts: Record<string, UpsertCounts> = {
        assets: await store.promoteInventory(workflowId, 'assets', assets.count ?? assets.assets?.length ?? 0),
        dependencies: await store.promoteInventory(workflowId, 'dependencies', dependencies.count ?? dependencies.edges?.length ?? 0),
      };
      await store.dropStaged(workflowId);
      return { outputs: { database_operations: json(counts) } };
    },
  };
}

function json<T>(value: T): JsonObject {
  return value as unknown as JsonObject;
}

/**
 * Wraps each step body as a promise actor: per-attempt timeout through an AbortSignal, optional
 * fault injection, one step-run record per attempt, one log line per start and finish.
 */
export function createStepActors(deps: StepDeps, bodies: Record<Phase, StepBody> = createStepBodies(deps)): Record<Phase, StepLogic> {
  const random = deps.random ?? Math.random;
  const tracer = deps.tracer ?? defaultTracer();
  const entries = (Object.keys(bodies) as Phase[]).map((phase) => {
    const logic = fromPromise<StepOutput, StepInput>(async ({ input, signal }) => {
      const startedAt = new Date();
      const span = tracer.startSpan(
        `step ${phase}`,
        { startTime: startedAt, attributes: { 'workflow.id': input.workflowId, 'step.phase': phase, 'step.attempt': input.attempt } },
        deps.traceContext?.(input.workflowId),
      );
      const traceId = span.isRecording() ? span.spanContext().traceId : undefined;
      const log = deps.logger.child({ workflowId: input.workflowId, phase, attempt: input.attempt, ...(traceId ? { traceId } : {}) });
      const controller = new AbortController();
      const onAbort = () => controller.abort(signal.reason);
      signal.addEventListener('abort', onAbort);
      const timer = setTimeout(() => controller.abort(new StepTimeoutError(phase, input.timeoutMs)), input.timeoutMs);
      // Settles the attempt as soon as it is cancelled or timed out, even if the body ignores its signal.
      const aborted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason as unknown));
      });
      aborted.catch(() => {});
      log.debug({}, 'step started');
      let outcome: StepOutcome = 'succeeded';
      let error: unknown = null;
      try {
        const run = async () => {
          const crashed = deps.crashGuard?.(input.workflowId, phase);
          if (crashed) throw crashed;
          await injectFault(deps.faults, random, controller.signal);
          return bodies[phase](input, controller.signal);
        };
        return await Promise.race([run(), aborted]);
      } catch (caught) {
        outcome = signal.aborted ? 'cancelled' : caught instanceof StepTimeoutError ? 'timed_out' : 'failed';
        // The database being away is a known, passing condition: say so, not what the driver said.
        error =
          !isAppError(caught) && isDatabaseUnavailable(caught)
            ? new TransientError(`Step ${phase} could not reach the database: ${describeError(caught)}.`, {
                code: 'DATABASE_UNAVAILABLE',
                hint: 'It is retried automatically once the database answers again.',
                cause: caught,
              })
            : caught;
        throw error;
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const endedAt = new Date();
        const seconds = (endedAt.getTime() - startedAt.getTime()) / 1000;
        deps.onAttempt?.(phase, outcome, seconds);
        const record = error === null ? null : toErrorRecord(error, phase, input.attempt, endedAt);
        const fields = { durationMs: Math.round(seconds * 1000), outcome, ...(record ? { code: record.code, error: record.message } : {}) };
        if (outcome === 'succeeded') log.info(fields, 'step finished');
        else if (outcome === 'cancelled') log.info(fields, 'step cancelled');
        else log.warn({ ...fields, retryable: isAppError(error) ? error.retryable : true }, 'step attempt failed');
        span.setAttribute('step.outcome', outcome);
        if (record) {
          span.setAttribute('error.code', record.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: record.message });
        }
        span.end(endedAt);
        const run: NewStepRun = { workflowId: input.workflowId, phase, attempt: input.attempt, startedAt, endedAt, outcome, error: record };
        if (deps.recordStepRun) deps.recordStepRun(run);
        else {
          // Best effort: the attempt's record must never turn a success into a failure.
          await deps.store.recordStepRuns([run]).catch((e: unknown) => log.warn({ err: e }, 'step run not recorded'));
        }
      }
    });
    return [phase, logic] as const;
  });
  return Object.fromEntries(entries) as Record<Phase, StepLogic>;
}

async function injectFault(faults: FaultConfig | undefined, random: () => number, signal: AbortSignal): Promise<void> {
  if (!faults) return;
  const roll = random();
  if (roll < faults.transient) throw new TransientError('Injected transient fault (FAULT_INJECTION).', { code: 'INJECTED_FAULT' });
  if (roll < faults.transient + faults.timeout) {
    // Hang until the step's timeout aborts us.
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    throw signal.reason;
  }
  if (roll < faults.transient + faults.timeout + faults.slow) await sleep(faults.slowMs, signal);
}
