// Small formatting helpers shared by the views.
export const label = (name) => String(name ?? '').replaceAll('_', ' ');

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function age(iso, now = Date.now()) {
  const ms = now - new Date(iso).getTime();
  if (ms < 45_000) return 'just now';
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} d ago`;
}

export const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : '—');
export const dateTime = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

/** `{ field_mapping: 'review' }` → `field_mapping.review`. */
export function stateName(value) {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return '';
  return Object.entries(value)
    .map(([k, v]) => `${k}.${stateName(v)}`)
    .join(', ');
}

export const lastError = (view) => (view.errors?.length ? view.errors[view.errors.length - 1] : null);

export const percent = (n) => `${Math.round((n ?? 0) * 100)}%`;
