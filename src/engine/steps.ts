import { SpanStatusCode, type Context, type Tracer } from '@opentelemetry/api';
import { fromPromise } from 'xstate';
import type { NewStepRun } from '../db/history.ts';
import type { StepRunRow } from '../db/schema.ts';
import type { WorkflowStore } from '../db/store.ts';
import { analyseDependencies, analyseSource, classifyAssets, mapFields, validateRecords } from '../handlers/index.ts';
import { assessMapping } from '../handlers/outcome.ts';
import type { Asset, DependencyEdge, MappingOverrides, Table, ValidationOutput } from '../handlers/types.ts';
import { isAppError } from '../errors.ts';
import { StepTimeoutError, TransientError, describeError, toErrorRecord } from '../machine/errors.ts';
import type { JsonObject, StepInput, StepLogic, StepOutput } from '../machine/machine.ts';
import type { Phase } from '../machine/table.ts';
import { ARTIFACT, ArtifactCache, type ArtifactName, type Artifacts } from './artifacts.ts';
import { ArtifactMissingError, isDatabaseUnavailable } from './errors.ts';
import type { Logger } from './logger.ts';
import { defaultTracer } from './tracing.ts';
import { readFiles } from './uploads.ts';

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
  /** Asked before a body runs: an error that ends the attempt at once (a step that keeps killing the process). */
  crashGuard?: (workflowId: string, phase: Phase) => Error | null;
}

export interface ReviewThresholds {
  /** Identity, endpoint and type mappings below this confidence stop at the review. */
  confidence: number;
  /** More than this share of a table's records quarantined stops at the review. */
  quarantineShare: number;
}

/** What the engine's wiring hands to the step actors. */
export type StepHooks = Required<Pick<StepDeps, 'onAttempt' | 'recordStepRun' | 'artifacts' | 'tracer' | 'traceContext' | 'crashGuard'>>;

export type StepBody = (input: StepInput, signal: AbortSignal) => Promise<StepOutput>;

/** What a step may load before its handler runs: the parsed upload, or an earlier step's stored output. */
type Inputs = Artifacts & { tables: Table[] };
type Loaded<K extends keyof Inputs> = Pick<Inputs, K> & { workflowId: string; overrides: MappingOverrides | undefined; reviewMappings: boolean | undefined };

interface StepSpec<K extends keyof Inputs, R> {
  needs: readonly K[];
  run: (inputs: Loaded<K>) => R | Promise<R>;
  /** Where the handler's result is stored for later steps... */
  saveAs?: ArtifactName;
  /** ...and which part of it, when not all of it. */
  save?: (result: R) => unknown;
  summarise: (result: R, inputs: Loaded<K>) => StepOutput | Promise<StepOutput>;
}

const MAX_SUMMARY_ITEMS = 10;

