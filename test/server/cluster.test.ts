import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresUrl } from '../support/db.ts';
import pg from 'pg';
import { killServers, poll, startServer, stopServer } from '../support/server-process.ts';

afterAll(() => killServers());

describe.runIf(process.env.DATABASE_URL)('several instances on one PostgreSQL database', () => {
  it('three processes started at once on an empty database all come up (migrations under an advisory lock)', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'start3');
    const servers = await Promise.allSettled(['a', 'b', 'c'].map((name) => startServer({ DATABASE_URL: url, INSTANCE_ID: `start-${name}` })));
    try {
      const failures = servers.flatMap((s) => (s.status === 'rejected' ? [String(s.reason).slice(0, 2_000)] : []));
      expect(failures).toEqual([]);
      const health = (await (await fetch(`${(servers[0] as PromiseFulfilledResult<{ url: string }>).value.url}/healthz`)).json()) as { instance: string; instances: { id: string }[] };
      expect(health.instance).toBe('start-a');
      expect(health.instances.map((i) => i.id)).toEqual(['start-a', 'start-b', 'start-c']);
      for (const s of servers) {
        if (s.status !== 'fulfilled') continue;
        const res = await fetch(`${s.value.url}/workflows?name=x`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'name\nweb01\n' });
        expect(res.status).toBe(201);
      }
    } finally {
      for (const s of servers) if (s.status === 'fulfilled') expect(await stopServer(s.value, 'SIGTERM')).toBe(0);
    }
  }, 120_000);

  it('a stream on one instance carries the transitions another instance commits, read from the audit table', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'feed');
    const [a, b] = await Promise.all(['a', 'b'].map((name) => startServer({ DATABASE_URL: url, INSTANCE_ID: `feed-${name}` })));
    const controller = new AbortController();
    try {
      const stream = await fetch(`${b!.url}/workflows/stream`, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
      expect(stream.status).toBe(200);
      let text = '';
      const reader = stream.body!.getReader();
      const reading = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += new TextDecoder().decode(value);
        }
      })().catch(() => {});
      const res = await fetch(`${a!.url}/workflows?name=feed`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'name\nweb01\n' });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const deadline = Date.now() + 30_000;
      while (!(text.includes(id) && /"toPhase":"completed"/.test(text)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(text).toContain(id);
      expect(text).toMatch(/"toPhase":"completed"/);
      controller.abort();
      await reading;
    } finally {
      controller.abort();
      for (const s of [a!, b!]) expect(await stopServer(s, 'SIGTERM')).toBe(0);
    }
  }, 120_000);

  it('an event sent to the instance not holding the workflow goes through the inbox and the holder keeps it', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'inbox');
    const [a, b] = await Promise.all(['a', 'b'].map((name) => startServer({ DATABASE_URL: url, INSTANCE_ID: `inbox-${name}` })));
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const res = await fetch(`${a!.url}/workflows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'r', files: [{ name: 's.csv', content: 'name\nweb01\n' }], options: { reviewMappings: true } }) });
      const { id } = (await res.json()) as { id: string };
      await poll(async () => (await (await fetch(`${a!.url}/workflows/${id}`)).json()) as { status: string }, (v) => v.status === 'awaiting_review');
      const approved = await fetch(`${b!.url}/workflows/${id}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"APPROVE_MAPPINGS"}' });
      expect(approved.status).toBe(200);
      const inbox = await db.query(`select state, taken_by from workflow_inbox`);
      expect(inbox.rows).toEqual([{ state: 'done', taken_by: 'inbox-a' }]);
    } finally {
      await db.end();
      for (const s of [a!, b!]) expect(await stopServer(s, 'SIGTERM')).toBe(0);
    }
  }, 120_000);
});
