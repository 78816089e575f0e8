import { createHash } from 'node:crypto';
import { and, asc, eq, getTableColumns, getTableName, gt, sql } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import { rowsOf, type Database } from './client.ts';
import { bulkWrite, copyText, type CopyTarget } from './copy.ts';
import { keysetPage, type Page, type PageRequest } from './paging.ts';
import { assets, dependencies, stagedAssets, stagedDependencies, type AssetRow, type DependencyRow } from './schema.ts';
import { AppError } from '../errors.ts';

export interface UpsertCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

export interface AssetInput {
  assetKey: string;
  name: string | null;
  assetType: string;
  assetSubtype: string | null;
  environment: string | null;
  osFamily: string | null;
  application: string | null;
  data: unknown;
  /** Staged beside the asset for the dependency analysis (see readStaged); not part of the inventory. */
  links?: unknown;
}

export interface DependencyInput {
  edgeKey: string;
  sourceKey: string;
  targetKey: string;
  type: string;
  origin: string;
  port: number | null;
  count: number;
  data: unknown;
}

const LINES_PER_CHUNK = 1_000;
/** Staged rows per statement when PGlite promotes them (PostgreSQL promotes all in one). */
const PGLITE_PROMOTE_BATCH = 1_000;
/** Staged rows deleted per statement on PGlite (300,000 in one statement held it for 0.7 s). */
const PGLITE_DELETE_BATCH = 5_000;
/** Staged assets per batch when a step reads them back. */
const READ_BATCH = 5_000;

/** The staged rows are not the ones the step that made them counted (deleted by hand, or a bug): nothing to promote safely. */
export class StagingMismatchError extends AppError {
  constructor(workflowId: string, kind: InventoryKind, expected: number, staged: number) {
    super('STAGING_MISMATCH', `Workflow ${workflowId} has ${staged} staged ${kind} rows where ${expected} were made; the inventory was left as it was.`, {
      status: 409,
      retryable: false,
      hint: `Send RETRY with fromPhase ${kind === 'assets' ? 'asset_classification' : 'dependency_analysis'} to make them again.`,
    });
  }
}

/** A row's content hash: equal rows hash equal, so a re-run leaves them untouched. */
function contentHash(encoded: string): string {
  return createHash('sha1').update(encoded).digest('base64url');
}

export type InventoryKind = 'assets' | 'dependencies';
/** What readStaged reads of each row: the whole asset or edge, or an asset's links (see AssetInput). */
export type StagedColumn = 'data' | 'links';

const TABLES = {
  assets: { table: assets, staged: stagedAssets, key: assets.assetKey },
  dependencies: { table: dependencies, staged: stagedDependencies, key: dependencies.edgeKey },
} as const;

/** The written columns of an inventory table (timestamps are the database's), snake_case as stored. */
function columnsOf(kind: InventoryKind) {
  const { table, staged, key } = TABLES[kind];
  const { createdAt: _created, updatedAt: _updated, ...written } = getTableColumns(table);
  const columns = Object.entries(written).map(([field, column]) => ({ field, name: toSnakeCase(column.name), type: column.getSQLType(), isKey: column === key }));
  const stagedFields = Object.keys(getTableColumns(staged));
  return { columns, key: columns.find((c) => c.isKey)!.name, stagedFields, table: getTableName(table), staged: getTableName(staged) };
}

/**
 * A workflow's inventory rows as COPY text for its staging table, which both databases take. The
 * chunks are made one at a time as the write consumes them (so no second copy of every row is
 * held, and the event loop runs between chunks); encoding is pure, so a step worker can make them.
 */
export interface EncodedInventory {
  kind: InventoryKind;
  count: number;
  /** COPY text lines, about a thousand per chunk (UTF-8 bytes as they arrive from a step worker). */
  chunks: Iterable<string | Uint8Array> | AsyncIterable<Uint8Array>;
}

/**
 * `rows` may be an array or rows made as they are asked for (a generator): then `count` grows as
 * the chunks are taken and is final once they all were.
 */
export function encodeInventory(kind: InventoryKind, workflowId: string, rows: Iterable<AssetInput | DependencyInput>): EncodedInventory & { chunks: Iterable<string> } {
  const { columns, stagedFields } = columnsOf(kind);
  const payload = columns.filter((c) => c.field !== 'workflowId' && c.field !== 'contentHash');
  const workflowText = copyText(workflowId, false);
  const encoded = { kind, count: Array.isArray(rows) ? rows.length : 0, chunks: chunks() };
  function* chunks(): Generator<string> {
    let seq = 0;
    let chunk = '';
    for (const row of rows) {
      const values = row as unknown as Record<string, unknown>;
      const texts: Record<string, string> = { workflowId: workflowText, seq: String(seq) };
      for (const c of payload) texts[c.field] = copyText(values[c.field], c.type === 'jsonb');
      // The content hash is taken over the row's own encoded columns: every value is printed once.
      texts.contentHash = contentHash(payload.map((c) => texts[c.field]).join('\t'));
      texts.links = values.links === undefined ? '\\N' : copyText(values.links, true);
      chunk += stagedFields.map((f) => texts[f]).join('\t') + '\n';
      seq += 1;
      if (seq % LINES_PER_CHUNK === 0) {
        yield chunk;
        chunk = '';
      }
    }
    encoded.count = seq;
    if (chunk) yield chunk;
  }
  return encoded;
}

