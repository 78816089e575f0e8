import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { NewStepRun } from '../../src/db/history.ts';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowChange } from '../../src/db/workflows.ts';
import { GroupCommitWriter } from '../../src/engine/writer.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';

/** The store, with its group commit failing as a dropped connection does while `down` is set. */
function flaky(store: WorkflowStore) {
  const state = { down: false };
  const wrapped = Object.create(store) as WorkflowStore;
  wrapped.persistChanges = (changes, runs) =>
    state.down ? Promise.reject(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })) : store.persistChanges(changes, runs);
  return { store: wrapped, state };
}

for (const driver of DRIVERS) {
  describe(`GroupCommitWriter on ${driver}`, () => {
    let store: WorkflowStore;

    beforeEach(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
    });

    const seed = async () => {
      const id = randomUUID();
      const at = new Date();
      await store.createWorkflow(
        { id, name: 'wf', phase: 'pending', status: 'pending', snapshot: { value: 'pending' }, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
        { workflowId: id, seq: 1, eventType: 'workflow.created', event: { type: 'workflow.created' }, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
        [],
      );
      return id;
    };
    const cancel = (workflowId: string, reason: string): WorkflowChange => ({
      workflowId,
      expectedVersion: 1,
      phase: 'failed',
      status: 'failed',
      snapshot: { value: 'failed' },
      machineVersion: 1,
      at: new Date(),
      transition: { eventType: 'CANCEL', event: { type: 'CANCEL', reason }, fromPhase: 'pending', toPhase: 'failed', value: 'failed', status: 'failed' },
    });

    it('splits a batch that one unstorable change fails: every other change commits, only that caller gets the error', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, () => seed()));
      const writer = new GroupCommitWriter(store, { lanes: 1 });
      // Poison that got past the edge: text PostgreSQL cannot store, in two of twenty changes.
      const poisoned = new Set([ids[3], ids[17]]);
      const outcomes = await Promise.allSettled(ids.map((id) => writer.enqueue(cancel(id, poisoned.has(id) ? 'bad\u0000text' : 'fine'))));
      const rejected = ids.filter((_, i) => outcomes[i]!.status === 'rejected');
      expect(rejected.sort()).toEqual([...poisoned].sort());
      for (const id of ids) expect((await store.getWorkflow(id))!.version).toBe(poisoned.has(id) ? 1 : 2);
      expect(writer.stats.splits).toBeGreaterThan(0);
    });

    it('retries a deadlocked or serialization-failed batch inside the writer', async () => {
      const ids = await Promise.all(Array.from({ length: 5 }, () => seed()));
      let failures = 2;
      const deadlocking = Object.create(store) as WorkflowStore;
      deadlocking.persistChanges = (changes, runs) =>
        failures-- > 0 ? Promise.reject(Object.assign(new Error('deadlock detected'), { code: failures === 1 ? '40P01' : '40001' })) : store.persistChanges(changes, runs);
      const writer = new GroupCommitWriter(deadlocking, { lanes: 1 });
      await Promise.all(ids.map((id) => writer.enqueue(cancel(id, 'fine'))));
      for (const id of ids) expect((await store.getWorkflow(id))!.version).toBe(2);
    });

    it('keeps the step-run records of commits that failed while the database was away and stores them once it is back', async () => {
      const id = randomUUID();
      const at = new Date();
      await store.createWorkflow(
        { id, name: 'wf', phase: 'pending', status: 'pending', snapshot: { value: 'pending' }, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
        { workflowId: id, seq: 1, eventType: 'workflow.created', event: { type: 'workflow.created' }, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
        [],
      );
      const { store: broken, state } = flaky(store);
      const lost: number[] = [];
      const writer = new GroupCommitWriter(broken, { retryRunsAfterMs: 50, onRunsLost: (_error, count) => lost.push(count) });
      state.down = true;
      const run = (attempt: number): NewStepRun => ({
        workflowId: id,
        phase: 'data_source_analysis',
        attempt,
        startedAt: new Date(),
        endedAt: new Date(),
        outcome: 'failed',
        error: { code: 'STEP_FAILED', message: 'database unavailable' },
      });
      for (let attempt = 1; attempt <= 5; attempt++) {
        writer.recordStepRun(run(attempt));
        await writer.idle();
      }
      await new Promise((r) => setTimeout(r, 200));
      expect((await store.listStepRuns(id, { limit: 10 })).items).toHaveLength(0);
      state.down = false;
      for (let i = 0; i < 100 && (await store.listStepRuns(id, { limit: 10 })).items.length < 5; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await store.listStepRuns(id, { limit: 10 })).items.map((r) => r.attempt)).toEqual([1, 2, 3, 4, 5]);
      expect(lost).toEqual([]);
    });

    it('keeps writing after its retry timer fires with nothing left to write (the held records went out with a later batch)', async () => {
      const id = await seed();
      const { store: broken, state } = flaky(store);
      const writer = new GroupCommitWriter(broken, { lanes: 1, retryRunsAfterMs: 100 });
      const run: NewStepRun = { workflowId: id, phase: 'data_source_analysis', attempt: 1, startedAt: new Date(), endedAt: new Date(), outcome: 'failed', error: { code: 'STEP_FAILED', message: 'database unavailable' } };
      state.down = true;
      writer.recordStepRun(run);
      await writer.idle();
      // The database is back and a change carries the held record out before the retry timer fires.
      state.down = false;
      await writer.enqueue(cancel(id, 'first'));
      await new Promise((r) => setTimeout(r, 250));
      expect((await store.listStepRuns(id, { limit: 10 })).items).toHaveLength(1);
      // Then the lane still drains: this commit resolves and idle() returns instead of spinning.
      const second = { ...cancel(id, 'second'), expectedVersion: 2 };
      const outcome = await Promise.race([writer.enqueue(second).then(() => 'committed'), new Promise((r) => setTimeout(() => r('stuck'), 5_000))]);
      expect(outcome).toBe('committed');
      const settled = await Promise.race([writer.idle().then(() => 'idle'), new Promise((r) => setTimeout(() => r('spinning'), 5_000))]);
      expect(settled).toBe('idle');
    });
  });
}
