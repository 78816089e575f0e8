import { NAME_ENVIRONMENT_TYPES, cachedTags, classify, environmentFromName, normaliseEnvironment, osFamilyOf } from './asset-rules.ts';
import { columnsByTarget } from './map-fields.ts';
import { normaliseWords, splitWords } from './names.ts';
import type { Asset, Cell, ClassificationOutput, ClassificationSummary, FieldMapping, MappingTarget, QuarantinedRecord, Row, SourceAnalysis, Table } from './types.ts';
import { bareIp, columnSizeUnit, identityKey, isIp, meaningful, memoise, parseNumber, round, splitList, toMegabytes } from './values.ts';

/** The columns feeding each field of one table, looked up once per table rather than once per row. */
type FieldColumns = Partial<Record<MappingTarget, readonly string[]>>;

function fieldColumns(columns: Map<MappingTarget, string[]>): FieldColumns {
  // No prototype: a target is only ever read by its own name.
  const result = Object.create(null) as FieldColumns;
  for (const [target, list] of columns) result[target] = list;
  return result;
}

function text(row: Row, columns: readonly string[] | undefined): string | null {
  if (columns === undefined) return null;
  for (let index = 0; index < columns.length; index++) {
    const value = meaningful(row[columns[index]]);
    if (value !== null) return value;
  }
  return null;
}

const LEADING_STARS = /^\*+\s*/;

function nameText(row: Row, columns: readonly string[] | undefined): string | null {
  const value = text(row, columns);
  if (value === null) return null;
  // ServiceNow demo data marks records with a leading "*"; it is not part of the host name.
  return (value.charCodeAt(0) === 42 ? value.replace(LEADING_STARS, '') : value) || null;
}

/** A size column with the unit a bare number in it is read in. */
interface SizeColumn {
  column: string;
  unit: string;
}

function sizeColumns(columns: readonly string[] | undefined, field: 'memory_mb' | 'disk_gb'): readonly SizeColumn[] {
  return (columns ?? []).map((column) => ({ column, unit: columnSizeUnit(column) ?? (field === 'memory_mb' ? 'mb' : 'gb') }));
}

function sizeInMb(row: Row, columns: readonly SizeColumn[]): number | null {
  for (let index = 0; index < columns.length; index++) {
    const { column, unit } = columns[index];
    const value: Cell | undefined = row[column];
    if (meaningful(value) === null) continue;
    const megabytes = toMegabytes(value, unit);
    if (megabytes !== null && megabytes >= 0) return megabytes;
  }
  return null;
}

function count(row: Row, columns: readonly string[] | undefined): number | null {
  if (columns === undefined) return null;
  for (let index = 0; index < columns.length; index++) {
    const parsed = parseNumber(row[columns[index]]);
    if (parsed && parsed.value >= 0) return parsed.value;
  }
  return null;
}

/** Valid addresses of the row, de-duplicated; a cell holding anything else goes to `invalid` (the asset's attributes). */
function addresses(row: Row, columns: readonly string[] | undefined, invalid: Record<string, Cell>): string[] {
  const ips: string[] = [];
  if (columns === undefined) return ips;
  for (let index = 0; index < columns.length; index++) {
    const column = columns[index];
    const value = meaningful(row[column]);
    if (value === null) continue;
    for (const token of splitList(value)) {
      if (!isIp(token)) {
        invalid[column] = row[column];
        continue;
      }
      const address = bareIp(token);
      if (!ips.includes(address)) ips.push(address);
    }
  }
  return ips;
}

function netboxModelOf(table: Table): string | null {
  if (table.format !== 'netbox') return null;
  const hash = table.id.lastIndexOf('#');
  return hash === -1 ? null : table.id.slice(hash + 1);
}

