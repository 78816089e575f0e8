import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresUrl } from '../support/db.ts';
import { killServers, poll, startServer, stopServer } from '../support/server-process.ts';

afterAll(() => killServers());

const HOSTS = 500;
const CSV = ['name,fqdn,ip_address,os,environment']
  .concat(Array.from({ length: HOSTS }, (_, i) => `web${i},web${i}.example.com,10.0.${i >> 8}.${i & 255},Ubuntu 22.04,prod`))
  .join('\n');

/** A seeded PRNG so a failing run can be replayed. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe.runIf(process.env.DATABASE_URL)('the server process when PostgreSQL drops its connections', () => {
  it('survives every backend of its database terminated 30 times, once at least during asset writes: 20 workflows complete, audits gapless, no duplicate assets', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'kill');
    const database = new URL(url).pathname.slice(1);
    const server = await startServer({ DATABASE_URL: url, FAULT_INJECTION: 'slow=0.5,slowMs=300' });
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${server.url}/workflows`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `kill${i}`, files: [{ name: 'hosts.csv', content: CSV }], options: { retry: { retries: 50, initialDelayMs: 50, maxDelayMs: 500 } } }),
        });
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { id: string }).id);
      }
      const terminateAll = async () =>
        (await admin.query<{ n: number }>('select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database])).rows[0]!.n;
      const assetWriteInFlight = async () =>
        (await admin.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = $1 and state <> 'idle' and query like '%"assets"%'`, [database])).rows[0]!.n > 0;
      const random = lcg(20_261_128);
      let duringAssetWrites = 0;
      let terminated = 0;
      for (let round = 0; round < 30; round++) {
        const until = Date.now() + 100 + random() * 500;
        let hit = false;
        while (Date.now() < until && !hit) {
          hit = duringAssetWrites === 0 && (await assetWriteInFlight());
          if (!hit) await new Promise((r) => setTimeout(r, 5));
        }
        terminated += await terminateAll();
        if (hit) duringAssetWrites += 1;
        expect(server.child.exitCode, server.lines.slice(-20).join('\n')).toBeNull();
      }
      expect(duringAssetWrites).toBeGreaterThanOrEqual(1);
      expect(terminated).toBeGreaterThan(30);

      const get = async <T>(path: string): Promise<T | null> => {
        // A request whose connection was just terminated may get 503; read every body, or the
        // unread response keeps its HTTP connection busy and delays the server's shutdown.
        const res = await fetch(`${server.url}${path}`);
        const body = (await res.json()) as T;
        return res.status === 200 ? body : null;
      };
      for (const id of ids) {
        const view = await poll(() => get<{ status: string }>(`/workflows/${id}`), (v) => v?.status === 'completed' || v?.status === 'failed', 120_000);
        expect(view!.status, id).toBe('completed');
        const history = await get<{ items: { seq: number }[] }>(`/workflows/${id}/history?limit=1000`);
        expect(history!.items.map((h) => h.seq)).toEqual(history!.items.map((_, i) => i + 1));
      }
      expect(server.child.exitCode).toBeNull();
      const check = new pg.Client({ connectionString: url });
      await check.connect();
      try {
        const { rows } = await check.query<{ workflow_id: string; n: number; keys: number }>(
          'select workflow_id, count(*)::int as n, count(distinct asset_key)::int as keys from assets group by workflow_id',
        );
        expect(rows).toHaveLength(20);
        for (const row of rows) expect([row.n, row.keys]).toEqual([HOSTS, HOSTS]);
      } finally {
        await check.end();
      }
    } finally {
      await admin.end();
      if (server.child.exitCode === null) expect(await stopServer(server, 'SIGTERM')).toBe(0);
    }
  }, 240_000);
});
