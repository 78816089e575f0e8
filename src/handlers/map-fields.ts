import { DataError } from './errors.ts';
import { type ColumnName, readColumns, type Reading } from './names.ts';
import { valueCandidates, valueSupport } from './profile.ts';
import { fieldAllowed, IDENTITY_FIELDS, normaliseColumn, type Synonym, SYNONYMS, SYNONYMS_BY_WORD_SET, SYNONYMS_BY_WORDS } from './synonyms.ts';
import type { CanonicalField, ColumnProfile, FieldMapping, MappingDecision, MappingOutput, MappingOverrides, MappingReason, MappingTarget, SourceAnalysis, Table, TableAnalysis } from './types.ts';
import { CANONICAL_FIELDS } from './types.ts';
import { round } from './values.ts';

// Several columns may legitimately feed these (IPv4 and IPv6 columns, two tag columns).
const MULTI_COLUMN = new Set<CanonicalField>(['ip_addresses', 'tags']);
// A single generic word inside a longer column name says nothing ("wave_name" is not a name).
const WEAK_TOKENS = new Set(['name', 'type', 'id', 'status', 'group', 'date', 'number', 'count', 'class', 'key', 'code', 'description', 'value', 'source', 'target', 'from', 'to', 'state', 'service', 'server', 'app', 'application', 'host', 'ip', 'port', 'ci', 'tag', 'address']);
// Words that leave a header's subject as it is ("Primary IP Address" is an IP address) ...
const NEUTRAL_WORDS = new Set(['primary', 'main', 'current', 'actual', 'full', 'total', 'configured', 'in', 'gb', 'mb', 'tb', 'kb', 'gib', 'mib', 'tib', 'ghz', 'mhz']);
// ... and words that move it elsewhere ("backup software vendor" is not the machine's manufacturer).
const SUBJECT_WORDS = new Set(['backup', 'last', 'previous', 'old', 'new', 'parent', 'child', 'license', 'licence', 'contract', 'warranty', 'purchase', 'invoice', 'billing', 'discovery', 'sync', 'monitoring', 'patch', 'alert', 'created', 'updated', 'by', 'expiration', 'expiry', 'target', 'source', 'destination', 'requested', 'approval', 'approver', 'vendor', 'software', 'utilisation', 'utilization', 'usage', 'load', 'percent', 'pct', 'free', 'used']);
// Words that, under another record's prefix, name that record (app_name, bus_sys_id).
const RECORD_NAMING_WORDS = new Set(['name', 'key', 'id', 'label', 'title', 'display', 'display_name']);
const ENTITY_FIELDS: Partial<Record<NonNullable<Reading['entity']>, CanonicalField>> = {
  application: 'application',
  business_service: 'business_service',
  location: 'location',
  owner: 'owner',
  model: 'model',
};
const TYPE_FIELDS: readonly CanonicalField[] = ['asset_class', 'rel_type'];
const NAMING_FIELDS = new Set<MappingTarget>(['name', 'hostname', 'fqdn']);
/** Below this a column is kept under attributes: a guess that weak misleads more than it helps. */
const MIN_CONFIDENCE = 0.5;
/** Identity and type mappings below this ask for a review (configurable per call). */
export const REVIEW_CONFIDENCE = 0.7;

interface Candidate {
  target: MappingTarget;
  confidence: number;
  reason: MappingReason;
  decidedBy: MappingDecision;
  evidence: string[];
}

const CANONICAL = new Set<string>(CANONICAL_FIELDS);

function trusted(synonym: Synonym, analysis: TableAnalysis): number {
  return !synonym.systems || synonym.systems.includes(analysis.source.system) ? synonym.confidence : synonym.confidence - 0.1;
}

