/**
 * Issue 12, item 1: how to take PGlite off the API's event loop. Compares, each on a temp data dir:
 *   in-process     PGlite on this thread (today);
 *   worker+socket  PGlite in a worker thread served by @electric-sql/pglite-socket, `pg.Pool` max 1;
 *   worker+relay   PGlite in a worker thread served by src/db/pglite-relay.ts, `pg.Pool` max 50;
 *   process+relay  the same in a child process.
 * Run: npx tsx bench/pglite-options.ts  (npm run bench:pglite). Writes bench/pglite-options.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { startPgliteServer, type PgliteServerOptions } from '../src/db/pglite-server.ts';

type Query = (sql: string, params?: unknown[]) => Promise<{ rows: any[] }>;

interface Opened {
  query: Query;
  pool?: pg.Pool;
  url?: string;
  close(): Promise<void>;
}

interface Target {
  name: string;
  poolMax?: number;
  open(dataDir: string): Promise<Opened>;
}

const PHASE_TIMEOUT_MS = 60_000;
const SEED_ROWS = 10_000;

function viaServer(options: PgliteServerOptions, poolMax: number) {
  return async (dataDir: string): Promise<Opened> => {
    const server = await startPgliteServer(dataDir, { startTimeoutMs: 120_000, ...options });
    const pool = new pg.Pool({ connectionString: server.url, max: poolMax, connectionTimeoutMillis: 30_000 });
    pool.on('error', () => {});
    return {
      query: (sql, params) => pool.query(sql, params as unknown[]),
      pool,
      url: server.url,
      close: async () => {
        await Promise.race([pool.end(), sleep(5_000)]);
        await server.close();
      },
    };
  };
}

const targets: Target[] = [
  {
    name: 'in-process',
    open: async (dataDir) => {
      const db = await PGlite.create(dataDir);
      return { query: (sql, params) => db.query(sql, params), close: () => db.close() };
    },
  },
  { name: 'worker+pglite-socket', poolMax: 1, open: viaServer({ server: 'pglite-socket' }, 1) },
  { name: 'worker+relay', poolMax: 50, open: viaServer({}, 50) },
  { name: 'process+relay', poolMax: 50, open: viaServer({ isolate: 'process' }, 50) },
];

const only = process.argv.slice(2);
const results: Record<string, Record<string, string>> = {};

for (const target of targets) {
  if (only.length && !only.includes(target.name)) continue;
  const row: Record<string, string> = {};
  results[target.name] = row;
  const dataDir = mkdtempSync(join(tmpdir(), 'pglite-options-'));
  console.error(`\n== ${target.name} (${dataDir})`);
  let opened: Opened | null = null;
  try {
    const t0 = performance.now();
    opened = await timed('open', () => target.open(dataDir));
    await opened.query('select 1');
    row.open = ms(performance.now() - t0);
    const { query } = opened;
    await query('create table t (id serial primary key, k int not null, v text not null)');
    await query('create index t_k on t (k)');
    await query(`insert into t (k, v) select g, 'value ' || g from generate_series(1, ${SEED_ROWS}) g`);

    await phase(row, 'select p50/p99', async () => {
      const lat: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const k = 1 + ((i * 7919) % SEED_ROWS);
        const s = performance.now();
        const r = await query('select id, v from t where k = $1', [k]);
        lat.push(performance.now() - s);
        if (r.rows[0]?.v !== `value ${k}`) throw new Error(`wrong row for k=${k}`);
      }
      return pcts(lat);
    });

    await phase(row, 'insert p50/p99', async () => {
      const lat: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const s = performance.now();
        await query('insert into t (k, v) values ($1, $2)', [SEED_ROWS + i + 1, `ins ${i}`]);
        lat.push(performance.now() - s);
      }
      return pcts(lat);
    });

    await phase(row, '50 clients q/s', () => concurrent(query, 50, 40));

    await phase(row, 'bytea 20 MB w+r', async () => {
      await query('create table blobs (id int primary key, b bytea not null)');
      const blob = Buffer.alloc(20 * 1024 * 1024);
      for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
      const s = performance.now();
      await query('insert into blobs (id, b) values (1, $1)', [blob]);
      const w = performance.now() - s;
      const r = await query('select b from blobs where id = 1');
      const total = performance.now() - s;
      const back = Buffer.from(r.rows[0].b as Uint8Array);
      if (!back.equals(blob)) throw new Error(`bytea came back different (${back.length} bytes)`);
      return `${ms(w)} + ${ms(total - w)}`;
    });

    await phase(row, 'heavy: time', async () => {
      const eld = monitorEventLoopDelay({ resolution: 10 });
      eld.enable();
      // A ticker of our own too: the longest gap between 10 ms ticks is the longest stall.
      let last = performance.now();
      let stall = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        stall = Math.max(stall, now - last - 10);
        last = now;
      }, 10);
      await sleep(50);
      const s = performance.now();
      await query('create table big (id int, k int, v text)');
      await query(`insert into big select g, g % 1000, md5(g::text) from generate_series(1, 200000) g`);
      await query('select k, count(*), max(v), sum(length(v)) from big group by k order by 3 desc limit 5');
      const took = performance.now() - s;
      await sleep(50); // let the loop turn, so a stall that just ended is sampled
      eld.disable();
      clearInterval(ticker);
      row['heavy: loop delay p99 / max / longest stall'] = `${ms(eld.percentile(99) / 1e6)} / ${ms(eld.max / 1e6)} / ${ms(stall)}`;
      return ms(took);
    });

    if (opened.pool && opened.url) {
      const { url } = opened;
      await phase(row, 'LISTEN/NOTIFY', () => listenNotify(url));
      await phase(row, 'tx across checkout', () => transactionIsolation(url));
      await phase(row, 'dropped socket mid-query', () => droppedSocket(url, false));
      await phase(row, 'dropped socket in tx', () => droppedSocket(url, true));
      if (target.poolMax === 1) {
        // What a Pool of more than one connection does to the upstream server (last: it may wedge it).
        const wide = new pg.Pool({ connectionString: url, max: 50, connectionTimeoutMillis: 10_000, query_timeout: 20_000 });
        wide.on('error', () => {});
        await phase(row, '50 clients, Pool max 50', () => concurrent((sql, p) => wide.query(sql, p as unknown[]), 50, 40));
        await phase(row, 'after that: select 1', async () => {
          const c = new pg.Client({ connectionString: url, query_timeout: 10_000 });
          c.on('error', () => {});
          await c.connect();
          await c.query('select 1');
          await c.end();
          return 'ok';
        });
        void wide.end().catch(() => {});
      }
    }
  } catch (error) {
    row.error = String(error instanceof Error ? error.message : error).slice(0, 200);
    console.error(error);
  } finally {
    const s = performance.now();
    await Promise.race([opened?.close(), sleep(20_000)]).catch((e) => console.error('close failed', e));
    row.close = ms(performance.now() - s);
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.error(row);
}

const columns = [...new Set(Object.values(results).flatMap((r) => Object.keys(r)))];
const names = Object.keys(results);
console.log(`| | ${names.join(' | ')} |`);
console.log(`|---|${names.map(() => '---').join('|')}|`);
for (const c of columns) console.log(`| ${c} | ${names.map((n) => results[n]![c] ?? '—').join(' | ')} |`);
writeFileSync(new URL('./pglite-options.json', import.meta.url), JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2) + '\n');
process.exit(0);

async function phase(row: Record<string, string>, name: string, fn: () => Promise<string>): Promise<void> {
  console.error(`  ${name}…`);
  try {
    row[name] = await timed(name, fn);
  } catch (error) {
    row[name] = `FAIL: ${String(error instanceof Error ? error.message : error).slice(0, 120)}`;
  }
}

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([fn(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${name}: no answer in ${PHASE_TIMEOUT_MS / 1000} s`)), PHASE_TIMEOUT_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** 50 clients, each `perClient` sequential small selects; every answer is checked against its parameter. */
async function concurrent(query: Query, clients: number, perClient: number): Promise<string> {
  let errors = 0;
  let wrong = 0;
  let firstError = '';
  const s = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const k = 1 + ((c * 997 + i * 31) % SEED_ROWS);
        try {
          const r = await query('select id, v from t where k = $1', [k]);
          if (r.rows[0]?.v !== `value ${k}`) wrong++;
        } catch (error) {
          errors++;
          firstError ||= error instanceof Error ? error.message : String(error);
        }
      }
    }),
  );
  const took = performance.now() - s;
  const n = clients * perClient;
  const qps = Math.round(((n - errors) / took) * 1000);
  return errors || wrong ? `${qps} (${errors} errors, ${wrong} wrong rows: ${firstError.slice(0, 60)})` : `${qps}`;
}

