import { DataError } from './errors.ts';
import { fieldAllowed, IDENTITY_FIELDS, normaliseColumn, SYNONYMS } from './synonyms.ts';
import type { CanonicalField, ColumnProfile, FieldMapping, MappingOutput, MappingOverrides, MappingReason, MappingTarget, SourceAnalysis, Table, TableAnalysis } from './types.ts';
import { CANONICAL_FIELDS } from './types.ts';
import { columnTokens, round } from './values.ts';

// Several columns may legitimately feed these (IPv4 and IPv6 columns, two tag columns).
const MULTI_COLUMN = new Set<CanonicalField>(['ip_addresses', 'tags']);
// A single generic word inside a longer column name says nothing ("wave_name" is not a name).
const WEAK_TOKENS = new Set(['name', 'type', 'id', 'status', 'group', 'date', 'number', 'count', 'class', 'key', 'code', 'description', 'value', 'source', 'target', 'from', 'to', 'state', 'service', 'server', 'app', 'host', 'ip', 'port', 'ci', 'tag']);
const IDENTITY_THRESHOLD = 0.6;

interface Candidate {
  target: MappingTarget;
  confidence: number;
  reason: MappingReason;
}

const CANONICAL = new Set<string>(CANONICAL_FIELDS);
const SYNONYM_TOKENS = SYNONYMS.flatMap((synonym) => synonym.names.map((name) => ({ target: synonym.target, name, tokens: name.split('_').filter(Boolean), confidence: synonym.confidence })));

function synonymCandidate(name: string, analysis: TableAnalysis): Candidate | null {
  let best: Candidate | null = null;
  for (const synonym of SYNONYMS) {
    if (!synonym.names.includes(name) || !fieldAllowed(synonym.target, analysis.role)) continue;
    const trusted = !synonym.systems || synonym.systems.includes(analysis.source.system);
    const confidence = trusted ? synonym.confidence : synonym.confidence - 0.1;
    if (!best || confidence > best.confidence) best = { target: synonym.target, confidence, reason: 'synonym' };
  }
  return best;
}

/** Optimal-string-alignment distance: a transposition ("hostnmae") costs one edit. */
function editDistance(left: string, right: string): number {
  const rows = left.length + 1;
  const cols = right.length + 1;
  const table: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = left[i - 1] === right[j - 1] ? 0 : 1;
      table[i][j] = Math.min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && left[i - 1] === right[j - 2] && left[i - 2] === right[j - 1]) table[i][j] = Math.min(table[i][j], table[i - 2][j - 2] + 1);
    }
  }
  return table[rows - 1][cols - 1];
}

function similarityCandidate(name: string, analysis: TableAnalysis): Candidate | null {
  const tokens = columnTokens(name.replace(/_/g, ' '));
  const tokenSet = new Set(tokens);
  let best: Candidate | null = null;
  for (const synonym of SYNONYM_TOKENS) {
    if (!fieldAllowed(synonym.target, analysis.role)) continue;
    let confidence = 0;
    // Every word of a known name appears in the column: "Primary IP Address" holds "ip address".
    if (synonym.tokens.every((token) => tokenSet.has(token)) && (synonym.tokens.length > 1 || !WEAK_TOKENS.has(synonym.tokens[0]))) {
      confidence = 0.5 + 0.25 * (synonym.tokens.length / tokens.length);
    }
    // Spelling variants and typos ("hostnmae", "ipadress"); short names are too easy to confuse.
    const left = name.replace(/_/g, '');
    const right = synonym.name.replace(/_/g, '');
    if (Math.min(left.length, right.length) >= 6 && Math.abs(left.length - right.length) <= 2) {
      const distance = editDistance(left, right);
      if (distance <= (left.length >= 12 ? 2 : 1)) confidence = Math.max(confidence, 0.75 - 0.1 * distance);
    }
    confidence = Math.min(confidence, synonym.confidence - 0.05);
    if (confidence > 0 && (!best || confidence > best.confidence)) best = { target: synonym.target, confidence: round(confidence), reason: 'similarity' };
  }
  return best;
}

function patternCandidate(profile: ColumnProfile | undefined, analysis: TableAnalysis): Candidate | null {
  if (!profile || analysis.role !== 'assets') return null;
  const patterns = new Set(profile.patterns);
  if (patterns.has('ipv4') || patterns.has('ipv6')) return { target: 'ip_addresses', confidence: 0.6, reason: 'value_pattern' };
  if (patterns.has('mac')) return { target: 'mac_address', confidence: 0.7, reason: 'value_pattern' };
  if (patterns.has('fqdn')) return { target: 'fqdn', confidence: 0.55, reason: 'value_pattern' };
  if (patterns.has('key_value_list')) return { target: 'tags', confidence: 0.55, reason: 'value_pattern' };
  return null;
}

/** The best canonical field for one column, before conflicts between columns are settled. */
export function candidateFor(column: string, analysis: TableAnalysis, profile?: ColumnProfile): Candidate {
  const name = normaliseColumn(column);
  if (CANONICAL.has(name) && fieldAllowed(name as CanonicalField, analysis.role)) return { target: name as CanonicalField, confidence: 1, reason: 'name' };
  const synonym = synonymCandidate(name, analysis);
  if (synonym) return { ...synonym, confidence: round(synonym.confidence) };
  // ServiceNow custom fields: u_environment is an environment, less surely so.
  if (name.startsWith('u_')) {
    const custom = candidateFor(name.slice(2), analysis, profile);
    if (custom.target !== 'attributes') return { target: custom.target, confidence: round(custom.confidence * 0.9), reason: custom.reason === 'name' ? 'synonym' : custom.reason };
  }
  return similarityCandidate(name, analysis) ?? patternCandidate(profile, analysis) ?? { target: 'attributes', confidence: 0, reason: 'none' };
}

