import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { wireService } from '../../src/server/service.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps } from '../support/steps.ts';

const down = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

for (const driver of DRIVERS) {
  describe(`creating a workflow on ${driver}`, () => {
    let store: WorkflowStore;
    let engine: WorkflowEngine;

    beforeEach(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
    });
    afterEach(() => engine.stop());

    it('either creates and starts a workflow or, answering an error, creates nothing; a retried Idempotency-Key gives one workflow', async () => {
      // Every third create fails in the database; every first state change after a create fails
      // too (where START used to be written separately, leaving a pending row behind).
      const flaky = Object.create(store) as WorkflowStore;
      let creates = 0;
      flaky.createWorkflow = (...args) => (++creates % 3 === 0 ? Promise.reject(down()) : store.createWorkflow(...args));
      const failedOnce = new Set<string>();
      flaky.persistChanges = (changes, runs) => {
        const first = changes.find((c) => !failedOnce.has(c.workflowId));
        if (first) {
          failedOnce.add(first.workflowId);
          return Promise.reject(down());
        }
        return store.persistChanges(changes, runs);
      };
      let app: ReturnType<typeof wireService>['app'];
      ({ engine, app } = wireService({ store: flaky, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps(), retryPersistAfterMs: 20 }));
      const create = (key: string) =>
        app.request('/workflows', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ name: key, files: [{ name: 'a.csv', content: 'name\nweb01\n' }] }),
        });
      const answers: number[] = [];
      for (let i = 0; i < 12; i++) {
        let res = await create(`key-${i}`);
        answers.push(res.status);
        // The client retries an error with the same key until it gets an answer.
        while (res.status >= 500) res = await create(`key-${i}`);
        expect(res.status).toBe(201);
      }
      expect(answers).toContain(503);
      expect(answers).toContain(201);
      const rows = (await store.listWorkflows({ limit: 100 })).items;
      expect(rows.map((r) => r.name).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `key-${i}`).sort());
      for (let i = 0; i < 200 && (await store.listWorkflows({ limit: 100 })).items.some((r) => r.status !== 'completed'); i++) await new Promise((r) => setTimeout(r, 20));
      const done = (await store.listWorkflows({ limit: 100 })).items;
      expect(done.filter((r) => r.status !== 'completed').map((r) => [r.name, r.status])).toEqual([]);
      for (const row of done) {
        const history = (await store.getHistory(row.id, { limit: 100 })).items;
        expect(history.slice(0, 2).map((h) => h.eventType), row.name).toEqual(['workflow.created', 'START']);
        expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i + 1));
      }
    });
  });
}