/** Gives a key unique within the workflow, trying the next identity before numbering; `table:row` when the record has none. */
function uniqueKey(candidates: (string | null)[], used: Set<string>, table: string, row: number): string {
  let base: string | undefined;
  for (const candidate of candidates) {
    if (candidate === null) continue;
    const key = identityKey(candidate);
    if (key === '') continue;
    base ??= key;
    // One hash lookup: add() grows the set only when the key was free.
    const size = used.size;
    used.add(key);
    if (used.size !== size) return key;
  }
  base ??= `${table}:${row}`;
  let key = base;
  for (let n = 2; used.has(key); n++) key = `${base}#${n}`;
  used.add(key);
  return key;
}

// Columns whose header says they hold a kind of record: read when the class column says nothing.
const CLASS_HEADER_WORDS = new Set(['class', 'type', 'category', 'subcategory', 'kind', 'role']);
const isClassColumn = memoise((column: string) => normaliseWords(splitWords(column)).some((word) => CLASS_HEADER_WORDS.has(word)));
const NO_CLASSES: { column: string; value: string }[] = [];

function otherClasses(row: Row, columns: readonly string[]): { column: string; value: string }[] {
  let found: { column: string; value: string }[] | null = null;
  for (const column of columns) {
    const value = meaningful(row[column]);
    if (value !== null) (found ??= []).push({ column, value });
  }
  return found ?? NO_CLASSES;
}

/** Counts of the assets classified so far, which classifyEach keeps as it goes. */
export interface AssetTally {
  assets: number;
  byType: Record<string, number>;
  byEnvironment: Record<string, number>;
  byOsFamily: Record<string, number>;
}

export function newTally(): AssetTally {
  return { assets: 0, byType: {}, byEnvironment: {}, byOsFamily: {} };
}

export function summariseTally(tally: AssetTally): ClassificationSummary {
  return { ...tally, unknownShare: tally.assets === 0 ? 0 : round((tally.byType.unknown ?? 0) / tally.assets, 4) };
}

/** Every asset at once, with its summary (see classifyEach). */
export function classifyAssets(tables: Table[], analysis: SourceAnalysis, mappings: FieldMapping[], quarantine: QuarantinedRecord[]): ClassificationOutput {
  const tally = newTally();
  const assets = [...classifyEach(tables, analysis, mappings, quarantine, tally)];
  return { assets, summary: summariseTally(tally) };
}

/**
 * Builds one normalised, classified asset per accepted row of every assets table, one at a time,
 * in table and row order, counted into `tally`: a caller that writes them out as they come never
 * holds them all (300,000 assets are some 220 MB of objects).
 */
