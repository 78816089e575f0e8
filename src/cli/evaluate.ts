// The labelled evaluation: every export under a folder runs through the six handlers and is scored
// against its truth file (the target of each column, each asset's type, the expected edges).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyseDependencies, analyseSource, classifyAssets, mapFields, parseInputs, validateRecords } from '../handlers/index.ts';
import { assessMapping } from '../handlers/outcome.ts';
import type { Asset, DependencyOutput, MappingTarget, Table } from '../handlers/types.ts';
import { isAppError } from '../errors.ts';

/** A truth file: test/fixtures/eval/<export>/truth.json. */
export interface Truth {
  description: string;
  /** Files of the export's folder... */
  files?: string[];
  /** ...or one shared sample, read from the samples folder when it is there. */
  sample?: string;
  /** What must happen instead of completing: a data error code, or a review for a code. */
  expect?: { error: string } | { review: string };
  /** Expected target of every column, per table id; a list when any of several is right. */
  columns: Record<string, Record<string, MappingTarget | MappingTarget[]>>;
  /** Expected type per asset label (name, else hostname, FQDN, key)... */
  types?: Record<string, string>;
  /** ...or per table: one type for every row, or one per value of a column. */
  typeRules?: ({ table: string; type: string } | { table: string; column: string; map: Record<string, string> })[];
  /** Expected relation and flow edges as [source label, target label, type]... */
  edges?: [string, string, string][];
  /** ...or, where the data may not be copied, their number per type. */
  edgeCounts?: Record<string, number>;
}

export interface Ratio {
  hit: number;
  total: number;
}

export interface ExportScore {
  name: string;
  description: string;
  /** completed, review: CODE..., error: CODE, or skipped when a shared sample is absent. */
  outcome: string;
  outcomeOk: boolean;
  mapping: Ratio;
  types: Ratio;
  /** Edges found that were expected / found, and / expected; counted by type when the truth gives counts. */
  edgePrecision: Ratio;
  edgeRecall: Ratio;
  edgesByCount: boolean;
  shared: boolean;
  misses: string[];
}

const NO_RATIO: Ratio = { hit: 0, total: 0 };
const BLOCKING = /^(NO_IDENTITY_COLUMN|NO_USABLE_RECORDS|TOO_MANY_QUARANTINED): /;

function label(asset: Asset): string {
  return (asset.name ?? asset.hostname ?? asset.fqdn ?? asset.source_key ?? asset.asset_key).toLowerCase();
}

function scoreColumns(truth: Truth, mappings: { file: string; source: string; target: MappingTarget }[], misses: string[]): Ratio {
  let hit = 0;
  let total = 0;
  for (const [table, columns] of Object.entries(truth.columns)) {
    for (const [column, expected] of Object.entries(columns)) {
      total++;
      const produced = mappings.find((mapping) => mapping.file === table && mapping.source === column)?.target ?? '(missing)';
      const allowed = Array.isArray(expected) ? expected : [expected];
      if (allowed.includes(produced as MappingTarget)) hit++;
      else misses.push(`column ${table}:${column} → ${produced}, expected ${allowed.join(' or ')}`);
    }
  }
  return { hit, total };
}

function scoreTypes(truth: Truth, tables: Table[], assets: Asset[], misses: string[]): Ratio {
  let hit = 0;
  let total = 0;
  const expectedByLabel = new Map(Object.entries(truth.types ?? {}).map(([name, type]) => [name.toLowerCase(), type]));
  const byLabel = new Map<string, Asset>();
  for (const asset of assets) if (!byLabel.has(label(asset))) byLabel.set(label(asset), asset);
  for (const [name, type] of expectedByLabel) {
    total++;
    const found = byLabel.get(name)?.asset_type ?? '(no asset)';
    if (found === type) hit++;
    else misses.push(`type of ${name}: ${found}, expected ${type}`);
  }
  for (const rule of truth.typeRules ?? []) {
    const table = tables.find((candidate) => candidate.id === rule.table);
    if (!table) continue;
    const byRow = new Map(assets.filter((asset) => asset.source_table === rule.table).map((asset) => [asset.source_row, asset]));
    table.rows.forEach((row, index) => {
      const type = 'type' in rule ? rule.type : rule.map[String(row[rule.column] ?? '')];
      if (type === undefined) return;
      total++;
      const found = byRow.get(index)?.asset_type ?? '(no asset)';
      if (found === type) hit++;
      else misses.push(`type of ${table.id} row ${index + 1}: ${found}, expected ${type}`);
    });
  }
  return { hit, total };
}

