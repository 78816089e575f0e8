import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveWire, type WireServer } from '../../src/db/pglite-relay.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// The relay in this thread, over an in-memory PGlite, so the test can weigh what it keeps
// (startPgliteServer runs the same relay in a worker thread; test/db/pglite-server.test.ts).
describe('serveWire', () => {
  let db: PGlite;
  let server: WireServer;
  let client: pg.Client;

  beforeAll(async () => {
    db = await PGlite.create();
    server = await serveWire(db, { password: 'relay-test' });
    client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', password: 'relay-test', database: 'postgres' });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end().catch(() => {});
    await server?.close();
    await db?.close();
  });

  it('keeps nothing of the results it relays: 100 results of 1 MB leave the heap as it was', async () => {
    // PGlite parses every message its backend sends into a list that only its own execProtocol
    // empties; relayed through execProtocolRaw, every result ever sent stayed there (at 300k rows,
    // 250 MB of the PGlite thread's heap after one workflow, and growing with each).
    const result = await client.query<{ s: string }>(`select repeat('x', 1000000) as s`);
    expect(result.rows[0]!.s).toHaveLength(1_000_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100; i++) await client.query(`select repeat(chr(97 + ${i % 26}), 1000000) as s`);
    gc();
    const grown = (process.memoryUsage().heapUsed - before) / 1048576;
    expect(grown).toBeLessThan(30);
  });
});
