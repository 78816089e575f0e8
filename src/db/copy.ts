// Bulk writes on PostgreSQL through COPY (pg-copy-streams): the rows stream into a temporary table
// in the text format, then one upsert and one delete make the workflow's rows exactly those.
// PGlite has no COPY FROM STDIN over this path; it keeps the batched JSON upsert (db/inventory.ts).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from './client.ts';
import type { UpsertCounts } from './inventory.ts';

/** Bulk statements may run longer than one request's statement timeout; they are still bounded. */
const BULK_STATEMENT_MS = 300_000;

/** The `pg` pool behind a Drizzle database, or null on PGlite. */
export function pgPoolOf(db: Database): Pool | null {
  const client = (db as unknown as { $client?: unknown }).$client;
  return client !== null && typeof client === 'object' && 'totalCount' in client && 'connect' in client ? (client as Pool) : null;
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
  /** The rows as COPY text lines, a chunk of lines at a time (see encodeInventory). */
  chunks: Iterable<string>;
  count: number;
}

/**
 * A COPY stream under the bulk timeout, not the pool's per-query one (DB_QUERY_TIMEOUT_MS, 10 s):
 * pg reads `query_timeout` off the submitted object, and 300,000 assets take longer than that.
 */
function bulkCopy(text: string): ReturnType<typeof copyFrom> {
  return Object.assign(copyFrom(text), { query_timeout: BULK_STATEMENT_MS + 1_000 });
}

/**
 * Makes `table`'s rows of one workflow exactly `rows` in one transaction: inserts new keys, updates
 * rows whose content hash changed, leaves equal ones, deletes keys no longer there. The workflow's
 * lease keeps any other writer of its rows away, so the check for existing rows cannot go stale.
 */
export async function copyReplace(pool: Pool, job: CopyReplace): Promise<UpsertCounts> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    await client.query(`set local statement_timeout = ${BULK_STATEMENT_MS}`);
    // The usual case, a workflow writing its inventory for the first time: straight into the table,
    // with no staging copy, upsert or delete (at 100k assets that was two thirds of the step).
    const existing = await client.query({ text: `select 1 from "${job.table}" where "workflow_id" = $1 limit 1`, values: [job.workflowId] });
    if (existing.rowCount === 0) {
      await pipeline(Readable.from(job.chunks), client.query(bulkCopy(`copy "${job.table}" (${job.names}) from stdin`)));
      await client.query('commit');
      return { inserted: job.count, updated: 0, unchanged: 0, deleted: 0 };
    }
    await client.query(`create temp table incoming (like "${job.table}" including defaults) on commit drop`);
    const copy = client.query(bulkCopy(`copy incoming (${job.names}) from stdin`));
    await pipeline(Readable.from(job.chunks), copy);
    const upserted = await client.query<{ inserted: string; touched: string }>({
      text: `with up as (
               insert into "${job.table}" (${job.names}) select ${job.names} from incoming
               on conflict ("workflow_id", ${job.key}) do update set ${job.set}
               where "${job.table}"."content_hash" is distinct from excluded."content_hash"
               returning (xmax = 0) as inserted)
             select count(*) filter (where inserted) as inserted, count(*) as touched from up`,
      query_timeout: BULK_STATEMENT_MS + 1_000,
    } as { text: string });
    const deleted = await client.query({
      text: `delete from "${job.table}" t where t."workflow_id" = $1 and not exists (select 1 from incoming i where i.${job.key} = t.${job.key})`,
      values: [job.workflowId],
      query_timeout: BULK_STATEMENT_MS + 1_000,
    } as { text: string; values: unknown[] });
    await client.query('commit');
    const inserted = Number(upserted.rows[0]!.inserted);
    const touched = Number(upserted.rows[0]!.touched);
    return { inserted, updated: touched - inserted, unchanged: job.count - touched, deleted: deleted.rowCount ?? 0 };
  } catch (error) {
    broken = error as Error;
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    // A connection whose COPY or statement failed midway is not handed to anyone else.
    client.release(broken);
  }
}
