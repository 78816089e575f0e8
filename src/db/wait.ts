import { isDatabaseUnavailable } from './client.ts';

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  connectTimeoutMs: number;
  /** One call per failed try, with the delay before the next. */
  onRetry: (info: { target: string; attempt: number; reason: string; retryInMs: number }) => void;
}

/** Raised when PostgreSQL never became reachable at start-up; its message is the one line an operator reads. */
export class DatabaseUnreachableError extends Error {}

/** host:port of a PostgreSQL URL, for messages (never the user or password). */
export function databaseTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}`;
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : String(error);
}

/**
 * Waits until PostgreSQL at `url` accepts a connection, retrying with backoff (0.5 s doubling to 5 s)
 * while it is unreachable. A reachable server that refuses us (bad password, no such database) fails
 * at once: waiting cannot fix that.
 */
export async function waitForDatabase(url: string, options: WaitOptions): Promise<void> {
  const { default: pg } = await import('pg');
  const target = databaseTarget(url);
  const deadline = Date.now() + options.timeoutMs;
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: options.connectTimeoutMs });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (!isDatabaseUnavailable(error)) throw error;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new DatabaseUnreachableError(
          `PostgreSQL at ${target} was not reachable within ${Math.round(options.timeoutMs / 1000)} s (${reasonOf(error)}, ${attempt} tries); check DATABASE_URL and that the server runs, or raise DB_STARTUP_WAIT_SECONDS.`,
        );
      }
      const retryInMs = Math.min(delay, left);
      options.onRetry({ target, attempt, reason: reasonOf(error), retryInMs });
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
      delay = Math.min(delay * 2, 5_000);
    }
  }
}
