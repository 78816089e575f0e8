// One workflow at /ui/workflows/<id>: live over its stream; tabs for the overview (statechart,
// actions, review), the step timeline, the audit trail, the mappings and the results.
import { Actions } from './actions.js';
import { api, fetchAll } from './api.js';
import { AuditTrail } from './audit-trail.js';
import { age, dateTime, duration, label, lastError, percent } from './format.js';
import { html, useEffect, useRef, useState } from './html.js';
import { useNow, useReadOnly } from './hooks.js';
import { MappingTable } from './mappings.js';
import { Progress, StatusBadge } from './progress.js';
import { Results } from './results.js';
import { navigate, useHeadingFocus } from './router.js';
import { openStream } from './sse.js';
import { Statechart } from './statechart.js';
import { Timeline } from './timeline.js';

const TABS = [
  { id: 'overview', title: 'Overview' },
  { id: 'timeline', title: 'Timeline' },
  { id: 'audit', title: 'Audit trail' },
  { id: 'mappings', title: 'Mappings' },
  { id: 'results', title: 'Results' },
];
const ENDED = new Set(['completed', 'failed', 'needs_migration']);

let machinePromise = null;
/** GET /machine once per page: the machine does not change while the service runs. */
function loadMachine() {
  machinePromise ??= api('/machine').catch((error) => {
    machinePromise = null;
    throw error;
  });
  return machinePromise;
}

function Tabs({ current, onSelect, counts }) {
  const refs = useRef({});
  const onKey = (event) => {
    const i = TABS.findIndex((t) => t.id === current);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const tab = TABS[(next + TABS.length) % TABS.length];
    onSelect(tab.id);
    refs.current[tab.id]?.focus();
  };
  return html`<div class="tabs" role="tablist" aria-label="Workflow sections" onKeyDown=${onKey}>
    ${TABS.map(
      (t) => html`<button
        type="button"
        role="tab"
        id=${`tab-${t.id}`}
        ref=${(el) => (refs.current[t.id] = el)}
        aria-selected=${String(t.id === current)}
        aria-controls=${`panel-${t.id}`}
        tabindex=${t.id === current ? '0' : '-1'}
        onClick=${() => onSelect(t.id)}
      >${t.title}${counts[t.id] !== undefined ? html` <span class="count">${counts[t.id]}</span>` : ''}</button>`,
    )}
  </div>`;
}

