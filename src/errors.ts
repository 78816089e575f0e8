// The one error base of the service. A leaf: it imports nothing, so every layer (handlers, machine,
// db, engine, server) may derive its own errors from it and the server's one onError can map them all.

export interface AppErrorOptions {
  /** The HTTP status the server answers with when this error reaches a request (default 400). */
  status?: number;
  /** What the person who sees the error can do about it. */
  hint?: string;
  /** Extra fields for the response body and the logs. */
  details?: Record<string, unknown>;
  /** Whether trying the same thing again can help (a step is then retried with backoff). */
  retryable?: boolean;
  cause?: unknown;
}

/** An error the service knows: a stable code, an HTTP status, whether a retry can help, and a hint. */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? 400;
    this.hint = options.hint;
    this.details = options.details ?? {};
    this.retryable = options.retryable ?? false;
  }

  /** The response body: `{ code, message, hint?, ...details }`. */
  body(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.hint === undefined ? {} : { hint: this.hint }), ...this.details };
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