export function* classifyEach(tables: Table[], analysis: SourceAnalysis, mappings: FieldMapping[], quarantine: QuarantinedRecord[], tally: AssetTally): Generator<Asset> {
  const quarantined = new Map<string, Set<number>>();
  for (const record of quarantine) {
    const rows = quarantined.get(record.table) ?? new Set<number>();
    rows.add(record.row);
    quarantined.set(record.table, rows);
  }
  const byTable = new Map(analysis.tables.map((entry) => [entry.table, entry]));
  const used = new Set<string>();
  const { byType, byEnvironment, byOsFamily } = tally;
  for (const table of tables) {
    const tableAnalysis = byTable.get(table.id);
    if (!tableAnalysis || tableAnalysis.role !== 'assets') continue;
    const columns = fieldColumns(columnsByTarget(mappings, table.id));
    const attributeColumns = columns.attributes ?? [];
    const classColumns = attributeColumns.filter(isClassColumn);
    const tagColumns = columns.tags ?? [];
    const memoryColumns = sizeColumns(columns.memory_mb, 'memory_mb');
    const diskColumns = sizeColumns(columns.disk_gb, 'disk_gb');
    const skip = quarantined.get(table.id);
    const netboxModel = netboxModelOf(table);
    const system = tableAnalysis.source.system;
    const rows = table.rows;
    for (let index = 0; index < rows.length; index++) {
      if (skip?.has(index)) continue;
      const row = rows[index];
      const sourceKey = text(row, columns.source_key);
      const name = nameText(row, columns.name);
      const hostname = nameText(row, columns.hostname);
      const fqdn = nameText(row, columns.fqdn);
      // Cells of the address columns that hold no address are kept first among the attributes.
      const attributes: Record<string, Cell> = {};
      const ips = addresses(row, columns.ip_addresses, attributes);
      // An address typed into the name column still identifies the machine by IP.
      if (name !== null && isIp(name) && !ips.includes(bareIp(name))) ips.push(bareIp(name));
      if (hostname !== null && isIp(hostname) && !ips.includes(bareIp(hostname))) ips.push(bareIp(hostname));
      const osName = text(row, columns.os_name);
      const osVersion = text(row, columns.os_version);
      const assetClass = text(row, columns.asset_class);
      const model = text(row, columns.model);
      const virtualHost = text(row, columns.virtualization_host);
      const cpu = count(row, columns.cpu_cores);
      const memory = sizeInMb(row, memoryColumns);
      const disk = sizeInMb(row, diskColumns);
      const classification = classify({
        assetClass,
        system,
        netboxModel,
        osText: osName ?? osVersion,
        model,
        names: [hostname, name, fqdn],
        virtualHost,
        hasResources: cpu !== null || memory !== null,
        otherClasses: otherClasses(row, classColumns),
      });
      const environmentText = text(row, columns.environment);
      let environment = normaliseEnvironment(environmentText);
      if (environment === 'unknown' && environmentText === null && NAME_ENVIRONMENT_TYPES.has(classification.type)) {
        environment = environmentFromName([hostname, name, fqdn]);
        if (environment !== 'unknown') classification.evidence.push(`environment_from_name: ${environment}`);
      }
      const osFamily = osFamilyOf(text(row, columns.os_family), osName, osVersion);
      for (let column = 0; column < attributeColumns.length; column++) {
        const value = row[attributeColumns[column]];
        if (value !== null && value !== undefined) attributes[attributeColumns[column]] = value;
      }
      const tags: Record<string, string> = {};
      for (let column = 0; column < tagColumns.length; column++) {
        const value = meaningful(row[tagColumns[column]]);
        if (value !== null) Object.assign(tags, cachedTags(value));
      }
      const asset: Asset = {
        asset_key: uniqueKey([sourceKey, fqdn, hostname, name, ips[0] ?? null], used, table.id, index),
        source_table: table.id,
        source_row: index,
        source_key: sourceKey,
        name,
        hostname,
        fqdn,
        ip_addresses: ips,
        mac_address: text(row, columns.mac_address),
        serial_number: text(row, columns.serial_number),
        asset_class: assetClass,
        asset_type: classification.type,
        asset_subtype: classification.subtype,
        cpu_cores: cpu,
        memory_mb: memory === null ? null : round(memory),
        disk_gb: disk === null ? null : round(disk / 1024),
        os_name: osName,
        os_version: osVersion,
        os_family: osFamily,
        environment,
        application: text(row, columns.application),
        business_service: text(row, columns.business_service),
        owner: text(row, columns.owner),
        support_group: text(row, columns.support_group),
        criticality: text(row, columns.criticality),
        location: text(row, columns.location),
        operational_status: text(row, columns.operational_status),
        lifecycle_status: text(row, columns.lifecycle_status),
        manufacturer: text(row, columns.manufacturer),
        model,
        cost_center: text(row, columns.cost_center),
        tags,
        virtualization_host: virtualHost,
        cluster: text(row, columns.cluster),
        classification: { confidence: round(classification.confidence), evidence: classification.evidence },
        attributes,
      };
      tally.assets += 1;
      byType[asset.asset_type] = (byType[asset.asset_type] ?? 0) + 1;
      byEnvironment[asset.environment] = (byEnvironment[asset.environment] ?? 0) + 1;
      const family = asset.os_family ?? 'unknown';
      byOsFamily[family] = (byOsFamily[family] ?? 0) + 1;
      yield asset;
    }
  }
}
