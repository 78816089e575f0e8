import { AppError, isAppError, type AppErrorOptions } from '../errors.ts';
import type { Phase } from './table.ts';

/** The JSON record a failure leaves in context; Error objects do not survive JSON. */
export interface ErrorRecord {
  code: string;
  phase: Phase | 'pending';
  attempt: number;
  message: string;
  hint: string;
  at: string;
  retryable: boolean;
}

/** A failure that may pass on its own (database unreachable, lock timeout): retried with backoff. */
export class TransientError extends AppError {
  constructor(message: string, options: Omit<AppErrorOptions, 'retryable'> & { code?: string } = {}) {
    super(options.code ?? 'TRANSIENT', message, { hint: 'The step is retried automatically.', status: 503, ...options, retryable: true });
  }
}

/** A step attempt ran past its timeout; retryable like a transient failure. */
export class StepTimeoutError extends AppError {
  constructor(phase: Phase, timeoutMs: number) {
    super('STEP_TIMEOUT', `Step ${phase} did not finish within ${timeoutMs} ms and was aborted.`, {
      status: 503,
      retryable: true,
      hint: `It is retried automatically; if it keeps timing out raise retry.phases.${phase}.timeoutMs.`,
    });
  }
}

/** Longest message an error record keeps (under 2 KB with what a give-up adds): records live in the snapshot. */
export const MAX_ERROR_MESSAGE = 1_800;

function cap(text: string): string {
  return text.length > MAX_ERROR_MESSAGE ? `${text.slice(0, MAX_ERROR_MESSAGE)}…` : text;
}

/**
 * What an unexpected error may tell a person: the first line of its message, or of its cause's when
 * it is a failed query (whose own message quotes the statement and its parameters), never a stack.
 */
export function describeError(error: unknown): string {
  for (let e: unknown = error, depth = 0; depth < 4; depth++) {
    if (!(e instanceof Error)) return String(e).split('\n')[0]!;
    if (!e.message.startsWith('Failed query:')) {
      const code = (e as { code?: unknown }).code;
      return `${e.message.split('\n')[0]}${typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : ''}`;
    }
    if (e.cause === undefined) return 'a database statement failed';
    e = e.cause;
  }
  return 'an unexpected error';
}

/**
 * Turns anything a step threw into the JSON record kept in context: a code, a human message (capped)
 * and a hint — never SQL, parameters, stacks or file contents. Unknown errors count as transient.
 */
export function toErrorRecord(error: unknown, phase: Phase | 'pending', attempt: number, at: Date = new Date()): ErrorRecord {
  if (isAppError(error)) {
    const hint = error.hint ?? (error.retryable ? 'The step is retried automatically.' : 'Fix the input and retry the workflow.');
    return { code: error.code, phase, attempt, message: cap(error.message), hint: cap(hint), at: at.toISOString(), retryable: error.retryable };
  }
  return {
    code: 'STEP_FAILED',
    phase,
    attempt,
    message: cap(`Step ${phase} failed unexpectedly: ${describeError(error)}`),
    hint: 'Retried automatically as a transient failure; if it persists, check the service logs for this workflow.',
    at: at.toISOString(),
    retryable: true,
  };
}
