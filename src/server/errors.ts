import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { InvalidCursorError } from '../db/store.ts';
import {
  ConflictError,
  EngineError,
  EventNotAcceptedError,
  NeedsMigrationError,
  PersistenceError,
  WorkflowBusyError,
  WorkflowNotFoundError,
} from '../engine/errors.ts';
import type { Logger } from '../engine/logger.ts';
import { isDiscoveryError } from '../machine/errors.ts';

/** The one HTTP error: a status plus the `{ code, message, ...details }` body. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function invalidRequest(error: z.ZodError, where: string): ApiError {
  const issues = error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  const message = first
    ? `Invalid ${where}: ${first.path ? `${first.path}: ` : ''}${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}.`
    : `Invalid ${where}.`;
  return new ApiError(400, 'INVALID_REQUEST', message, { issues });
}

function statusOf(error: EngineError): ContentfulStatusCode {
  if (error instanceof WorkflowNotFoundError) return 404;
  if (error instanceof EventNotAcceptedError || error instanceof ConflictError || error instanceof NeedsMigrationError || error instanceof WorkflowBusyError) return 409;
  if (error instanceof PersistenceError) return 503;
  return 400;
}

/** Errors that come from the database being down or failing, not from a defect here. */
function isDatabaseFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (e.name === 'DrizzleQueryError') return true;
    if (typeof code === 'string' && (/^(ECONN|ETIMEDOUT|EPIPE|ENOTFOUND)/.test(code) || /^(08|53|57)/.test(code))) return true;
  }
  return false;
}

/** Maps every known error to its response; anything else is a bug: logged, answered 500 without details. */
export function errorResponse(error: unknown, c: Context, logger: Logger): Response {
  if (error instanceof ApiError) return c.json({ code: error.code, message: error.message, ...error.details }, error.status);
  if (error instanceof EngineError) {
    if (error instanceof PersistenceError) logger.error({ err: error.cause }, 'persistence failed');
    return c.json({ code: error.code, message: error.message, ...error.details }, statusOf(error));
  }
  if (error instanceof InvalidCursorError) return c.json({ code: 'INVALID_CURSOR', message: error.message }, 400);
  if (isDiscoveryError(error) && !error.retryable) {
    return c.json({ code: error.code, message: error.message, hint: error.hint }, 400);
  }
  if (isDatabaseFailure(error)) {
    logger.error({ err: error, path: c.req.path, method: c.req.method }, 'database failure');
    return c.json({ code: 'DATABASE_UNAVAILABLE', message: 'The database is unavailable; nothing was changed. Try again shortly.' }, 503);
  }
  const status = (error as { status?: unknown }).status;
  if (status === 413) return c.json({ code: 'PAYLOAD_TOO_LARGE', message: 'The request body is too large.' }, 413);
  logger.error({ err: error, path: c.req.path, method: c.req.method }, 'unhandled error');
  return c.json({ code: 'INTERNAL', message: 'An unexpected error occurred; it has been logged. Retry, and report it if it persists.' }, 500);
}