/** Staging a workflow's rows replaces what it had staged: a step that runs again starts clean. */
async function stageRows(target: CopyTarget, workflowId: string, encoded: Pick<EncodedInventory, 'kind' | 'chunks'>): Promise<void> {
  const { staged, stagedFields } = columnsOf(encoded.kind);
  await target.query(`delete from "${staged}" where "workflow_id" = $1`, [workflowId]);
  await target.copyIn(`"${staged}" (${stagedFields.map((f) => `"${toSnakeCase(f)}"`).join(', ')})`, encoded.chunks);
  // Fresh statistics, or the planner keeps judging the table by its size before the COPY: at
  // 300,000 rows each batch read back was a full scan and sort (12.7 s for all, 0.8 s with them).
  // The two columns the reads and deletes look rows up by: analysing the JSON too took 0.45 s of
  // PGlite's one connection at 300k rows.
  await target.query(`analyze "${staged}" ("workflow_id", "seq")`);
}

/**
 * How many rows the workflow has staged in a table, from the primary key's last seq (a step stages
 * seq 0, 1, 2… in order, and a write cut short leaves a prefix), so no statement counts 300,000 rows.
 */
async function stagedCountOf(target: CopyTarget, staged: string, workflowId: string): Promise<number> {
  const last = (await target.query(`select max("seq") as last from "${staged}" where "workflow_id" = $1`, [workflowId])).rows[0]?.last;
  return last === null || last === undefined ? 0 : Number(last) + 1;
}

/** Deletes the workflow's staged rows of a table: at once on PostgreSQL, a batch of seqs a statement on PGlite. */
async function dropRows(target: CopyTarget, staged: string, workflowId: string): Promise<void> {
  if (target.transactional) {
    await target.query(`delete from "${staged}" where "workflow_id" = $1`, [workflowId]);
    return;
  }
  for (let upTo = await stagedCountOf(target, staged, workflowId); upTo > 0; upTo -= PGLITE_DELETE_BATCH) {
    await target.query(`delete from "${staged}" where "workflow_id" = $1 and "seq" >= $2 and "seq" < $3`, [workflowId, Math.max(0, upTo - PGLITE_DELETE_BATCH), upTo]);
  }
}

/**
 * Makes the workflow's inventory rows of one table exactly its staged ones: inserts new keys,
 * updates rows whose content hash changed, leaves equal ones, deletes keys no longer there. The workflow's lease keeps any other writer of its rows away, so the check
 * for existing rows cannot go stale. On PGlite it runs in batches without a transaction: cut short,
 * it converges on the next attempt. The staged rows stay until dropStaged; once dropped, a run
 * again is recognised by the inventory holding the expected count.
 */
async function promoteRows(target: CopyTarget, workflowId: string, kind: InventoryKind, expected: number): Promise<UpsertCounts> {
  const { columns, key, table, staged } = columnsOf(kind);
  const names = columns.map((c) => `"${c.name}"`).join(', ');
  const select = columns.map((c) => (c.type === 'jsonb' ? `"${c.name}"::jsonb` : `"${c.name}"`)).join(', ');
  const count = async (from: string) => Number((await target.query(`select count(*)::int as n from "${from}" where "workflow_id" = $1`, [workflowId])).rows[0]!.n);
  const stagedCount = await stagedCountOf(target, staged, workflowId);
  if (stagedCount !== expected) {
    if (stagedCount === 0 && (await count(table)) === expected) return { inserted: 0, updated: 0, unchanged: expected, deleted: 0 };
    throw new StagingMismatchError(workflowId, kind, expected, stagedCount);
  }
  // Seq ranges: all at once in PostgreSQL's transaction, in batches on PGlite's one connection.
  const batch = target.transactional ? Math.max(1, expected) : PGLITE_PROMOTE_BATCH;
  const ranges: [number, number][] = [];
  for (let from = 0; from < expected; from += batch) ranges.push([from, from + batch]);
  const rows = `from "${staged}" where "workflow_id" = $1 and "seq" >= $2 and "seq" < $3`;
  // The usual case, a workflow writing its inventory for the first time: a plain insert.
  const existing = await target.query(`select 1 from "${table}" where "workflow_id" = $1 limit 1`, [workflowId]);
  let inserted = 0;
  let touched = 0;
  let deleted = 0;
  if (existing.rows.length === 0) {
    for (const [from, to] of ranges) inserted += (await target.query(`insert into "${table}" (${names}) select ${select} ${rows}`, [workflowId, from, to])).affectedRows;
    touched = inserted;
  } else {
    const set = columns
      .filter((c) => !c.isKey && c.field !== 'workflowId')
      .map((c) => `"${c.name}" = excluded."${c.name}"`)
      .concat('"updated_at" = now()')
      .join(', ');
    for (const [from, to] of ranges) {
      const upserted = await target.query(
        `with up as (
           insert into "${table}" (${names}) select ${select} ${rows}
           on conflict ("workflow_id", "${key}") do update set ${set}
           where "${table}"."content_hash" is distinct from excluded."content_hash"
           returning (xmax = 0) as inserted)
         select count(*) filter (where inserted)::int as inserted, count(*)::int as touched from up`,
        [workflowId, from, to],
      );
      inserted += Number(upserted.rows[0]!.inserted);
      touched += Number(upserted.rows[0]!.touched);
    }
    deleted = (
      await target.query(
        `delete from "${table}" t where t."workflow_id" = $1 and not exists (select 1 from "${staged}" s where s."workflow_id" = $1 and s."${key}" = t."${key}")`,
        [workflowId],
      )
    ).affectedRows;
  }
  return { inserted, updated: touched - inserted, unchanged: expected - touched, deleted };
}

