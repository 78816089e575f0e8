import { sql } from 'drizzle-orm';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../src/db/client.ts';
import { createStore, type WorkflowStore } from '../src/db/store.ts';
import { recreateDatabase, truncateAll } from '../test/support/db.ts';

/** Where a phase finds its database: a scratch PostgreSQL database, or the one in-memory PGlite. */
export type BenchTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; handle: DatabaseHandle };

/** What a phase sees: the store on a handle of its own (its own pool on PostgreSQL). */
export interface PhaseDatabase {
  kind: BenchTarget['kind'];
  handle: DatabaseHandle;
  store: WorkflowStore;
  /** Closes the pool; on PGlite the shared handle stays open. */
  close(): Promise<void>;
}

export interface Scratch {
  target: BenchTarget;
  name: string;
  drop(): Promise<void>;
}

const FLOOR_TABLE = 'bench_floor';

/** Creates (and migrates) `discovery_bench_<pid>` on the server, or an in-memory PGlite when url is null. */
export async function createScratch(baseUrl: string | null): Promise<Scratch> {
  if (baseUrl === null) {
    const handle = await openDatabase({ dataDir: null });
    await createFloorTable(handle);
    return { target: { kind: 'pglite', handle }, name: 'pglite (in memory)', drop: () => handle.close() };
  }
  const name = `discovery_bench_${process.pid}`;
  const url = new URL(await recreateDatabase(baseUrl, name));
  const handle = await openDatabase({ url: url.toString() }, { poolSize: 1 });
  await createFloorTable(handle);
  await handle.close();
  return {
    target: { kind: 'postgres', url: url.toString() },
    name,
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

async function createFloorTable(handle: DatabaseHandle): Promise<void> {
  await handle.db.execute(sql.raw(`create table if not exists ${FLOOR_TABLE} (id text primary key, doc jsonb not null)`));
}

/** Opens the target for one phase, with the service's default pool size unless told otherwise. */
export async function openPhaseDatabase(target: BenchTarget, poolSize?: number): Promise<PhaseDatabase> {
  if (target.kind === 'pglite') {
    return { kind: 'pglite', handle: target.handle, store: createStore(target.handle.db), close: async () => {} };
  }
  const handle = await openDatabase({ url: target.url }, { migrate: false, ...(poolSize ? { poolSize } : {}) });
  return { kind: 'postgres', handle, store: createStore(handle.db), close: () => handle.close() };
}

/** Empties the service's tables (and the floor table) so each measurement starts from the same state. */
export async function resetTables(target: BenchTarget): Promise<void> {
  const db = await openPhaseDatabase(target, 1);
  try {
    await truncateAll(db.store);
    await db.handle.db.execute(sql.raw(`truncate ${FLOOR_TABLE}`));
    if (db.kind === 'postgres') await db.handle.db.execute(sql.raw('vacuum analyze'));
  } finally {
    await db.close();
  }
}

export interface CommitCounters {
  /** pg_stat_database.xact_commit of the scratch database; null where the server keeps no statistics (PGlite). */
  xactCommit: number | null;
  /** The next transaction id: its growth counts the transactions that wrote. */
  xid: number;
}

/**
 * Reads the commit counters from a connection of its own. Backends publish their statistics when
 * they go idle at most once a second and at exit, so read after closing the measured pools and
 * wait until the figure stops moving.
 */
export async function readCommitCounters(target: BenchTarget): Promise<CommitCounters> {
  const query = `select (select xact_commit from pg_stat_database where datname = current_database())::bigint::text as commits,
    pg_current_xact_id()::text as xid`;
  if (target.kind === 'pglite') {
    const result = await target.handle.db.execute(sql.raw(query));
    return countersOf((result as unknown as { rows: { commits: string | null; xid: string }[] }).rows[0]!, false);
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ commits: string | null; xid: string }>(query);
    return countersOf(rows[0]!, true);
  } finally {
    await client.end();
  }
}

function countersOf(row: { commits: string | null; xid: string }, hasStats: boolean): CommitCounters {
  return { xactCommit: hasStats && row.commits !== null ? Number(row.commits) : null, xid: Number(row.xid) };
}

/** Reads the counters until two reads 300 ms apart agree on xact_commit (statistics are published lazily). */
export async function settledCommitCounters(target: BenchTarget): Promise<CommitCounters> {
  let previous = await readCommitCounters(target);
  for (let tries = 0; tries < 20; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = await readCommitCounters(target);
    // Our own probe is one read-only transaction per read: allow for it.
    if (next.xactCommit === null || previous.xactCommit === null || next.xactCommit - previous.xactCommit <= 1) return next;
    previous = next;
  }
  return previous;
}

/** The floor's only statement: a single-row jsonb upsert in its own transaction. */
export interface FloorClient {
  upsert(id: string, doc: string): Promise<void>;
  close(): Promise<void>;
}

const UPSERT = `insert into ${FLOOR_TABLE} (id, doc) values ($1, $2::jsonb) on conflict (id) do update set doc = excluded.doc`;

/** A raw `pg` pool of `concurrency` connections (all opened up front), or the PGlite client itself. */
export async function openFloorClient(target: BenchTarget, concurrency: number): Promise<FloorClient> {
  if (target.kind === 'pglite') {
    const { db } = target.handle;
    return {
      upsert: async (id, doc) => {
        await db.execute(sql`insert into ${sql.raw(FLOOR_TABLE)} (id, doc) values (${id}, ${doc}::jsonb) on conflict (id) do update set doc = excluded.doc`);
      },
      close: async () => {},
    };
  }
  const pool = new pg.Pool({ connectionString: target.url, max: concurrency });
  pool.on('error', () => {});
  const clients = await Promise.all(Array.from({ length: concurrency }, () => pool.connect()));
  for (const client of clients) client.release();
  return {
    upsert: async (id, doc) => {
      await pool.query(UPSERT, [id, doc]);
    },
    close: () => pool.end(),
  };
}
