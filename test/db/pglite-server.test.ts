import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgliteServer, type PgliteServer } from '../../src/db/pglite-server.ts';

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, query_timeout: 20_000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

describe('startPgliteServer', () => {
  let dataDir: string;
  let server: PgliteServer;
  let pool: pg.Pool;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pglite-server-test-'));
    server = await startPgliteServer(dataDir);
    pool = new pg.Pool({ connectionString: server.url, max: 5, connectionTimeoutMillis: 10_000 });
    pool.on('error', () => {});
  });

  afterAll(async () => {
    await pool?.end().catch(() => {});
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers queries through pg, several pooled connections at once', async () => {
    await pool.query('create table kv (k int primary key, v text not null)');
    await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query('insert into kv values ($1, $2)', [i, `v${i}`])));
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query('select v from kv where k = $1', [i])));
    expect(answers.map((r) => r.rows[0].v)).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
  });

  it('keeps a transaction on its own connection', async () => {
    const a = await client(server.url);
    await a.query('begin');
    await a.query(`insert into kv values (100, 'a')`);
    const other = pool.query(`insert into kv values (101, 'b')`);
    await a.query('rollback');
    await other;
    await a.end();
    const { rows } = await pool.query('select k from kv where k >= 100 order by k');
    expect(rows.map((r) => r.k)).toEqual([101]);
  });

  it('survives a client dropped mid-query, rolling back its transaction', async () => {
    const victim = await client(server.url);
    await victim.query('begin');
    await victim.query(`insert into kv values (200, 'lost')`);
    const running = victim.query('select count(*) from generate_series(1, 2000000)').catch(() => 'dropped');
    await new Promise((r) => setTimeout(r, 50));
    (victim as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    expect(await running).toBe('dropped');
    const { rows } = await pool.query('select count(*)::int as n from kv where k = 200');
    expect(rows[0].n).toBe(0);
    expect((await pool.query('select 1 as one')).rows[0].one).toBe(1);
  });

  it('delivers NOTIFY to the connection that listens', async () => {
    const listener = await client(server.url);
    const got = new Promise<string>((resolve) => listener.on('notification', (n) => resolve(`${n.channel}:${n.payload}`)));
    await listener.query('listen jobs');
    await pool.query(`select pg_notify('jobs', 'ready')`);
    expect(await got).toBe('jobs:ready');
    await listener.end();
  });

  it('refuses COPY FROM STDIN with an error and serves the same connection on', async () => {
    const c = await client(server.url);
    await expect(c.query('copy kv from stdin')).rejects.toMatchObject({ code: '0A000' });
    expect((await c.query('select 1 as one')).rows[0].one).toBe(1);
    await c.end();
  });

  it('close() ends the worker: the port refuses, the data is on disk', async () => {
    await pool.end();
    await server.close();
    await expect(client(server.url)).rejects.toThrow(/ECONNREFUSED/);
    const again = await startPgliteServer(dataDir);
    try {
      const c = await client(again.url);
      expect((await c.query('select count(*)::int as n from kv')).rows[0].n).toBe(21);
      await c.end();
    } finally {
      await again.close();
    }
  });
});
