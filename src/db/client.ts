import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/node-postgres';
import type { Client, Pool, PoolClient } from 'pg';
import { listenOn, silentBus, type Bus } from './bus.ts';
import { markSingleBackend } from './copy.ts';
import { PRIORITY_APPLICATION } from './pglite-relay.ts';
import * as schema from './schema.ts';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DatabaseHandle {
  db: Database;
  /**
   * The same database on a pool of its own (two connections) for the health probe: a probe never
   * waits for a slot of the busy main pool, and on PGlite the relay serves it first.
   */
  healthDb: Database;
  kind: 'postgres' | 'pglite';
  /** Opens the notification bus of the instances sharing this database (silent on PGlite: one process only). */
  listen(onLost?: (error: Error) => void): Promise<Bus>;
  close(): Promise<void>;
}

export type DatabaseConfig = { url: string } | { dataDir: string | null };

/** Every wait on PostgreSQL is bounded, so a hung database costs a request this long, never forever. */
export interface DatabaseTimeouts {
  /** Opening a connection, and waiting for a free one from the pool. */
  connectMs: number;
  /** One statement: the server cancels it after this long; the client gives up a second later. */
  queryMs: number;
}

export const DEFAULT_TIMEOUTS: DatabaseTimeouts = { connectMs: 5_000, queryMs: 10_000 };

export interface OpenOptions {
  migrate?: boolean;
  poolSize?: number;
  timeouts?: DatabaseTimeouts;
  /** A pooled connection died (server restart, terminated backend); the pool replaces it. */
  onConnectionLost?: (error: Error) => void;
  /** PGlite only: its worker thread ended without being closed (the database is gone until a restart). */
  onEmbeddedExit?: (error: Error) => void;
}

/** The advisory lock key that serialises migrations between instances (any constant; this spells "dflow"). */
export const MIGRATION_LOCK_KEY = 0x64666c6f77;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/**
 * Opens PostgreSQL through `pg` when a URL is given, else embedded PGlite (in memory when dataDir is
 * null). PGlite runs in a worker thread behind the wire-protocol relay (`pglite-server.ts`), so its
 * statements never execute on the API's event loop, and the service talks `pg` to both databases:
 * one driver, one set of SQL. Its one backend runs one statement at a time, so bulk writes go to it
 * statement by statement (`copy.ts`), never as one long transaction.
 */
export async function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Promise<DatabaseHandle> {
  if ('url' in config) {
    const pool = await openPool(config.url, options);
    const health = await openHealthPool(config.url, options);
    return {
      db: drizzleOn(pool),
      healthDb: drizzleOn(health),
      kind: 'postgres',
      listen: (onLost) => listenOn(config.url, { connectTimeoutMs: (options.timeouts ?? DEFAULT_TIMEOUTS).connectMs, onLost }),
      close: async () => {
        await Promise.all([pool.end(), health.end()]);
      },
    };
  }
  const { startPgliteServer } = await import('./pglite-server.ts');
  const server = await startPgliteServer(config.dataDir, { onExit: options.onEmbeddedExit });
  try {
    const pool = await openPool(server.url, options);
    markSingleBackend(pool);
    const health = await openHealthPool(server.url, options);
    return {
      db: drizzleOn(pool),
      healthDb: drizzleOn(health),
      kind: 'pglite',
      listen: async () => silentBus(),
      close: async () => {
        await Promise.all([pool.end().catch(() => undefined), health.end().catch(() => undefined)]);
        await server.close();
      },
    };
  } catch (error) {
    await server.close();
    throw error;
  }
}

const HEALTH_POOL_SIZE = 2;

/** The health probe's own small pool, named so the PGlite relay serves it first (see DatabaseHandle.healthDb). */
function openHealthPool(url: string, options: OpenOptions): Promise<Pool> {
  return openPool(url, { ...options, migrate: false, poolSize: HEALTH_POOL_SIZE, applicationName: PRIORITY_APPLICATION });
}

