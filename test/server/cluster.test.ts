import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresUrl } from '../support/db.ts';
import { killServers, startServer, stopServer } from '../support/server-process.ts';

afterAll(() => killServers());

describe.runIf(process.env.DATABASE_URL)('several instances on one PostgreSQL database', () => {
  it('three processes started at once on an empty database all come up (migrations under an advisory lock)', async () => {
    const url = await freshPostgresUrl(process.env.DATABASE_URL!, 'start3');
    const servers = await Promise.allSettled(['a', 'b', 'c'].map((name) => startServer({ DATABASE_URL: url, INSTANCE_ID: `start-${name}` })));
    try {
      const failures = servers.flatMap((s) => (s.status === 'rejected' ? [String(s.reason).slice(0, 2_000)] : []));
      expect(failures).toEqual([]);
      for (const s of servers) {
        if (s.status !== 'fulfilled') continue;
        const res = await fetch(`${s.value.url}/workflows?name=x`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'name\nweb01\n' });
        expect(res.status).toBe(201);
      }
    } finally {
      for (const s of servers) if (s.status === 'fulfilled') expect(await stopServer(s.value, 'SIGTERM')).toBe(0);
    }
  }, 120_000);
});
