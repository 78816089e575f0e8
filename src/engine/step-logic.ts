import { analyseDependencies, analyseSource, mapFields, validateRecords } from '../handlers/index.ts';
import { classifyEach, newTally, summariseTally } from '../handlers/classify-assets.ts';
import { graphView, type GraphAsset } from '../handlers/analyse-dependencies.ts';
import { assessMapping } from '../handlers/outcome.ts';
import { encodeInventory, StagingMismatchError, type AssetInput, type DependencyInput, type EncodedInventory } from '../db/inventory.ts';
import type { Asset, DependencyEdge, MappingOverrides, Table, ValidationOutput } from '../handlers/types.ts';
import type { JsonObject, StepOutput } from '../machine/machine.ts';
import type { Phase } from '../machine/table.ts';
import { ARTIFACT, type ArtifactName, type Artifacts, type ClassificationRecord, type DependencyRecord } from './artifacts.ts';

// The CPU-heavy steps as pure functions of what they load. No database here: a worker thread runs
// them on the bytes its task carries, the main thread (STEP_WORKERS=0) on the artefact cache.

export interface ReviewThresholds {
  /** Identity, endpoint and type mappings below this confidence stop at the review. */
  confidence: number;
  /** More than this share of a table's records quarantined stops at the review. */
  quarantineShare: number;
}

/** The steps that only compute; database_integration writes rows and stays on the main thread. */
export type ComputePhase = Exclude<Phase, 'database_integration'>;

/** One uploaded file as the first step's summary lists it. */
export interface FileSummary {
  name: string;
  format: string | null;
  bytes: number;
}

/**
 * Names the files of one create request by the uploads streamed in for it (unique to that request),
 * so a step thread can find the tables it parsed when it checked them; null when none was streamed.
 */
export function uploadKey(files: readonly { uploadId?: string | null }[]): string | null {
  const ids = files.flatMap((f) => (f.uploadId ? [f.uploadId] : []));
  return ids.length > 0 ? `upload:${ids.sort().join(',')}` : null;
}

/** What a step may load before its handler runs: the parsed upload, an earlier step's stored output, or the staged assets. */
type Inputs = Artifacts & { tables: Table[]; graphAssets: GraphAsset[] };

/** Where a step reads its inputs and leaves its outputs. */
export interface StepIo {
  load<K extends keyof Inputs>(name: K): Promise<Inputs[K]>;
  files(): Promise<FileSummary[]>;
  /** Stores a result under its artefact key; saves happen in call order. */
  save(key: string, value: unknown): Promise<void>;
  /** Replaces the workflow's staging rows of one inventory table (before the step's saves). */
  stage(encoded: EncodedInventory & { chunks: Iterable<string> }): Promise<void>;
}

/** The part of a step's input its body reads. */
export interface StepRequest {
  workflowId: string;
  overrides: MappingOverrides | undefined;
  reviewMappings: boolean | undefined;
  review: ReviewThresholds | undefined;
}

type Loaded<K extends keyof Inputs> = Pick<Inputs, K> & StepRequest & { io: StepIo };

interface StepSpec<K extends keyof Inputs, R> {
  needs: readonly K[];
  run: (inputs: Loaded<K>) => R | Promise<R>;
  /** Where the handler's result is stored for later steps... */
  saveAs?: ArtifactName;
  /** ...and which part of it, when not all of it. */
  save?: (result: R) => unknown;
  summarise: (result: R, inputs: Loaded<K>) => StepOutput | Promise<StepOutput>;
}

export type StepLogicBody = (request: StepRequest, io: StepIo) => Promise<StepOutput>;

/** A body with the inputs it loads named, so a worker task can carry exactly those. */
export interface StepDefinition {
  needs: readonly (keyof Inputs)[];
  run: StepLogicBody;
}

const MAX_SUMMARY_ITEMS = 10;

function json<T>(value: T): JsonObject {
  return value as unknown as JsonObject;
}

