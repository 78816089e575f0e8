import { pino, type LoggerOptions } from 'pino';
import type { Logger } from '../engine/logger.ts';

/** No string in a log line is longer than this; no line carries SQL, parameters, request bodies or file contents. */
export const MAX_LOG_STRING = 2_048;
const MAX_STACK_LINES = 12;

function cap(text: string): string {
  return text.length > MAX_LOG_STRING ? `${text.slice(0, MAX_LOG_STRING)}… (${text.length} chars)` : text;
}

/**
 * What a log line keeps of an error: type, code and message. A failed query's error carries the
 * statement and its parameters (whole batches, uploaded files): only its cause — the driver's code
 * and message — is logged. Stacks are kept, shortened, for errors that are not the database's.
 */
export function serializeError(error: unknown, depth = 0): Record<string, unknown> | string {
  if (!(error instanceof Error)) return cap(String(error));
  const failedQuery = error.message.startsWith('Failed query:');
  if (failedQuery && error.cause !== undefined && depth < 3) return serializeError(error.cause, depth + 1);
  const code = (error as { code?: unknown }).code;
  const fromDatabase = typeof (error as { severity?: unknown }).severity === 'string' || failedQuery;
  return {
    type: error.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    message: failedQuery ? 'Failed query (statement and parameters not logged)' : cap(error.message.split('\n')[0] ?? ''),
    ...(!fromDatabase && error.stack ? { stack: cap(error.stack.split('\n').slice(0, MAX_STACK_LINES).join('\n')) } : {}),
    ...(error.cause !== undefined && depth < 3 ? { cause: serializeError(error.cause, depth + 1) } : {}),
  };
}

/** Caps every top-level string field of a log line. */
function capFields(object: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(object)) {
    if (typeof value === 'string' && value.length > MAX_LOG_STRING) object[key] = cap(value);
  }
  return object;
}

export const LOG_OPTIONS: LoggerOptions = {
  serializers: { err: serializeError },
  formatters: { log: capFields },
};

export function createLogger(options: { level: string; pretty: boolean }): Logger {
  if (options.pretty) {
    return pino({ ...LOG_OPTIONS, level: options.level, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ ...LOG_OPTIONS, level: options.level });
}
