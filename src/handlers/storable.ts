// Text PostgreSQL cannot store: NUL (U+0000) in text and jsonb, and unpaired UTF-16 surrogates,
// which have no UTF-8 form. Such text must be refused where it enters, not fail a write later.
import { DataError } from './errors.ts';
import type { Table } from './types.ts';

const SUSPECT = /[\u0000\ud800-\udfff]/;
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const UNSTORABLE_TEXT_MESSAGE = 'holds a NUL character (U+0000) or an unpaired surrogate, which cannot be stored; remove it';

/**
 * Whether decoded file text could yield unstorable values: a NUL, or a JSON escape of NUL or of a
 * surrogate. Decoded text itself is always well-formed, so most files skip the per-cell check.
 */
export function mayHoldUnstorable(text: string): boolean {
  return /\u0000|\\u(0000|[dD][89a-fA-F])/.test(text);
}

export function isStorableText(text: string): boolean {
  return !SUSPECT.test(text) || !UNSTORABLE.test(text);
}

/** The text with every unstorable character shown as U+FFFD, for messages about it. */
export function printable(text: string): string {
  return text.replace(new RegExp(UNSTORABLE.source, 'g'), '\ufffd');
}

/**
 * Refuses a file whose parsed text PostgreSQL could not store, naming the file, row and column.
 * Refusing (rather than silently dropping characters) keeps the stored inventory identical to the
 * export; such characters are almost always the remains of a binary or mis-encoded file.
 */
export function assertStorable(table: Table): void {
  const fail = (where: string) =>
    new DataError('UNSTORABLE_TEXT', `File "${printable(table.file)}" ${where} ${UNSTORABLE_TEXT_MESSAGE} and upload the file again.`, {
      hint: 'Open the export in a text editor, remove the NUL or broken characters (or export it again as UTF-8), and upload it again.',
      details: { file: printable(table.file) },
    });
  for (const column of table.columns) if (!isStorableText(column)) throw fail(`has a column name ("${printable(column)}") that`);
  table.rows.forEach((row, index) => {
    for (const column of table.columns) {
      const value = row[column];
      if (typeof value === 'string' && !isStorableText(value)) throw fail(`row ${index + 1}, column "${printable(column)}",`);
    }
  });
}
