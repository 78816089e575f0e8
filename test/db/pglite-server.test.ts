import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIORITY_APPLICATION } from '../../src/db/pglite-relay.ts';
import { startPgliteServer, type PgliteServer } from '../../src/db/pglite-server.ts';

/** Streams lines into a COPY FROM STDIN; with `fail`, the stream errors after them (the client sends CopyFail). */
async function copyLines(c: pg.Client, statement: string, lines: string[], fail?: Error): Promise<void> {
  const source = Readable.from(
    (async function* () {
      for (const line of lines) yield `${line}\n`;
      if (fail) throw fail;
    })(),
  );
  await pipeline(source, c.query(copyFrom(statement)));
}

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

  it('refuses a connection without the password of this start (other users can reach 127.0.0.1 too)', async () => {
    const url = new URL(server.url);
    expect(url.password.length).toBeGreaterThanOrEqual(32);
    url.password = 'postgres';
    await expect(client(url.toString())).rejects.toMatchObject({ code: '28P01' });
    url.password = '';
    await expect(client(url.toString())).rejects.toThrow();
    expect((await pool.query('select 1 as one')).rows[0].one).toBe(1);
  });

  it('takes messages far bigger than a socket chunk (a 3 MB parameter) whole', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024 - 7) + 'the end';
    const { rows } = await pool.query('select length($1::text) as n, right($1::text, 7) as tail', [big]);
    expect(rows[0]).toEqual({ n: big.length, tail: 'the end' });
  });

  it('serves the health probe connection (its application_name) before the requests queued ahead of it', async () => {
    const probe = new pg.Client({ connectionString: server.url, application_name: PRIORITY_APPLICATION });
    probe.on('error', () => {});
    await probe.connect();
    const busy = await Promise.all(Array.from({ length: 4 }, () => client(server.url)));
    const finished: string[] = [];
    const heavy = busy.map((c, i) => c.query('select count(*) from generate_series(1, 1500000)').then(() => finished.push(`heavy${i}`)));
    await new Promise((r) => setTimeout(r, 30));
    await probe.query('select 1').then(() => finished.push('probe'));
    await Promise.all(heavy);
    // In arrival order it would come last; first, it waits only for what is running when it arrives.
    expect(finished.indexOf('probe')).toBeLessThanOrEqual(1);
    await Promise.all([probe.end(), ...busy.map((c) => c.end())]);
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

  it('takes COPY FROM STDIN, in and out of a transaction, and serves the same connection on', async () => {
    const c = await client(server.url);
    await copyLines(c, 'copy kv (k, v) from stdin', ['300\tone', '301\ttwo\\ttab', '302\tthree']);
    await c.query('begin');
    await copyLines(c, 'COPY kv from STDIN', ['303\tfour']);
    await c.query('rollback');
    const { rows } = await c.query('select k, v from kv where k >= 300 order by k');
    expect(rows).toEqual([
      { k: 300, v: 'one' },
      { k: 301, v: 'two\ttab' },
      { k: 302, v: 'three' },
    ]);
    await c.end();
  });

  it('answers a COPY the backend refuses with its error, and ends one the client gives up, leaving nothing', async () => {
    const c = await client(server.url);
    await expect(copyLines(c, 'copy kv from stdin', ['400\tok', 'not-a-number\tbad'])).rejects.toMatchObject({ code: '22P02' });
    await expect(copyLines(c, 'copy missing_table from stdin', ['1'])).rejects.toMatchObject({ code: '42P01' });
    await c.query('begin');
    await expect(copyLines(c, 'copy kv from stdin', ['401\tx'], new Error('client gave up'))).rejects.toThrow('client gave up');
    await c.query('rollback');
    expect((await c.query('select count(*)::int as n from kv where k >= 400')).rows[0].n).toBe(0);
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
      expect((await c.query('select count(*)::int as n from kv')).rows[0].n).toBe(24);
      await c.end();
    } finally {
      await again.close();
    }
  });
});
