import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockFileOf } from '../../src/db/data-dir-lock.ts';
import pg from 'pg';
import { wireService } from '../../src/server/service.ts';
import { freshPostgresUrl, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps, hang } from '../support/steps.ts';
import { killServers, listeningUrl, poll, spawnServer, startServer, stopServer } from '../support/server-process.ts';

const dirs: string[] = [];
afterAll(() => {
  killServers();
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(lockFileOf(dir), { force: true });
  }
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 1;
}

describe('start-up', () => {
  it('started while PostgreSQL is down: retries with one line per try naming host:port, then exits 1 with one line', async () => {
    const port = await closedPort();
    const started = Date.now();
    const { lines, exited } = spawnServer({ DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${port}/nowhere`, DB_STARTUP_WAIT_SECONDS: '2' });
    expect(await exited).toBe(1);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(2_000);
    expect(elapsed).toBeLessThan(20_000);
    const tries = lines.filter((l) => l.startsWith('{') && l.includes(`127.0.0.1:${port}`) && l.includes('not reachable'));
    expect(tries.length).toBeGreaterThanOrEqual(2);
    // ECONNREFUSED, unless another process on this busy machine took the freed port meanwhile.
    for (const line of tries) expect((JSON.parse(line) as { msg: string }).msg).toMatch(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port} not reachable \\((ECONNREFUSED|[^)]+)\\); trying again in \\d+\\.\\d s$`));
    const last = lines.at(-1)!;
    expect(last).toMatch(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port} was not reachable within 2 s`));
    expect(lines.join('\n')).not.toMatch(/\n\s+at |secret/);
  }, 60_000);

  it('locks its PGlite data directory: a second process exits at once naming it and the holder; a dead holder\'s lock is taken over', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'discovery-lock-'));
    dirs.push(dataDir);
    const env = { DATA_DIR: dataDir, DATABASE_URL: '' };
    const first = await startServer({ ...env, HOST: '0.0.0.0' });
    expect(first.lines.filter((l) => l.includes('HOST=0.0.0.0 ignored: binding 127.0.0.1 because no API_KEYS are set'))).toHaveLength(1);
    const second = spawnServer(env);
    expect(await second.exited).toBe(1);
    expect(second.lines.at(-1)).toBe(
      `The data directory ${dataDir} is in use by another Discovery Flow process (pid ${first.child.pid}); stop that one first, or give this one another DATA_DIR.`,
    );
    const res = await fetch(`${first.url}/workflows?name=one`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'name\nweb01\n' });
    expect(res.status).toBe(201);
    expect(await stopServer(first, 'SIGKILL')).toBeNull();
    expect(existsSync(lockFileOf(dataDir))).toBe(true);

    const third = await startServer(env);
    try {
      const list = (await (await fetch(`${third.url}/workflows`)).json()) as { items: { name: string }[] };
      expect(list.items.map((w) => w.name)).toEqual(['one']);
    } finally {
      expect(await stopServer(third, 'SIGTERM')).toBe(0);
    }
    expect(existsSync(lockFileOf(dataDir))).toBe(false);
  }, 120_000);

  it.runIf(process.env.DATABASE_URL)('an Idempotency-Key claimed by a process killed with SIGKILL expires, and the retry makes exactly one workflow', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'idem');
    const env = { DATABASE_URL: url, IDEMPOTENCY_CLAIM_SECONDS: '2' };
    const first = await startServer(env);
    // Big enough that parsing it (after the key is claimed, before the workflow exists) takes a while.
    const csv = 'name,fqdn,ip_address,os\n' + Array.from({ length: 150_000 }, (_, i) => `web${i},web${i}.example.com,10.${i >> 16}.${(i >> 8) & 255}.${i & 255},Ubuntu 22.04`).join('\n');
    const send = (base: string) => fetch(`${base}/workflows?name=idem&autoStart=false`, { method: 'POST', headers: { 'content-type': 'text/csv', 'idempotency-key': 'retry-me-1' }, body: csv });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      void send(first.url).catch(() => null);
      // Kill it the moment the key is claimed and before any workflow exists.
      await poll(async () => (await db.query('select count(*)::int as n from idempotency_keys where status = 0')).rows[0].n as number, (n) => n === 1, 30_000);
      expect(await stopServer(first, 'SIGKILL')).toBeNull();
      expect((await db.query('select count(*)::int as n from workflows')).rows[0].n).toBe(0);

      const second = await startServer(env);
      try {
        // The dead request's claim is older than IDEMPOTENCY_CLAIM_SECONDS by now (a start takes longer):
        // the retry takes it over instead of getting 409 IDEMPOTENCY_IN_PROGRESS for 24 hours.
        await poll(async () => (await db.query(`select count(*)::int as n from idempotency_keys where created_at < now() - interval '2 seconds'`)).rows[0].n as number, (n) => n === 1, 10_000);
        const retried = await send(second.url);
        expect(retried.status).toBe(201);
        const { id } = (await retried.json()) as { id: string };
        const again = await send(second.url);
        expect([again.status, again.headers.get('idempotent-replayed'), ((await again.json()) as { id: string }).id]).toEqual([201, 'true', id]);
        expect((await db.query('select id from workflows')).rows.map((r: { id: string }) => r.id)).toEqual([id]);
      } finally {
        expect(await stopServer(second, 'SIGTERM')).toBe(0);
      }
    } finally {
      await db.end();
    }
  }, 120_000);

  it('after SIGKILL listens first and restores in the background: the port answers before the workflows are back', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'discovery-listen-'));
    dirs.push(dataDir);
    const env = { DATA_DIR: dataDir, DATABASE_URL: '', FAULT_INJECTION: 'slow=1,slowMs=5000' };
    const first = await startServer(env);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${first.url}/workflows?name=listen${i}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'name\nweb01\n' });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    expect(await stopServer(first, 'SIGKILL')).toBeNull();

    const second = spawnServer(env);
    const url = await poll(async () => second.lines.map(listeningUrl).find((u) => u !== null) ?? null, (u) => u !== null, 60_000);
    // Asked at once: an answer (503 starting, or restoring, or ok), never a refused connection.
    const health = await fetch(`${url}/healthz`);
    const body = (await health.json()) as { status: string };
    expect(['starting', 'restoring', 'ok']).toContain(body.status);
    if (health.status === 503) expect(health.headers.get('retry-after')).toMatch(/^\d+$/);
    await poll(async () => second.lines.some((l) => l.includes('"msg":"discovery flow ready"')), (v) => v, 60_000);
    const order = second.lines.map((l) => (l.includes('discovery flow listening') ? 'listening' : l.includes('unfinished workflows restored') ? 'restored' : null)).filter(Boolean);
    expect(order).toEqual(['listening', 'restored']);
    expect(second.lines.join('\n')).toContain('"restored":5');
    // The kill -9 left a trace: each workflow's audit has the restore with the interrupted attempt, and that attempt's run is closed.
    for (const id of ids) {
      type History = { items: { eventType: string; event: { interrupted?: { phase: string; attempt: number } } }[] };
      const history = await poll(
        async () => (await (await fetch(`${url}/workflows/${id}/history`)).json()) as History,
        (h) => h.items.some((i) => i.eventType === 'workflow.restored'),
        30_000,
      );
      expect(history.items.find((i) => i.eventType === 'workflow.restored')!.event.interrupted).toEqual(
        expect.objectContaining({ phase: 'data_source_analysis', attempt: 1 }),
      );
      const steps = (await (await fetch(`${url}/workflows/${id}/steps`)).json()) as { items: { phase: string; attempt: number; outcome: string }[] };
      expect(steps.items[0]).toMatchObject({ phase: 'data_source_analysis', attempt: 1, outcome: 'interrupted' });
    }
    expect(await stopServer(second, 'SIGTERM')).toBe(0);
  }, 120_000);

  it('answers 503 RESTORING with Retry-After to an event for a workflow not restored yet; reads and /healthz work meanwhile', async () => {
    const { store } = await testDatabase('pglite');
    await truncateAll(store);
    const before = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps({ data_source_analysis: hang() }) });
    const { id } = await before.engine.create({ name: 'restore-me', files: [{ name: 'a.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') }], autoStart: true });
    await before.engine.stop();

    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = Object.create(store) as typeof store;
    slow.claimUnfinished = async (...args) => {
      await gate;
      return store.claimUnfinished(...args);
    };
    const { engine, app } = wireService({ store: slow, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps({ data_source_analysis: hang() }) });
    try {
      const restoring = engine.restoreOnStart();
      const event = await app.request(`/workflows/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"CANCEL"}' });
      expect([event.status, ((await event.json()) as { code: string }).code]).toEqual([503, 'RESTORING']);
      expect(event.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await app.request(`/workflows/${id}`)).status).toBe(200);
      expect(((await (await app.request('/healthz')).json()) as { status: string }).status).toBe('restoring');
      release();
      expect(await restoring).toEqual({ restored: 1, skipped: 0 });
      const after = await app.request(`/workflows/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"CANCEL"}' });
      expect(after.status).toBe(200);
      expect(((await (await app.request('/healthz')).json()) as { status: string }).status).toBe('ok');
    } finally {
      await engine.stop();
    }
  });
});