/** Clients of their own, not the pool's: with a Pool of max 1 a held client would starve the others. */
async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000, query_timeout: 20_000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function listenNotify(url: string): Promise<string> {
  const listener = await client(url);
  const pool = await client(url);
  try {
    const got: string[] = [];
    listener.on('notification', (n) => got.push(`${n.channel}:${n.payload}`));
    await listener.query('listen bench_chan');
    await pool.query(`select pg_notify('bench_chan', 'one')`);
    await pool.query(`notify bench_chan, 'two'`);
    const until = Date.now() + 2_000;
    while (got.length < 2 && Date.now() < until) await sleep(20);
    await listener.query('unlisten bench_chan');
    return got.length === 2 ? 'works' : `FAIL: listener got [${got.join(', ')}]`;
  } finally {
    await listener.end();
    await pool.end();
  }
}

/** A transaction on one checked-out client: another client's statement neither joins it nor sees it. */
async function transactionIsolation(url: string): Promise<string> {
  const pool = await client(url);
  await pool.query('create table if not exists txcheck (id int primary key, who text)');
  await pool.query('truncate txcheck');
  const a = await client(url);
  try {
    await a.query('begin');
    await a.query(`insert into txcheck values (1, 'a')`);
    const other = pool.query(`insert into txcheck values (2, 'b')`);
    const seen = (await a.query('select count(*)::int as n from txcheck')).rows[0].n;
    await a.query('rollback');
    await other;
    const rows = (await pool.query('select id from txcheck order by id')).rows.map((r) => r.id).join(',');
    return rows === '2' && seen === 1 ? 'works' : `FAIL: rows after rollback [${rows}], a saw ${seen}`;
  } finally {
    await a.end();
    await pool.end();
  }
}

