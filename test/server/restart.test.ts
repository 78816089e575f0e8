import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STEP_PHASES } from '../../src/machine/table.ts';
import { generateLargeExport } from '../fixtures/generate.ts';
import { DRIVERS, freshPostgresUrl } from '../support/db.ts';
import { killServers, poll, startServer, stopServer as kill } from '../support/server-process.ts';

const CSV = ['name,fqdn,ip_address,os,environment', 'web01,web01.example.com,10.0.0.1,Ubuntu 22.04,prod', 'db01,db01.example.com,10.0.0.2,Windows Server 2019,prod'].join('\n');

const dirs: string[] = [];

/** Every asset key of a workflow, through the paged API. */
async function countAll(url: string): Promise<string[]> {
  const keys: string[] = [];
  for (let cursor: string | null = null; ; ) {
    const page = (await (await fetch(`${url}?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as { items: { asset_key: string }[]; nextCursor: string | null };
    keys.push(...page.items.map((a) => a.asset_key));
    if (!page.nextCursor) return keys;
    cursor = page.nextCursor;
  }
}
afterAll(() => {
  // A failed test must not leave a server running against a database the next run recreates.
  killServers();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

for (const driver of DRIVERS) {
  describe(`the real server process on ${driver}`, () => {
    it('resumes a workflow killed with SIGKILL mid-step and completes it after a restart', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'discovery-e2e-'));
      dirs.push(dataDir);
      const env: Record<string, string> =
        driver === 'pglite' ? { DATA_DIR: dataDir, DATABASE_URL: '' } : { DATABASE_URL: await freshPostgresUrl(process.env.DATABASE_URL!, 'e2e') };
      // Every step attempt is slow, so the kill lands while one is in flight.
      const first = await startServer({ ...env, FAULT_INJECTION: 'slow=1,slowMs=1500' });
      const res = await fetch(`${first.url}/workflows?name=e2e`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      await poll(
        async () => (await (await fetch(`${first.url}/workflows/${id}`)).json()) as { phase: string; status: string },
        (v) => v.phase === 'data_validation' && v.status === 'running',
      );
      expect(await kill(first, 'SIGKILL')).toBeNull();

      const second = await startServer(env);
      try {
        const done = await poll(
          async () => (await (await fetch(`${second.url}/workflows/${id}`)).json()) as { status: string; attempts: Record<string, number> },
          (v) => v.status === 'completed' || v.status === 'failed',
        );
        expect(done.status).toBe('completed');
        expect(done.attempts.data_validation).toBe(1);
        const history = (await (await fetch(`${second.url}/workflows/${id}/history`)).json()) as { items: { seq: number; toPhase: string }[] };
        expect(history.items.map((h) => h.seq)).toEqual(history.items.map((_, i) => i + 1));
        expect(history.items.at(-1)!.toPhase).toBe('completed');
        const assets = (await (await fetch(`${second.url}/workflows/${id}/assets`)).json()) as { items: { name: string }[] };
        expect(assets.items.map((a) => a.name).sort()).toEqual(['db01', 'web01']);
        expect(second.lines.join('\n')).toContain('workflow restored');
      } finally {
        expect(await kill(second, 'SIGTERM')).toBe(0);
      }
    }, 120_000);

    it('fails a workflow whose step was killed twice with STEP_CRASHED instead of resuming it on every restart', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'discovery-crashloop-'));
      dirs.push(dataDir);
      const env: Record<string, string> = {
        ...(driver === 'pglite' ? { DATA_DIR: dataDir, DATABASE_URL: '' } : { DATABASE_URL: await freshPostgresUrl(process.env.DATABASE_URL!, 'loop') }),
        // Every attempt is slow, so each kill lands while data_validation runs: a stand-in for a step that kills the process.
        FAULT_INJECTION: 'slow=1,slowMs=4000',
      };
      let server = await startServer(env);
      const res = await fetch(`${server.url}/workflows?name=killer`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
      const { id } = (await res.json()) as { id: string };
      const view = async () => (await (await fetch(`${server.url}/workflows/${id}`)).json()) as { phase: string; status: string; errors: { code: string; hint: string; phase: string }[] };
      for (let death = 1; death <= 2; death++) {
        await poll(view, (v) => v.phase === 'data_validation' && v.status === 'running');
        expect(await kill(server, 'SIGKILL')).toBeNull();
        server = await startServer(env);
      }
      try {
        const failed = await poll(view, (v) => v.status === 'failed' || v.status === 'completed');
        expect(failed.status).toBe('failed');
        expect(failed.errors.at(-1)).toMatchObject({ code: 'STEP_CRASHED', phase: 'data_validation' });
        expect(failed.errors.at(-1)!.hint).toMatch(/memory/);
        const runs = (await (await fetch(`${server.url}/workflows/${id}/steps`)).json()) as { items: { phase: string; outcome: string }[] };
        expect(runs.items.filter((r) => r.phase === 'data_validation').map((r) => r.outcome)).toEqual(['interrupted', 'interrupted', 'failed']);
        // Once it is failed, a restart leaves it failed: the crash loop is over.
        expect(await kill(server, 'SIGKILL')).toBeNull();
        server = await startServer(env);
        expect((await view()).status).toBe('failed');
      } finally {
        expect(await kill(server, 'SIGTERM')).toBe(0);
      }
    }, 120_000);

    it('a large export killed with SIGKILL in one phase after another resumes each time and stores every asset exactly once', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'discovery-bigkill-'));
      dirs.push(dataDir);
      const env: Record<string, string> = {
        ...(driver === 'pglite' ? { DATA_DIR: dataDir, DATABASE_URL: '' } : { DATABASE_URL: await freshPostgresUrl(process.env.DATABASE_URL!, 'big') }),
        // Each attempt first waits a second, so the test sees every phase running; the kill lands in
        // that wait or, later after each restart, in the step's work.
        FAULT_INJECTION: 'slow=1,slowMs=1000',
        // A kill meant for one phase can land in the next one, which the next kill then hits again: this
        // test is about resuming, the crash-loop guard has its own.
        MAX_STEP_INTERRUPTIONS: '10',
      };
      const rows = 20_000;
      let server = await startServer(env);
      const res = await fetch(`${server.url}/workflows?name=big`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: generateLargeExport(rows) });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const killedIn: string[] = [];
      try {
        for (const deadline = Date.now() + 240_000; Date.now() < deadline; ) {
          const view = (await (await fetch(`${server.url}/workflows/${id}`)).json()) as { phase: string; status: string; errors: unknown[] };
          if (view.status === 'completed' || view.status === 'failed') {
            expect(view, JSON.stringify(view.errors)).toMatchObject({ status: 'completed' });
            break;
          }
          // Once in every phase it is seen running (the quick ones may slip by between two looks).
          if (view.status === 'running' && !killedIn.includes(view.phase) && view.phase !== 'pending') {
            await new Promise((r) => setTimeout(r, 200 + 300 * killedIn.length));
            // A quick step may have finished in the wait (database_integration promotes 20,000 rows in well under a second): look again.
            const still = (await (await fetch(`${server.url}/workflows/${id}`)).json()) as { phase: string; status: string };
            if (still.phase !== view.phase || still.status !== 'running') continue;
            expect(await kill(server, 'SIGKILL')).toBeNull();
            killedIn.push(view.phase);
            server = await startServer(env);
            continue;
          }
          await new Promise((r) => setTimeout(r, 25));
        }
        expect(killedIn.length).toBeGreaterThanOrEqual(3);
        const assets = await countAll(`${server.url}/workflows/${id}/assets`);
        expect(assets.length).toBe(rows);
        expect(new Set(assets).size).toBe(rows);
        const runs = (await (await fetch(`${server.url}/workflows/${id}/steps?limit=100`)).json()) as { items: { phase: string; outcome: string }[] };
        // Each phase succeeded exactly once; each killed attempt is on record as interrupted.
        for (const phase of STEP_PHASES) expect(runs.items.filter((r) => r.phase === phase && r.outcome === 'succeeded')).toHaveLength(1);
        const interrupted = runs.items.filter((r) => r.outcome === 'interrupted').map((r) => r.phase);
        // A kill that lands just after its phase ended interrupts the next phase instead, except after
        // the last one: a kill meant for database_integration can land once the workflow completed
        // (seen in CI: the look before the kill saw it running, the commit came between the two).
        const missable = killedIn.at(-1) === 'database_integration' ? 1 : 0;
        const record = JSON.stringify({ killedIn, runs: runs.items.map((r) => [r.phase, r.outcome]) });
        expect(interrupted.length, record).toBeLessThanOrEqual(killedIn.length);
        expect(interrupted.length, record).toBeGreaterThanOrEqual(killedIn.length - missable);
        expect(new Set(interrupted).size).toBeGreaterThanOrEqual(3);
      } finally {
        expect(await kill(server, 'SIGTERM')).toBe(0);
      }
    }, 300_000);

    it('survives three SIGKILLs at random moments across 50 workflows and loses nothing', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'discovery-crash-'));
      dirs.push(dataDir);
      const env: Record<string, string> = {
        ...(driver === 'pglite' ? { DATA_DIR: dataDir, DATABASE_URL: '' } : { DATABASE_URL: await freshPostgresUrl(process.env.DATABASE_URL!, 'crash') }),
        FAULT_INJECTION: 'slow=0.3,slowMs=300',
        LOG_LEVEL: 'warn',
        // Kills this close together can land twice in one workflow's step; what is tested here is that
        // nothing is lost, so the crash-loop guard (its own test below) must not fail such a workflow.
        MAX_STEP_INTERRUPTIONS: '10',
      };
      const created = new Map<string, number>();
      let server = await startServer({ ...env, LOG_LEVEL: 'info' });
      let random = 12345;
      const nextDelay = () => {
        random = (random * 1103515245 + 12345) % 2 ** 31;
        return 300 + (random % 900);
      };
      for (let round = 0; round < 3; round++) {
        const until = Date.now() + nextDelay();
        while (Date.now() < until && created.size < 50) {
          const res = await fetch(`${server.url}/workflows?name=crash${created.size}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV }).catch(() => null);
          if (res?.status === 201) created.set(((await res.json()) as { id: string }).id, created.size);
        }
        if (Date.now() < until) await new Promise((r) => setTimeout(r, until - Date.now()));
        expect(await kill(server, 'SIGKILL')).toBeNull();
        server = await startServer({ ...env, LOG_LEVEL: 'info' });
      }
      while (created.size < 50) {
        const res = await fetch(`${server.url}/workflows?name=crash${created.size}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
        expect(res.status).toBe(201);
        created.set(((await res.json()) as { id: string }).id, created.size);
      }
      try {
        const get = async <T>(path: string) => (await (await fetch(`${server.url}${path}`)).json()) as T;
        for (const id of created.keys()) {
          const view = await poll(
            () => get<{ status: string; phase: string; version: number; value: unknown }>(`/workflows/${id}`),
            (v) => v.status === 'completed' || v.status === 'failed',
          );
          expect(view.status, id).toBe('completed');
          const history = await get<{ items: { seq: number; eventType: string; toPhase: string; status: string; value: unknown }[] }>(`/workflows/${id}/history?limit=1000`);
          expect(history.items.map((h) => h.seq)).toEqual(history.items.map((_, i) => i + 1));
          // The 201 came after START was durable.
          expect(history.items.slice(0, 2).map((h) => h.eventType)).toEqual(['workflow.created', 'START']);
          const last = history.items.at(-1)!;
          expect([view.version, view.phase, view.status, view.value]).toEqual([last.seq, last.toPhase, last.status, last.value]);
          const assets = await get<{ items: { name: string }[] }>(`/workflows/${id}/assets`);
          expect(assets.items.map((a) => a.name).sort()).toEqual(['db01', 'web01']);
        }
      } finally {
        expect(await kill(server, 'SIGTERM')).toBe(0);
      }
    }, 180_000);

    it('on SIGTERM stops without failing anything and the next start resumes', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'discovery-term-'));
      dirs.push(dataDir);
      const env: Record<string, string> =
        driver === 'pglite' ? { DATA_DIR: dataDir, DATABASE_URL: '' } : { DATABASE_URL: await freshPostgresUrl(process.env.DATABASE_URL!, 'term') };
      const first = await startServer({ ...env, FAULT_INJECTION: 'slow=1,slowMs=1500' });
      const res = await fetch(`${first.url}/workflows?name=term`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
      const { id } = (await res.json()) as { id: string };
      expect(await kill(first, 'SIGTERM')).toBe(0);
      expect(first.lines.join('\n')).toContain('shutting down');
      const second = await startServer(env);
      try {
        const view = await poll(
          async () => (await (await fetch(`${second.url}/workflows/${id}`)).json()) as { status: string; errors: unknown[] },
          (v) => v.status === 'completed' || v.status === 'failed',
        );
        expect(view.status).toBe('completed');
        expect(view.errors).toEqual([]);
      } finally {
        expect(await kill(second, 'SIGTERM')).toBe(0);
      }
    }, 120_000);
  });
}

describe.runIf(process.env.DATABASE_URL)('two server processes on one PostgreSQL database', () => {
  it('never run one workflow at once; an event sent to the other is applied by the holder; the survivor adopts the workflows of the one that died', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'pair');
    const a = await startServer({ DATABASE_URL: url, INSTANCE_ID: 'instance-a', LEASE_SECONDS: '2', FAULT_INJECTION: 'slow=1,slowMs=1000' });
    const b = await startServer({ DATABASE_URL: url, INSTANCE_ID: 'instance-b', LEASE_SECONDS: '2' });
    try {
      const res = await fetch(`${a.url}/workflows?name=pair`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
      const { id } = (await res.json()) as { id: string };
      // START again: refused by the holder, and b answers exactly that (never WORKFLOW_BUSY).
      const relayed = await fetch(`${b.url}/workflows/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"START"}' });
      expect(relayed.status).toBe(409);
      expect(await relayed.json()).toMatchObject({ code: 'EVENT_NOT_ACCEPTED', accepted: ['CANCEL'] });
      expect(await kill(a, 'SIGKILL')).toBeNull();
      const done = await poll(
        async () => (await (await fetch(`${b.url}/workflows/${id}`)).json()) as { status: string },
        (v) => v.status === 'completed' || v.status === 'failed',
        30_000,
      );
      expect(done.status).toBe('completed');
      const history = (await (await fetch(`${b.url}/workflows/${id}/history`)).json()) as { items: { seq: number }[] };
      expect(history.items.map((h) => h.seq)).toEqual(history.items.map((_, i) => i + 1));
      expect(b.lines.join('\n')).toContain('adopted workflows');
    } finally {
      if (a.child.exitCode === null && a.child.signalCode === null) await kill(a, 'SIGKILL');
      expect(await kill(b, 'SIGTERM')).toBe(0);
    }
  }, 60_000);
});
