// Relation tables found by what they hold: two columns whose values are mostly keys or names of the
// records of the workflow's other tables (an inclusion dependency) plus a low-cardinality type column.
// Their rows become edges, never assets. Tables whose headers already say parent/child, source/target
// or from/to get the same description, with the tables they point at when the values tell.
import { type ColumnName, readColumns, splitWords } from './names.ts';
import { IDENTITY_FIELDS, SYNONYMS_BY_WORDS, SYNONYMS_BY_WORD_SET } from './synonyms.ts';
import type { CanonicalField, ColumnProfile, RelationColumns, RelationReference, Table, TableAnalysis } from './types.ts';
import { bareIp, identityKey, isIp, meaningful, round } from './values.ts';

/** Share of a column's values that must name records elsewhere for it to be a relation end. */
export const MIN_INCLUSION = 0.6;
const MAX_VALUES_CHECKED = 1000;
const MAX_TYPES = 50;

/** The canonical fields a header names exactly under any of its readings. */
export function headerTargets(name: ColumnName): Set<CanonicalField> {
  const targets = new Set<CanonicalField>();
  for (const reading of name.readings) {
    if (reading.entity !== null) continue;
    for (const synonym of SYNONYMS_BY_WORDS.get(reading.words.join('_')) ?? SYNONYMS_BY_WORD_SET.get([...reading.words].sort().join('_')) ?? []) targets.add(synonym.target);
  }
  return targets;
}

function lookupKey(text: string): string {
  return isIp(text) ? bareIp(text) : identityKey(text);
}

/** Identity values of one table: every value of its columns that are unique per row, with the column holding it. */
interface KeyIndex {
  table: string;
  keys: Map<string, string>;
}

function keyIndex(table: Table, analysis: TableAnalysis): KeyIndex {
  const keys = new Map<string, string>();
  for (const profile of analysis.profile) {
    const filled = analysis.rows * (1 - profile.emptyShare);
    if (filled < 1 || profile.distinct < 0.9 * filled) continue;
    for (const row of table.rows) {
      const text = meaningful(row[profile.name]);
      if (text === null) continue;
      const key = lookupKey(text);
      if (!keys.has(key)) keys.set(key, profile.name);
    }
  }
  return { table: table.id, keys };
}

function distinctValues(table: Table, column: string): string[] {
  const seen = new Set<string>();
  for (const row of table.rows) {
    const text = meaningful(row[column]);
    if (text !== null) seen.add(lookupKey(text));
    if (seen.size >= MAX_VALUES_CHECKED) break;
  }
  return [...seen];
}

/** The other table that holds most of a column's values, and how many of them it holds. */
function bestInclusion(table: Table, column: string, indexes: KeyIndex[]): RelationReference | null {
  const values = distinctValues(table, column);
  if (values.length === 0) return null;
  let best: RelationReference | null = null;
  for (const index of indexes) {
    const columns = new Map<string, number>();
    let found = 0;
    for (const value of values) {
      const keyColumn = index.keys.get(value);
      if (keyColumn === undefined) continue;
      found++;
      columns.set(keyColumn, (columns.get(keyColumn) ?? 0) + 1);
    }
    const share = found / values.length;
    if (found > 0 && (!best || share > best.share)) {
      const keyColumn = [...columns].sort((a, b) => b[1] - a[1])[0][0];
      best = { column, share: round(share, 3), table: index.table, keyColumn };
    }
  }
  return best;
}

function isTypeLike(profile: ColumnProfile, rows: number): boolean {
  const filled = rows * (1 - profile.emptyShare);
  if (filled < rows * 0.5) return false;
  if ((profile.kinds.relation_type ?? 0) >= 0.5) return true;
  const textual = profile.type === 'string' && (profile.kinds.date ?? 0) < 0.5 && (profile.kinds.key ?? 0) < 0.5;
  return textual && profile.distinct <= Math.max(3, Math.min(MAX_TYPES, Math.ceil(rows / 2))) && (profile.distinct < rows || rows <= 3);
}

interface Sides {
  parent: string[];
  child: string[];
  type: string[];
  identity: string[];
}

function sidesByHeader(names: ColumnName[]): Sides {
  const sides: Sides = { parent: [], child: [], type: [], identity: [] };
  for (const name of names) {
    const targets = headerTargets(name);
    if (targets.has('rel_parent')) sides.parent.push(name.column);
    else if (targets.has('rel_child')) sides.child.push(name.column);
    else if (targets.has('rel_type')) sides.type.push(name.column);
    if ([...targets].some((target) => IDENTITY_FIELDS.includes(target) && target !== 'source_key')) sides.identity.push(name.column);
  }
  return sides;
}

