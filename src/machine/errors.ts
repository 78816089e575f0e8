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

export interface DiscoveryErrorOptions {
  hint?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** Base class of every error a step may throw: a stable code, whether a retry can help, and what to do. */
export class DiscoveryError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly hint: string;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, retryable: boolean, options: DiscoveryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = retryable;
    this.hint = options.hint ?? (retryable ? 'The step is retried automatically.' : 'Fix the input and retry the workflow.');
    this.details = options.details;
  }
}

/** A failure that may pass on its own (database unreachable, lock timeout): retried with backoff. */
export class TransientError extends DiscoveryError {
  constructor(message: string, options: DiscoveryErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'TRANSIENT', message, true, options);
  }
}

/** Bad data: retrying cannot help, the workflow fails at once. */
export class DataError extends DiscoveryError {
  constructor(code: string, message: string, options: DiscoveryErrorOptions = {}) {
    super(code, message, false, options);
  }
}

/** A step attempt ran past its timeout; retryable like a transient failure. */
export class StepTimeoutError extends DiscoveryError {
  constructor(phase: Phase, timeoutMs: number) {
    super('STEP_TIMEOUT', `Step ${phase} did not finish within ${timeoutMs} ms and was aborted.`, true, {
      hint: `It is retried automatically; if it keeps timing out raise retry.phases.${phase}.timeoutMs.`,
    });
  }
}

export function isDiscoveryError(error: unknown): error is DiscoveryError {
  return error instanceof DiscoveryError;
}

/** Turns anything a step threw into the JSON record kept in context. Unknown errors count as transient. */
export function toErrorRecord(error: unknown, phase: Phase | 'pending', attempt: number, at: Date = new Date()): ErrorRecord {
  if (isDiscoveryError(error)) {
    return { code: error.code, phase, attempt, message: error.message, hint: error.hint, at: at.toISOString(), retryable: error.retryable };
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
