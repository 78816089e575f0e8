import { createHash } from 'node:crypto';
import { and, asc, eq, getTableColumns, getTableName, gt, sql } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { rowsOf, type Database } from './client.ts';
import { copyReplace, pgPoolOf } from './copy.ts';
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

/** The normalised inventory: assets and dependency edges per workflow, replaced idempotently. */
export function inventoryStore(db: Database) {
  async function replaceInventory(
    table: typeof assets | typeof dependencies,
    keyColumn: PgColumn,
    workflowId: string,
    rows: { key: string; row: AssetInput | DependencyInput }[],
  ): Promise<UpsertCounts> {
    const { createdAt: _created, updatedAt: _updated, ...written } = getTableColumns(table);
    // Column names are camelCase in the schema and snake_case in the database (casing 'snake_case').
    const columns = Object.entries(written).map(([field, column]) => ({ field, name: toSnakeCase(column.name), type: column.getSQLType(), column }));
    const nameList = columns.map((c) => `"${c.name}"`).join(', ');
    const names = sql.raw(nameList);
    const definition = sql.raw(columns.map((c) => `"${c.name}" ${c.type}`).join(', '));
    // Every payload column takes the incoming value; only rows whose content hash changed are touched.
    const setList = columns
      .filter((c) => c.column !== keyColumn && c.field !== 'workflowId')
      .map((c) => `"${c.name}" = excluded."${c.name}"`)
      .concat('"updated_at" = now()')
      .join(', ');
    const set = sql.raw(setList);
    const keyQuoted = `"${columns.find((c) => c.column === keyColumn)!.name}"`;
    const keyName = sql.raw(keyQuoted);
    const pool = pgPoolOf(db);
    if (pool) {
      const tableName = getTableName(table);
      return copyReplace(pool, {
        table: tableName,
        key: keyQuoted,
        names: nameList,
        set: setList,
        columns: columns.map((c) => ({ field: c.field, json: c.type === 'jsonb' })),
        workflowId,
        rows: (function* () {
          for (const { row } of rows) yield { ...row, workflowId, contentHash: hashOf(row) } as Record<string, unknown>;
        })(),
        count: rows.length,
      });
    }
    return db.transaction(async (tx) => {
      const counts: UpsertCounts = { inserted: 0, updated: 0, unchanged: 0, deleted: 0 };
      for (let i = 0; i < rows.length; i += UPSERT_BATCH) {
        const batch = rows.slice(i, i + UPSERT_BATCH).map(({ row }) => {
          const full: Record<string, unknown> = { ...row, workflowId, contentHash: hashOf(row) };
          return Object.fromEntries(columns.map((c) => [c.name, full[c.field] ?? null]));
        });
        // One JSON parameter per batch, unpacked server-side: far cheaper than thousands of bind values.
        const result = rowsOf<{ inserted: boolean }>(
          await tx.execute(sql`
            insert into ${table} (${names})
            select ${names} from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as r(${definition})
            on conflict ("workflow_id", ${keyName}) do update set ${set}
            where ${table}."content_hash" is distinct from excluded."content_hash"
            returning (xmax = 0) as inserted`),
        );
        const inserted = result.filter((w) => w.inserted).length;
        counts.inserted += inserted;
        counts.updated += result.length - inserted;
        counts.unchanged += batch.length - result.length;
      }
      const keys = JSON.stringify(rows.map((r) => r.key));
      const deleted = await tx
        .delete(table)
        // NOT IN over a subquery is hashed; `<> all(array)` would compare every row with every key.
        .where(and(eq(table.workflowId, workflowId), sql`${keyColumn} not in (select jsonb_array_elements_text(${keys}::jsonb))`))
        .returning({ key: keyColumn });
      counts.deleted = deleted.length;
      return counts;
    });
  }

  return {
    /**
     * Makes the workflow's assets exactly `rows`: inserts new keys, updates changed ones, leaves equal
     * ones untouched and deletes keys no longer produced. Safe to run again after a crash.
     */
    async replaceAssets(workflowId: string, rows: AssetInput[]): Promise<UpsertCounts> {
      return replaceInventory(assets, assets.assetKey, workflowId, rows.map((r) => ({ key: r.assetKey, row: r })));
    },

    /** Same contract as replaceAssets, for dependency edges. */
    async replaceDependencies(workflowId: string, rows: DependencyInput[]): Promise<UpsertCounts> {
      return replaceInventory(dependencies, dependencies.edgeKey, workflowId, rows.map((r) => ({ key: r.edgeKey, row: r })));
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
