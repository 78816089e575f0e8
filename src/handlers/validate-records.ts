import { columnsByTarget, mapTable } from './map-fields.ts';
import type { FieldMapping, Finding, MappingTarget, QuarantinedRecord, Row, Severity, SourceAnalysis, Table, TableAnalysis, TableValidation, ValidationOutput } from './types.ts';
import { columnSizeUnit, FirstSeen, identityKey, isFqdn, isHostname, isIp, meaningful, parsedToMegabytes, parseNumber, splitList } from './values.ts';

const MAX_CPU = 1024;
const MAX_MEMORY_MB = 64 * 1024 * 1024;
const MAX_DISK_GB = 1024 * 1024;

interface RowContext {
  table: string;
  row: number;
  findings: Finding[];
}

function add(context: RowContext, severity: Severity, code: string, message: string, column?: string): void {
  context.findings.push({ table: context.table, row: context.row, ...(column === undefined ? {} : { column }), severity, code, message });
}

interface ColumnValue {
  column: string;
  text: string;
}

// Shared by every row that has no value in a field: callers only read it.
const NO_VALUES: readonly ColumnValue[] = [];
const NO_COLUMNS: readonly string[] = [];

function values(row: Row, columns: readonly string[] | undefined): readonly ColumnValue[] {
  if (columns === undefined) return NO_VALUES;
  let found: ColumnValue[] | null = null;
  for (let index = 0; index < columns.length; index++) {
    const column = columns[index];
    const text = meaningful(row[column]);
    if (text === null) continue;
    if (found === null) found = [];
    found.push({ column, text });
  }
  return found ?? NO_VALUES;
}

/** Checks the address columns; returns how many valid addresses the row has. */
function checkAddresses(context: RowContext, row: Row, columns: readonly string[] | undefined, otherIdentity: boolean): number {
  let valid = 0;
  if (columns === undefined) return valid;
  for (const column of columns) {
    const text = meaningful(row[column]);
    if (text === null) continue;
    for (const token of splitList(text)) {
      if (isIp(token)) {
        valid++;
      } else if (isFqdn(token) || isHostname(token)) {
        add(context, 'warning', 'MISPLACED_VALUE', `Column "${column}" holds "${token}", which looks like a host name rather than an IP address; move it to a name column.`, column);
      } else {
        add(context, otherIdentity ? 'warning' : 'error', 'INVALID_IP', `Column "${column}" holds "${token}", which is not a valid IPv4 or IPv6 address${otherIdentity ? '' : ' and the record has no other identity'}.`, column);
      }
    }
  }
  return valid;
}

function checkRange(context: RowContext, row: Row, columns: readonly string[] | undefined, field: 'cpu_cores' | 'memory_mb' | 'disk_gb'): void {
  if (columns === undefined) return;
  for (const column of columns) {
    const text = meaningful(row[column]);
    if (text === null) continue;
    const parsed = parseNumber(text);
    if (!parsed) {
      add(context, 'warning', 'NOT_A_NUMBER', `Column "${column}" (${field}) holds "${text}", which is not a number.`, column);
      continue;
    }
    let amount: number | null = parsed.value;
    let limit = MAX_CPU;
    let unit = '';
    // The text was parsed once above; converting that result gives what toMegabytes(text) would.
    if (field === 'memory_mb') {
      amount = parsedToMegabytes(parsed, columnSizeUnit(column) ?? 'mb');
      limit = MAX_MEMORY_MB;
      unit = ' MB';
    } else if (field === 'disk_gb') {
      const megabytes = parsedToMegabytes(parsed, columnSizeUnit(column) ?? 'gb');
      amount = megabytes === null ? null : megabytes / 1024;
      limit = MAX_DISK_GB;
      unit = ' GB';
    }
    if (amount === null) {
      add(context, 'warning', 'NOT_A_NUMBER', `Column "${column}" (${field}) holds "${text}", whose unit is not understood.`, column);
    } else if (amount < 0 || amount > limit) {
      add(context, 'warning', 'OUT_OF_RANGE', `Column "${column}" (${field}) holds ${text}, outside the plausible range 0..${limit}${unit}.`, column);
    }
  }
}

class DuplicateIndex {
  /** Row of the first sighting of each identity key, per kind. */
  private readonly seen = new Map<string, FirstSeen<number>>();
  /** The label of each row that was a first sighting, by row. */
  private readonly labels: string[] = [];

