import { fromPromise } from 'xstate';
import type { NewStepRun, WorkflowStore } from '../db/store.ts';
import {
  analyseDependencies,
  analyseSource,
  classifyAssets,
  mapFields,
  parseInputs,
  validateRecords,
} from '../handlers/index.ts';
import type {
  Asset,
  ClassificationOutput,
  DependencyOutput,
  FileFormat,
  MappingOutput,
  MappingOverrides,
  SourceAnalysis,
  Table,
  ValidationOutput,
} from '../handlers/types.ts';
import { StepTimeoutError, TransientError, isDiscoveryError, toErrorRecord } from '../machine/errors.ts';
import type { JsonObject, StepInput, StepLogic, StepOutput } from '../machine/machine.ts';
import type { Phase } from '../machine/table.ts';
import { ArtifactCache } from './artifacts.ts';
import type { Logger } from './logger.ts';

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
  maxUploadBytes: number;
  faults?: FaultConfig;
  random?: () => number;
  onAttempt?: (phase: Phase, outcome: StepOutcome, seconds: number) => void;
  /** Where step-run records go; the engine batches them into its group commit. Default: one insert each. */
  recordStepRun?: (run: NewStepRun) => void;
}

/** What the engine's wiring hands to the step actors. */
export type StepHooks = Required<Pick<StepDeps, 'onAttempt' | 'recordStepRun'>>;

export type StepOutcome = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

type StepBody = (input: StepInput, signal: AbortSignal) => Promise<StepOutput>;

/** Artefact keys: one per phase output, overwritten when a step re-runs. */
const ARTIFACT = {
  analysis: 'source_analysis',
  validation: 'validation',
  mappings: 'field_mappings',
  assets: 'asset_classes',
  dependencies: 'dependencies',
} as const;

const MAX_SUMMARY_ITEMS = 10;

async function need<T>(cache: ArtifactCache, workflowId: string, key: string): Promise<T> {
  const value = await cache.get<T>(workflowId, key);
  if (value === null) {
    // An earlier phase's output is gone (deleted by hand?): retrying cannot bring it back.
    throw new TransientError(`The stored output "${key}" of an earlier phase is missing for workflow ${workflowId}.`, {
      code: 'ARTIFACT_MISSING',
      hint: 'Send RETRY with fromPhase data_source_analysis to rebuild every output.',
    });
  }
  return value;
}

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

/** The six steps: each loads its inputs from the store, runs the pure handler and stores its output. */
export function createStepBodies(deps: StepDeps): Record<Phase, StepBody> {
  const { store } = deps;
  const cache = new ArtifactCache(store);
  // Parsed records are never stored: parsing the uploaded files again is cheaper than reading
  // them back from the database, and the files never change.
  const tablesOf = (workflowId: string) =>
    cache.tables(workflowId, async () => {
      const files = await store.loadFiles(workflowId);
      return parseInputs(
        files.map((f) => ({ name: f.name, content: f.content, ...(f.format ? { format: f.format as FileFormat } : {}) })),
        { maxBytes: deps.maxUploadBytes },
      );
    });
  return {
    async data_source_analysis({ workflowId }) {
      const files = await store.listFiles(workflowId);
      const tables = await tablesOf(workflowId);
      const analysis = analyseSource(tables);
      await cache.put(workflowId, ARTIFACT.analysis, analysis);
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

    async data_validation({ workflowId }) {
      const tables = await tablesOf(workflowId);
      const analysis = await need<SourceAnalysis>(cache, workflowId, ARTIFACT.analysis);
      const result = validateRecords(tables, analysis);
      await cache.put(workflowId, ARTIFACT.validation, result);
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
      return { outputs: { validation_results: json({ ...totals, findingsByCode: byCode, tables: result.tables }) } };
    },

    async field_mapping({ workflowId, overrides }) {
      const tables = await tablesOf(workflowId);
      const analysis = await need<SourceAnalysis>(cache, workflowId, ARTIFACT.analysis);
      const result = mapFields(tables, analysis, overrides as MappingOverrides | undefined);
      await cache.put(workflowId, ARTIFACT.mappings, result);
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
            reviewReasons: result.reviewReasons.slice(0, MAX_SUMMARY_ITEMS),
          }),
        },
        review: { required: result.lowConfidence, reasons: result.reviewReasons.slice(0, MAX_SUMMARY_ITEMS) },
      };
    },

    async asset_classification({ workflowId }) {
      const tables = await tablesOf(workflowId);
      const analysis = await need<SourceAnalysis>(cache, workflowId, ARTIFACT.analysis);
      const validation = await need<ValidationOutput>(cache, workflowId, ARTIFACT.validation);
      const mapping = await need<MappingOutput>(cache, workflowId, ARTIFACT.mappings);
      const result = classifyAssets(tables, analysis, mapping.mappings, validation.quarantine);
      await cache.put(workflowId, ARTIFACT.assets, result);
      return { outputs: { asset_classes: json(result.summary) } };
    },

    async dependency_analysis({ workflowId }) {
      const tables = await tablesOf(workflowId);
      const analysis = await need<SourceAnalysis>(cache, workflowId, ARTIFACT.analysis);
      const mapping = await need<MappingOutput>(cache, workflowId, ARTIFACT.mappings);
      const classified = await need<ClassificationOutput>(cache, workflowId, ARTIFACT.assets);
      const result = analyseDependencies(tables, analysis, mapping.mappings, classified.assets);
      await cache.put(workflowId, ARTIFACT.dependencies, result);
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

    async database_integration({ workflowId }) {
      const classified = await need<ClassificationOutput>(cache, workflowId, ARTIFACT.assets);
      const deps = await need<DependencyOutput>(cache, workflowId, ARTIFACT.dependencies);
      const assetCounts = await store.replaceAssets(workflowId, classified.assets.map(assetRow));
      const edgeCounts = await store.replaceDependencies(
        workflowId,
        deps.edges.map((e) => ({
          edgeKey: e.edge_key,
          sourceKey: e.source_key,
          targetKey: e.target_key,
          type: e.type,
          origin: e.origin,
          port: e.port,
          count: e.count,
          data: e,
        })),
      );
      return { outputs: { database_operations: json({ assets: assetCounts, dependencies: edgeCounts }) } };
    },
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

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Wraps each step body as a promise actor: per-attempt timeout through an AbortSignal, optional
 * fault injection, one step-run record per attempt, one log line per start and finish.
 */
export function createStepActors(deps: StepDeps, bodies: Record<Phase, StepBody> = createStepBodies(deps)): Record<Phase, StepLogic> {
  const random = deps.random ?? Math.random;
  const entries = (Object.keys(bodies) as Phase[]).map((phase) => {
    const logic = fromPromise<StepOutput, StepInput>(async ({ input, signal }) => {
      const log = deps.logger.child({ workflowId: input.workflowId, phase, attempt: input.attempt });
      const startedAt = new Date();
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
          await injectFault(deps.faults, random, controller.signal);
          return bodies[phase](input, controller.signal);
        };
        return await Promise.race([run(), aborted]);
      } catch (caught) {
        outcome = signal.aborted ? 'cancelled' : caught instanceof StepTimeoutError ? 'timed_out' : 'failed';
        error = caught;
        throw caught;
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
        else log.warn({ ...fields, retryable: isDiscoveryError(error) ? error.retryable : true }, 'step attempt failed');
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
