// CSV and JSON downloads of what a table shows, built in the browser.
import { html } from './html.js';

function cell(value) {
  if (value === null || value === undefined) return '';
  let text = Array.isArray(value) ? value.join('; ') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // A cell starting with = + - @ is a formula to a spreadsheet: keep it text.
  if (/^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(rows, columns = [...new Set(rows.flatMap((r) => Object.keys(r)))]) {
  const lines = [columns.map(cell).join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Two buttons: the rows as CSV (flattened with `flatten`) and as JSON. */
export function Downloads({ what, base, rows, flatten = (r) => r, columns }) {
  const disabled = rows.length === 0;
  return html`<div class="row downloads" role="group" aria-label=${`Download ${what}`}>
    <button type="button" disabled=${disabled} onClick=${() => download(`${base}.csv`, toCsv(rows.map(flatten), columns), 'text/csv;charset=utf-8')}>
      Download ${what} as CSV
    </button>
    <button type="button" disabled=${disabled} onClick=${() => download(`${base}.json`, `${JSON.stringify(rows, null, 2)}\n`, 'application/json')}>
      Download ${what} as JSON
    </button>
  </div>`;
}
