import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { createStore } from '../../src/db/store.ts';
import { wireService } from '../../src/server/service.ts';
import { freshPostgresUrl, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { STEP_PHASES, type Phase } from '../../src/machine/table.ts';
import { fakeSteps, outputsFor } from '../support/steps.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
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
        const view = await poll(() => get<{ status: string; errors: unknown[] }>(`/workflows/${id}`), (v) => v?.status === 'completed' || v?.status === 'failed', 120_000);
        // On failure, the server's log lines about this workflow (restores with their interruption counts, evictions).
        expect(view!.status, `${id}: ${JSON.stringify(view!.errors)}\n${server.lines.filter((l) => l.includes(id)).slice(-40).join('\n')}`).toBe('completed');
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

describe.runIf(process.env.DATABASE_URL)('a database that stops answering', () => {
  it('gets /healthz 503 within a second and 503 with Retry-After for requests, then recovers by itself', async () => {
    const url = new URL(await freshPostgresUrl(process.env.DATABASE_URL!, 'hang'));
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    url.port = String(proxy.port);
    const handle = await openDatabase({ url: url.toString() }, { timeouts: { connectMs: 1_000, queryMs: 1_500 } });
    const store = createStore(handle.db);
    const { engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps(), retryPersistAfterMs: 200 });
    const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const timed = async (path: string, init?: RequestInit) => {
      const started = Date.now();
      const res = await app.request(path, init);
      return { res, ms: Date.now() - started, body: (await res.json()) as { code?: string; status?: string } };
    };
    try {
      const created = await app.request('/workflows', json({ name: 'hang', files: [{ name: 'a.csv', content: 'name\nweb01\n' }], options: { autoStart: false } }));
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };

      proxy.freeze();
      const health = await timed('/healthz');
      expect([health.res.status, health.body.status]).toEqual([503, 'unavailable']);
      expect(health.ms).toBeLessThan(1_000);
      expect(health.res.headers.get('retry-after')).toMatch(/^\d+$/);
      let startDuringFreeze: { code?: string; applied?: unknown } = {};
      for (const [path, init] of [
        [`/workflows/${id}`, undefined],
        ['/workflows', undefined],
        [`/workflows/${id}/events`, json({ type: 'START' })],
        ['/workflows', json({ name: 'during', files: [{ name: 'a.csv', content: 'name\nweb01\n' }] })],
      ] as [string, RequestInit | undefined][]) {
        const { res, ms, body } = await timed(path, init);
        if (path.endsWith('/events')) startDuringFreeze = body as typeof startDuringFreeze;
        expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(503);
        expect(res.headers.get('retry-after'), path).toMatch(/^\d+$/);
        // connect or acquire (1 s) plus one statement (1.5 s + 1 s), with room for a busy machine
        expect(ms, path).toBeLessThan(6_000);
      }
      // Probes while it hangs share one check instead of filling the pool.
      const probes = await Promise.all(Array.from({ length: 20 }, () => timed('/healthz')));
      expect(probes.every((p) => p.res.status === 503 && p.ms < 1_000)).toBe(true);

      proxy.thaw();
      await poll(async () => (await app.request('/healthz')).status, (s) => s === 200, 20_000);
      expect((await app.request(`/workflows/${id}`)).status).toBe(200);
      // The START sent while it hung reached the stalled server, which may run it once it resumes:
      // the answer said so instead of promising "not applied".
      expect(startDuringFreeze.code).toBe('PERSISTENCE_UNAVAILABLE');
      expect(startDuringFreeze.applied).toBe('unknown');
      const status = async () => ((await (await app.request(`/workflows/${id}`)).json()) as { status: string }).status;
      // Send START again only if it did not take effect; either way it starts exactly once.
      await poll(
        async () => ((await status()) === 'pending' ? (await app.request(`/workflows/${id}/events`, json({ type: 'START' }))).status : 200),
        (s) => s === 200,
        20_000,
      );
      await poll(async () => ((await (await app.request(`/workflows/${id}`)).json()) as { status: string }).status, (s) => s === 'completed', 20_000);
      const history = (await (await app.request(`/workflows/${id}/history`)).json()) as { items: { seq: number }[] };
      expect(history.items.map((h) => h.seq)).toEqual(history.items.map((_, i) => i + 1));
    } finally {
      proxy.thaw();
      await engine.stop();
      await handle.close();
      await proxy.close();
    }
  }, 90_000);
});

describe.runIf(process.env.DATABASE_URL)('lease renewals under load', () => {
  it('1,000 creates at 50 in flight with leases renewed every second: no deadlock reaches a client', async () => {
    const { store } = await testDatabase('postgres');
    await truncateAll(store);
    // Slow steps keep hundreds of workflows live, so every renewal touches the rows the writer is updating.
    const slow = (phase: Phase) => async () => {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 800));
      return outputsFor(phase);
    };
    const steps = Object.fromEntries(STEP_PHASES.map((p) => [p, slow(p)]));
    const { engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps(steps), leaseMs: 3_000 });
    try {
      const statuses = new Map<number, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (next < 1_000) {
            const i = next++;
            const res = await app.request('/workflows', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ name: `load${i}`, files: [{ name: 'a.csv', content: 'name\nweb01\n' }] }),
            });
            await res.arrayBuffer();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          }
        }),
      );
      expect(Object.fromEntries(statuses)).toEqual({ 201: 1_000 });
      // Every workflow still completes: no change was lost to a deadlock either.
      await poll(async () => (await store.listWorkflows({ status: 'completed', limit: 1_000 })).items.length, (n) => n === 1_000, 120_000);
    } finally {
      await engine.stop();
    }
  }, 180_000);
});
