import { DrizzleQueryError } from 'drizzle-orm';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { isDatabaseUnavailable } from '../engine/errors.ts';
import type { Logger } from '../engine/logger.ts';
import { AppError } from '../errors.ts';
import { printable } from '../engine/uploads.ts';

/** What a 503 tells a client: the database is away; try again after this many seconds. */
export const RETRY_AFTER_SECONDS = '2';

/** An error of the HTTP layer itself (bad JSON, wrong content type, bad header): a status plus the `{ code, message, ...details }` body. */
export class ApiError extends AppError {
  constructor(status: ContentfulStatusCode, code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { status, details });
  }
}

export function invalidRequest(error: z.ZodError, where: string): ApiError {
  // A path may hold a key the client sent (a record's key): never echo what cannot be stored.
  const issues = error.issues.map((i) => ({ path: printable(i.path.join('.')), message: i.message }));
  const first = issues[0];
  const message = first
    ? `Invalid ${where}: ${first.path ? `${first.path}: ` : ''}${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}.`
    : `Invalid ${where}.`;
  return new ApiError(400, 'INVALID_REQUEST', message, { issues });
}

/** Errors that come from the database being down, slow or failing, not from a defect here. */
function isDatabaseFailure(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof DrizzleQueryError) return true;
  }
  return false;
}

/** Maps every known error to its response; anything else is a bug: logged, answered 500 without details. */
export function errorResponse(error: unknown, c: Context, logger: Logger): Response {
  if (error instanceof AppError) {
    if (error.status >= 500) logger.error({ err: error.cause ?? error, code: error.code, path: c.req.path, method: c.req.method }, 'request failed');
    return c.json(error.body(), error.status as ContentfulStatusCode, error.status === 503 ? { 'Retry-After': RETRY_AFTER_SECONDS } : {});
  }
  if (isDatabaseFailure(error)) {
    logger.error({ err: error, path: c.req.path, method: c.req.method }, 'database failure');
    return c.json({ code: 'DATABASE_UNAVAILABLE', message: 'The database is unavailable; nothing was changed. Try again shortly.' }, 503, { 'Retry-After': RETRY_AFTER_SECONDS });
  }
  if (error instanceof HTTPException) {
    // Hono's own refusals (a malformed body, a media type a route does not declare), in our error shape.
    const status = error.status as ContentfulStatusCode;
    const code = status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : status === 400 ? 'INVALID_REQUEST' : `HTTP_${status}`;
    return c.json({ code, message: error.message || 'The request was refused.' }, status);
  }
  logger.error({ err: error, path: c.req.path, method: c.req.method }, 'unhandled error');
  return c.json({ code: 'INTERNAL', message: 'An unexpected error occurred; it has been logged. Retry, and report it if it persists.' }, 500);
}
