/** How long /healthz waits for the database before it answers 503. */
export const HEALTH_TIMEOUT_MS = 750;

export type HealthResult<T> = { ok: true; value: T } | { ok: false; reason: 'timeout' | 'error' };

/**
 * A database check that answers within `timeoutMs` whatever the database does. At most one check is
 * in flight: probes that come while the database hangs share it instead of filling the pool.
 */
export function createHealthProbe<T>(check: () => Promise<T>, timeoutMs = HEALTH_TIMEOUT_MS): () => Promise<HealthResult<T>> {
  let inFlight: Promise<HealthResult<T>> | null = null;
  return () => {
    inFlight ??= check().then(
      (value): HealthResult<T> => ({ ok: true, value }),
      (): HealthResult<T> => ({ ok: false, reason: 'error' }),
    ).finally(() => {
      inFlight = null;
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<HealthResult<T>>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: 'timeout' }), timeoutMs);
    });
    return Promise.race([inFlight, deadline]).finally(() => clearTimeout(timer));
  };
}
