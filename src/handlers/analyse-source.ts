import { DataError } from './errors.ts';
import { type ColumnName, readColumns } from './names.ts';
import { KindCounter } from './profile.ts';
import { headerTargets, linkTables } from './relations.ts';
import { FLOW_FIELDS, normaliseColumn, SIGNATURES, SYNONYMS } from './synonyms.ts';
import type { Cell, ColumnProfile, ColumnType, SourceAnalysis, SourceSystem, Table, TableAnalysis, TableRole, ValuePattern } from './types.ts';
import { cellText, isDate, parseNumber, round, trimText, valuePatterns } from './values.ts';

// Types and patterns are read from an even sample: enough to be sure, cheap at 100k rows.
const SAMPLE_SIZE = 2000;
const PATTERN_MAJORITY = 0.6;
const TYPE_MAJORITY = 0.9;
const MAX_EXAMPLES = 5;
const BOOLEANS = new Set(['true', 'false', 'yes', 'no', 'y', 'n']);

function valueType(value: Cell, text: string): Exclude<ColumnType, 'empty' | 'mixed'> {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  const lower = text.toLowerCase();
  if (BOOLEANS.has(lower)) return 'boolean';
  if (/^-?\d+$/.test(text)) return 'integer';
  const parsed = parseNumber(text);
  if (parsed && parsed.unit === null) return 'number';
  if (isDate(text)) return 'date';
  return 'string';
}

/** What the full pass over a column gathers: exact empty and distinct counts and the first examples. */
interface ColumnCounts {
  empty: number;
  distinct: Set<string>;
  examples: string[];
}

function newCounts(): ColumnCounts {
  return { empty: 0, distinct: new Set<string>(), examples: [] };
}

function countCell(counts: ColumnCounts, value: Cell | undefined): void {
  // cellText inlined: this runs for every cell of the export.
  if (value === null || value === undefined) {
    counts.empty++;
    return;
  }
  const text = typeof value === 'string' ? trimText(value) : String(value);
  if (text === '') {
    counts.empty++;
    return;
  }
  // One hash lookup instead of has() then add().
  const before = counts.distinct.size;
  counts.distinct.add(text);
  if (counts.distinct.size !== before && counts.examples.length < MAX_EXAMPLES) counts.examples.push(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** Types and patterns come from an even sample; the counts are exact. */
function finishProfile(rows: Table['rows'], column: string, counts: ColumnCounts): ColumnProfile {
  const total = rows.length;
  const { empty, distinct, examples } = counts;
  const filled = total - empty;
  const step = Math.max(1, Math.floor(total / SAMPLE_SIZE));
  const typeCounts = new Map<string, number>();
  const patternCounts = new Map<ValuePattern, number>();
  const kinds = new KindCounter();
  let sampled = 0;
  for (let index = 0; index < total && filled > 0; index += step) {
    const value = rows[index][column] ?? null;
    const text = cellText(value);
    if (text === null) continue;
    sampled++;
    const type = valueType(value, text);
    typeCounts.set(type, (typeCounts.get(type) ?? 0) + 1);
    for (const pattern of valuePatterns(text)) patternCounts.set(pattern, (patternCounts.get(pattern) ?? 0) + 1);
    kinds.add(text);
  }
  return {
    name: column,
    type: columnType(typeCounts, sampled),
    emptyShare: total === 0 ? 1 : round(empty / total, 4),
    distinct: distinct.size,
    examples,
    patterns: [...patternCounts].filter(([, count]) => count / sampled >= PATTERN_MAJORITY).map(([pattern]) => pattern),
    sampled,
    kinds: kinds.finish(),
  };
}

export function profileColumn(rows: Table['rows'], column: string): ColumnProfile {
  const counts = newCounts();
  for (let index = 0; index < rows.length; index++) countCell(counts, rows[index][column]);
  return finishProfile(rows, column, counts);
}

/** profileColumn for every column, reading the rows once: a row's cells sit together in memory, a column's do not. */
export function profileColumns(rows: Table['rows'], columns: string[]): ColumnProfile[] {
  const counts = columns.map(newCounts);
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index];
    for (let column = 0; column < columns.length; column++) countCell(counts[column], row[columns[column]]);
  }
  return columns.map((column, index) => finishProfile(rows, column, counts[index]));
}

function columnType(counts: Map<string, number>, sampled: number): ColumnType {
  if (sampled === 0) return 'empty';
  const integer = counts.get('integer') ?? 0;
  const number = counts.get('number') ?? 0;
  if (integer / sampled >= TYPE_MAJORITY) return 'integer';
  if ((integer + number) / sampled >= TYPE_MAJORITY) return 'number';
  for (const type of ['boolean', 'date', 'string'] as const) {
    if ((counts.get(type) ?? 0) / sampled >= TYPE_MAJORITY) return type;
  }
  return (counts.get('string') ?? 0) / sampled > 0.5 ? 'string' : 'mixed';
}

const SIGNATURE_SETS = Object.entries(SIGNATURES).map(([system, names]) => [system as SourceSystem, new Set(names)] as const);