/** How a table whose headers say it holds relations is laid out, with the tables its ends point at. */
function relationByHeader(table: Table, analysis: TableAnalysis, sides: Sides, indexes: KeyIndex[]): RelationColumns | null {
  const parent = sides.parent[0];
  const child = sides.child[0];
  if (parent === undefined || child === undefined) return null;
  const type = sides.type[0] ?? analysis.profile.find((profile) => profile.name !== parent && profile.name !== child && (profile.kinds.relation_type ?? 0) >= 0.5)?.name ?? null;
  const ends = [bestInclusion(table, parent, indexes), bestInclusion(table, child, indexes)].filter((end): end is RelationReference => end !== null && end.share >= MIN_INCLUSION);
  return {
    parent,
    child,
    type,
    references: ends,
    evidence: [
      `headers: "${parent}" names the parent, "${child}" the child${type === null ? '' : `, "${type}" the type`}`,
      ...ends.map((end) => `values: ${Math.round(end.share * 100)}% of "${end.column}" are keys or names in ${end.table} (${end.keyColumn})`),
    ],
  };
}

/** A table whose headers do not say it, recognised as relations by its values. */
function relationByContent(table: Table, analysis: TableAnalysis, sides: Sides, indexes: KeyIndex[]): RelationColumns | null {
  const profiles = new Map(analysis.profile.map((profile) => [profile.name, profile]));
  const ends: RelationReference[] = [];
  for (const column of table.columns) {
    const profile = profiles.get(column);
    if (!profile || profile.emptyShare > 0.5 || (profile.kinds.relation_type ?? 0) >= 0.5) continue;
    const inclusion = bestInclusion(table, column, indexes);
    if (inclusion && inclusion.share >= MIN_INCLUSION) ends.push(inclusion);
  }
  if (ends.length < 2) return null;
  // A table with a name of its own that nothing else holds describes records that point elsewhere (VMs naming their hosts).
  const endColumns = new Set(ends.map((end) => end.column));
  const ownIdentity = analysis.profile.some((profile) => {
    if (endColumns.has(profile.name) || profile.emptyShare > 0.2) return false;
    const unique = profile.distinct >= 0.95 * analysis.rows * (1 - profile.emptyShare);
    const named = sides.identity.includes(profile.name) || (profile.kinds.host ?? 0) >= 0.5 || (profile.kinds.fqdn ?? 0) >= 0.5 || (profile.kinds.ipv4 ?? 0) >= 0.5;
    return unique && named;
  });
  if (ownIdentity) return null;
  const type = table.columns.find((column) => !endColumns.has(column) && sides.type.includes(column)) ?? table.columns.find((column) => !endColumns.has(column) && isTypeLike(profiles.get(column)!, analysis.rows));
  if (type === undefined) return null;
  const chosen = [...ends].sort((a, b) => b.share - a.share).slice(0, 2).sort((a, b) => table.columns.indexOf(a.column) - table.columns.indexOf(b.column));
  // Headers that say which end is which win over column order.
  if (sides.child.includes(chosen[0].column) || sides.parent.includes(chosen[1].column)) chosen.reverse();
  const [parent, child] = chosen;
  return {
    parent: parent.column,
    child: child.column,
    type,
    references: chosen,
    evidence: [
      ...chosen.map((end) => `values: ${Math.round(end.share * 100)}% of "${end.column}" are keys or names in ${end.table} (${end.keyColumn})`),
      `values: "${type}" holds ${profiles.get(type)!.distinct} distinct types`,
      `read as ${parent.column} → ${child.column} (${sides.parent.includes(parent.column) || sides.child.includes(child.column) ? 'as the headers say' : 'column order'})`,
    ],
  };
}

/**
 * Describes the relations tables of a workflow and finds those that only their values reveal; marks
 * the columns their ends point at as the keys of those tables. Returns new analyses.
 */
export function linkTables(tables: Table[], analyses: TableAnalysis[]): TableAnalysis[] {
  const result = analyses.map((analysis) => ({ ...analysis }));
  const byId = new Map(result.map((analysis) => [analysis.table, analysis]));
  const indexFor = new Map<string, KeyIndex>();
  const indexesBesides = (table: Table): KeyIndex[] =>
    tables
      .filter((other) => other.id !== table.id && other.rows.length > 0 && byId.get(other.id)?.role === 'assets')
      .map((other) => {
        let index = indexFor.get(other.id);
        if (!index) indexFor.set(other.id, (index = keyIndex(other, byId.get(other.id)!)));
        return index;
      });
  for (let position = 0; position < tables.length; position++) {
    const table = tables[position];
    const analysis = result[position];
    if (table.rows.length === 0 || analysis.role === 'flows') continue;
    const sides = sidesByHeader(readColumns(table.columns));
    if (analysis.role === 'relations') {
      const relation = relationByHeader(table, analysis, sides, indexesBesides(table));
      if (relation) result[position] = { ...analysis, relation };
    } else if (table.columns.length >= 3 && tables.length > 1) {
      const relation = relationByContent(table, analysis, sides, indexesBesides(table));
      if (relation) result[position] = { ...analysis, role: 'relations', relation };
    }
  }
  const keyColumns = new Map<string, Set<string>>();
  for (const analysis of result) {
    for (const end of analysis.relation?.references ?? []) {
      const set = keyColumns.get(end.table) ?? new Set<string>();
      keyColumns.set(end.table, set.add(end.keyColumn));
    }
  }
  return result.map((analysis) => {
    const columns = keyColumns.get(analysis.table);
    return columns ? { ...analysis, keyColumns: [...columns] } : analysis;
  });
}