/** The normalised inventory: assets and dependency edges per workflow, staged by the steps that make them and promoted idempotently. */
export function inventoryStore(db: Database) {
  /** Replaces the workflow's staged rows of one table with the encoded ones. */
  function stageInventory(workflowId: string, encoded: Pick<EncodedInventory, 'kind' | 'chunks'>): Promise<void> {
    return bulkWrite(db, (target) => stageRows(target, workflowId, encoded));
  }

  /** Promotes the workflow's staged rows of one table into the inventory (see promoteRows); `expected` is how many were staged. */
  function promoteInventory(workflowId: string, kind: InventoryKind, expected: number): Promise<UpsertCounts> {
    return bulkWrite(db, (target) => promoteRows(target, workflowId, kind, expected));
  }

  /** Deletes the workflow's staged rows (of both tables unless told): once its inventory holds them. */
  async function dropStaged(workflowId: string, kinds: readonly InventoryKind[] = ['assets', 'dependencies']): Promise<void> {
    for (const kind of kinds) await bulkWrite(db, (target) => dropRows(target, columnsOf(kind).staged, workflowId));
  }

  /** Stages, promotes and drops in one go: the workflow's rows of the table become exactly the encoded ones. */
  async function writeInventory(workflowId: string, encoded: EncodedInventory): Promise<UpsertCounts> {
    await stageInventory(workflowId, encoded);
    const counts = await promoteInventory(workflowId, encoded.kind, encoded.count);
    await dropStaged(workflowId, [encoded.kind]);
    return counts;
  }

  /**
   * One column of the workflow's staged rows, in the order they were staged, as newline-separated
   * JSON: one string per batch of a few thousand rows, read with a keyset on seq.
   */
  async function* readStaged(workflowId: string, kind: InventoryKind, column: StagedColumn = 'data'): AsyncGenerator<string> {
    const { staged } = columnsOf(kind);
    let after = -1;
    for (;;) {
      const result = await db.execute<{ chunk: string | null; last: number | null }>(
        sql`select string_agg(${sql.identifier(column)}, E'\n' order by "seq") as chunk, max("seq")::int as last from (select "seq", ${sql.identifier(column)} from ${sql.identifier(staged)} where "workflow_id" = ${workflowId} and "seq" > ${after} order by "seq" limit ${READ_BATCH}) s`,
      );
      const row = rowsOf<{ chunk: string | null; last: number | null }>(result)[0];
      if (!row || row.chunk === null || row.last === null) return;
      yield row.chunk;
      after = Number(row.last);
    }
  }

  return {
    stageInventory,
    promoteInventory,
    dropStaged,
    writeInventory,
    readStaged,

    /** Encodes and writes in one go (see writeInventory): the workflow's assets become exactly `rows`. */
    async replaceAssets(workflowId: string, rows: AssetInput[]): Promise<UpsertCounts> {
      return writeInventory(workflowId, encodeInventory('assets', workflowId, rows));
    },

    /** Same contract as replaceAssets, for dependency edges. */
    async replaceDependencies(workflowId: string, rows: DependencyInput[]): Promise<UpsertCounts> {
      return writeInventory(workflowId, encodeInventory('dependencies', workflowId, rows));
    },

    async listAssets(workflowId: string, page: PageRequest & { type?: string }): Promise<Page<AssetRow>> {
      return keysetPage(
        page,
        1,
        (after, take) =>
          db
            .select()
            .from(assets)
            .where(
              and(
                eq(assets.workflowId, workflowId),
                page.type ? eq(assets.assetType, page.type) : undefined,
                after ? gt(assets.assetKey, String(after[0])) : undefined,
              ),
            )
            .orderBy(asc(assets.assetKey))
            .limit(take),
        (last) => [last.assetKey],
      );
    },

    async listDependencies(workflowId: string, page: PageRequest): Promise<Page<DependencyRow>> {
      return keysetPage(
        page,
        1,
        (after, take) =>
          db
            .select()
            .from(dependencies)
            .where(and(eq(dependencies.workflowId, workflowId), after ? gt(dependencies.edgeKey, String(after[0])) : undefined))
            .orderBy(asc(dependencies.edgeKey))
            .limit(take),
        (last) => [last.edgeKey],
      );
    },
  };
}

export type InventoryStore = ReturnType<typeof inventoryStore>;
