// JSON exports: a bare array of records, an envelope ({ records | result | data | items: [...] },
// ServiceNow's REST shape), or a NetBox Django fixture (handled in netbox.ts).
import type { Cell, Row } from './types.ts';

const ENVELOPES = ['records', 'result', 'data', 'items', 'rows', 'value', 'objects', 'results'];
const MAX_DEPTH = 2;

/** The deepest nesting a JSON document may have; real exports stay under 10. Deeper ones are refused before parsing. */
export const MAX_JSON_DEPTH = 64;

/** The nesting depth of JSON text (brackets inside strings do not count); stops counting past `limit`. */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // Skip the string: to the next quote that an odd run of backslashes does not escape.
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end < 0) return max;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 92) slashes++;
        i = end;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 91 || c === 123) {
      depth++;
      if (depth > max && (max = depth) > limit) return max;
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return max;
}

export type JsonRecords = { kind: 'records'; records: Record<string, unknown>[] } | { kind: 'fixture'; objects: Record<string, unknown>[] } | { kind: 'none'; reason: string };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFixture(items: unknown[]): boolean {
  const first = items.find(isPlainObject);
  return first !== undefined && typeof first.model === 'string' && isPlainObject(first.fields);
}

/** Finds the records inside a parsed JSON document. */
export function locateRecords(document: unknown): JsonRecords {
  let items: unknown[] | null = null;
  if (Array.isArray(document)) items = document;
  else if (isPlainObject(document)) {
    for (const key of ENVELOPES) {
      const candidate = document[key];
      if (Array.isArray(candidate)) {
        items = candidate;
        break;
      }
    }
    if (items === null) {
      const arrays = Object.values(document).filter((value): value is unknown[] => Array.isArray(value) && value.some(isPlainObject));
      if (arrays.length === 1) items = arrays[0];
    }
  }
  if (items === null) return { kind: 'none', reason: 'it holds no array of records (expected [...], { "records": [...] } or a NetBox fixture)' };
  const objects = items.filter(isPlainObject);
  if (items.length > 0 && objects.length === 0) return { kind: 'none', reason: 'its array holds no objects, so there are no records to import' };
  if (isFixture(objects)) return { kind: 'fixture', objects };
  return { kind: 'records', records: objects };
}

/**
 * Flattens one record: ServiceNow `{ display_value, value }` pairs become their display value,
 * nested objects become dotted columns, arrays of scalars a `; `-joined string, deeper data JSON text.
 */
export function flattenRecord(record: Record<string, unknown>, into: Row = {}, prefix = '', depth = 0): Row {
  for (const [key, value] of Object.entries(record)) {
    const column = prefix === '' ? key : `${prefix}.${key}`;
    if (isPlainObject(value) && depth < MAX_DEPTH && displayOf(value) === undefined && Object.keys(value).length > 0) {
      flattenRecord(value, into, column, depth + 1);
    } else {
      into[column] = flattenValue(value);
    }
  }
  return into;
}

function displayOf(value: Record<string, unknown>): string | number | undefined {
  for (const key of ['display_value', 'displayValue', 'name', 'label', 'value']) {
    const candidate = value[key];
    if (typeof candidate === 'string' || typeof candidate === 'number') return candidate;
  }
  return undefined;
}

function flattenValue(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.trim() === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    if (value.length === 0) return null;
    if (value.every((item) => item === null || ['string', 'number', 'boolean'].includes(typeof item))) return value.filter((item) => item !== null).join('; ');
    return JSON.stringify(value);
  }
  if (isPlainObject(value)) {
    if (Object.keys(value).length === 0) return null;
    return displayOf(value) ?? JSON.stringify(value);
  }
  return String(value);
}

/** Flattens records and collects the union of their columns in first-seen order. */
export function recordsToTable(records: Record<string, unknown>[]): { columns: string[]; rows: Row[] } {
  const columns = new Map<string, true>();
  const rows = records.map((record) => {
    const row = flattenRecord(record);
    for (const key of Object.keys(row)) if (!columns.has(key)) columns.set(key, true);
    return row;
  });
  const names = [...columns.keys()];
  for (const row of rows) for (const name of names) if (!(name in row)) row[name] = null;
  return { columns: names, rows };
}
