import type { AnyEventObject } from 'xstate';
import { isAppError } from '../errors.ts';
import { describeError } from '../machine/errors.ts';
import type { JsonValue, WorkflowContext } from '../machine/machine.ts';
import { PHASE_SPECS, isStepPhase, type TopPhase, type WorkflowStatus } from '../machine/table.ts';
import type { Logger } from './logger.ts';

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
        ? { name: error.name, message: isAppError(error) ? error.message : describeError(error), ...('code' in error ? { code: String(error.code) } : {}) }
        : { message: String(error) };
    return { type: event.type, error: redact(details, 1) };
  }
  return redact(event, 0);
}

/** One log line per retry scheduled, failure, recovery and completion. */
export function logTransition(
  logger: Logger,
  fields: { workflowId: string; correlationId: string | null },
  context: WorkflowContext,
  change: { from: TopPhase; to: TopPhase; status: WorkflowStatus; durationMs: number },
): void {
  const { from, to, status } = change;
  const lastError = context.errors.at(-1);
  if (status === 'backoff' && lastError) {
    logger.warn(
      { ...fields, phase: to, attempt: context.attempt, delayMs: Math.max(0, (context.wakeAt ?? 0) - Date.now()), code: lastError.code, error: lastError.message },
      'step retry scheduled',
    );
  } else if (to === 'failed' && from !== 'failed' && lastError) {
    logger.error({ ...fields, phase: lastError.phase, attempt: lastError.attempt, code: lastError.code, error: lastError.message }, 'workflow failed');
  } else if (from !== to && isStepPhase(from) && context.attempt > 1 && context.flags[PHASE_SPECS[from].flag]) {
    logger.info({ ...fields, phase: from, attempts: context.attempt }, 'step recovered after retries');
  }
  if (to === 'completed') logger.info({ ...fields, durationMs: change.durationMs }, 'workflow completed');
}
