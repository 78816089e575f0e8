import { DataError } from './errors.ts';
import { parseCsv } from './csv.ts';
import { decodeText } from './decode.ts';
import { MAX_JSON_DEPTH, jsonDepth, locateRecords, recordsToTable } from './json.ts';
import { assertStorable, mayHoldUnstorable } from './storable.ts';
import { fixtureToTables } from './netbox.ts';
import type { FileFormat, InputFile, Table } from './types.ts';
import { parseWorkbook } from './xlsx.ts';

export interface ParseOptions {
  /** Total size of all files of one workflow; default 100 MB. */
  maxBytes?: number;
}

export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;

const EXTENSIONS: Record<string, FileFormat> = { csv: 'csv', tsv: 'csv', txt: 'csv', psv: 'csv', json: 'json', xlsx: 'xlsx', xlsm: 'xlsx' };

function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

function detectFormat(file: InputFile): FileFormat {
  if (file.format) return file.format;
  const extension = /\.([a-z0-9]+)$/i.exec(file.name)?.[1]?.toLowerCase();
  if (extension === 'xls') {
    throw unreadable(file.name, 'is a legacy Excel 97-2003 workbook (.xls), which cannot be read.', 'Open it in Excel and save it as .xlsx or CSV (UTF-8), then upload it again.');
  }
  if (extension && EXTENSIONS[extension]) return EXTENSIONS[extension];
  if (isZip(file.content)) return 'xlsx';
  const start = new TextDecoder().decode(file.content.subarray(0, 64)).replace(/^[\ufeff\s]+/, '');
  return start.startsWith('[') || start.startsWith('{') ? 'json' : 'csv';
}

function unreadable(file: string, problem: string, hint: string, cause?: unknown): DataError {
  return new DataError('UNREADABLE_FILE', `File "${file}" ${problem}`, { hint, cause, details: { file } });
}

async function parseFile(file: InputFile): Promise<Table[]> {
  if (file.content.byteLength === 0) {
    throw unreadable(file.name, 'is empty (0 bytes).', 'Export the data again and upload a file that has a header row and records.');
  }
  const format = detectFormat(file);
  if (format === 'xlsx') {
    if (!isZip(file.content)) {
      throw unreadable(file.name, 'was given as .xlsx but is not an Excel workbook (no ZIP signature).', 'Upload the workbook exactly as Excel saved it, or export the sheet as CSV.');
    }
    let tables: Table[];
    try {
      tables = await parseWorkbook(file.name, file.content);
    } catch (error) {
      throw unreadable(file.name, `is a damaged Excel workbook: ${error instanceof Error ? error.message : String(error)}.`, 'Open it in Excel, save it again as .xlsx, and upload the new file.', error);
    }
    if (tables.length === 0) throw unreadable(file.name, 'is an Excel workbook with no data on any sheet.', 'Put the export on the first sheet, with a header row, and upload it again.');
    tables.forEach(assertStorable);
    return tables;
  }
  const { text, encoding } = decodeText(file.name, file.content);
  const tables = parseText(file, format, text, encoding);
  if (mayHoldUnstorable(text)) tables.forEach(assertStorable);
  return tables;
}

function parseText(file: InputFile, format: FileFormat, text: string, encoding: string): Table[] {
  if (format === 'json') {
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      throw new DataError('JSON_TOO_DEEP', `File "${file.name}" nests deeper than ${MAX_JSON_DEPTH} levels, which no CMDB export does.`, {
        hint: 'Export the records as a flat JSON array of objects, or as CSV.',
        details: { file: file.name, maxDepth: MAX_JSON_DEPTH },
      });
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw unreadable(file.name, `is not valid JSON: ${error instanceof Error ? error.message : String(error)}.`, 'Export the records again as JSON (an array of objects), or as CSV.', error);
    }
    const located = locateRecords(document);
    if (located.kind === 'none') throw unreadable(file.name, `cannot be imported: ${located.reason}.`, 'Upload a JSON array of records, { "records": [...] }, or a NetBox fixture.');
    if (located.kind === 'fixture') {
      const tables = fixtureToTables(file.name, located.objects);
      if (tables.length === 0) {
        throw unreadable(file.name, 'is a NetBox fixture with no devices, virtual machines, clusters or cables.', 'Dump the dcim and virtualization apps (manage.py dumpdata dcim virtualization ipam) and upload that file.');
      }
      return tables;
    }
    const { columns, rows } = recordsToTable(located.records);
    return [{ id: file.name, file: file.name, format: 'json', encoding, columns, rows }];
  }
  const { delimiter, columns, rows } = parseCsv(text);
  if (columns.length === 0) throw unreadable(file.name, 'has no header row.', 'Export the table again with column names on the first line.');
  // One column and no rows is what a binary or prose file looks like once split into lines.
  if (columns.length === 1 && rows.length > 0 && !looksLikeSingleColumn(columns[0], rows.length)) {
    throw unreadable(file.name, `does not look like a CSV export: no delimiter (, ; tab |) splits its lines into columns.`, 'Export the data as CSV with a header row, or as JSON or .xlsx.');
  }
  return [{ id: file.name, file: file.name, format: 'csv', encoding, delimiter, columns, rows }];
}

function looksLikeSingleColumn(header: string, rows: number): boolean {
  return rows >= 1 && header.length <= 64 && /^[\p{L}\p{N} _.()*#/-]+$/u.test(header);
}

/** Parses every uploaded file into tables; bad files fail with a DataError naming the file. */
export async function parseInputs(files: InputFile[], options: ParseOptions = {}): Promise<Table[]> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const total = files.reduce((sum, file) => sum + file.content.byteLength, 0);
  if (total > maxBytes) {
    throw new DataError('INPUT_TOO_LARGE', `The uploaded files total ${total} bytes, over the limit of ${maxBytes} bytes per workflow.`, {
      hint: `Split the export into several workflows under ${maxBytes} bytes each, or raise the configured limit.`,
      details: { total, maxBytes },
    });
  }
  if (files.length === 0) {
    throw new DataError('UNREADABLE_FILE', 'No file was uploaded: a workflow needs at least one CMDB export.', { hint: 'Attach a CSV, JSON or .xlsx export.' });
  }
  const tables: Table[] = [];
  const ids = new Set<string>();
  for (const file of files) {
    for (const table of await parseFile(file)) {
      // Two uploads with the same name must still be told apart downstream.
      let id = table.id;
      for (let n = 2; ids.has(id); n++) id = `${table.id}~${n}`;
      ids.add(id);
      tables.push({ ...table, id });
    }
  }
  return tables;
}