function detectSystem(table: Table, normalised: string[], names: ColumnName[], profile: ColumnProfile[]): { system: SourceSystem; confidence: number } {
  if (table.format === 'netbox') return { system: 'netbox', confidence: 1 };
  // A view's table alias does not hide whose fields these are: serv_sys_id is still sys_id.
  const read = names.map((name, index) => new Set([normalised[index], ...name.readings.filter((reading) => reading.steps.some((step) => step.startsWith('prefix'))).map((reading) => reading.words.join('_'))]));
  let best: { system: SourceSystem; confidence: number } = { system: 'generic', confidence: 0 };
  for (const [system, signature] of SIGNATURE_SETS) {
    let hits = read.filter((readings) => [...readings].some((name) => signature.has(name))).length;
    if (system === 'servicenow') hits += names.filter((name) => name.readings.some((reading) => reading.steps.some((step) => step.includes('"u_"')))).length * 0.5;
    // Half of a distinctive header set (capped at 6 columns) is proof enough.
    const needed = Math.min(6, Math.max(3, Math.ceil(Math.min(signature.size, normalised.length) / 2)));
    const confidence = round(Math.min(1, hits / needed), 2);
    if (confidence > best.confidence) best = { system, confidence };
  }
  if (/(^|[#/\\])vinfo|rvtools/i.test(table.id) && best.system !== 'rvtools') best = { system: 'rvtools', confidence: 0.8 };
  // cmdb_rel_ci exports carry little more than parent, child and a "Depends on::Used by" type.
  if (best.confidence < 0.5 && profile.some((column) => column.examples.some((example) => /^[A-Z][a-z ]+::[A-Z][a-z ]+$/.test(example)))) {
    best = { system: 'servicenow', confidence: 0.85 };
  }
  if (best.confidence < 0.5) return { system: 'generic', confidence: round(1 - best.confidence, 2) };
  return best;
}

const FLOW_NAMES = new Map<string, string>();
for (const synonym of SYNONYMS) {
  if (FLOW_FIELDS.includes(synonym.target)) for (const name of synonym.names) FLOW_NAMES.set(name, synonym.target);
}
const PARENT_NAMES = new Set(SYNONYMS.filter((s) => s.target === 'rel_parent').flatMap((s) => s.names));
const CHILD_NAMES = new Set(SYNONYMS.filter((s) => s.target === 'rel_child').flatMap((s) => s.names));

function flowRole(flow: Set<string>): boolean {
  const hasSource = flow.has('src_host') || flow.has('src_ip');
  const hasDestination = flow.has('dst_host') || flow.has('dst_ip');
  return hasSource && hasDestination && (flow.has('src_ip') || flow.has('dst_ip') || flow.has('dst_port'));
}

/** Flows or relations when the headers say so (by their exact names, then by their readings); else assets. */
export function detectRole(normalised: string[], names: ColumnName[]): TableRole {
  const flow = new Set(normalised.map((name) => FLOW_NAMES.get(name)).filter((target) => target !== undefined));
  if (flowRole(flow)) return 'flows';
  if (normalised.some((name) => PARENT_NAMES.has(name)) && normalised.some((name) => CHILD_NAMES.has(name))) return 'relations';
  const targets = names.map(headerTargets);
  if (flowRole(new Set(targets.flatMap((set) => [...set].filter((target) => FLOW_FIELDS.includes(target)))))) return 'flows';
  if (targets.some((set) => set.has('rel_parent')) && targets.some((set) => set.has('rel_child') && !set.has('rel_parent'))) return 'relations';
  return 'assets';
}

export function analyseTable(table: Table): TableAnalysis {
  const normalised = table.columns.map(normaliseColumn);
  const names = readColumns(table.columns);
  const profile = profileColumns(table.rows, table.columns);
  return {
    table: table.id,
    file: table.file,
    format: table.format,
    encoding: table.encoding,
    ...(table.delimiter === undefined ? {} : { delimiter: table.delimiter }),
    rows: table.rows.length,
    columns: table.columns.length,
    profile,
    source: detectSystem(table, normalised, names, profile),
    role: detectRole(normalised, names),
  };
}

/** Profiles every column of every table and tells which system produced it and what it holds. */
export function analyseSource(tables: Table[]): SourceAnalysis {
  if (tables.every((table) => table.rows.length === 0)) {
    const names = tables.map((table) => `"${table.id}" (${table.columns.length} columns)`).join(', ');
    throw new DataError('NO_RECORDS', `The upload holds no records: ${names} ${tables.length === 1 ? 'has' : 'have'} a header and no rows, so there is nothing to discover.`, {
      hint: 'Export the table again with its rows (check the export filter and row limit), then start a new workflow with that file.',
      details: { tables: tables.map((table) => ({ table: table.id, columns: table.columns })) },
    });
  }
  const analysed = linkTables(tables, tables.map(analyseTable));
  // The dominant system is the one carrying the most rows, weighted by how sure we are.
  const weight = new Map<SourceSystem, { weight: number; confidence: number }>();
  for (const table of analysed) {
    const entry = weight.get(table.source.system) ?? { weight: 0, confidence: 0 };
    entry.weight += Math.max(1, table.rows) * table.source.confidence;
    entry.confidence = Math.max(entry.confidence, table.source.confidence);
    weight.set(table.source.system, entry);
  }
  let source: SourceAnalysis['source'] = { system: 'generic', confidence: 0 };
  let best = -1;
  for (const [system, entry] of weight) {
    if (entry.weight > best) {
      best = entry.weight;
      source = { system, confidence: entry.confidence };
    }
  }
  return { tables: analysed, source };
}
