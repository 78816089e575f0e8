import { createHash } from 'node:crypto';
import { and, asc, eq, getTableColumns, getTableName, gt } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import type { Database } from './client.ts';
import { copyReplace, copyText, pgliteCopyReplace, pgliteOf, pgPoolOf } from './copy.ts';
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

const LINES_PER_CHUNK = 1_000;

/** A row's content hash: equal rows hash equal, so a re-run leaves them untouched. */
function contentHash(encoded: string): string {
  return createHash('sha1').update(encoded).digest('base64url');
}

export type InventoryKind = 'assets' | 'dependencies';

const TABLES = { assets: { table: assets, key: assets.assetKey }, dependencies: { table: dependencies, key: dependencies.edgeKey } } as const;

/** The written columns of an inventory table (timestamps are the database's), snake_case as stored. */
function columnsOf(kind: InventoryKind) {
  const { table, key } = TABLES[kind];
  const { createdAt: _created, updatedAt: _updated, ...written } = getTableColumns(table);
  const columns = Object.entries(written).map(([field, column]) => ({ field, name: toSnakeCase(column.name), type: column.getSQLType(), isKey: column === key }));
  return { columns, key: columns.find((c) => c.isKey)!.name };
}

/**
 * A workflow's inventory rows as COPY text, which both databases take. The chunks are made one at
 * a time as the write consumes them (so no second copy of every row is held, and the event loop
 * runs between chunks); encoding is pure, so a step worker can make them too.
 */
export interface EncodedInventory {
  kind: InventoryKind;
  count: number;
  /** COPY text lines, about a thousand per chunk (UTF-8 bytes when a step worker encoded them). */
  chunks: Iterable<string | Uint8Array>;
}

export function encodeInventory(kind: InventoryKind, workflowId: string, rows: readonly (AssetInput | DependencyInput)[]): EncodedInventory & { chunks: Iterable<string> } {
  const { columns } = columnsOf(kind);
  const payload = columns.filter((c) => c.field !== 'workflowId' && c.field !== 'contentHash');
  const workflowText = copyText(workflowId, false);
  function* chunks(): Generator<string> {
    for (let i = 0; i < rows.length; i += LINES_PER_CHUNK) {
      let chunk = '';
      for (const row of rows.slice(i, i + LINES_PER_CHUNK)) {
        const values = row as unknown as Record<string, unknown>;
        const texts: Record<string, string> = { workflowId: workflowText };
        for (const c of payload) texts[c.field] = copyText(values[c.field], c.type === 'jsonb');
        // The content hash is taken over the row's own encoded columns: every value is printed once.
        texts.contentHash = contentHash(payload.map((c) => texts[c.field]).join('\t'));
        chunk += columns.map((c) => texts[c.field]).join('\t') + '\n';
      }
      yield chunk;
    }
  }
  return { kind, count: rows.length, chunks: chunks() };
}

/** The normalised inventory: assets and dependency edges per workflow, replaced idempotently. */
export function inventoryStore(db: Database) {
  const pool = pgPoolOf(db);
  const pglite = pgliteOf(db);

  /**
   * Makes the workflow's rows of one table exactly the encoded ones: inserts new keys, updates changed
   * ones, leaves equal ones untouched and deletes keys no longer produced. Safe to run again after a crash.
   */
  async function writeInventory(workflowId: string, encoded: EncodedInventory): Promise<UpsertCounts> {
    const { table } = TABLES[encoded.kind];
    const { columns, key } = columnsOf(encoded.kind);
    // Every payload column takes the incoming value; only rows whose content hash changed are touched.
    const set = columns
      .filter((c) => !c.isKey && c.field !== 'workflowId')
      .map((c) => `"${c.name}" = excluded."${c.name}"`)
      .concat('"updated_at" = now()')
      .join(', ');
    const job = { table: getTableName(table), key: `"${key}"`, names: columns.map((c) => `"${c.name}"`).join(', '), set, workflowId, chunks: encoded.chunks, count: encoded.count };
    if (pool) return copyReplace(pool, job);
    if (pglite) return pgliteCopyReplace(pglite, job);
    throw new Error('The inventory needs PostgreSQL through pg, or PGlite.');
  }

  return {
    writeInventory,

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
