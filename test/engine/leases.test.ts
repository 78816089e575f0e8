import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LeaseStore } from '../../src/db/leases.ts';
import type { WorkflowStore } from '../../src/db/store.ts';
import { WorkflowEngine } from '../../src/engine/engine.ts';
import { LeaseKeeper } from '../../src/engine/leases.ts';
import type { Logger } from '../../src/engine/logger.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps } from '../support/steps.ts';

function fakeStore(lostIds: string[]) {
  const calls: string[] = [];
  const store = {
    claim: async (id: string) => (calls.push(`claim ${id}`), null),
    claimUnfinished: async () => (calls.push('claimUnfinished'), []),
    renewLeases: async (_owner: string, ids: string[]) => (calls.push(`renew ${ids.join(',')}`), ids.filter((id) => lostIds.includes(id))),
    releaseLeases: async () => {
      calls.push('release');
      throw new Error('database down');
    },
  } satisfies LeaseStore;
  return { store, calls };
}

describe('lease keeper', () => {
  afterEach(() => vi.useRealTimers());

  it('writes a heartbeat and looks for orphans every beat, renews the held leases every third of a lease, and reports the lost ones', async () => {
    vi.useFakeTimers();
    const { store, calls } = fakeStore(['b']);
    const lost: string[] = [];
    let adoptions = 0;
    const keeper = new LeaseKeeper({
      store,
      logger: testLogger(),
      instanceId: 'me',
      leaseMs: 3_000,
      heartbeatMs: 500,
      heartbeat: async () => void calls.push('heartbeat'),
      held: () => ['a', 'b'],
      lost: (id) => lost.push(id),
      adopt: async () => (adoptions += 1),
    });
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toEqual(['heartbeat']);
    expect(adoptions).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toEqual(['heartbeat', 'heartbeat', 'renew a,b']);
    expect(lost).toEqual(['b']);
    expect(adoptions).toBe(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls.filter((c) => c === 'heartbeat')).toHaveLength(6);
    expect(calls.filter((c) => c.startsWith('renew'))).toHaveLength(3);
    keeper.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls.filter((c) => c === 'heartbeat')).toHaveLength(6);
  });

  it('hands leases back without throwing when the database is down', async () => {
    const { store, calls } = fakeStore([]);
    const keeper = new LeaseKeeper({ store, logger: testLogger(), instanceId: 'me', leaseMs: 30_000, held: () => [], lost: () => {}, adopt: async () => 0 });
    await expect(keeper.release(['a'])).resolves.toBeUndefined();
    expect(calls).toEqual(['release']);
    expect(keeper.leaseUntil(new Date(0)).getTime()).toBe(30_000);
    keeper.stop();
  });
});

/** A logger that keeps its warning and error messages. */
function recordingLogger(messages: string[]): Logger {
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (_obj, msg) => void messages.push(msg ?? ''),
    error: (_obj, msg) => void messages.push(msg ?? ''),
    child: () => logger,
  };
  return logger;
}

const file = { name: 'servers.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') };

for (const driver of DRIVERS) {
  describe(`leases on ${driver}`, () => {
    let store: WorkflowStore;
    let engine: WorkflowEngine | null = null;

    beforeEach(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
    });
    afterEach(() => engine?.stop());

    it('says nothing about a lost lease when a workflow merely completed while its lease was renewed', async () => {
      // The commit that completes a workflow (and clears its lease) lands, but the engine hears of
      // it only later: renewals in between find the lease gone.
      const slow = Object.create(store) as WorkflowStore;
      slow.persistChanges = async (changes, runs) => {
        const result = await store.persistChanges(changes, runs);
        if (changes.some((c) => c.status === 'completed')) await new Promise((r) => setTimeout(r, 200));
        return result;
      };
      const messages: string[] = [];
      engine = new WorkflowEngine({ store: slow, steps: fakeSteps(), logger: recordingLogger(messages), leaseMs: 60 });
      const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => engine!.create({ name: `wf${i}`, files: [file], autoStart: true }).then((v) => v.id)));
      for (let i = 0; i < 200 && (await Promise.all(ids.map((id) => store.getWorkflow(id)))).some((r) => r?.status !== 'completed'); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await engine.idle();
      await new Promise((r) => setTimeout(r, 300));
      expect((await Promise.all(ids.map((id) => store.getWorkflow(id)))).map((r) => r?.status)).toEqual(Array(5).fill('completed'));
      expect(messages.filter((m) => /lease/.test(m))).toEqual([]);
    });
  });
}
