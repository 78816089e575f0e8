// The events the current state accepts (view.accepted), and only those.
import { html, useState } from './html.js';
import { label, lastError } from './format.js';

export function Actions({ view, phases, send, busy, readOnly }) {
  const [fromPhase, setFromPhase] = useState('');
  const [reason, setReason] = useState('');
  const accepted = view.accepted ?? [];
  if (readOnly) return html`<p class="muted" data-testid="read-only">This API key is read-only: no actions.</p>`;
  const actionable = accepted.filter((e) => e !== 'APPROVE_MAPPINGS');
  if (!accepted.length) return html`<p class="muted">No actions: ${view.status === 'completed' ? 'the workflow is complete' : `a ${label(view.status)} workflow takes no events`}.</p>`;

  const err = lastError(view);
  const failedPhase = err ? (err.phase === 'pending' ? phases[0] : err.phase) : phases[0];
  const earlier = phases.slice(0, Math.max(1, phases.indexOf(failedPhase) + 1));

  return html`<div class="actions" role="group" aria-label="Actions">
    ${accepted.includes('START') &&
    html`<div class="action"><button type="button" class="primary" disabled=${busy} onClick=${() => send({ type: 'START' })}>Start</button></div>`}
    ${accepted.includes('RETRY') &&
    html`<form class="action row" onSubmit=${(e) => {
      e.preventDefault();
      send(fromPhase ? { type: 'RETRY', fromPhase } : { type: 'RETRY' });
    }}>
      <div class="field inline">
        <label for="retry-from">Restart from</label>
        <select id="retry-from" value=${fromPhase} onChange=${(e) => setFromPhase(e.currentTarget.value)}>
          <option value="">${label(failedPhase)} (where it failed)</option>
          ${earlier.filter((p) => p !== failedPhase).map((p) => html`<option value=${p}>${label(p)}</option>`)}
        </select>
      </div>
      <button type="submit" class="primary" disabled=${busy}>Retry</button>
    </form>`}
    ${accepted.includes('CANCEL') &&
    html`<form class="action row" onSubmit=${(e) => {
      e.preventDefault();
      send(reason.trim() ? { type: 'CANCEL', reason: reason.trim() } : { type: 'CANCEL' });
    }}>
      <div class="field inline">
        <label for="cancel-reason">Reason</label>
        <input id="cancel-reason" maxlength="500" value=${reason} placeholder="wrong export" onInput=${(e) => setReason(e.currentTarget.value)} />
      </div>
      <button type="submit" class="danger" disabled=${busy}>Cancel workflow</button>
    </form>`}
    ${accepted.includes('APPROVE_MAPPINGS') && html`<p class="action note">Mappings await review: <a href="#review">check and approve them below</a>.</p>`}
    ${actionable.length === 0 && !accepted.includes('APPROVE_MAPPINGS') && html`<p class="muted">No actions.</p>`}
  </div>`;
}
