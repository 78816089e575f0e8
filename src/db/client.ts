import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DatabaseHandle {
  db: Database;
  kind: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export type DatabaseConfig = { url: string } | { dataDir: string | null };

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Opens PostgreSQL through `pg` when a URL is given, else embedded PGlite (in memory when dataDir is null). */
export async function openDatabase(config: DatabaseConfig, options: { migrate?: boolean; poolSize?: number } = {}): Promise<DatabaseHandle> {
  const migrate = options.migrate ?? true;
  if ('url' in config) {
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const pool = new pg.Pool({ connectionString: config.url, max: options.poolSize ?? 10 });
    // An idle client that errors (server restart) must not take the process down; the pool replaces it.
    pool.on('error', () => {});
    const db = drizzle(pool, { schema, casing: 'snake_case' });
    if (migrate) {
      const { migrate: run } = await import('drizzle-orm/node-postgres/migrator');
      await run(db, { migrationsFolder: MIGRATIONS_FOLDER });
    }
    return { db: db as unknown as Database, kind: 'postgres', close: () => pool.end() };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const client = config.dataDir ? new PGlite(config.dataDir) : new PGlite();
  const db = drizzle(client, { schema, casing: 'snake_case' });
  if (migrate) {
    const { migrate: run } = await import('drizzle-orm/pglite/migrator');
    await run(db, { migrationsFolder: MIGRATIONS_FOLDER });
  }
  return { db: db as unknown as Database, kind: 'pglite', close: () => client.close() };
}

/** The rows of a raw `db.execute` result: both drivers return `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}
