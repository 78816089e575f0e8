// Bulk writes through COPY in the text format, on both databases: on PostgreSQL the lines stream
// through pg-copy-streams inside one transaction; on PGlite they go in as blobs (`copy … from
// '/dev/blob'`) a thousand lines per statement, with no transaction around them, so the one
// connection PGlite has is never held for the whole write and other workflows' queries (and
// /healthz) get their turn between statements. A write cut short there leaves some rows, which
// the next attempt upserts and completes: the replace converges either way.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PGlite } from '@electric-sql/pglite';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from './client.ts';

/** Bulk statements may run longer than one request's statement timeout; they are still bounded. */
const BULK_STATEMENT_MS = 300_000;
/** PGlite: COPY text chunks (of about a thousand lines) per statement. */
const PGLITE_CHUNKS_PER_STATEMENT = 1;

/** The `pg` pool behind a Drizzle database, or null on PGlite. */
export function pgPoolOf(db: Database): Pool | null {
  const client = (db as unknown as { $client?: unknown }).$client;
  return client !== null && typeof client === 'object' && 'totalCount' in client && 'connect' in client ? (client as Pool) : null;
}

/** The PGlite instance behind a Drizzle database, or null on PostgreSQL. */
export function pgliteOf(db: Database): PGlite | null {
  const client = (db as unknown as { $client?: unknown }).$client;
  return client !== null && typeof client === 'object' && 'dataDir' in client && 'exec' in client ? (client as PGlite) : null;
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

/**
 * Lets the event loop turn. PGlite answers on promises alone: statement after statement, awaited
 * in a loop, never reaches the timers or the sockets, so without this a 300,000-row staging write
 * held every request for its whole 10 s instead of for one statement at a time.
 */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function pgliteTarget(pg: PGlite): CopyTarget {
  return {
    transactional: false,
    async query(text, values) {
      const result = await pg.query<Record<string, unknown>>(text, values);
      await turn();
      return { rows: result.rows, affectedRows: result.affectedRows ?? 0 };
    },
    async copyIn(into, chunks) {
      let batch: (string | Uint8Array)[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        await pg.query(`copy ${into} from '/dev/blob'`, [], { blob: new Blob(batch) });
        batch = [];
        await turn();
      };
      for await (const chunk of chunks) {
        batch.push(chunk);
        if (batch.length >= PGLITE_CHUNKS_PER_STATEMENT) await flush();
      }
      await flush();
    },
  };
}

/**
 * Runs a bulk write: on PostgreSQL in one transaction on one pooled connection, under the bulk
 * statement timeout; on PGlite statement by statement, so other queries run in between (a write cut
 * short there must be one the next attempt converges from).
 */
export async function bulkWrite<T>(db: Database, work: (target: CopyTarget) => Promise<T>): Promise<T> {
  const pglite = pgliteOf(db);
  if (pglite) return work(pgliteTarget(pglite));
  const pool = pgPoolOf(db);
  if (!pool) throw new Error('Bulk writes need PostgreSQL through pg, or PGlite.');
  const client = await pool.connect();
  let broken: Error | undefined;
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
