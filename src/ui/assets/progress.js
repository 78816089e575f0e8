// Six segments, one per step phase: done, current, failed or still to come.
import { html } from './html.js';
import { label, lastError } from './format.js';

export function phaseStates(view, phases) {
  const failedPhase = view.status === 'failed' ? lastError(view)?.phase : null;
  return phases.map((phase) => {
    const flag = view.flags?.[`${phase}_complete`];
    if (flag) return 'done';
    if (view.phase === phase) return view.status === 'awaiting_review' ? 'review' : view.status === 'backoff' ? 'backoff' : 'current';
    if (failedPhase === phase || (failedPhase === 'pending' && phase === phases[0])) return 'failed';
    return 'upcoming';
  });
}

export function Progress({ view, phases }) {
  const states = phaseStates(view, phases);
  const done = states.filter((s) => s === 'done').length;
  const now = phases[states.findIndex((s) => s !== 'done' && s !== 'upcoming')];
  const text = `${done} of ${phases.length} phases complete${now ? `; ${label(now)}: ${states[phases.indexOf(now)]}` : ''}`;
  return html`<div class="progress" role="img" aria-label=${text} title=${text}>
    ${phases.map((phase, i) => html`<span class=${`seg seg-${states[i]}`} data-phase=${phase}></span>`)}
    <span class="progress-count" aria-hidden="true">${done}/${phases.length}</span>
  </div>`;
}

export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status}`} data-status=${status}>${label(status)}</span>`;
}
