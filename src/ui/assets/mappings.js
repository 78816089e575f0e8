// The column → field mapping table; editable at the review point, where APPROVE_MAPPINGS sends
// the changed targets as overrides.
import { html, useMemo, useState } from './html.js';
import { label, percent } from './format.js';

const DECIDED_BY = {
  header: 'the header: its name, a known synonym or a similar name',
  values: 'the values alone: what most of them look like',
  header_and_values: 'the header, confirmed by the values',
  content: "the table's content: its values name records of another table",
  override: 'set by a reviewer',
  none: 'no match: kept under attributes',
};

/** The override key for a row: the bare column when it is unambiguous, else `table:column`. */
function overrideKey(row, rows) {
  const same = rows.filter((r) => r.source === row.source);
  return same.length > 1 ? `${row.file}:${row.source}` : row.source;
}

export function overridesFrom(rows, targets) {
  const overrides = {};
  for (const row of rows) {
    const id = `${row.file}:${row.source}`;
    if (targets[id] !== undefined && targets[id] !== row.target) overrides[overrideKey(row, rows)] = targets[id];
  }
  return overrides;
}

function Confidence({ value }) {
  const level = value >= 0.85 ? 'high' : value >= 0.6 ? 'medium' : 'low';
  return html`<span class=${`confidence confidence-${level}`}>
    <meter min="0" max="1" low="0.6" high="0.85" optimum="1" value=${value} aria-label=${`confidence ${percent(value)}`}></meter>
    <span>${percent(value)}</span>
  </span>`;
}

/** The deciding evidence first; the rest (header readings, value shares, lost claims) on demand. */
function Evidence({ row }) {
  const evidence = row.evidence ?? [];
  const decided = row.decidedBy ?? row.reason;
  return html`<span class="evidence">
    <span class="decided-by" title=${DECIDED_BY[decided] ?? ''}>${label(decided)}</span>
    ${evidence.length > 0 &&
    html`<details>
      <summary>${evidence[0]}</summary>
      ${evidence.length > 1 && html`<ul>${evidence.slice(1).map((item) => html`<li>${item}</li>`)}</ul>`}
    </details>`}
  </span>`;
}

/** "CODE: text" review reasons with the code set apart. */
function Reason({ text }) {
  const match = /^([A-Z_]+): (.*)$/s.exec(text);
  return match ? html`<li><code>${match[1]}</code> ${match[2]}</li>` : html`<li>${text}</li>`;
}

export function MappingTable({ rows, targets: options, editable, onApprove, busy, reasons = [] }) {
  const [targets, setTargets] = useState({});
  const [filter, setFilter] = useState('');
  const overrides = useMemo(() => overridesFrom(rows, targets), [rows, targets]);
  const changed = Object.keys(overrides).length;
  const shown = filter ? rows.filter((r) => `${r.file} ${r.source} ${r.target}`.toLowerCase().includes(filter.toLowerCase())) : rows;

  return html`<div class="mappings">
    ${editable && reasons.length > 0 && html`<div class="review-reasons"><strong>Why review:</strong><ul>${reasons.map((r) => html`<${Reason} text=${r} />`)}</ul></div>`}
    <div class="row spread">
      <div class="field inline">
        <label for="mapping-filter">Filter columns</label>
        <input id="mapping-filter" type="search" value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} />
      </div>
      ${editable &&
      html`<div class="row">
        <button type="button" disabled=${changed === 0 || busy} onClick=${() => setTargets({})}>Reset changes</button>
        <button type="button" class="primary" disabled=${busy} data-testid="approve" onClick=${() => onApprove(overrides)}>
          Approve mappings${changed ? ` (${changed} changed)` : ''}
        </button>
      </div>`}
    </div>
    <div class="table-wrap"><table class="mapping-table">
      <caption>${rows.length} columns${editable ? ': change a target, then approve' : ''}</caption>
      <thead><tr><th scope="col">Table</th><th scope="col">Column</th><th scope="col">Target field</th><th scope="col">Confidence</th><th scope="col">Decided by</th></tr></thead>
      <tbody>
        ${shown.map((row) => {
          const id = `${row.file}:${row.source}`;
          const value = targets[id] ?? row.target;
          const isChanged = value !== row.target;
          return html`<tr key=${id} class=${isChanged ? 'is-changed' : ''} data-column=${row.source} data-target=${row.target}>
            <td>${row.file}</td>
            <th scope="row">${row.source}</th>
            <td>${editable
              ? html`<select aria-label=${`Target field for ${row.source} (${row.file})`} value=${value} onChange=${(e) => setTargets({ ...targets, [id]: e.currentTarget.value })}>
                  ${options.map((t) => html`<option value=${t}>${t}</option>`)}
                </select>${isChanged ? html` <span class="changed-mark">was ${row.target}</span>` : ''}`
              : html`<code>${row.target}</code>`}</td>
            <td><${Confidence} value=${row.confidence} /></td>
            <td><${Evidence} row=${row} /></td>
          </tr>`;
        })}
      </tbody>
    </table></div>
  </div>`;
}
