// Results: the asset inventory (sortable, filterable), quarantined records and the dependency graph.
import { Downloads } from './download.js';
import { label, percent } from './format.js';
import { DependencyGraph } from './graph.js';
import { html, useMemo, useState } from './html.js';

const COLUMNS = [
  { key: 'name', title: 'Name', get: (a) => a.name ?? a.hostname ?? a.fqdn ?? a.asset_key },
  { key: 'asset_type', title: 'Type', get: (a) => a.asset_type + (a.asset_subtype ? ` (${a.asset_subtype})` : '') },
  { key: 'environment', title: 'Environment', get: (a) => a.environment },
  { key: 'os_family', title: 'OS family', get: (a) => a.os_family ?? '' },
  { key: 'os_name', title: 'OS', get: (a) => [a.os_name, a.os_version].filter(Boolean).join(' ') },
  { key: 'application', title: 'Application', get: (a) => a.application ?? '' },
  { key: 'ip_addresses', title: 'IP addresses', get: (a) => (a.ip_addresses ?? []).join(', ') },
  { key: 'confidence', title: 'Confidence', get: (a) => a.classification?.confidence ?? 0, numeric: true },
];
const FACETS = [
  { key: 'asset_type', title: 'Type' },
  { key: 'environment', title: 'Environment' },
  { key: 'os_family', title: 'OS family' },
  { key: 'application', title: 'Application' },
];
const PAGE = 200;

const flattenAsset = (a) => ({ ...a, ip_addresses: (a.ip_addresses ?? []).join(';'), tags: JSON.stringify(a.tags ?? {}), classification: a.classification?.confidence, evidence: (a.classification?.evidence ?? []).join('; '), attributes: JSON.stringify(a.attributes ?? {}) });

export function AssetTable({ assets, base }) {
  const [sort, setSort] = useState({ key: 'name', dir: 1 });
  const [facets, setFacets] = useState({});
  const [text, setText] = useState('');
  const [limit, setLimit] = useState(PAGE);
  const options = useMemo(() => Object.fromEntries(FACETS.map((f) => [f.key, [...new Set(assets.map((a) => a[f.key] ?? ''))].sort()])), [assets]);
  const rows = useMemo(() => {
    const needle = text.trim().toLowerCase();
    const col = COLUMNS.find((c) => c.key === sort.key);
    return assets
      .filter((a) => FACETS.every((f) => !facets[f.key] || (a[f.key] ?? '') === (facets[f.key] === '(none)' ? '' : facets[f.key])))
      .filter((a) => !needle || COLUMNS.some((c) => String(c.get(a)).toLowerCase().includes(needle)) || a.asset_key.toLowerCase().includes(needle))
      .sort((x, y) => {
        const a = col.get(x);
        const b = col.get(y);
        return (col.numeric ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true })) * sort.dir;
      });
  }, [assets, sort, facets, text]);

  const toggle = (key) => setSort(sort.key === key ? { key, dir: -sort.dir } : { key, dir: 1 });
  return html`<div class="assets">
    <div class="row filters" role="search" aria-label="Filter assets">
      <div class="field inline"><label for="asset-search">Search</label>
        <input id="asset-search" type="search" value=${text} onInput=${(e) => setText(e.currentTarget.value)} placeholder="name, IP, OS…" /></div>
      ${FACETS.map(
        (f) => html`<div class="field inline"><label for=${`asset-${f.key}`}>${f.title}</label>
          <select id=${`asset-${f.key}`} value=${facets[f.key] ?? ''} onChange=${(e) => setFacets({ ...facets, [f.key]: e.currentTarget.value })}>
            <option value="">any</option>
            ${options[f.key].map((v) => html`<option value=${v || '(none)'}>${v ? label(v) : '(none)'}</option>`)}
          </select></div>`,
      )}
    </div>
    <div class="row spread">
      <p class="muted" aria-live="polite">${rows.length} of ${assets.length} assets</p>
      <${Downloads} what="assets" base=${`${base}-assets`} rows=${rows} flatten=${flattenAsset} />
    </div>
    <div class="table-wrap tall" tabindex="0" role="region" aria-label="Asset inventory"><table class="asset-table">
      <caption class="sr-only">Asset inventory; column headers sort</caption>
      <thead><tr>
        ${COLUMNS.map(
          (c) => html`<th scope="col" aria-sort=${sort.key === c.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none'}>
            <button type="button" class="sort" onClick=${() => toggle(c.key)}>${c.title}<span aria-hidden="true">${sort.key === c.key ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}</span></button>
          </th>`,
        )}
      </tr></thead>
      <tbody>
        ${rows.slice(0, limit).map(
          (a) => html`<tr key=${a.asset_key} data-key=${a.asset_key}>
            ${COLUMNS.map((c) => (c.key === 'confidence' ? html`<td>${percent(c.get(a))}</td>` : c.key === 'asset_type' ? html`<td><span class=${`type-dot type-${a.asset_type}`} aria-hidden="true"></span>${label(c.get(a))}</td>` : html`<td>${label(c.get(a)) || html`<span class="muted">—</span>`}</td>`))}
          </tr>`,
        )}
      </tbody>
    </table></div>
    ${rows.length > limit && html`<button type="button" onClick=${() => setLimit(limit + PAGE)}>Show ${Math.min(PAGE, rows.length - limit)} more</button>`}
  </div>`;
}

