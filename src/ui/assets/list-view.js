// The workflow list: filters in the URL, live over the all-workflows stream.
import { api } from './api.js';
import { age, label, lastError } from './format.js';
import { html, useEffect, useRef, useState } from './html.js';
import { Progress, StatusBadge } from './progress.js';
import { navigate, useHeadingFocus } from './router.js';
import { openStream } from './sse.js';
import { UploadPanel } from './upload-panel.js';
import { useNow, useReadOnly } from './hooks.js';

const PAGE = 50;

function filtersFrom(search) {
  const params = new URLSearchParams(search);
  return { status: params.get('status') ?? '', phase: params.get('phase') ?? '' };
}

const matches = (view, filters) => (!filters.status || view.status === filters.status) && (!filters.phase || view.phase === filters.phase);

/** Puts a streamed view where it belongs: replaced in place, added at the top, or dropped when it left the filter. */
function upsert(items, view, filters) {
  const index = items.findIndex((w) => w.id === view.id);
  if (index >= 0 && items[index].version > view.version) return items;
  if (!matches(view, filters)) return index >= 0 ? items.filter((w) => w.id !== view.id) : items;
  if (index >= 0) return items.map((w, i) => (i === index ? view : w));
  return [view, ...items].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

export function ListPage({ meta, search, setLive }) {
  const filters = filtersFrom(search);
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const readOnly = useReadOnly();
  const now = useNow(15_000);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  const query = (extra = {}) => {
    const params = new URLSearchParams({ limit: String(PAGE), ...extra });
    if (filters.status) params.set('status', filters.status);
    if (filters.phase) params.set('phase', filters.phase);
    return `/workflows?${params}`;
  };

  useEffect(() => {
    let cancelled = false;
    const load = () =>
      api(query())
        .then((page) => {
          if (cancelled) return;
          setItems(page.items);
          setCursor(page.nextCursor);
          setError(null);
        })
        .catch((e) => !cancelled && setError(e.message));
    let first = true;
    const close = openStream('/workflows/stream', {
      // Replayed changes (after a reconnect) come without a view; the list is loaded again on open anyway.
      on: { message: (change) => change.view && setItems((current) => (current ? upsert(current, change.view, filtersRef.current) : current)) },
      // Subscribe first, then list (and list again after a reconnect): no change falls in between.
      onOpen: () => {
        if (first) first = false;
        void load();
      },
      onEnd: () => true,
      onStatus: setLive,
    });
    return () => {
      cancelled = true;
      close();
      setLive(null);
    };
  }, [filters.status, filters.phase]);

  useHeadingFocus(true);
  const setFilter = (key) => (event) => {
    const next = { ...filters, [key]: event.currentTarget.value };
    const params = new URLSearchParams(Object.entries(next).filter(([, v]) => v));
    navigate(`/ui/${params.size ? `?${params}` : ''}`, { replace: true });
  };

  const more = async () => {
    try {
      const page = await api(query({ cursor }));
      setItems([...items, ...page.items.filter((w) => !items.some((x) => x.id === w.id))]);
      setCursor(page.nextCursor);
    } catch (e) {
      setError(e.message);
    }
  };

  return html`<div class="list-page">
    <h1 tabindex="-1" id="page-title">Workflows</h1>
    <div class="list-layout">
      <section class="panel" aria-labelledby="list-title">
        <div class="row spread">
          <h2 id="list-title">Recent workflows</h2>
          <div class="row filters" role="search" aria-label="Filter workflows">
            <div class="field inline">
              <label for="filter-status">Status</label>
              <select id="filter-status" value=${filters.status} onChange=${setFilter('status')}>
                <option value="">any</option>
                ${meta.statuses.map((s) => html`<option value=${s}>${label(s)}</option>`)}
              </select>
            </div>
            <div class="field inline">
              <label for="filter-phase">Phase</label>
              <select id="filter-phase" value=${filters.phase} onChange=${setFilter('phase')}>
                <option value="">any</option>
                ${meta.topPhases.map((p) => html`<option value=${p}>${label(p)}</option>`)}
              </select>
            </div>
          </div>
        </div>
        ${error && html`<p class="error" role="alert">${error}</p>`}
        ${items === null && !error && html`<p class="muted">Loading…</p>`}
        ${items !== null &&
        items.length === 0 &&
        html`<p class="empty">No workflows${filters.status || filters.phase ? ' match these filters' : ' yet'}.${readOnly ? '' : ' Drop a CMDB export on the right to start one.'}</p>`}
        ${items !== null &&
        items.length > 0 &&
        html`<div class="table-wrap"><table class="workflows" aria-labelledby="list-title">
          <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Phase</th><th scope="col">Progress</th><th scope="col">Age</th><th scope="col">Last error</th></tr></thead>
          <tbody>
            ${items.map((w) => {
              const err = lastError(w);
              return html`<tr key=${w.id} data-id=${w.id} data-status=${w.status}>
                <td><a href=${`/ui/workflows/${w.id}`}>${w.name}</a></td>
                <td><${StatusBadge} status=${w.status} /></td>
                <td>${label(w.phase)}</td>
                <td><${Progress} view=${w} phases=${meta.phases} /></td>
                <td><time datetime=${w.createdAt} title=${new Date(w.createdAt).toLocaleString()}>${age(w.createdAt, now)}</time></td>
                <td class="last-error">${err ? html`<span title=${err.hint}><code>${err.code}</code> ${err.message}</span>` : html`<span class="muted">—</span>`}</td>
              </tr>`;
            })}
          </tbody>
        </table></div>`}
        ${cursor && html`<button type="button" onClick=${more}>Load more</button>`}
      </section>
      ${readOnly
        ? html`<section class="panel"><h2>Read-only key</h2><p class="muted">This API key may read but not create or change workflows.</p></section>`
        : html`<${UploadPanel} />`}
    </div>
  </div>`;
}
