// Bulk writes through COPY in the text format, on both databases: on PostgreSQL the lines stream
// through pg-copy-streams inside one transaction; on PGlite they go in as blobs (`copy … from
// '/dev/blob'`) a thousand lines per statement, with no transaction around them, so the one
// connection PGlite has is never held for the whole write and other workflows' queries (and
// /healthz) get their turn between statements. A write cut short there leaves some rows, which
// the next attempt upserts and completes: the replace converges either way.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PGlite } from '@electric-sql/pglite';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from './client.ts';
import type { UpsertCounts } from './inventory.ts';

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

export interface CopyReplace {
  table: string;
  /** Quoted key column name. */
  key: string;
  /** Quoted column list, in the order of the lines' values. */
  names: string;
  /** The `do update set …` list. */
  set: string;
  workflowId: string;
  /** The rows as COPY text lines, a chunk of whole lines at a time (see encodeInventory). */
  chunks: Iterable<string | Uint8Array>;
  count: number;
}

/** What copyReplace needs of a connection: statements, and a COPY of text chunks into a table. */
interface CopyTarget {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[]; affectedRows: number }>;
  copyIn(into: string, chunks: Iterable<string | Uint8Array>): Promise<void>;
}

/**
 * A COPY stream under the bulk timeout, not the pool's per-query one (DB_QUERY_TIMEOUT_MS, 10 s):
 * pg reads `query_timeout` off the submitted object, and 300,000 assets take longer than that.
 */
function bulkCopy(text: string): ReturnType<typeof copyFrom> {
  return Object.assign(copyFrom(text), { query_timeout: BULK_STATEMENT_MS + 1_000 });
}

function* asBuffers(chunks: Iterable<string | Uint8Array>): Generator<string | Buffer> {
  for (const chunk of chunks) yield typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function pgTarget(client: PoolClient): CopyTarget {
  return {
    async query(text, values) {
      const result = await client.query({ text, values, query_timeout: BULK_STATEMENT_MS + 1_000 } as { text: string; values?: unknown[] });
      return { rows: result.rows, affectedRows: result.rowCount ?? 0 };
    },
    copyIn: (into, chunks) => pipeline(Readable.from(asBuffers(chunks)), client.query(bulkCopy(`copy ${into} from stdin`))),
  };
}

function pgliteTarget(pg: PGlite): CopyTarget {
  return {
    async query(text, values) {
      const result = await pg.query<Record<string, unknown>>(text, values);
      return { rows: result.rows, affectedRows: result.affectedRows ?? 0 };
    },
    async copyIn(into, chunks) {
      let batch: (string | Uint8Array)[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        await pg.query(`copy ${into} from '/dev/blob'`, [], { blob: new Blob(batch) });
        batch = [];
      };
      for (const chunk of chunks) {
        batch.push(chunk);
        if (batch.length >= PGLITE_CHUNKS_PER_STATEMENT) await flush();
      }
      await flush();
    },
  };
}

/**
 * Makes `table`'s rows of one workflow exactly the job's: inserts new keys, updates rows whose
 * content hash changed, leaves equal ones, deletes keys no longer there. The workflow's lease keeps
 * any other writer of its rows away, so the check for existing rows cannot go stale.
 */
async function replaceRows(target: CopyTarget, job: CopyReplace): Promise<UpsertCounts> {
  // The usual case, a workflow writing its inventory for the first time: straight into the table,
  // with no staging copy, upsert or delete (at 100k assets that was two thirds of the step).
  const existing = await target.query(`select 1 from "${job.table}" where "workflow_id" = $1 limit 1`, [job.workflowId]);
  if (existing.rows.length === 0) {
    await target.copyIn(`"${job.table}" (${job.names})`, job.chunks);
    return { inserted: job.count, updated: 0, unchanged: 0, deleted: 0 };
  }
  // Temporary tables belong to the session, and PGlite's one session is everyone's: a name of its own.
  const incoming = `incoming_${randomUUID().replace(/-/g, '')}`;
  await target.query(`create temp table ${incoming} (like "${job.table}" including defaults)`);
  try {
    await target.copyIn(`${incoming} (${job.names})`, job.chunks);
    const upserted = await target.query(
      `with up as (
         insert into "${job.table}" (${job.names}) select ${job.names} from ${incoming}
         on conflict ("workflow_id", ${job.key}) do update set ${job.set}
         where "${job.table}"."content_hash" is distinct from excluded."content_hash"
         returning (xmax = 0) as inserted)
       select count(*) filter (where inserted)::int as inserted, count(*)::int as touched from up`,
    );
    const deleted = await target.query(
      `delete from "${job.table}" t where t."workflow_id" = $1 and not exists (select 1 from ${incoming} i where i.${job.key} = t.${job.key})`,
      [job.workflowId],
    );
    const inserted = Number(upserted.rows[0]!.inserted);
    const touched = Number(upserted.rows[0]!.touched);
    return { inserted, updated: touched - inserted, unchanged: job.count - touched, deleted: deleted.affectedRows };
  } finally {
    await target.query(`drop table if exists ${incoming}`).catch(() => undefined);
  }
}

/** copyReplace on PostgreSQL: one transaction on one pooled connection. */
export async function copyReplace(pool: Pool, job: CopyReplace): Promise<UpsertCounts> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    await client.query(`set local statement_timeout = ${BULK_STATEMENT_MS}`);
    const counts = await replaceRows(pgTarget(client), job);
    await client.query('commit');
    return counts;
  } catch (error) {
    broken = error as Error;
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    // A connection whose COPY or statement failed midway is not handed to anyone else.
    client.release(broken);
  }
}

/** copyReplace on PGlite: statement by statement, so other queries run in between. */
export function pgliteCopyReplace(pg: PGlite, job: CopyReplace): Promise<UpsertCounts> {
  return replaceRows(pgliteTarget(pg), job);
}