  check(context: RowContext, kind: string, column: string, value: string, label: string): void {
    let index = this.seen.get(kind);
    if (!index) this.seen.set(kind, (index = new FirstSeen<number>()));
    const firstRow = index.claim(identityKey(value), context.row);
    if (firstRow === undefined) {
      this.labels[context.row] = label;
      return;
    }
    const firstLabel = this.labels[firstRow];
    add(context, 'warning', 'DUPLICATE_IDENTITY', `${kind} "${value}" duplicates row ${firstRow + 1}${firstLabel === value ? '' : ` (${firstLabel})`} (rows counted from 1 after the header).`, column);
  }
}

/** The columns an asset check reads, looked up once per table rather than once per row. */
interface AssetColumns {
  keys: readonly string[] | undefined;
  names: readonly string[] | undefined;
  hostnames: readonly string[] | undefined;
  fqdns: readonly string[] | undefined;
  addresses: readonly string[] | undefined;
  cpu: readonly string[] | undefined;
  memory: readonly string[] | undefined;
  disk: readonly string[] | undefined;
}

function assetColumns(columns: Map<MappingTarget, string[]>): AssetColumns {
  return {
    keys: columns.get('source_key'),
    names: columns.get('name'),
    hostnames: columns.get('hostname'),
    fqdns: columns.get('fqdn'),
    addresses: columns.get('ip_addresses'),
    cpu: columns.get('cpu_cores'),
    memory: columns.get('memory_mb'),
    disk: columns.get('disk_gb'),
  };
}

function checkMisplacedNames(context: RowContext, entries: readonly ColumnValue[]): void {
  for (const entry of entries) {
    if (isIp(entry.text)) add(context, 'warning', 'MISPLACED_VALUE', `Column "${entry.column}" holds "${entry.text}", an IP address, where a name is expected; move it to an IP column.`, entry.column);
  }
}

function validateAsset(context: RowContext, row: Row, columns: AssetColumns, duplicates: DuplicateIndex, keyedTable: boolean): void {
  const keys = values(row, columns.keys);
  const names = values(row, columns.names);
  const hostnames = values(row, columns.hostnames);
  const fqdns = values(row, columns.fqdns);
  const label = names[0]?.text ?? hostnames[0]?.text ?? fqdns[0]?.text ?? keys[0]?.text ?? `row ${context.row + 1}`;
  checkMisplacedNames(context, names);
  checkMisplacedNames(context, hostnames);
  checkMisplacedNames(context, fqdns);
  const named = keys.length + names.length + hostnames.length + fqdns.length > 0;
  const addresses = checkAddresses(context, row, columns.addresses, named);
  if (!named && addresses === 0 && !context.findings.some((finding) => finding.severity === 'error')) {
    add(context, 'error', 'NO_IDENTITY', 'The record has no name, hostname, FQDN, IP address or key, so it cannot become an asset.');
  }
  for (const entry of keys) duplicates.check(context, 'source_key', entry.column, entry.text, label);
  for (const entry of fqdns) duplicates.check(context, 'fqdn', entry.column, entry.text, label);
  // Names repeat legitimately when each record carries its own key; only unkeyed names must be unique.
  if (!keyedTable || keys.length === 0) {
    for (const entry of hostnames) duplicates.check(context, 'hostname', entry.column, entry.text, label);
    for (const entry of names) duplicates.check(context, 'name', entry.column, entry.text, label);
  }
  checkRange(context, row, columns.cpu, 'cpu_cores');
  checkRange(context, row, columns.memory, 'memory_mb');
  checkRange(context, row, columns.disk, 'disk_gb');
}

function validateRelation(context: RowContext, row: Row, columns: Map<MappingTarget, string[]>): void {
  const parent = values(row, columns.get('rel_parent'));
  const child = values(row, columns.get('rel_child'));
  if (parent.length === 0 || child.length === 0) {
    const missing = [parent.length === 0 ? 'parent' : null, child.length === 0 ? 'child' : null].filter(Boolean).join(' and ');
    add(context, 'error', 'MISSING_ENDPOINT', `The relation has no ${missing}, so it cannot become an edge.`);
  }
}

