// Bulk writes through COPY in the text format, on both databases, through pg-copy-streams. On
// PostgreSQL the lines stream inside one transaction. PGlite (one backend behind the relay, which
// runs one statement at a time) gets them a thousand lines per COPY with no transaction around
// them, so the backend is never held for the whole write and other workflows' queries (and
// /healthz) get their turn between statements. A write cut short there leaves some rows, which
// the next attempt upserts and completes: the replace converges either way.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from './client.ts';

/** Bulk statements may run longer than one request's statement timeout; they are still bounded. */
const BULK_STATEMENT_MS = 300_000;

/** The `pg` pool behind a Drizzle database (PostgreSQL, or PGlite behind the relay). */
export function pgPoolOf(db: Database): Pool | null {
  const client = (db as unknown as { $client?: unknown }).$client;
  return client !== null && typeof client === 'object' && 'totalCount' in client && 'connect' in client ? (client as Pool) : null;
}

/** Pools whose server is one backend that runs one statement at a time (PGlite behind the relay). */
const singleBackend = new WeakSet<Pool>();

/** Marks a pool as served by a single backend: bulk writes then go statement by statement. */
export function markSingleBackend(pool: Pool): void {
  singleBackend.add(pool);
}

/** One value in COPY's text format: \N for null, backslash escapes for the characters it reserves. */
export function copyText(value: unknown, json: boolean): string {
  if (value === null || value === undefined) return json ? 'null' : '\\N';
  const text = json ? JSON.stringify(value) : String(value);
  return text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** What a bulk write needs of a connection: statements, and a COPY of text chunks into a table. */
export interface CopyTarget {
  /** Whether the work runs in one transaction (PostgreSQL), or statement by statement (PGlite). */
  transactional: boolean;
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[]; affectedRows: number }>;
  copyIn(into: string, chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>): Promise<void>;
}

/**
 * A COPY stream under the bulk timeout, not the pool's per-query one (DB_QUERY_TIMEOUT_MS, 10 s):
 * pg reads `query_timeout` off the submitted object, and 300,000 assets take longer than that.
 */
function bulkCopy(text: string): ReturnType<typeof copyFrom> {
  return Object.assign(copyFrom(text), { query_timeout: BULK_STATEMENT_MS + 1_000 });
}

async function* asBuffers(chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>): AsyncGenerator<string | Buffer> {
  for await (const chunk of chunks) yield typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function pgTarget(client: PoolClient): CopyTarget {
  return {
    transactional: true,
    async query(text, values) {
      const result = await client.query({ text, values, query_timeout: BULK_STATEMENT_MS + 1_000 } as { text: string; values?: unknown[] });
      return { rows: result.rows, affectedRows: result.rowCount ?? 0 };
    },
    copyIn: (into, chunks) => pipeline(Readable.from(asBuffers(chunks)), client.query(bulkCopy(`copy ${into} from stdin`))),
  };
}

/** One backend (PGlite): autocommit statements, and a COPY per chunk of about a thousand lines. */
function serialTarget(client: PoolClient): CopyTarget {
  const target = pgTarget(client);
  return {
    transactional: false,
    query: target.query,
    async copyIn(into, chunks) {
      for await (const chunk of asBuffers(chunks)) await target.copyIn(into, [chunk]);
    },
  };
}

/**
 * Runs a bulk write: on PostgreSQL in one transaction on one pooled connection, under the bulk
 * statement timeout; on PGlite statement by statement, so other queries run in between (a write cut
 * short there must be one the next attempt converges from).
 */
export async function bulkWrite<T>(db: Database, work: (target: CopyTarget) => Promise<T>): Promise<T> {
  const pool = pgPoolOf(db);
  if (!pool) throw new Error('Bulk writes need a database opened through pg (openDatabase).');
  const client = await pool.connect();
  let broken: Error | undefined;
  if (singleBackend.has(pool)) {
    try {
      return await work(serialTarget(client));
    } catch (error) {
      broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }
  try {
    await client.query('begin');
    await client.query(`set local statement_timeout = ${BULK_STATEMENT_MS}`);
    const result = await work(pgTarget(client));
    await client.query('commit');
    return result;
  } catch (error) {
    broken = error as Error;
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    // A connection whose COPY or statement failed midway is not handed to anyone else.
    client.release(broken);
  }
}
