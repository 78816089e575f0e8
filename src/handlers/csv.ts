// RFC 4180 CSV with the deviations real exports have: any of , ; tab |, CR/LF/CRLF,
// quoted newlines, "" escapes, stray quotes inside unquoted fields, stray BOMs.
import type { Row } from './types.ts';

const QUOTE = 34;
const CR = 13;
const LF = 10;
const CANDIDATES = [',', ';', '\t', '|'] as const;

/** Splits text into records of raw fields; stops after `limit` records when given. */
export function parseCsvRecords(text: string, delimiter: string, limit = Infinity): string[][] {
  const records: string[][] = [];
  if (limit > 0) forEachCsvRecord(text, delimiter, (record) => records.push(record) < limit);
  return records;
}

/**
 * Reads text record by record in one pass, handing each record of raw fields to `visit` as soon as
 * it ends, so no list of all records is ever built; `visit` returns false to stop.
 */
export function forEachCsvRecord(text: string, delimiter: string, visit: (record: string[]) => boolean | void): void {
  const delim = delimiter.charCodeAt(0);
  const length = text.length;
  let record: string[] = [];
  // null while the field is unquoted: it is then sliced from the text in one go.
  let field: string | null = null;
  let index = 0;
  let fieldStart = 0;
  let going = true;
  while (index < length && going) {
    const code = text.charCodeAt(index);
    if (code === QUOTE && index === fieldStart) {
      // Quoted field: read up to the closing quote, unescaping "".
      let value = '';
      let cursor = index + 1;
      for (;;) {
        const close = text.indexOf('"', cursor);
        if (close === -1) {
          value += text.slice(cursor);
          cursor = length;
          break;
        }
        value += text.slice(cursor, close);
        if (text.charCodeAt(close + 1) === QUOTE) {
          value += '"';
          cursor = close + 2;
          continue;
        }
        cursor = close + 1;
        break;
      }
      // Text between the closing quote and the delimiter means the quotes were not CSV quoting
      // ("app01"x): the field is kept as written, quotes included, as csv-parse's relax_quotes does.
      let tail = cursor;
      while (tail < length) {
        const next = text.charCodeAt(tail);
        if (next === delim || next === CR || next === LF) break;
        tail++;
      }
      field = tail > cursor ? text.slice(index, tail) : value;
      index = tail;
      continue;
    }
    if (code === delim) {
      record.push(field ?? text.slice(fieldStart, index));
      field = null;
      index++;
      fieldStart = index;
      continue;
    }
    if (code === CR || code === LF) {
      record.push(field ?? text.slice(fieldStart, index));
      going = visit(record) !== false;
      record = [];
      field = null;
      index += code === CR && text.charCodeAt(index + 1) === LF ? 2 : 1;
      fieldStart = index;
      continue;
    }
    index++;
  }
  if (going && (fieldStart < length || record.length > 0 || field !== null)) {
    record.push(field ?? text.slice(fieldStart, length));
    visit(record);
  }
}

/** Picks the delimiter that splits the first records into the most, most consistent fields. */
export function detectDelimiter(text: string): string {
  const sample = text.slice(0, 65536);
  let best: string = ',';
  let bestScore = 0;
  for (const candidate of CANDIDATES) {
    const records = parseCsvRecords(sample, candidate, 50).filter((record) => record.length > 1 || record[0] !== '');
    if (records.length === 0) continue;
    const header = records[0].length;
    if (header < 2) continue;
    const consistent = records.filter((record) => record.length === header).length / records.length;
    const score = consistent * Math.log2(header + 1);
    if (score > bestScore) {
      bestScore = score;
      best = candidate;
    }
  }
  return best;
}

export interface ParsedCsv {
  delimiter: string;
  columns: string[];
  rows: Row[];
}

/** Makes header names usable as keys: trimmed, never empty, never repeated. */
export function uniqueColumns(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((raw, index) => {
    let name = raw.replace(/\ufeff/g, '').trim() || `column_${index + 1}`;
    const count = seen.get(name.toLowerCase()) ?? 0;
    seen.set(name.toLowerCase(), count + 1);
    if (count > 0) name = `${name}_${count + 1}`;
    return name;
  });
}

/** The header (the first record that is not blank) and the rows after it, in one pass over the text. */
export function parseCsv(text: string, delimiter = detectDelimiter(text)): ParsedCsv {
  let columns: string[] | null = null;
  let headerColumns = 0;
  const rows: Row[] = [];
  const intern = valueInterner();
  forEachCsvRecord(text, delimiter, (record) => {
    if (isBlank(record)) return;
    if (!columns) {
      columns = uniqueColumns(record);
      headerColumns = columns.length;
      return;
    }
    // Extra trailing fields get their own columns instead of being dropped.
    while (record.length > columns.length) columns.push(`column_${columns.length + 1}`);
    const row: Row = {};
    for (let column = 0; column < columns.length; column++) {
      const raw = record[column];
      const value = raw === undefined ? '' : raw.replace(/^\ufeff/, '').trim();
      row[columns[column]] = value === '' ? null : intern(column, value);
    }
    rows.push(row);
  });
  if (!columns) return { delimiter, columns: [], rows: [] };
  const found: string[] = columns;
  // Rows read before a longer one appeared get the new columns too, so every row has every column.
  if (found.length > headerColumns) for (const row of rows) for (const column of found) if (!(column in row)) row[column] = null;
  return { delimiter, columns: found, rows };
}

/** Distinct values a column may have before its values are no longer shared (an id or name column). */
const MAX_SHARED_VALUES = 2048;

/**
 * Shares one string among the cells of a column that repeat it (a class, an OS, an environment):
 * most columns of a CMDB export hold a few distinct values, and a 300,000-row export held each
 * cell as its own string (205 MB of rows). A column with more distinct values than
 * MAX_SHARED_VALUES stops being shared, so an id column costs one map of that size at most.
 */
function valueInterner(): (column: number, value: string) => string {
  const shared: (Map<string, string> | null | undefined)[] = [];
  return (column, value) => {
    let values = shared[column];
    if (values === null) return value;
    if (values === undefined) values = shared[column] = new Map();
    const known = values.get(value);
    if (known !== undefined) return known;
    if (values.size >= MAX_SHARED_VALUES) shared[column] = null;
    else values.set(value, value);
    return value;
  };
}

function isBlank(record: string[]): boolean {
  return record.every((field) => field.trim() === '');
}