/** One step: load inputs -> run the handler -> store its result -> summarise. */
export function defineStep<K extends keyof Inputs, R>(spec: StepSpec<K, R>): StepDefinition {
  return {
    needs: spec.needs,
    run: async (request, io) => {
      const inputs = { ...request, io } as Loaded<K>;
      for (const name of spec.needs) (inputs as Record<string, unknown>)[name] = await io.load(name);
      const result = await spec.run(inputs);
      if (spec.saveAs) await io.save(ARTIFACT[spec.saveAs], spec.save ? spec.save(result) : result);
      return spec.summarise(result, inputs);
    },
  };
}

export const COMPUTE_STEPS: Record<ComputePhase, StepDefinition> = {
  data_source_analysis: defineStep({
    needs: ['tables'],
    run: ({ tables }) => analyseSource(tables),
    saveAs: 'analysis',
    summarise: async (analysis, { io, tables }) => {
      const files = await io.files();
      return {
        outputs: {
          cmdb_data: json({
            files,
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

  data_validation: defineStep({
    needs: ['tables', 'analysis'],
    run: ({ tables, analysis }) => validateRecords(tables, analysis),
    saveAs: 'validation',
    summarise: (result) => ({ outputs: { validation_results: validationSummary(result) } }),
  }),

  field_mapping: defineStep({
    needs: ['tables', 'analysis', 'validation'],
    run: async ({ io, tables, analysis, validation, overrides, reviewMappings, review: thresholds }) => {
      const result = mapFields(tables, analysis, overrides, { reviewConfidence: thresholds?.confidence });
      // Reviewed mappings read the records differently: validate again with them, so the quarantine
      // the classification skips (and GET /quarantine shows) is the one these mappings make; and
      // again without them when a restart dropped the review that made the stored one.
      const reviewed = overrides !== undefined && Object.keys(overrides).length > 0;
      const revalidated = reviewed ? { ...validateRecords(tables, analysis, result.mappings), reviewed: true } : validation.reviewed ? validateRecords(tables, analysis) : null;
      if (revalidated) await io.save(ARTIFACT.validation, revalidated);
      const { review } = assessMapping(result, revalidated ?? validation, {
        approved: overrides !== undefined,
        ...(reviewMappings === undefined ? {} : { reviewMappings }),
        ...(thresholds ? { maxQuarantineShare: thresholds.quarantineShare } : {}),
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

  asset_classification: defineStep({
    needs: ['tables', 'analysis', 'validation', 'mappings'],
    // The assets go to the staging rows as they are classified, a chunk at a time: never all held at once.
    run: async ({ io, workflowId, tables, analysis, validation, mappings }): Promise<ClassificationRecord> => {
      const tally = newTally();
      const assets = classifyEach(tables, analysis, mappings.mappings, validation.quarantine, tally);
      const encoded = encodeInventory('assets', workflowId, mapEach(assets, assetRow));
      await io.stage(encoded);
      return { summary: summariseTally(tally), count: encoded.count };
    },
    saveAs: 'assets',
    summarise: (record) => ({ outputs: { asset_classes: json(record.summary) } }),
  }),

  dependency_analysis: defineStep({
    needs: ['analysis', 'validation', 'mappings', 'assets'],
    run: async ({ io, workflowId, analysis, validation, mappings, assets }) => {
      // The graph's inputs (the relation tables, the assets' graph views: 107 MB at 300k assets) are
      // let go before its edges are staged, and the edges are encoded one by one, not copied first.
      const { result, restaged } = await buildGraph(io, workflowId, { analysis, validation, mappings, assets });
      await io.stage(encodeInventory('dependencies', workflowId, mapEach(result.edges, edgeRow)));
      return { ...result, restaged };
    },
    saveAs: 'dependencies',
    save: (result): DependencyRecord => ({ summary: result.summary, count: result.edges.length, nodes: result.nodes.filter((n) => n.kind !== 'asset') }),
    summarise: (result) => {
      const { applicationGroups, ...summary } = result.summary;
      return {
        outputs: {
          dependencies: json({
            ...summary,
            applicationGroups: applicationGroups.length,
            largestGroups: applicationGroups.slice(0, 5).map((g) => ({ id: g.id, size: g.size, members: g.members.slice(0, 5) })),
            // Said in the workflow's outputs when the staged assets had to be made again.
            ...(result.restaged ? { restagedAssets: true } : {}),
          }),
        },
      };
    },
  }),
};

/** The dependency graph of the staged assets and the relation and flow tables. */
async function buildGraph(io: StepIo, workflowId: string, { analysis, validation, mappings, assets }: Pick<Artifacts, 'analysis' | 'validation' | 'mappings' | 'assets'>) {
  // Only the relation and flow tables make edges: the asset tables (most of a big export) are let
  // go before the staged assets are read, so the two are never held at once.
  const roles = new Map(analysis.tables.map((t) => [t.table, t.role]));
  const tables = (await io.load('tables')).filter((t) => roles.get(t.id) === 'relations' || roles.get(t.id) === 'flows');
  // A workflow classified by an older version has its assets in the artefact, none staged.
  let classified = assets.assets ?? (await io.load('graphAssets'));
  const restaged = classified.length !== assets.count && !assets.assets;
  if (restaged) classified = await restageAssets(io, workflowId, { analysis, validation, mappings }, assets.count);
  return { result: analyseDependencies(tables, analysis, mappings.mappings, classified), restaged };
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
 * The staged assets are not the ones asset_classification counted (gone, or cut short): classify
 * the upload again, stage the assets anew and answer their graph views. Classification is a pure
 * function of the upload and the stored artefacts, so the result is the one first made.
 */
async function restageAssets(
  io: StepIo,
  workflowId: string,
  { analysis, validation, mappings }: Pick<Artifacts, 'analysis' | 'validation' | 'mappings'>,
  expected: number,
): Promise<GraphAsset[]> {
  const views: GraphAsset[] = [];
  const rows = mapEach(classifyEach(await io.load('tables'), analysis, mappings.mappings, validation.quarantine, newTally()), (asset) => {
    const row = assetRow(asset);
    views.push(row.links as GraphAsset);
    return row;
  });
  await io.stage(encodeInventory('assets', workflowId, rows));
  if (views.length !== expected) throw new StagingMismatchError(workflowId, 'assets', expected, views.length);
  return views;
}

function* mapEach<T, U>(items: Iterable<T>, map: (item: T) => U): Generator<U> {
  for (const item of items) yield map(item);
}

function assetRow(asset: Asset): AssetInput {
  return {
    assetKey: asset.asset_key,
    name: asset.name,
    assetType: asset.asset_type,
    assetSubtype: asset.asset_subtype,
    environment: asset.environment,
    osFamily: asset.os_family,
    application: asset.application,
    data: asset,
    links: graphView(asset),
  };
}

function edgeRow(edge: DependencyEdge): DependencyInput {
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

/** The values of staged rows, from their batches of newline-separated JSON (as readStaged gives them). */
export async function collectStaged<T>(batches: AsyncIterable<string>): Promise<T[]> {
  const values: T[] = [];
  for await (const batch of batches) for (const line of batch.split('\n')) if (line) values.push(JSON.parse(line) as T);
  return values;
}

/**
 * The COPY text a workflow stored by an older version still needs staged: its assets and edges
 * were artefacts then. Empty for a workflow whose steps staged them.
 */
export function legacyInventory(workflowId: string, assets: ClassificationRecord, dependencies: DependencyRecord): (EncodedInventory & { chunks: Iterable<string> })[] {
  return [
    ...(assets.assets ? [encodeInventory('assets', workflowId, assets.assets.map(assetRow))] : []),
    ...(dependencies.edges ? [encodeInventory('dependencies', workflowId, dependencies.edges.map(edgeRow))] : []),
  ];
}
