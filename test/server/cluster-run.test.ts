import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresUrl } from '../support/db.ts';
import { killServers, poll, startServer, stopServer, type ServerProcess } from '../support/server-process.ts';

afterAll(() => killServers());

const CSV = ['name,fqdn,ip_address,os,environment', 'web01,web01.example.com,10.0.0.1,Ubuntu 22.04,prod', 'db01,db01.example.com,10.0.0.2,Windows Server 2019,prod'].join('\n');

interface View {
  id: string;
  status: string;
  phase: string;
  version: number;
}

describe.runIf(process.env.DATABASE_URL)('three instances, one database, one killed mid-run', () => {
  it('60 workflows created round-robin, events to random instances, one SIGKILL: no WORKFLOW_BUSY, all complete, no step succeeds twice, audits gapless', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'cluster');
    // Slow steps (the test-only fault hook), so the kill lands while many are in flight.
    const env = { DATABASE_URL: url, FAULT_INJECTION: 'slow=1,slowMs=400', LOG_LEVEL: 'warn' };
    const started = await Promise.all(['a', 'b', 'c'].map((n) => startServer({ ...env, LOG_LEVEL: 'info', INSTANCE_ID: `run-${n}` })));
    const servers: ServerProcess[] = [...started];
    const statuses = new Map<number, number>();
    const codes: string[] = [];
    let random = 4242;
    const pick = () => {
      random = (random * 1103515245 + 12345) % 2 ** 31;
      const alive = servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
      // The high bits: the low bit of this generator only alternates.
      return alive[(random >>> 16) % alive.length]!;
    };
    const count = async (res: Response) => {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const body = (await res.json()) as { code?: string };
      if (body.code) codes.push(body.code);
      return body;
    };
    // A stream on each instance; the two that survive must see every workflow complete.
    const controller = new AbortController();
    const streamed = servers.map(() => ({ text: '' }));
    const readers = servers.map(async (server, i) => {
      const res = await fetch(`${server.url}/workflows/stream`, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        streamed[i]!.text += new TextDecoder().decode(value);
      }
    });
    for (const r of readers) r.catch(() => {});
    try {
      const ids: { id: string; review: boolean }[] = [];
      for (let i = 0; i < 60; i++) {
        const review = i % 3 === 0;
        const res = await fetch(`${servers[i % 3]!.url}/workflows`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `w${i}`, files: [{ name: 'servers.csv', content: CSV }], options: { reviewMappings: review } }),
        });
        expect(res.status).toBe(201);
        ids.push({ id: ((await count(res)) as View).id, review });
      }
      // Kill the instance holding the most running workflows.
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      const victim = servers[1]!;
      const held = async () => (await db.query<{ n: number }>(`select count(*)::int as n from workflows where owner = 'run-b' and status not in ('completed', 'failed')`)).rows[0]!.n;
      const before = await held();
      const killedAt = Date.now();
      expect(await stopServer(victim, 'SIGKILL')).toBeNull();
      await poll(held, (n) => n === 0, 60_000);
      const takeoverMs = Date.now() - killedAt;
      console.log(`takeover after SIGKILL: ${before} workflows in ${(takeoverMs / 1000).toFixed(1)} s`);

      // Approve every workflow at the review, each through a random surviving instance.
      for (const { id, review } of ids.filter((w) => w.review)) {
        if (!review) continue;
        await poll(async () => (await (await fetch(`${pick().url}/workflows/${id}`)).json()) as View, (v) => v.status === 'awaiting_review' || v.status === 'failed');
        const res = await fetch(`${pick().url}/workflows/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `approve-${id}` }, body: '{"type":"APPROVE_MAPPINGS"}' });
        await count(res);
        expect(res.status, id).toBe(200);
        // The same key through another instance: replayed, not applied twice.
        const again = await fetch(`${pick().url}/workflows/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `approve-${id}` }, body: '{"type":"APPROVE_MAPPINGS"}' });
        expect(again.status).toBe(200);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
      }
      for (const { id } of ids) {
        const view = await poll(async () => (await (await fetch(`${pick().url}/workflows/${id}`)).json()) as View, (v) => v.status === 'completed' || v.status === 'failed', 60_000);
        expect(view.status, id).toBe('completed');
      }
      const gaps = await db.query(`select workflow_id from workflow_transitions group by workflow_id having max(seq) <> count(*) or min(seq) <> 1`);
      expect(gaps.rows).toEqual([]);
      // APPROVE_MAPPINGS re-runs field mapping by design; otherwise each step succeeds once. A success
      // record commits in the statement of the transition it leads to, so a kill between the two cannot
      // leave a recorded success that runs again (an attempt cut short is recorded as interrupted).
      const twice = await db.query(`
        select r.workflow_id, r.phase, count(*)::int as n from step_runs r where r.outcome = 'succeeded' group by 1, 2
        having count(*) > 1
          + case when r.phase = 'field_mapping' then (select count(*) from workflow_transitions t where t.workflow_id = r.workflow_id and t.event_type = 'APPROVE_MAPPINGS') else 0 end`);
      // Never two instances at once: no two attempts of one workflow overlap in time.
      const overlapping = await db.query(`
        select a.workflow_id, a.phase, b.phase from step_runs a join step_runs b on a.workflow_id = b.workflow_id and a.id < b.id
        where a.outcome <> 'interrupted' and b.outcome <> 'interrupted' and a.started_at < b.ended_at and b.started_at < a.ended_at`);
      expect(overlapping.rows).toEqual([]);
      expect(twice.rows).toEqual([]);
      const approvals = await db.query(`select workflow_id from workflow_transitions where event_type = 'APPROVE_MAPPINGS' group by 1 having count(*) <> 1`);
      expect(approvals.rows).toEqual([]);
      for (const i of [0, 2]) {
        const completedIn = (text: string) => new Set([...text.matchAll(/"workflowId":"([^"]+)"[^\n]*"toPhase":"completed"/g)].map((m) => m[1]));
        await poll(async () => completedIn(streamed[i]!.text).size, (n) => n === 60, 30_000);
        expect([...completedIn(streamed[i]!.text)].sort()).toEqual(ids.map((w) => w.id).sort());
      }
      controller.abort();
      // Some approvals reached an instance not holding the workflow: they went through the inbox.
      const relayed = (await db.query<{ n: number }>(`select count(*)::int as n from workflow_inbox where state in ('done', 'withdrawn')`)).rows[0]!.n;
      console.log(`events relayed through the inbox: ${relayed} of 20`);
      expect(relayed).toBeGreaterThan(0);
      await db.end();
      expect(codes.filter((c) => c === 'WORKFLOW_BUSY')).toEqual([]);
      expect([...statuses.keys()].every((s) => s < 300)).toBe(true);
    } finally {
      controller.abort();
      for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) expect(await stopServer(s, 'SIGTERM')).toBe(0);
    }
  }, 180_000);
});
