import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.ts';
import { copyText } from '../../src/db/copy.ts';
import { createStore, type WorkflowStore } from '../../src/db/store.ts';
import { freshPostgresUrl } from '../support/db.ts';

describe('copyText', () => {
  it('escapes what COPY text reserves and writes null as \\N (or JSON null)', () => {
    expect(copyText('a\tb\nc\rd\\e', false)).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyText(null, false)).toBe('\\N');
    expect(copyText(null, true)).toBe('null');
    expect(copyText({ t: 'x\ty' }, true)).toBe('{"t":"x\\\\ty"}');
  });
});

// Bulk writes take longer than one request's statement budget: they must not be cut off by it.
describe.skipIf(!process.env.DATABASE_URL)('inventory COPY on PostgreSQL with a short per-query timeout', () => {
  let handle: DatabaseHandle;
  let store: WorkflowStore;
  beforeAll(async () => {
    handle = await openDatabase({ url: await freshPostgresUrl(process.env.DATABASE_URL!, 'copy') }, { timeouts: { connectMs: 5_000, queryMs: 200 } });
    store = createStore(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
  });

  it('writes 40,000 assets on first write and again on a re-run, both past the 200 ms query timeout', async () => {
    const id = randomUUID();
    const at = new Date();
    await store.createWorkflow(
      { id, name: 'bulk', phase: 'pending', status: 'pending', snapshot: { value: 'pending' }, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
      { workflowId: id, seq: 1, eventType: 'workflow.created', event: { type: 'workflow.created' }, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
      [],
    );
    const padding = 'x'.repeat(1_000);
    const assets = (os: string) =>
      Array.from({ length: 40_000 }, (_, i) => ({
        assetKey: `k${i}`,
        name: `host${i}`,
        assetType: 'server',
        assetSubtype: null,
        environment: 'prod',
        osFamily: os,
        application: null,
        data: { i, os, padding },
      }));
    const started = performance.now();
    expect(await store.replaceAssets(id, assets('linux'))).toEqual({ inserted: 40_000, updated: 0, unchanged: 0, deleted: 0 });
    // Only meaningful if the write outlasted the timeout it must not be bound by.
    expect(performance.now() - started).toBeGreaterThan(200);
    expect(await store.replaceAssets(id, assets('windows').slice(1))).toEqual({ inserted: 0, updated: 39_999, unchanged: 0, deleted: 1 });
  }, 120_000);
});
