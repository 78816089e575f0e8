import { createHash } from 'node:crypto';
import { and, asc, eq, getTableColumns, getTableName, gt, sql } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import { rowsOf, type Database } from './client.ts';
import { copyReplace, copyText, pgPoolOf } from './copy.ts';
import { keysetPage, type Page, type PageRequest } from './paging.ts';
import { assets, dependencies, type AssetRow, type DependencyRow } from './schema.ts';

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

const UPSERT_BATCH = 5_000;

function hashOf(value: unknown): string {
  return createHash('sha1').update(JSON.stringify(value)).digest('base64url');
}

export type InventoryKind = 'assets' | 'dependencies';

/** How a database takes bulk rows: COPY text on PostgreSQL, JSON batches unpacked server-side on PGlite. */
export type InventoryFormat = 'copy' | 'json';

const TABLES = { assets: { table: assets, key: assets.assetKey }, dependencies: { table: dependencies, key: dependencies.edgeKey } } as const;

/** The written columns of an inventory table (timestamps are the database's), snake_case as stored. */
function columnsOf(kind: InventoryKind) {
  const { table, key } = TABLES[kind];
  const { createdAt: _created, updatedAt: _updated, ...written } = getTableColumns(table);
  const columns = Object.entries(written).map(([field, column]) => ({ field, name: toSnakeCase(column.name), type: column.getSQLType(), isKey: column === key }));
  return { columns, key: columns.find((c) => c.isKey)!.name };
}

/**
 * A workflow's inventory rows, encoded for the database that will store them. The chunks are made
 * one at a time as the write consumes them (so no second copy of every row is held, and the event
 * loop runs between chunks); encoding is pure, so a step worker can make them too.
 */
export interface EncodedInventory {
  kind: InventoryKind;
  format: InventoryFormat;
  count: number;
  /** COPY text lines (about a thousand per chunk), or JSON arrays of rows keyed by column name. */
  chunks: Iterable<string>;
  /** JSON array of every key (the JSON format's delete of keys no longer produced needs them). */
  keys: string | null;
}

const LINES_PER_CHUNK = 1_000;

export function encodeInventory(kind: InventoryKind, format: InventoryFormat, workflowId: string, rows: readonly (AssetInput | DependencyInput)[]): EncodedInventory {
  const { columns } = columnsOf(kind);
  const keyOf = (row: AssetInput | DependencyInput) => ('assetKey' in row ? row.assetKey : row.edgeKey);
  const size = format === 'copy' ? LINES_PER_CHUNK : UPSERT_BATCH;
  function* chunks(): Generator<string> {
    for (let i = 0; i < rows.length; i += size) {
      const slice = rows.slice(i, i + size).map((row) => ({ ...row, workflowId, contentHash: hashOf(row) }) as Record<string, unknown>);
      yield format === 'copy'
        ? slice.map((full) => columns.map((c) => copyText(full[c.field], c.type === 'jsonb')).join('\t') + '\n').join('')
        : JSON.stringify(slice.map((full) => Object.fromEntries(columns.map((c) => [c.name, full[c.field] ?? null]))));
    }
  }
  return { kind, format, count: rows.length, chunks: chunks(), keys: format === 'json' ? JSON.stringify(rows.map(keyOf)) : null };
}

/** The normalised inventory: assets and dependency edges per workflow, replaced idempotently. */
export function inventoryStore(db: Database) {
  const pool = pgPoolOf(db);
  const format: InventoryFormat = pool ? 'copy' : 'json';

  /**
   * Makes the workflow's rows of one table exactly the encoded ones: inserts new keys, updates changed
   * ones, leaves equal ones untouched and deletes keys no longer produced. Safe to run again after a crash.
   */
  async function writeInventory(workflowId: string, encoded: EncodedInventory): Promise<UpsertCounts> {
    if (encoded.format !== format) throw new Error(`Inventory encoded as ${encoded.format}, but this database takes ${format}.`);
    const { table } = TABLES[encoded.kind];
    const { columns, key } = columnsOf(encoded.kind);
    const nameList = columns.map((c) => `"${c.name}"`).join(', ');
    // Every payload column takes the incoming value; only rows whose content hash changed are touched.
    const setList = columns
      .filter((c) => !c.isKey && c.field !== 'workflowId')
      .map((c) => `"${c.name}" = excluded."${c.name}"`)
      .concat('"updated_at" = now()')
      .join(', ');
    if (pool) {
      return copyReplace(pool, { table: getTableName(table), key: `"${key}"`, names: nameList, set: setList, workflowId, chunks: encoded.chunks, count: encoded.count });
    }
    const names = sql.raw(nameList);
    const definition = sql.raw(columns.map((c) => `"${c.name}" ${c.type}`).join(', '));
    return db.transaction(async (tx) => {
      const counts: UpsertCounts = { inserted: 0, updated: 0, unchanged: 0, deleted: 0 };
      for (const batch of encoded.chunks) {
        // One JSON parameter per batch, unpacked server-side: far cheaper than thousands of bind values.
        const [result] = rowsOf<{ inserted: number; touched: number; n: number }>(
          await tx.execute(sql`
            with up as (
              insert into ${table} (${names})
              select ${names} from jsonb_to_recordset(${batch}::jsonb) as r(${definition})
              on conflict ("workflow_id", ${sql.raw(`"${key}"`)}) do update set ${sql.raw(setList)}
              where ${table}."content_hash" is distinct from excluded."content_hash"
              returning (xmax = 0) as inserted)
            select count(*) filter (where inserted)::int as inserted, count(*)::int as touched,
              jsonb_array_length(${batch}::jsonb) as n from up`),
        );
        counts.inserted += result!.inserted;
        counts.updated += result!.touched - result!.inserted;
        counts.unchanged += result!.n - result!.touched;
      }
      const deleted = await tx.execute(sql`
        delete from ${table} where "workflow_id" = ${workflowId}
          -- NOT IN over a subquery is hashed; \`<> all(array)\` would compare every row with every key.
          and ${sql.raw(`"${key}"`)} not in (select jsonb_array_elements_text(${encoded.keys ?? '[]'}::jsonb))
        returning 1`);
      counts.deleted = rowsOf(deleted).length;
      return counts;
    });
  }

  return {
    /** The form `writeInventory` takes on this database. */
    inventoryFormat: format,
    writeInventory,

    /** Encodes and writes in one go (see writeInventory): the workflow's assets become exactly `rows`. */
    async replaceAssets(workflowId: string, rows: AssetInput[]): Promise<UpsertCounts> {
      return writeInventory(workflowId, encodeInventory('assets', format, workflowId, rows));
    },

    /** Same contract as replaceAssets, for dependency edges. */
    async replaceDependencies(workflowId: string, rows: DependencyInput[]): Promise<UpsertCounts> {
      return writeInventory(workflowId, encodeInventory('dependencies', format, workflowId, rows));
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