function synonymCandidates(list: readonly Synonym[] | undefined, analysis: TableAnalysis, weight: number, evidence: (synonym: Synonym) => string[]): Candidate[] {
  return (list ?? [])
    .filter((synonym) => fieldAllowed(synonym.target, analysis.role))
    .map((synonym) => ({ target: synonym.target, confidence: trusted(synonym, analysis) * weight, reason: 'synonym' as const, decidedBy: 'header' as const, evidence: evidence(synonym) }));
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

const SYNONYM_NAMES = SYNONYMS.flatMap((synonym) => synonym.names.map((name) => ({ synonym, name })));

/** Spelling variants and typos of a known name ("hostnmae", "ipadress"); short names are too easy to confuse. */
function typoCandidates(raw: string, analysis: TableAnalysis): Candidate[] {
  const left = raw.replace(/_/g, '');
  const found: Candidate[] = [];
  for (const { synonym, name } of SYNONYM_NAMES) {
    if (!fieldAllowed(synonym.target, analysis.role)) continue;
    const right = name.replace(/_/g, '');
    if (Math.min(left.length, right.length) < 6 || Math.abs(left.length - right.length) > 2 || left === right) continue;
    const distance = editDistance(left, right);
    if (distance > (left.length >= 12 ? 2 : 1)) continue;
    found.push({ target: synonym.target, confidence: Math.min(0.75 - 0.1 * distance, synonym.confidence - 0.05), reason: 'similarity', decidedBy: 'header', evidence: [`header "${raw}" is ${distance} edit${distance === 1 ? '' : 's'} from "${name}", a name of ${synonym.target}`] });
  }
  return found;
}

/** Known names all of whose words the header holds: "Primary IP Address" holds "ip address". */
function coverCandidates(reading: Reading, analysis: TableAnalysis): Candidate[] {
  const words = reading.words.filter((word) => !NEUTRAL_WORDS.has(word));
  if (words.length === 0) return [];
  const present = new Set(words);
  const found: Candidate[] = [];
  for (const [key, synonyms] of SYNONYMS_BY_WORDS) {
    const known = key.split('_');
    if (!known.every((word) => present.has(word))) continue;
    const extra = words.filter((word) => !known.includes(word));
    if (extra.some((word) => SUBJECT_WORDS.has(word))) continue;
    if (known.length === 1 && extra.length > 0 && WEAK_TOKENS.has(known[0])) continue;
    const coverage = known.length / words.length;
    const head = known.includes(words[words.length - 1]);
    if (extra.length > 0 && coverage < 0.5 && !(head && coverage >= 0.33)) continue;
    for (const synonym of synonyms) {
      if (!fieldAllowed(synonym.target, analysis.role)) continue;
      const confidence = extra.length === 0 ? trusted(synonym, analysis) - 0.05 : Math.min(0.45 + 0.4 * coverage, trusted(synonym, analysis) - 0.1);
      const because = extra.length === 0 ? `"${reading.words.join(' ')}" is "${known.join(' ')}" with ${reading.words.length > words.length ? 'neutral words' : 'words in another order'}` : `"${reading.words.join(' ')}" holds "${known.join(' ')}"`;
      found.push({ target: synonym.target, confidence: confidence * reading.weight, reason: 'similarity', decidedBy: 'header', evidence: [...reading.steps, `${because}, a name of ${synonym.target}`] });
    }
  }
  return found;
}

function readingCandidates(reading: Reading, analysis: TableAnalysis): Candidate[] {
  if (reading.entity !== null) {
    // Another record's field (app_name on a server row): only its name and its criticality say something of this record.
    const field = ENTITY_FIELDS[reading.entity];
    // "app_application_criticality": the record's own name inside its fields says nothing more.
    const own = new Set(field?.split('_') ?? []);
    const rest = reading.words.filter((word) => !own.has(word)).join('_');
    if (field && fieldAllowed(field, analysis.role) && (rest === '' || RECORD_NAMING_WORDS.has(rest) || rest.split('_').every((word) => RECORD_NAMING_WORDS.has(word)))) {
      return [{ target: field, confidence: 0.85 * reading.weight, reason: 'synonym', decidedBy: 'header', evidence: [...reading.steps, `"${reading.words.join(' ')}" of the ${reading.entity.replace('_', ' ')} names the ${field}`] }];
    }
    const critical = (SYNONYMS_BY_WORDS.get(rest) ?? []).some((synonym) => synonym.target === 'criticality');
    if (critical && fieldAllowed('criticality', analysis.role)) return [{ target: 'criticality', confidence: 0.8 * reading.weight, reason: 'synonym', decidedBy: 'header', evidence: [...reading.steps, `the ${reading.entity.replace('_', ' ')}'s criticality is the record's business criticality`] }];
    return [];
  }
  const key = reading.words.join('_');
  const said = (synonym: Synonym) => [...reading.steps, `"${reading.words.join(' ')}" is a known name of ${synonym.target}`];
  if (CANONICAL.has(key) && fieldAllowed(key as CanonicalField, analysis.role)) {
    return [{ target: key as CanonicalField, confidence: reading.weight, reason: 'name', decidedBy: 'header', evidence: [...reading.steps, `"${reading.words.join(' ')}" is the field name`] }];
  }
  const exact = synonymCandidates(SYNONYMS_BY_WORDS.get(key), analysis, reading.weight, said);
  if (exact.length > 0) return exact;
  const reordered = synonymCandidates(SYNONYMS_BY_WORD_SET.get([...reading.words].sort().join('_')), analysis, reading.weight * 0.95, said);
  return reordered.length > 0 ? reordered : coverCandidates(reading, analysis);
}

/** Every field the header points to, before the values have their say. */
function headerCandidates(column: string, name: ColumnName, analysis: TableAnalysis): Candidate[] {
  const raw = normaliseColumn(column);
  if (CANONICAL.has(raw) && fieldAllowed(raw as CanonicalField, analysis.role)) {
    return [{ target: raw as CanonicalField, confidence: 1, reason: 'name', decidedBy: 'header', evidence: [`header "${column}" is the field name`] }];
  }
  const exact = synonymCandidates(
    SYNONYMS.filter((synonym) => synonym.names.includes(raw)),
    analysis,
    1,
    (synonym) => [`header "${column}" is a known name of ${synonym.target}${trusted(synonym, analysis) < synonym.confidence ? ` (a ${synonym.systems?.join('/')} name, trusted less here)` : ''}`],
  );
  const found = [...exact, ...name.readings.flatMap((reading) => readingCandidates(reading, analysis))];
  if (!found.some((candidate) => candidate.confidence >= 0.7)) found.push(...typoCandidates(raw, analysis));
  return best(found);
}

/** The strongest candidate per target, strongest first. */
function best(candidates: Candidate[]): Candidate[] {
  const byTarget = new Map<MappingTarget, Candidate>();
  for (const candidate of candidates) {
    const current = byTarget.get(candidate.target);
    if (!current || candidate.confidence > current.confidence) byTarget.set(candidate.target, candidate);
  }
  return [...byTarget.values()].sort((a, b) => b.confidence - a.confidence);
}

/** Header candidates weighed by the values, plus what the values alone say and what the table's content fixed. */
export function candidatesFor(column: string, name: ColumnName, analysis: TableAnalysis, profile: ColumnProfile | undefined): Candidate[] {
  const relation = analysis.relation;
  if (relation && [relation.parent, relation.child, relation.type].includes(column)) {
    const target: CanonicalField = column === relation.parent ? 'rel_parent' : column === relation.child ? 'rel_child' : 'rel_type';
    const header = headerCandidates(column, name, analysis).find((candidate) => candidate.target === target);
    const end = relation.references.find((reference) => reference.column === column);
    return [{ target, confidence: header ? Math.max(header.confidence, 0.95) : 0.9, reason: header ? header.reason : 'content', decidedBy: header ? (end ? 'header_and_values' : 'header') : 'content', evidence: [...(header?.evidence ?? []), ...relation.evidence] }];
  }
  const weighed = headerCandidates(column, name, analysis).map((candidate): Candidate => {
    const support = candidate.target === 'attributes' ? null : valueSupport(candidate.target, profile, analysis.rows);
    if (!support) return candidate;
    if (support.effect === 'confirms') {
      return { ...candidate, confidence: candidate.confidence + (1 - candidate.confidence) * 0.6 * support.certainty, decidedBy: 'header_and_values', evidence: [...candidate.evidence, support.evidence] };
    }
    return { ...candidate, confidence: candidate.confidence * (1 - 0.6 * support.certainty), evidence: [...candidate.evidence, `${support.evidence}: confidence lowered`] };
  });
  const fromValues = valueCandidates(profile, analysis.rows)
    .filter((candidate) => fieldAllowed(candidate.target, analysis.role) && analysis.role !== 'flows')
    .map((candidate): Candidate => ({ target: candidate.target, confidence: candidate.confidence, reason: 'value_pattern', decidedBy: 'values', evidence: [candidate.evidence] }));
  const keyed = analysis.keyColumns?.includes(column) && !weighed.some((candidate) => candidate.confidence >= 0.8 && IDENTITY_FIELDS.includes(candidate.target as CanonicalField) && candidate.target !== 'source_key');
  const content: Candidate[] = keyed ? [{ target: 'source_key', confidence: 0.97, reason: 'content', decidedBy: 'content', evidence: ['values: the ends of relations in another table point at this column, so it is the key'] }] : [];
  const merged = best([...content, ...weighed, ...fromValues]).map((candidate) => {
    // Values that agree with a weaker header reading say so in its evidence.
    const value = fromValues.find((other) => other.target === candidate.target && other !== candidate);
    return value && candidate.decidedBy === 'header' ? { ...candidate, decidedBy: 'header_and_values' as const, evidence: [...candidate.evidence, ...value.evidence] } : candidate;
  });
  return merged.filter((candidate) => candidate.confidence >= MIN_CONFIDENCE).map((candidate) => ({ ...candidate, confidence: round(Math.min(1, candidate.confidence)) }));
}

function unmapped(table: string, column: string, evidence: string[]): FieldMapping {
  return { file: table, source: column, target: 'attributes', confidence: 0, reason: 'none', decidedBy: 'none', evidence };
}

/**
 * Maps the columns of one table. Columns compete for single-valued fields: the surest claim (less sure
 * for a column that is mostly empty) wins, and a column that loses takes its next-best field if any.
 */
export function mapTable(table: Table, analysis: TableAnalysis, overrides: Map<string, MappingTarget> = new Map()): FieldMapping[] {
  const profiles = new Map(analysis.profile.map((profile) => [profile.name, profile]));
  const names = readColumns(table.columns);
  const result = new Map<string, FieldMapping>();
  const claims: { column: string; candidate: Candidate; score: number; order: number }[] = [];
  const candidates = table.columns.map((column, order) => candidatesFor(column, names[order], analysis, profiles.get(column)));
  // Host-like values make a name column only where no header names the records already (an asset tag looks like a host name too).
  const named = candidates.some((list) => list.some((candidate) => candidate.decidedBy !== 'values' && NAMING_FIELDS.has(candidate.target) && candidate.confidence >= REVIEW_CONFIDENCE));
  table.columns.forEach((column, order) => {
    const override = overrides.get(`${table.id}:${column}`) ?? overrides.get(column);
    if (override !== undefined) {
      result.set(column, { file: table.id, source: column, target: override, confidence: 1, reason: 'override', decidedBy: 'override', evidence: ['set by a reviewer'] });
      return;
    }
    const fill = 1 - 0.5 * (profiles.get(column)?.emptyShare ?? 0);
    for (const candidate of candidates[order]) {
      if (named && candidate.decidedBy === 'values' && candidate.target === 'name') continue;
      claims.push({ column, candidate, score: candidate.confidence * fill * (candidate.reason === 'content' ? 1.05 : 1), order });
    }
  });
  const taken = new Map<MappingTarget, string>();
  for (const mapping of result.values()) if (!MULTI_COLUMN.has(mapping.target as CanonicalField) && mapping.target !== 'attributes') taken.set(mapping.target, mapping.source);
  const lost = new Map<string, string[]>();
  claims.sort((a, b) => b.score - a.score || a.order - b.order);
  for (const { column, candidate } of claims) {
    if (result.has(column)) continue;
    const holder = taken.get(candidate.target);
    if (holder !== undefined && !MULTI_COLUMN.has(candidate.target as CanonicalField)) {
      lost.set(column, [...(lost.get(column) ?? []), `${candidate.target} (${round(candidate.confidence)}) went to "${holder}", a surer or fuller column`]);
      continue;
    }
    taken.set(candidate.target, column);
    const evidence = [...candidate.evidence, ...(lost.get(column) ?? [])];
    result.set(column, { file: table.id, source: column, target: candidate.target, confidence: candidate.confidence, reason: candidate.reason, decidedBy: candidate.decidedBy, evidence });
  }
  return table.columns.map((column) => result.get(column) ?? unmapped(table.id, column, lost.get(column) ?? ['no header reading or value pattern points to a field']));
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

const MAX_COLUMNS_LISTED = 12;

function considered(mappings: FieldMapping[]): string {
  const listed = mappings.slice(0, MAX_COLUMNS_LISTED).map((mapping) => `"${mapping.source}" → ${mapping.target}${mapping.target === 'attributes' ? '' : ` (${mapping.confidence})`}`);
  return `Columns considered: ${listed.join(', ')}${mappings.length > MAX_COLUMNS_LISTED ? `, and ${mappings.length - MAX_COLUMNS_LISTED} more` : ''}.`;
}

function lowConfidence(analysis: TableAnalysis, mapping: FieldMapping, kind: string): string {
  return `LOW_CONFIDENCE: ${analysis.table}: ${kind} column "${mapping.source}" → ${mapping.target} has low confidence ${mapping.confidence} (decided by ${mapping.decidedBy.replace(/_/g, ' ')}: ${mapping.evidence[0] ?? 'no evidence'}).`;
}

/** Why a person should look at one table's mappings; `unidentified` when its records cannot become assets or edges at all. */
function reviewOf(analysis: TableAnalysis, mappings: FieldMapping[], threshold: number): { reasons: string[]; unidentified: boolean } {
  const reasons: string[] = [];
  let unidentified = false;
  const mapped = mappings.filter((mapping) => mapping.target !== 'attributes' && mapping.reason !== 'override');
  for (const mapping of mapped) {
    if (TYPE_FIELDS.includes(mapping.target as CanonicalField) && mapping.confidence < threshold) reasons.push(lowConfidence(analysis, mapping, 'type'));
  }
  if (analysis.role === 'assets') {
    const identity = mappings.filter((mapping) => IDENTITY_FIELDS.includes(mapping.target as CanonicalField));
    if (analysis.rows > 0 && identity.length === 0) {
      unidentified = true;
      reasons.push(`NO_IDENTITY_COLUMN: ${analysis.table}: no column maps to an identity field (name, hostname, fqdn, ip_addresses or source_key), so its ${analysis.rows} records cannot become assets. ${considered(mappings)}`);
    }
    for (const mapping of identity) if (mapping.reason !== 'override' && mapping.confidence < threshold) reasons.push(lowConfidence(analysis, mapping, 'identity'));
    return { reasons, unidentified };
  }
  const needed: CanonicalField[][] = analysis.role === 'relations' ? [['rel_parent'], ['rel_child']] : [['src_host', 'src_ip'], ['dst_host', 'dst_ip']];
  for (const options of needed) {
    const found = mappings.filter((mapping) => options.includes(mapping.target as CanonicalField));
    if (found.length === 0 && analysis.rows > 0) {
      unidentified = true;
      reasons.push(`NO_IDENTITY_COLUMN: ${analysis.table}: no column maps to ${options.join(' or ')}, so its ${analysis.role} have no endpoint. ${considered(mappings)}`);
    }
    for (const mapping of found) if (mapping.reason !== 'override' && mapping.confidence < threshold) reasons.push(lowConfidence(analysis, mapping, 'endpoint'));
  }
  return { reasons, unidentified };
}

export interface MapOptions {
  /** Identity, endpoint and type mappings below this confidence ask for a review; default 0.7. */
  reviewConfidence?: number;
}

/** Maps every column of every table onto the canonical schema and says when a person should review. */
export function mapFields(tables: Table[], analysis: SourceAnalysis, overrides: MappingOverrides = {}, options: MapOptions = {}): MappingOutput {
  const checked = checkOverrides(tables, overrides);
  const threshold = options.reviewConfidence ?? REVIEW_CONFIDENCE;
  const byTable = new Map(analysis.tables.map((entry) => [entry.table, entry]));
  const mappings: FieldMapping[] = [];
  const reviewReasons: string[] = [];
  const unidentified: string[] = [];
  for (const table of tables) {
    const tableAnalysis = byTable.get(table.id);
    if (!tableAnalysis) throw new DataError('ANALYSIS_MISSING', `Table "${table.id}" has no source analysis.`, { hint: 'Re-run the workflow from data_source_analysis.' });
    const tableMappings = mapTable(table, tableAnalysis, checked);
    mappings.push(...tableMappings);
    const review = reviewOf(tableAnalysis, tableMappings, threshold);
    reviewReasons.push(...review.reasons);
    if (review.unidentified) unidentified.push(table.id);
  }
  return { mappings, lowConfidence: reviewReasons.length > 0, reviewReasons, unidentified };
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