function json<T>(value: T): JsonObject {
  return value as unknown as JsonObject;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The six steps: each loads its inputs, runs its pure handler, stores the result and summarises it for the snapshot. */
export function createStepBodies(deps: StepDeps): Record<Phase, StepBody> {
  const { store } = deps;
  const cache = deps.artifacts ?? new ArtifactCache(store);

  async function load(workflowId: string, name: keyof Inputs): Promise<unknown> {
    // Parsed records are never stored: parsing the uploaded files again is cheaper than reading
    // them back from the database, and the files never change.
    if (name === 'tables') return cache.tables(workflowId, async () => readFiles(await store.loadFiles(workflowId)));
    const value = await cache.get(workflowId, ARTIFACT[name]);
    if (value === null) throw new ArtifactMissingError(workflowId, ARTIFACT[name]);
    return value;
  }

  /** One step: load inputs -> run the handler -> store its result -> summarise. */
  function step<K extends keyof Inputs, R>(spec: StepSpec<K, R>): StepBody {
    return async ({ workflowId, overrides, reviewMappings }) => {
      const inputs = { workflowId, overrides, reviewMappings } as Loaded<K>;
      for (const name of spec.needs) (inputs as Record<string, unknown>)[name] = await load(workflowId, name);
      const result = await spec.run(inputs);
      if (spec.saveAs) await cache.put(workflowId, ARTIFACT[spec.saveAs], spec.save ? spec.save(result) : result);
      return spec.summarise(result, inputs);
    };
  }

  return {
    data_source_analysis: step({
      needs: ['tables'],
      run: ({ tables }) => analyseSource(tables),
      saveAs: 'analysis',
      summarise: async (analysis, { workflowId, tables }) => {
        const files = await store.listFiles(workflowId);
        return {
          outputs: {
            cmdb_data: json({
              files: files.map((f) => ({ name: f.name, format: f.format, bytes: f.sizeBytes })),
              tables: tables.map((t) => ({ id: t.id, format: t.format, encoding: t.encoding, rows: t.rows.length, columns: t.columns.length })),
              records: tables.reduce((n, t) => n + t.rows.length, 0),
            }),
            source_analysis: json({
              system: analysis.source.system,
              confidence: analysis.source.confidence,
              tables: analysis.tables.map((t) => ({
                table: t.table,
                role: t.role,
                system: t.source.system,
                confidence: t.source.confidence,
                rows: t.rows,
                columns: t.columns,
              })),
            }),
          },
        };
      },
    }),

    data_validation: step({
      needs: ['tables', 'analysis'],
      run: ({ tables, analysis }) => validateRecords(tables, analysis),
      saveAs: 'validation',
      summarise: (result) => ({ outputs: { validation_results: validationSummary(result) } }),
    }),

    field_mapping: step({
      needs: ['tables', 'analysis', 'validation'],
      run: async ({ workflowId, tables, analysis, validation, overrides, reviewMappings }) => {
        const result = mapFields(tables, analysis, overrides, { reviewConfidence: deps.review?.confidence });
        // Reviewed mappings read the records differently: validate again with them, so the quarantine
        // the classification skips (and GET /quarantine shows) is the one these mappings make; and
        // again without them when a restart dropped the review that made the stored one.
        const reviewed = overrides !== undefined && Object.keys(overrides).length > 0;
        const revalidated = reviewed ? { ...validateRecords(tables, analysis, result.mappings), reviewed: true } : validation.reviewed ? validateRecords(tables, analysis) : null;
        if (revalidated) await cache.put(workflowId, ARTIFACT.validation, revalidated);
        const { review } = assessMapping(result, revalidated ?? validation, {
          approved: overrides !== undefined,
          ...(reviewMappings === undefined ? {} : { reviewMappings }),
          ...(deps.review ? { maxQuarantineShare: deps.review.quarantineShare } : {}),
        });
        return { result, review, revalidated };
      },
      saveAs: 'mappings',
      save: ({ result }) => result,
      summarise: ({ result, review, revalidated }) => {
        const mapped = result.mappings.filter((m) => m.target !== 'attributes');
        return {
          outputs: {
            field_mappings: json({
              columns: result.mappings.length,
              mapped: mapped.length,
              unmapped: result.mappings.length - mapped.length,
              overridden: result.mappings.filter((m) => m.reason === 'override').length,
              lowConfidence: result.lowConfidence,
              averageConfidence: mapped.length ? round(mapped.reduce((n, m) => n + m.confidence, 0) / mapped.length) : 0,
              reviewReasons: review.reasons.slice(0, MAX_SUMMARY_ITEMS),
            }),
            ...(revalidated ? { validation_results: validationSummary(revalidated) } : {}),
          },
          review: { required: review.required, reasons: review.reasons.slice(0, MAX_SUMMARY_ITEMS) },
        };
      },
    }),

    asset_classification: step({
      needs: ['tables', 'analysis', 'validation', 'mappings'],
      run: ({ tables, analysis, validation, mappings }) => classifyAssets(tables, analysis, mappings.mappings, validation.quarantine),
      saveAs: 'assets',
      summarise: (result) => ({ outputs: { asset_classes: json(result.summary) } }),
    }),

    dependency_analysis: step({
      needs: ['tables', 'analysis', 'mappings', 'assets'],
      run: ({ tables, analysis, mappings, assets }) => analyseDependencies(tables, analysis, mappings.mappings, assets.assets),
      saveAs: 'dependencies',
      summarise: (result) => {
        const { applicationGroups, ...summary } = result.summary;
        return {
          outputs: {
            dependencies: json({
              ...summary,
              applicationGroups: applicationGroups.length,
              largestGroups: applicationGroups.slice(0, 5).map((g) => ({ id: g.id, size: g.size, members: g.members.slice(0, 5) })),
            }),
          },
        };
      },
    }),

    database_integration: step({
      needs: ['assets', 'dependencies'],
      run: async ({ workflowId, assets, dependencies }) => ({
        assets: await store.replaceAssets(workflowId, assets.assets.map(assetRow)),
        dependencies: await store.replaceDependencies(workflowId, dependencies.edges.map(edgeRow)),
      }),
      summarise: (counts) => ({ outputs: { database_operations: json(counts) } }),
    }),
  };
}

function assetRow(asset: Asset) {
  return {
    assetKey: asset.asset_key,
    name: asset.name,
    assetType: asset.asset_type,
    assetSubtype: asset.asset_subtype,
    environment: asset.environment,
    osFamily: asset.os_family,
    application: asset.application,
    data: asset,
  };
}

function edgeRow(edge: DependencyEdge) {
  return {
    edgeKey: edge.edge_key,
    sourceKey: edge.source_key,
    targetKey: edge.target_key,
    type: edge.type,
    origin: edge.origin,
    port: edge.port,
    count: edge.count,
    data: edge,
  };
}

function validationSummary(result: ValidationOutput): JsonObject {
  const totals = result.tables.reduce(
    (acc, t) => ({
      records: acc.records + t.records,
      valid: acc.valid + t.valid,
      errors: acc.errors + t.errors,
      warnings: acc.warnings + t.warnings,
      quarantined: acc.quarantined + t.quarantined,
    }),
    { records: 0, valid: 0, errors: 0, warnings: 0, quarantined: 0 },
  );
  const byCode: Record<string, number> = {};
  for (const f of result.findings) byCode[f.code] = (byCode[f.code] ?? 0) + 1;
  return json({ ...totals, findingsByCode: byCode, tables: result.tables });
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
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
