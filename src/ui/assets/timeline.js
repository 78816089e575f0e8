// One bar per step attempt on a shared time axis, one row per phase; waits between attempts
// (backoff after a failure, or the review) drawn between the bars.
import { duration, label, time } from './format.js';
import { html } from './html.js';

const FAILED = new Set(['failed', 'timed_out']);

export function timelineRows(steps, view, phases, now = Date.now()) {
  const ms = (iso) => (iso ? new Date(iso).getTime() : null);
  const starts = steps.map((s) => ms(s.startedAt));
  const ends = steps.map((s) => ms(s.endedAt) ?? now);
  const wakeAt = view?.status === 'backoff' && view.wakeAt ? ms(view.wakeAt) : null;
  const t0 = Math.min(...starts);
  const t1 = Math.max(...ends, wakeAt ?? 0, t0 + 1);
  const rows = phases.map((phase) => {
    const runs = steps.filter((s) => s.phase === phase).sort((a, b) => ms(a.startedAt) - ms(b.startedAt));
    const gaps = [];
    runs.forEach((run, i) => {
      const next = runs[i + 1];
      const end = ms(run.endedAt);
      if (next && end !== null) gaps.push({ from: end, to: ms(next.startedAt), kind: FAILED.has(run.outcome) ? 'backoff' : run.outcome === 'cancelled' || run.outcome === 'interrupted' ? 'stopped' : 'wait' });
    });
    if (wakeAt && view.phase === phase && runs.length) {
      const end = ms(runs[runs.length - 1].endedAt);
      if (end !== null) gaps.push({ from: end, to: wakeAt, kind: 'backoff', pending: true });
    }
    return { phase, runs, gaps };
  });
  return { t0, t1, rows };
}

export function Timeline({ steps, view, phases, now }) {
  if (!steps.length) return html`<p class="empty">No step has run yet.</p>`;
  const { t0, t1, rows } = timelineRows(steps, view, phases, now);
  const span = t1 - t0;
  const pos = (t) => `${(((t - t0) / span) * 100).toFixed(3)}%`;
  const width = (a, b) => `max(3px, ${(((b - a) / span) * 100).toFixed(3)}%)`;
  const failures = steps.filter((s) => s.error);
  return html`<div class="timeline">
    <div class="tl-chart" role="img" aria-label=${`Step timeline: ${steps.length} attempts over ${duration(span)}; the table below lists them.`}>
      <div class="tl-axis" aria-hidden="true">
        ${[0, 0.25, 0.5, 0.75, 1].map((f) => html`<span class="tl-tick" style=${`left:${f * 100}%`}>+${duration(span * f)}</span>`)}
      </div>
      ${rows.map(
        (row) => html`<div class="tl-row" data-phase=${row.phase}>
          <div class="tl-label">${label(row.phase)}</div>
          <div class="tl-track">
            ${row.gaps.map((g) => html`<div class=${`tl-gap tl-gap-${g.kind}${g.pending ? ' is-pending' : ''}`} style=${`left:${pos(g.from)};width:${width(g.from, g.to)}`} title=${`${g.kind === 'backoff' ? 'backoff wait' : g.kind === 'wait' ? 'waiting (review)' : 'stopped'}: ${duration(g.to - g.from)}`}></div>`)}
            ${row.runs.map((run) => {
              const start = new Date(run.startedAt).getTime();
              const end = run.endedAt ? new Date(run.endedAt).getTime() : now;
              const outcome = run.endedAt ? run.outcome : 'running';
              const tip = `${label(run.phase)} attempt ${run.attempt}: ${label(outcome)}, ${duration(run.durationMs ?? end - start)}${run.error ? ` — ${run.error.message} Hint: ${run.error.hint}` : ''}`;
              return html`<div class=${`tl-bar outcome-${outcome}`} style=${`left:${pos(start)};width:${width(start, end)}`} title=${tip} data-attempt=${run.attempt} data-outcome=${outcome}>
                ${FAILED.has(outcome) && html`<span class="tl-mark" aria-hidden="true">✕</span>`}
              </div>`;
            })}
          </div>
        </div>`,
      )}
      <div class="tl-legend" aria-hidden="true">
        <span><i class="outcome-succeeded"></i>succeeded</span><span><i class="outcome-failed"></i>failed</span><span><i class="outcome-timed_out"></i>timed out</span>
        <span><i class="outcome-cancelled"></i>cancelled</span><span><i class="outcome-interrupted"></i>interrupted</span><span><i class="outcome-running"></i>running</span><span><i class="tl-gap-backoff"></i>backoff wait</span><span><i class="tl-gap-wait"></i>review wait</span>
      </div>
    </div>
    ${failures.length > 0 &&
    html`<ul class="failures" aria-label="Failed attempts">
      ${failures.map(
        (s) => html`<li class="failure">
          <strong>${label(s.phase)} #${s.attempt}</strong> <code>${s.error.code}</code> ${s.error.message}
          ${s.error.hint && html`<div class="hint">Hint: ${s.error.hint}</div>`}
        </li>`,
      )}
    </ul>`}
    <div class="table-wrap"><table class="steps">
      <caption>Step attempts</caption>
      <thead><tr><th scope="col">Phase</th><th scope="col">Attempt</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Outcome</th><th scope="col">Error</th></tr></thead>
      <tbody>
        ${steps.map(
          (s) => html`<tr class=${s.error ? 'has-error' : ''}>
            <td>${label(s.phase)}</td><td>${s.attempt}</td><td>${time(s.startedAt)}</td><td>${s.endedAt ? duration(s.durationMs) : 'running…'}</td>
            <td><span class=${`badge outcome-${s.endedAt ? s.outcome : 'running'}`}>${label(s.endedAt ? s.outcome : 'running')}</span></td>
            <td>${s.error ? html`<code>${s.error.code}</code> ${s.error.message}${s.error.hint ? html`<div class="hint">Hint: ${s.error.hint}</div>` : ''}` : ''}</td>
          </tr>`,
        )}
      </tbody>
    </table></div>
  </div>`;
}
