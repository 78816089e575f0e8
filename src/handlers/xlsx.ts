// Excel workbooks through exceljs. Each sheet with data is a table; RVTools workbooks
// are cut down to their inventory sheets because the others repeat one row per VM detail.
import type ExcelJS from 'exceljs';
import type { Cell, Row, Table } from './types.ts';
import { uniqueColumns } from './csv.ts';

const RVTOOLS_SHEETS = new Set(['vinfo', 'vhost', 'vcluster']);
const HEADER_SCAN_ROWS = 20;

function cellValue(value: ExcelJS.CellValue): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.trim() === '' ? null : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) {
    const iso = value.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if ('richText' in value) return value.richText.map((part) => part.text).join('').trim() || null;
  if ('error' in value) return null;
  if ('hyperlink' in value) return typeof value.text === 'string' ? value.text : String(value.hyperlink);
  if ('result' in value) return value.result === undefined ? null : cellValue(value.result as ExcelJS.CellValue);
  return null;
}

function sheetRows(sheet: ExcelJS.Worksheet): Cell[][] {
  const rows: Cell[][] = [];
  sheet.eachRow({ includeEmpty: false }, (row) => {
    const cells: Cell[] = [];
    row.eachCell({ includeEmpty: true }, (cell, column) => {
      cells[column - 1] = cellValue(cell.value);
    });
    for (let index = 0; index < cells.length; index++) if (cells[index] === undefined) cells[index] = null;
    rows.push(cells);
  });
  return rows;
}

/** Hand-made sheets often start with a title row: the header is the first row about as wide as the data. */
function headerIndex(rows: Cell[][]): number {
  const filled = rows.slice(0, HEADER_SCAN_ROWS).map((row) => row.filter((cell) => cell !== null).length);
  const widest = Math.max(0, ...filled);
  const found = filled.findIndex((count) => count >= Math.max(2, Math.ceil(widest * 0.6)));
  return found === -1 ? 0 : found;
}

export async function parseWorkbook(file: string, bytes: Uint8Array): Promise<Table[]> {
  // Loaded on the first workbook: exceljs costs each thread that imports it about 19 MB of memory.
  const { default: Excel } = await import('exceljs');
  const workbook = new Excel.Workbook();
  // exceljs types want Node's Buffer; a view over the same memory avoids a copy.
  await workbook.xlsx.load(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as unknown as Parameters<ExcelJS.Xlsx["load"]>[0]);
  const sheets = workbook.worksheets.filter((sheet) => sheet.actualRowCount > 0);
  const isRvtools = sheets.some((sheet) => sheet.name.toLowerCase() === 'vinfo');
  const chosen = isRvtools ? sheets.filter((sheet) => RVTOOLS_SHEETS.has(sheet.name.toLowerCase())) : sheets;
  const tables: Table[] = [];
  const names: string[] = [];
  for (const sheet of chosen) {
    const rows = sheetRows(sheet);
    if (rows.length === 0) continue;
    const header = headerIndex(rows);
    const columns = uniqueColumns(rows[header].map((cell, index) => (cell === null ? `column_${index + 1}` : String(cell))));
    const records: Row[] = [];
    for (let index = header + 1; index < rows.length; index++) {
      const cells = rows[index];
      if (cells.every((cell) => cell === null)) continue;
      while (cells.length > columns.length) columns.push(`column_${columns.length + 1}`);
      const row: Row = {};
      for (let column = 0; column < columns.length; column++) row[columns[column]] = cells[column] ?? null;
      records.push(row);
    }
    tables.push({ id: file, file, format: 'xlsx', encoding: 'binary', columns, rows: records });
    names.push(sheet.name);
  }
  // A single data sheet keeps the plain file name; several are told apart by sheet name.
  if (tables.length > 1) tables.forEach((table, index) => (table.id = `${file}#${names[index]}`));
  return tables;
}
