import type { AnyEventObject } from 'xstate';
import type { JsonValue } from '../machine/machine.ts';

const SECRET_KEY = /token|password|passwd|secret|api[-_]?key|authorization|credential/i;
const MAX_STRING = 2_000;

function redact(value: unknown, depth: number): JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (depth > 6) return '[truncated]';
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redact(v, depth + 1));
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined && typeof v !== 'function')
        .map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)]),
    );
  }
  return String(value);
}

/** The event as stored in the audit trail: JSON only, errors as their code and message, secrets redacted. */
export function sanitizeEvent(event: AnyEventObject): JsonValue {
  if (event.type.startsWith('xstate.error.actor.')) {
    const error = (event as { error?: unknown }).error;
    const details =
      error instanceof Error
        ? { name: error.name, message: error.message, ...('code' in error ? { code: String(error.code) } : {}) }
        : { message: String(error) };
    return { type: event.type, error: redact(details, 1) };
  }
  return redact(event, 0);
}
