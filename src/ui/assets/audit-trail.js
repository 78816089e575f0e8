// The audit trail: every persisted change, oldest first.
import { duration, label, stateName, time } from './format.js';
import { html } from './html.js';

const shortEvent = (type) => type.replace(/^xstate\.done\.actor\./, 'done: ').replace(/^xstate\.error\.actor\./, 'error: ');

export function AuditTrail({ items, truncated }) {
  if (!items.length) return html`<p class="empty">No audit rows yet.</p>`;
  return html`<div class="table-wrap"><table class="audit">
    <caption>Audit trail${truncated ? ' (first rows only)' : ''}</caption>
    <thead><tr><th scope="col">#</th><th scope="col">At</th><th scope="col">Event</th><th scope="col">Transition</th><th scope="col">State</th><th scope="col">Time in previous state</th><th scope="col">Actor</th><th scope="col">Payload</th></tr></thead>
    <tbody>
      ${items.map(
        (row) => html`<tr key=${row.seq} data-seq=${row.seq}>
          <td>${row.seq}</td>
          <td><time datetime=${row.at} title=${new Date(row.at).toLocaleString()}>${time(row.at)}</time></td>
          <td><code>${shortEvent(row.eventType)}</code></td>
          <td>${row.fromPhase ? html`${label(row.fromPhase)} → ` : ''}${label(row.toPhase)}</td>
          <td><span class=${`badge status-${row.status}`}>${label(stateName(row.value))}</span></td>
          <td>${row.durationMs === null ? '—' : duration(row.durationMs)}</td>
          <td>${row.actor ?? html`<span class="muted">—</span>`}${row.correlationId && html`<div class="muted small" title=${`correlation id ${row.correlationId}`}>${row.correlationId.slice(0, 8)}…</div>`}</td>
          <td><details><summary>event</summary><pre>${JSON.stringify(row.event, null, 2)}</pre></details></td>
        </tr>`,
      )}
    </tbody>
  </table></div>`;
}
