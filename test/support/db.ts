import { sql } from 'drizzle-orm';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.ts';
import { artifacts, assets, datasetFiles, dependencies, idempotencyKeys, stepRuns, uploadParts, workflowTransitions, workflows } from '../../src/db/schema.ts';
import { createStore, type WorkflowStore } from '../../src/db/store.ts';

export type DriverKind = 'pglite' | 'postgres';

export interface TestDatabase {
  handle: DatabaseHandle;
  store: WorkflowStore;
}

const cache = globalThis as typeof globalThis & { __discoveryTestDbs?: Map<DriverKind, Promise<TestDatabase>> };

/** The drivers to run the shared suites on: PGlite always, PostgreSQL when DATABASE_URL is set. */
export const DRIVERS: DriverKind[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

/** A new, empty PostgreSQL database next to the one in `baseUrl`, named with `suffix`. */
export function freshPostgresUrl(baseUrl: string, suffix: string): Promise<string> {
  return recreateDatabase(baseUrl, `${new URL(baseUrl).pathname.slice(1) || 'postgres'}_${suffix}`);
}

/** Drops (with force) and creates database `name` on the server of `baseUrl`; returns its URL. */
export async function recreateDatabase(baseUrl: string, name: string): Promise<string> {
  const url = new URL(baseUrl);
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}

/** One migrated database per driver and worker, shared by every test file the worker runs. */
export function testDatabase(kind: DriverKind): Promise<TestDatabase> {
  cache.__discoveryTestDbs ??= new Map();
  let db = cache.__discoveryTestDbs.get(kind);
  if (!db) {
    db = (async () => {
      const handle =
        kind === 'pglite'
          ? await openDatabase({ dataDir: null })
          : // Each worker gets its own database, so parallel files never truncate each other's tables.
            await openDatabase({ url: await freshPostgresUrl(process.env.DATABASE_URL!, `w${process.env.VITEST_POOL_ID ?? '0'}`) });
      return { handle, store: createStore(handle.db) };
    })();
    cache.__discoveryTestDbs.set(kind, db);
  }
  return db;
}

/** Empties every table of the store's database, between tests. */
export async function truncateAll(store: Pick<WorkflowStore, 'db'>): Promise<void> {
  await store.db.execute(
    sql`truncate ${workflows}, ${workflowTransitions}, ${datasetFiles}, ${artifacts}, ${stepRuns}, ${assets}, ${dependencies}, ${idempotencyKeys}, ${uploadParts} cascade`,
  );
}