function Summary({ view }) {
  const c = view.context ?? {};
  const items = [
    c.cmdb_data && ['Records', `${c.cmdb_data.records} in ${c.cmdb_data.tables?.length ?? 0} table(s)`],
    c.source_analysis && ['Source', `${label(c.source_analysis.system)} (${percent(c.source_analysis.confidence)})`],
    c.validation_results && ['Validation', `${c.validation_results.valid} valid, ${c.validation_results.quarantined} quarantined, ${c.validation_results.warnings} warnings`],
    c.field_mappings && ['Mappings', `${c.field_mappings.mapped}/${c.field_mappings.columns} columns mapped, average confidence ${percent(c.field_mappings.averageConfidence)}${c.field_mappings.overridden ? `, ${c.field_mappings.overridden} overridden` : ''}`],
    c.asset_classes && ['Assets', Object.entries(c.asset_classes.byType ?? {}).map(([k, v]) => `${v} ${label(k)}`).join(', ') || '0'],
    c.dependencies && ['Dependencies', `${c.dependencies.edges} edges, ${c.dependencies.applicationGroups} groups, ${c.dependencies.unresolvedEndpoints} unresolved`],
    c.database_operations && ['Database', `assets +${c.database_operations.assets?.inserted ?? 0} ~${c.database_operations.assets?.updated ?? 0}, dependencies +${c.database_operations.dependencies?.inserted ?? 0}`],
  ].filter(Boolean);
  if (!items.length) return null;
  return html`<dl class="summary">${items.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

function Errors({ errors }) {
  if (!errors?.length) return null;
  return html`<section aria-labelledby="errors-title" class="errors">
    <h3 id="errors-title">Errors <span class="count">${errors.length}</span></h3>
    <ol reversed>
      ${[...errors].reverse().map(
        (e) => html`<li class=${`error-item${e.retryable ? ' retryable' : ''}`}>
          <div><code>${e.code}</code> in <strong>${label(e.phase)}</strong>, attempt ${e.attempt} <span class="muted">${dateTime(e.at)}</span></div>
          <div>${e.message}</div>
          ${e.hint && html`<div class="hint">Hint: ${e.hint}</div>`}
        </li>`,
      )}
    </ol>
  </section>`;
}

export function DetailPage({ id, meta, hash, setLive }) {
  const [view, setView] = useState(null);
  const [error, setError] = useState(null);
  const [machine, setMachine] = useState(null);
  const [steps, setSteps] = useState(null);
  const [history, setHistory] = useState(null);
  const [mappings, setMappings] = useState(null);
  const [results, setResults] = useState(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState(null);
  const [streamEpoch, setStreamEpoch] = useState(0);
  const readOnly = useReadOnly();
  const now = useNow(view?.status === 'backoff' ? 500 : 10_000);
  // Any other hash (#review, an anchor on the overview) shows the overview.
  const tab = TABS.some((t) => `#${t.id}` === hash) ? hash.slice(1) : 'overview';
  useHeadingFocus(view !== null || error !== null);
  const selectTab = (t) => navigate(`/ui/workflows/${id}#${t}`, { replace: true });

  useEffect(() => {
    loadMachine().then(setMachine, (e) => setError(`The machine definition could not be loaded: ${e.message}`));
  }, []);

  // The stream sends the current view first, then every committed change; it ends at a terminal state.
  useEffect(() => {
    setError(null);
    const close = openStream(`/workflows/${encodeURIComponent(id)}/stream`, {
      on: { message: (change) => change.view && setView((cur) => (cur && cur.version > change.view.version ? cur : change.view)) },
      onStatus: setLive,
      onEnd: () => false,
    });
    api(`/workflows/${encodeURIComponent(id)}`).then(
      (next) => setView((cur) => (cur && cur.version >= next.version ? cur : next)),
      (e) => setError(e.status === 404 ? `No workflow has id ${id}.` : e.message),
    );
    return () => {
      close();
      setLive(null);
    };
  }, [id, streamEpoch]);

  // Side data follows the view's version; a burst of changes costs one fetch per resource.
  const version = view?.version ?? 0;
  useEffect(() => {
    if (!view) return undefined;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      const signal = controller.signal;
      const base = `/workflows/${encodeURIComponent(id)}`;
      const ignore = (e) => e.name !== 'AbortError' && setError(e.message);
      fetchAll(`${base}/steps`, { signal }).then((r) => setSteps(r.items), ignore);
      fetchAll(`${base}/history`, { signal, max: 5000 }).then((r) => setHistory(r), ignore);
      if (view.flags.field_mapping_complete || view.status === 'awaiting_review' || tab === 'mappings') {
        fetchAll(`${base}/mappings`, { signal }).then((r) => setMappings(r.items), ignore);
      }
      if (tab === 'results' || view.status === 'completed') {
        Promise.all([fetchAll(`${base}/assets`, { signal }), fetchAll(`${base}/quarantine`, { signal }), fetchAll(`${base}/dependencies`, { signal })]).then(
          ([assets, quarantine, dependencies]) => setResults({ assets: assets.items, quarantine: quarantine.items, dependencies: dependencies.items }),
          (e) => e.name !== 'AbortError' && setResults({ error: e.message }),
        );
      }
    }, 150);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [id, version, tab === 'results', tab === 'mappings']);

  const send = async (event) => {
    setBusy(true);
    setActionError(null);
    try {
      const next = await api(`/workflows/${encodeURIComponent(id)}/events`, { method: 'POST', body: event, idempotent: true });
      setView((cur) => (cur && cur.version > next.version ? cur : next));
      // A retried workflow lives again: its ended stream is opened anew.
      if (!ENDED.has(next.status)) setStreamEpoch((n) => n + 1);
      if (event.type === 'APPROVE_MAPPINGS') setMappings(null);
    } catch (e) {
      const accepted = e.body?.accepted ? ` It accepts: ${e.body.accepted.join(', ') || 'nothing'}.` : '';
      setActionError(`${e.message}${accepted}${e.body?.hint ? ` ${e.body.hint}` : ''}`);
    } finally {
      setBusy(false);
    }
  };

  if (error && !view) return html`<div><h1 tabindex="-1" id="page-title">Workflow</h1><p class="error" role="alert">${error}</p><p><a href="/ui/">Back to the list</a></p></div>`;
  if (!view) return html`<div><h1 tabindex="-1" id="page-title">Workflow</h1><p class="muted">Loading…</p></div>`;

  const err = lastError(view);
  const base = view.name.replace(/[^\w.-]+/g, '_').slice(0, 60) || view.id;
  const reviewing = view.status === 'awaiting_review';
  return html`<div class="detail" data-status=${view.status} data-version=${view.version}>
    <nav aria-label="Breadcrumb" class="crumbs"><a href="/ui/">Workflows</a> / <span>${view.name}</span></nav>
    <header class="detail-head">
      <div>
        <h1 tabindex="-1" id="page-title">${view.name}</h1>
        <p class="muted small"><code>${view.id}</code> · created ${age(view.createdAt, now)} · updated ${age(view.updatedAt, now)} · version ${view.version}</p>
      </div>
      <div class="head-status" aria-live="polite">
        <${StatusBadge} status=${view.status} />
        <span class="phase-name">${label(view.phase)}</span>
        ${view.status === 'backoff' && view.wakeAt && html`<span class="muted">retry in ${duration(Math.max(0, new Date(view.wakeAt).getTime() - now))}</span>`}
        <${Progress} view=${view} phases=${meta.phases} />
      </div>
    </header>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <${Tabs} current=${tab} onSelect=${selectTab} counts=${{ timeline: steps?.length, audit: history?.items.length, mappings: mappings?.length, results: results?.assets?.length }} />

    <section role="tabpanel" id="panel-overview" aria-labelledby="tab-overview" hidden=${tab !== 'overview'} class="stack">
      <div class="panel">
        <h2>Actions</h2>
        <${Actions} view=${view} phases=${meta.phases} send=${send} busy=${busy} readOnly=${readOnly} />
        ${actionError && html`<p class="error" role="alert">${actionError}</p>`}
      </div>
      ${reviewing &&
      html`<div class="panel review" id="review">
        <h2>Mapping review</h2>
        ${mappings === null
          ? html`<p class="muted">Loading mappings…</p>`
          : readOnly
            ? html`<${MappingTable} rows=${mappings} targets=${meta.mappingTargets} editable=${false} />`
            : html`<${MappingTable} rows=${mappings} targets=${meta.mappingTargets} editable=${view.accepted.includes('APPROVE_MAPPINGS')} busy=${busy} reasons=${view.review?.reasons ?? []}
                onApprove=${(overrides) => send(Object.keys(overrides).length ? { type: 'APPROVE_MAPPINGS', overrides } : { type: 'APPROVE_MAPPINGS' })} />`}
      </div>`}
      <div class="panel">
        <h2>Statechart</h2>
        ${machine ? html`<${Statechart} definition=${machine} view=${view} />` : html`<p class="muted">Loading the machine…</p>`}
      </div>
      ${err && view.status === 'failed' && html`<div class="panel failure-banner" role="status"><strong>Failed in ${label(err.phase)}:</strong> <code>${err.code}</code> ${err.message}${err.hint ? html`<div class="hint">Hint: ${err.hint}</div>` : ''}</div>`}
      <div class="panel"><h2>Outputs</h2><${Summary} view=${view} /><${Errors} errors=${view.errors} /></div>
    </section>

    <section role="tabpanel" id="panel-timeline" aria-labelledby="tab-timeline" hidden=${tab !== 'timeline'} class="panel">
      <h2>Step timeline</h2>
      ${steps === null ? html`<p class="muted">Loading…</p>` : html`<${Timeline} steps=${steps} view=${view} phases=${meta.phases} now=${now} />`}
    </section>

    <section role="tabpanel" id="panel-audit" aria-labelledby="tab-audit" hidden=${tab !== 'audit'} class="panel">
      <h2>Audit trail</h2>
      ${history === null ? html`<p class="muted">Loading…</p>` : html`<${AuditTrail} items=${history.items} truncated=${history.truncated} />`}
    </section>

    <section role="tabpanel" id="panel-mappings" aria-labelledby="tab-mappings" hidden=${tab !== 'mappings'} class="panel">
      <h2>Field mappings</h2>
      ${reviewing && html`<p class="note">Awaiting review: edit and approve them on the <a href=${`/ui/workflows/${id}#overview`}>overview</a>.</p>`}
      ${mappings === null ? html`<p class="muted">${view.flags.field_mapping_complete || reviewing ? 'Loading…' : 'The mapping phase has not run yet.'}</p>` : html`<${MappingTable} rows=${mappings} targets=${meta.mappingTargets} editable=${false} />`}
    </section>

    <section role="tabpanel" id="panel-results" aria-labelledby="tab-results" hidden=${tab !== 'results'} class="panel">
      <h2>Results</h2>
      ${tab === 'results' && html`<${Results} data=${results} base=${base} summary=${view.context?.dependencies} />`}
    </section>
  </div>`;
}