function validateFlow(context: RowContext, row: Row, columns: Map<MappingTarget, string[]>): void {
  for (const side of ['src', 'dst'] as const) {
    const hosts = values(row, columns.get(`${side}_host`));
    const addresses = values(row, columns.get(`${side}_ip`));
    const sideName = side === 'src' ? 'source' : 'destination';
    for (const entry of addresses) {
      if (!isIp(entry.text)) add(context, hosts.length > 0 ? 'warning' : 'error', 'INVALID_IP', `Column "${entry.column}" holds "${entry.text}", which is not a valid IP address.`, entry.column);
    }
    if (hosts.length === 0 && addresses.length === 0) add(context, 'error', 'MISSING_ENDPOINT', `The flow has no ${sideName} host or IP address.`);
  }
  for (const { column, text } of values(row, columns.get('dst_port'))) {
    const port = parseNumber(text);
    if (!port || !Number.isInteger(port.value) || port.value < 0 || port.value > 65535) {
      add(context, 'warning', 'OUT_OF_RANGE', `Column "${column}" holds "${text}", which is not a TCP/UDP port (0..65535).`, column);
    }
  }
}

function qualityScore(records: number, errorRows: number, warningRows: number, analysis: TableAnalysis, mappings: FieldMapping[]): number {
  if (records === 0) return 100;
  const mapped = new Set(mappings.filter((mapping) => mapping.target !== 'attributes').map((mapping) => mapping.source));
  const profiles = analysis.profile.filter((profile) => mapped.has(profile.name));
  const completeness = profiles.length === 0 ? 0 : profiles.reduce((sum, profile) => sum + (1 - profile.emptyShare), 0) / profiles.length;
  const soundness = Math.max(0, 1 - errorRows / records - (0.3 * warningRows) / records);
  return Math.round(100 * (0.7 * soundness + 0.3 * completeness));
}

/**
 * Checks every record; records with an error are quarantined with their findings, never dropped. The
 * columns are read as the mapper maps them, or as `mappings` says once a reviewer changed them.
 */
export function validateRecords(tables: Table[], analysis: SourceAnalysis, mappings?: FieldMapping[]): ValidationOutput {
  const byTable = new Map(analysis.tables.map((entry) => [entry.table, entry]));
  const results: TableValidation[] = [];
  const findings: Finding[] = [];
  const quarantine: QuarantinedRecord[] = [];
  for (const table of tables) {
    const tableAnalysis = byTable.get(table.id);
    if (!tableAnalysis) continue;
    const tableMappings = mappings?.filter((mapping) => mapping.file === table.id) ?? mapTable(table, tableAnalysis);
    const columns = columnsByTarget(tableMappings, table.id);
    const duplicates = new DuplicateIndex();
    const keyedTable = (columns.get('source_key') ?? NO_COLUMNS).length > 0;
    const plan = assetColumns(columns);
    let errorRows = 0;
    let warningRows = 0;
    let errorCount = 0;
    let warningCount = 0;
    // One context for the whole table; it gets a fresh findings array only after a row used it.
    const context: RowContext = { table: table.id, row: 0, findings: [] };
    for (let index = 0; index < table.rows.length; index++) {
      const row = table.rows[index];
      context.row = index;
      if (tableAnalysis.role === 'relations') validateRelation(context, row, columns);
      else if (tableAnalysis.role === 'flows') validateFlow(context, row, columns);
      else validateAsset(context, row, plan, duplicates, keyedTable);
      if (context.findings.length === 0) continue;
      const rowFindings = context.findings;
      context.findings = [];
      let errors = 0;
      for (const finding of rowFindings) if (finding.severity === 'error') errors++;
      errorCount += errors;
      warningCount += rowFindings.length - errors;
      for (const finding of rowFindings) findings.push(finding);
      if (errors > 0) {
        errorRows++;
        quarantine.push({ table: table.id, row: index, record: row, findings: rowFindings });
      } else {
        warningRows++;
      }
    }
    results.push({
      table: table.id,
      records: table.rows.length,
      valid: table.rows.length - errorRows,
      errors: errorCount,
      warnings: warningCount,
      quarantined: errorRows,
      qualityScore: qualityScore(table.rows.length, errorRows, warningRows, tableAnalysis, tableMappings),
    });
  }
  return { tables: results, findings, quarantine };
}