const flattenQuarantine = (q) => ({
  table: q.table,
  row: q.row, // the API counts rows from 1, as the CLI and the messages do
  findings: q.findings.map((f) => `${f.severity} ${f.code}${f.column ? ` (${f.column})` : ''}: ${f.message}`).join(' | '),
  record: JSON.stringify(q.record),
});

export function Quarantine({ items, base }) {
  if (!items.length) return html`<p class="empty">No record was quarantined.</p>`;
  return html`<div>
    <${Downloads} what="quarantined records" base=${`${base}-quarantine`} rows=${items} flatten=${flattenQuarantine} />
    <div class="table-wrap tall" tabindex="0" role="region" aria-label="Quarantined records"><table class="quarantine">
      <caption class="sr-only">Quarantined records with their findings</caption>
      <thead><tr><th scope="col">Table</th><th scope="col">Row</th><th scope="col">Findings</th><th scope="col">Record</th></tr></thead>
      <tbody>
        ${items.map(
          (q) => html`<tr key=${`${q.table}:${q.row}`}>
            <td>${q.table}</td><td>${q.row}</td>
            <td><ul class="findings">${q.findings.map((f) => html`<li class=${`finding-${f.severity}`}><span class=${`badge sev-${f.severity}`}>${f.severity}</span> <code>${f.code}</code>${f.column ? html` <em>${f.column}</em>` : ''}: ${f.message}</li>`)}</ul></td>
            <td><details><summary>${Object.keys(q.record).length} fields</summary><dl class="record">${Object.entries(q.record).map(([k, v]) => html`<dt>${k}</dt><dd>${v === null ? '—' : String(v)}</dd>`)}</dl></details></td>
          </tr>`,
        )}
      </tbody>
    </table></div>
  </div>`;
}

export function Results({ data, base, summary }) {
  if (!data) return html`<p class="muted">Loading results…</p>`;
  if (data.error) return html`<p class="error" role="alert">${data.error}</p>`;
  return html`<div class="results stack">
    <section aria-labelledby="assets-title">
      <h3 id="assets-title">Assets <span class="count">${data.assets.length}</span></h3>
      ${data.assets.length ? html`<${AssetTable} assets=${data.assets} base=${base} />` : html`<p class="empty">No assets yet: they land in the database in the last phase.</p>`}
    </section>
    <section aria-labelledby="quarantine-title">
      <h3 id="quarantine-title">Quarantined records <span class="count">${data.quarantine.length}</span></h3>
      <${Quarantine} items=${data.quarantine} base=${base} />
    </section>
    <section aria-labelledby="graph-title">
      <h3 id="graph-title">Dependency graph <span class="count">${data.dependencies.length} edges</span></h3>
      <${DependencyGraph} assets=${data.assets} edges=${data.dependencies} base=${base} summary=${summary} />
    </section>
  </div>`;
}
