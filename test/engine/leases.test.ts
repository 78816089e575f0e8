import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LeaseStore } from '../../src/db/leases.ts';
import { LeaseKeeper } from '../../src/engine/leases.ts';
import { testLogger } from '../support/logger.ts';

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

  it('renews the held leases every third of a lease, reports the lost ones, and adopts orphans every third beat', async () => {
    vi.useFakeTimers();
    const { store, calls } = fakeStore(['b']);
    const lost: string[] = [];
    let adoptions = 0;
    const keeper = new LeaseKeeper({
      store,
      logger: testLogger(),
      instanceId: 'me',
      leaseMs: 300,
      held: () => ['a', 'b'],
      lost: (id) => lost.push(id),
      adopt: async () => (adoptions += 1),
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toEqual(['renew a,b']);
    expect(lost).toEqual(['b']);
    expect(adoptions).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(adoptions).toBe(1);
    keeper.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.filter((c) => c.startsWith('renew'))).toHaveLength(3);
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
