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

/** Turns anything a step threw into the JSON record kept in context. Unknown errors count as transient. */
export function toErrorRecord(error: unknown, phase: Phase | 'pending', attempt: number, at: Date = new Date()): ErrorRecord {
  if (isAppError(error)) {
    const hint = error.hint ?? (error.retryable ? 'The step is retried automatically.' : 'Fix the input and retry the workflow.');
    return { code: error.code, phase, attempt, message: error.message, hint, at: at.toISOString(), retryable: error.retryable };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: 'STEP_FAILED',
    phase,
    attempt,
    message: `Step ${phase} failed unexpectedly: ${message}`,
    hint: 'Retried automatically as a transient failure; if it persists, check the service logs for this workflow.',
    at: at.toISOString(),
    retryable: true,
  };
}