// ServiceNow "parent verb::child verb" pairs. The normalised edge always reads source → target
// with the active verb, so passive parent verbs ("Used by", "Hosts") flip the direction.
const RELATION_VERBS: Record<string, { type: string; reverse: boolean }> = {
  'depends on': { type: 'depends_on', reverse: false },
  'used by': { type: 'depends_on', reverse: true },
  uses: { type: 'depends_on', reverse: false },
  'runs on': { type: 'runs_on', reverse: false },
  runs: { type: 'runs_on', reverse: true },
  'hosted on': { type: 'hosted_on', reverse: false },
  hosts: { type: 'hosted_on', reverse: true },
  'virtualized by': { type: 'runs_on', reverse: false },
  virtualizes: { type: 'runs_on', reverse: true },
  contains: { type: 'contains', reverse: false },
  'contained by': { type: 'contains', reverse: true },
  'member of': { type: 'member_of', reverse: false },
  members: { type: 'member_of', reverse: true },
  'cluster of': { type: 'member_of', reverse: true },
  cluster: { type: 'member_of', reverse: false },
  'connects to': { type: 'connects_to', reverse: false },
  'connected by': { type: 'connects_to', reverse: true },
  'ip connection': { type: 'connects_to', reverse: false },
  'cabled to': { type: 'cabled_to', reverse: false },
  'sends data to': { type: 'sends_data_to', reverse: false },
  'receives data from': { type: 'sends_data_to', reverse: true },
  'stored on': { type: 'stored_on', reverse: false },
  'provides storage for': { type: 'stored_on', reverse: true },
  'backed up by': { type: 'backed_up_by', reverse: false },
  'backs up': { type: 'backed_up_by', reverse: true },
  'located in': { type: 'located_in', reverse: false },
  'location for': { type: 'located_in', reverse: true },
  'managed by': { type: 'managed_by', reverse: false },
  manages: { type: 'managed_by', reverse: true },
  'owned by': { type: 'owned_by', reverse: false },
  owns: { type: 'owned_by', reverse: true },
  'instantiated by': { type: 'instance_of', reverse: false },
  instantiates: { type: 'instance_of', reverse: true },
  'exchange data with': { type: 'exchanges_data_with', reverse: false },
  // German, French and Spanish exports say the same in their words (accents dropped).
  nutzt: { type: 'depends_on', reverse: false },
  verwendet: { type: 'depends_on', reverse: false },
  'hangt ab von': { type: 'depends_on', reverse: false },
  'lauft auf': { type: 'runs_on', reverse: false },
  'gehostet auf': { type: 'hosted_on', reverse: false },
  'verbunden mit': { type: 'connects_to', reverse: false },
  'gespeichert auf': { type: 'stored_on', reverse: false },
  enthalt: { type: 'contains', reverse: false },
  'depend de': { type: 'depends_on', reverse: false },
  utilise: { type: 'depends_on', reverse: false },
  'heberge sur': { type: 'hosted_on', reverse: false },
  'connecte a': { type: 'connects_to', reverse: false },
  'depende de': { type: 'depends_on', reverse: false },
  usa: { type: 'depends_on', reverse: false },
  'se ejecuta en': { type: 'runs_on', reverse: false },
  'alojado en': { type: 'hosted_on', reverse: false },
  'conectado a': { type: 'connects_to', reverse: false },
};
// "ServingRelationship", "depends_on relation": the word that says it is a relation adds nothing.
const RELATION_WORDS = new Set(['relationship', 'relation', 'rel']);

/**
 * Normalises a relation type ("Depends on::Used by", "runs_on", "Hosts", "ServingRelationship", "läuft auf")
 * to a verb and a direction. A ServiceNow "A::B" type is read from the parent's side, as written.
 */
export function normaliseRelationType(text: string | null): { type: string; reverse: boolean } {
  if (text === null) return { type: 'related_to', reverse: false };
  const words = splitWords(text.split('::')[0]);
  while (words.length > 1 && RELATION_WORDS.has(words[words.length - 1])) words.pop();
  const phrase = words.join(' ');
  return RELATION_VERBS[phrase] ?? { type: words.join('_') || 'related_to', reverse: false };
}