/** Migrates (unless told not to) and opens a pool the service's queries go through. */
async function openPool(url: string, options: OpenOptions & { applicationName?: string }): Promise<Pool> {
  const { default: pg } = await import('pg');
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  if (options.migrate ?? true) {
    // On a connection of its own, without the statement timeout: a migration may rewrite a big table.
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeouts.connectMs });
    client.on('error', () => {});
    await client.connect();
    try {
      // Instances started together would race on CREATE TABLE/TYPE: one migrates, the others wait here,
      // then find every migration applied. A session lock, freed when this connection ends whatever happens.
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const { migrate: run } = await import('drizzle-orm/node-postgres/migrator');
      await run(drizzle(client, { schema, casing: 'snake_case' }), { migrationsFolder: MIGRATIONS_FOLDER });
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    } finally {
      await client.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.queryMs,
    query_timeout: timeouts.queryMs + 1_000,
    keepAlive: true,
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
  });
  guardPool(pool, options.onConnectionLost ?? (() => {}));
  return pool;
}

function drizzleOn(client: Pool | Client): Database {
  return drizzle(client, { schema, casing: 'snake_case' }) as unknown as Database;
}

/** The rows of a raw `db.execute` result: both drivers return `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

/**
 * No connection's death may end the process or leak a pool slot. pg emits 'error' on a client whose
 * connection dies between queries, and the pool listens only while the client is idle: a checked-out
 * client (inside a transaction) would throw an uncaught 'error'. So every client gets a listener for
 * its whole life, and a checked-out client whose connection ended or whose query timed out goes back
 * to the pool as broken at once — a transaction whose BEGIN failed is never released otherwise.
 */
function guardPool(pool: Pool, onLost: (error: Error) => void): void {
  pool.on('error', onLost);
  pool.on('connect', (client) => client.on('error', onLost));
  const connect = pool.connect.bind(pool) as (callback?: unknown) => unknown;
  // pool.query uses the callback form and releases on error itself; transactions use the promise form.
  pool.connect = ((callback?: unknown) => (callback ? connect(callback) : (connect() as Promise<PoolClient>).then(guardCheckedOut))) as Pool['connect'];
}

function guardCheckedOut(client: PoolClient): PoolClient {
  const release = client.release;
  const query = client.query;
  let released = false;
  const finish = (error?: Error | boolean) => {
    if (released) return;
    released = true;
    client.removeListener('end', onEnd);
    client.query = query;
    client.release = release;
    release(error);
  };
  const onEnd = () => finish(new Error('Connection ended while checked out'));
  client.once('end', onEnd);
  client.release = finish;
  client.query = function (this: PoolClient, ...args: unknown[]) {
    const result = (query as (...a: unknown[]) => unknown).apply(this, args);
    if (result instanceof Promise) {
      // A timed-out statement may still hold the connection: never hand it to anyone else.
      result.catch((error: unknown) => {
        if (error instanceof Error && error.message === 'Query read timeout') finish(error);
      });
    }
    return result;
  } as PoolClient['query'];
  return client;
}

/** Messages of `pg`'s own connection failures, which carry no SQLSTATE. */
const CONNECTION_FAILURE = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection ended|connect ECONNREFUSED/;

/** Failures that happen before a statement reaches the server: nothing it carried can have been applied. */
const NEVER_SENT = /timeout exceeded when trying to connect|connect ECONNREFUSED|not queryable/;

/**
 * Whether a failed write certainly did not take effect: the connection was never made, or the
 * server refused it. A statement that timed out or lost its connection after being sent may still
 * commit once a stalled server resumes, so its outcome is unknown.
 */
export function certainlyNotApplied(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)/.test(code) || /^(53|57P03|08001|08004)/.test(code))) return true;
    if (!e.message.startsWith('Failed query:') && NEVER_SENT.test(e.message)) return true;
  }
  return false;
}

/**
 * Whether an error (or one of its causes) means the database is away or too slow — a connection
 * failure, a timeout, an administrator shutdown, too many connections — rather than a bad statement
 * or bad data. Such errors pass: callers answer 503 and try again later.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (/^(ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)/.test(code) || /^(08|53|57)/.test(code))) return true;
    // A failed query's own message quotes the statement and its parameters; its cause is checked next.
    if (!e.message.startsWith('Failed query:') && CONNECTION_FAILURE.test(e.message)) return true;
  }
  return false;
}