function scoreEdges(truth: Truth, dependencies: DependencyOutput, misses: string[]): { precision: Ratio; recall: Ratio; byCount: boolean } {
  const labels = new Map(dependencies.nodes.map((node) => [node.key, node.label.toLowerCase()]));
  if (truth.edgeCounts && Object.keys(truth.edgeCounts).length > 0) {
    let found = 0;
    let expected = 0;
    let hit = 0;
    for (const [type, count] of Object.entries(truth.edgeCounts)) {
      const produced = dependencies.edges.filter((edge) => edge.type === type).length;
      found += produced;
      expected += count;
      hit += Math.min(produced, count);
      if (produced !== count) misses.push(`${produced} ${type} edges, expected ${count}`);
    }
    return { precision: { hit, total: found }, recall: { hit, total: expected }, byCount: true };
  }
  const key = (source: string, target: string, type: string) => `${source.toLowerCase()} -[${type}]-> ${target.toLowerCase()}`;
  const expected = new Set((truth.edges ?? []).map(([source, target, type]) => key(source, target, type)));
  const produced = new Set(dependencies.edges.filter((edge) => edge.origin !== 'implied').map((edge) => key(labels.get(edge.source_key) ?? edge.source_key, labels.get(edge.target_key) ?? edge.target_key, edge.type)));
  let hit = 0;
  for (const edge of produced) {
    if (expected.has(edge)) hit++;
    else misses.push(`unexpected edge ${edge}`);
  }
  for (const edge of expected) if (!produced.has(edge)) misses.push(`missing edge ${edge}`);
  return { precision: { hit, total: produced.size }, recall: { hit, total: expected.size }, byCount: false };
}

/** Runs one labelled export through the handlers and scores it; `samplesDir` holds the shared samples. */
export async function evaluateExport(dir: string, samplesDir: string): Promise<ExportScore> {
  const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
  const name = dir.split(/[\\/]/).pop() ?? dir;
  const base: ExportScore = { name, description: truth.description, outcome: 'skipped', outcomeOk: true, mapping: NO_RATIO, types: NO_RATIO, edgePrecision: NO_RATIO, edgeRecall: NO_RATIO, edgesByCount: false, shared: truth.sample !== undefined, misses: [] };
  const paths = truth.sample !== undefined ? [join(samplesDir, truth.sample)] : (truth.files ?? []).map((file) => join(dir, file));
  if (!paths.every((path) => existsSync(path))) return base;
  const files = paths.map((path) => ({ name: path.split(/[\\/]/).pop() ?? path, content: new Uint8Array(readFileSync(path)) }));
  const expected = truth.expect === undefined ? 'completed' : 'error' in truth.expect ? `error: ${truth.expect.error}` : `review: ${truth.expect.review}`;
  const score = (outcome: string): ExportScore => ({ ...base, outcome, outcomeOk: outcome === expected || (expected.startsWith('review: ') && outcome.startsWith('review: ') && outcome.includes(expected.slice(8))) });
  try {
    const tables = await parseInputs(files);
    const analysis = analyseSource(tables);
    const validation = validateRecords(tables, analysis);
    const mapping = mapFields(tables, analysis);
    const review = assessMapping(mapping, validation, { approved: false }).review;
    const blocking = review.reasons.filter((reason) => BLOCKING.test(reason)).map((reason) => reason.slice(0, reason.indexOf(':')));
    // Low-confidence questions are answered "approve as mapped" here; blocking ones stop the run, as in a workflow.
    if (blocking.length > 0) return { ...score(`review: ${[...new Set(blocking)].join(', ')}`), misses: review.reasons };
    const classes = classifyAssets(tables, analysis, mapping.mappings, validation.quarantine);
    const dependencies = analyseDependencies(tables, analysis, mapping.mappings, classes.assets);
    const misses: string[] = [];
    const edges = scoreEdges(truth, dependencies, misses);
    return {
      ...score('completed'),
      mapping: scoreColumns(truth, mapping.mappings, misses),
      types: scoreTypes(truth, tables, classes.assets, misses),
      edgePrecision: edges.precision,
      edgeRecall: edges.recall,
      edgesByCount: edges.byCount,
      misses,
    };
  } catch (error) {
    if (isAppError(error)) return { ...score(`error: ${error.code}`), misses: [error.message] };
    throw error;
  }
}

/** Every export folder (one with a truth.json) under `root`, scored in name order. */
export async function evaluateAll(root: string, samplesDir: string): Promise<ExportScore[]> {
  const dirs = readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, entry.name, 'truth.json')))
    .map((entry) => join(root, entry.name))
    .sort();
  const scores: ExportScore[] = [];
  for (const dir of dirs) scores.push(await evaluateExport(dir, resolve(samplesDir)));
  return scores;
}

export function sum(scores: ExportScore[], pick: (score: ExportScore) => Ratio): Ratio {
  return scores.reduce((acc, score) => ({ hit: acc.hit + pick(score).hit, total: acc.total + pick(score).total }), { hit: 0, total: 0 });
}

export function share(ratio: Ratio): number | null {
  return ratio.total === 0 ? null : ratio.hit / ratio.total;
}