/** A client's socket is destroyed while its statement runs (or while it holds a transaction); others go on. */
async function droppedSocket(url: string, inTransaction: boolean): Promise<string> {
  const pool = await client(url);
  await pool.query('create table if not exists dropcheck (id int)');
  await pool.query('truncate dropcheck');
  const victim = new pg.Client({ connectionString: url });
  victim.on('error', () => {});
  await victim.connect();
  if (inTransaction) {
    await victim.query('begin');
    await victim.query('insert into dropcheck values (1)');
  }
  const running = victim.query('select count(*) from generate_series(1, 3000000)').catch(() => 'dropped');
  await sleep(100);
  (victim as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await running;
  const s = performance.now();
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000, query_timeout: 15_000 });
  c.on('error', () => {});
  await c.connect();
  await c.query(`insert into dropcheck values (2)`);
  const rows = (await c.query('select id from dropcheck order by id')).rows.map((r) => r.id).join(',');
  await c.end();
  await pool.query('select 1');
  await pool.end();
  const after = ms(performance.now() - s);
  return rows === '2' ? `served (${after} later)` : `FAIL: rows [${rows}]`;
}

function pcts(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  return `${at(50).toFixed(2)} / ${at(99).toFixed(2)} ms`;
}

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

function sleep(msec: number) {
  return new Promise((r) => setTimeout(r, msec));
}