/** Maps the columns of one table, keeping the best column per single-valued field. */
export function mapTable(table: Table, analysis: TableAnalysis, overrides: Map<string, MappingTarget> = new Map()): FieldMapping[] {
  const profiles = new Map(analysis.profile.map((profile) => [profile.name, profile]));
  const mappings: FieldMapping[] = table.columns.map((column) => {
    const override = overrides.get(`${table.id}:${column}`) ?? overrides.get(column);
    if (override !== undefined) return { file: table.id, source: column, target: override, confidence: 1, reason: 'override' };
    return { file: table.id, source: column, ...candidateFor(column, analysis, profiles.get(column)) };
  });
  // Between two columns claiming one field, the one that actually holds values wins ties of meaning.
  const score = (mapping: FieldMapping) => mapping.confidence * (1 - 0.5 * (profiles.get(mapping.source)?.emptyShare ?? 0));
  const winners = new Map<MappingTarget, FieldMapping>();
  for (const mapping of mappings) {
    if (mapping.target === 'attributes' || mapping.reason === 'override' || MULTI_COLUMN.has(mapping.target)) continue;
    const current = winners.get(mapping.target);
    if (!current || score(mapping) > score(current)) winners.set(mapping.target, mapping);
  }
  return mappings.map((mapping) => {
    if (mapping.target === 'attributes' || mapping.reason === 'override' || MULTI_COLUMN.has(mapping.target)) return mapping;
    return winners.get(mapping.target) === mapping ? mapping : { ...mapping, target: 'attributes', confidence: 0, reason: 'none' };
  });
}

function checkOverrides(tables: Table[], overrides: MappingOverrides): Map<string, MappingTarget> {
  const checked = new Map<string, MappingTarget>();
  const columns = new Set<string>();
  for (const table of tables) for (const column of table.columns) columns.add(column).add(`${table.id}:${column}`);
  for (const [key, target] of Object.entries(overrides)) {
    if (target !== 'attributes' && !CANONICAL.has(target)) {
      throw new DataError('INVALID_OVERRIDE', `Mapping override "${key}" → "${String(target)}" names an unknown field.`, {
        hint: `Use one of: ${CANONICAL_FIELDS.join(', ')}, or "attributes" to keep the column unmapped.`,
        details: { key, target },
      });
    }
    if (!columns.has(key)) {
      throw new DataError('INVALID_OVERRIDE', `Mapping override "${key}" names no column of the uploaded files.`, {
        hint: 'Use a column name exactly as in the file header, or "table id:column" for one table only.',
        details: { key, target },
      });
    }
    checked.set(key, target);
  }
  return checked;
}

function reviewReasonsFor(analysis: TableAnalysis, mappings: FieldMapping[]): string[] {
  const reasons: string[] = [];
  const mapped = mappings.filter((mapping) => mapping.target !== 'attributes');
  if (analysis.role === 'assets') {
    const identity = mapped.filter((mapping) => IDENTITY_FIELDS.includes(mapping.target as CanonicalField));
    if (analysis.rows > 0 && identity.length === 0) reasons.push(`${analysis.table}: no column maps to an identity field (name, hostname, fqdn, ip_addresses or source_key).`);
    for (const mapping of identity) {
      if (mapping.confidence < IDENTITY_THRESHOLD) reasons.push(`${analysis.table}: identity column "${mapping.source}" → ${mapping.target} has low confidence ${mapping.confidence} (${mapping.reason}).`);
    }
  } else {
    const needed: CanonicalField[][] = analysis.role === 'relations' ? [['rel_parent'], ['rel_child']] : [['src_host', 'src_ip'], ['dst_host', 'dst_ip']];
    for (const options of needed) {
      const found = mapped.filter((mapping) => options.includes(mapping.target as CanonicalField));
      if (found.length === 0) reasons.push(`${analysis.table}: no column maps to ${options.join(' or ')}, so its ${analysis.role} have no endpoint.`);
      for (const mapping of found) {
        if (mapping.confidence < IDENTITY_THRESHOLD) reasons.push(`${analysis.table}: endpoint column "${mapping.source}" → ${mapping.target} has low confidence ${mapping.confidence}.`);
      }
    }
  }
  return reasons;
}

/** Maps every column of every table onto the canonical schema and says when a person should review. */
export function mapFields(tables: Table[], analysis: SourceAnalysis, overrides: MappingOverrides = {}): MappingOutput {
  const checked = checkOverrides(tables, overrides);
  const byTable = new Map(analysis.tables.map((entry) => [entry.table, entry]));
  const mappings: FieldMapping[] = [];
  const reviewReasons: string[] = [];
  for (const table of tables) {
    const tableAnalysis = byTable.get(table.id);
    if (!tableAnalysis) throw new DataError('ANALYSIS_MISSING', `Table "${table.id}" has no source analysis.`, { hint: 'Re-run the workflow from data_source_analysis.' });
    const tableMappings = mapTable(table, tableAnalysis, checked);
    mappings.push(...tableMappings);
    reviewReasons.push(...reviewReasonsFor(tableAnalysis, tableMappings));
  }
  return { mappings, lowConfidence: reviewReasons.length > 0, reviewReasons };
}

/** Column names per canonical field for one table, in column order. */
export function columnsByTarget(mappings: FieldMapping[], tableId: string): Map<MappingTarget, string[]> {
  const result = new Map<MappingTarget, string[]>();
  for (const mapping of mappings) {
    if (mapping.file !== tableId) continue;
    const list = result.get(mapping.target) ?? [];
    list.push(mapping.source);
    result.set(mapping.target, list);
  }
  return result;
}
