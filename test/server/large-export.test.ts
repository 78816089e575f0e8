import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client.ts';
import type { WorkflowStore } from '../../src/db/store.ts';
import { FILE_PART_BYTES } from '../../src/db/uploads.ts';
import { createStepActors } from '../../src/engine/steps.ts';
import { STEP_PHASES } from '../../src/machine/table.ts';
import { wireService } from '../../src/server/service.ts';
import { generateLargeExport } from '../fixtures/generate.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';

// The CI-sized large export (issue 12): 50,000 rows through the six real steps on each database.
// Timings and memory are the benchmark's business (npm run bench -- --only pipeline); this checks
// that an export of this size completes and that its inventory is exactly right.
const ROWS = 50_000;

for (const driver of DRIVERS) {
  describe(`a ${ROWS.toLocaleString('en')}-row export on ${driver}`, () => {
    let store: WorkflowStore;
    let service: ReturnType<typeof wireService>;
    const csv = generateLargeExport(ROWS);

    beforeAll(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
      const logger = testLogger();
      service = wireService({
        store,
        logger,
        maxUploadBytes: 100 * 1024 * 1024,
        // As the service runs: the computing steps in a worker thread, their staging rows streamed to this one.
        stepWorkers: 1,
        steps: (hooks) => createStepActors({ store, logger, ...hooks }),
      });
    });
    afterAll(async () => {
      await service.engine.stop();
    });

    it('runs through all six steps and stores every asset exactly once', async () => {
      const res = await service.app.request('/workflows?name=large', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      let view: { status: string; errors: unknown[] } = { status: 'running', errors: [] };
      for (const deadline = Date.now() + 280_000; Date.now() < deadline; ) {
        view = (await (await service.app.request(`/workflows/${id}`)).json()) as typeof view;
        if (view.status === 'completed' || view.status === 'failed') break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(view, JSON.stringify(view.errors)).toMatchObject({ status: 'completed' });

      const [counts] = rowsOf<{ assets: number; keys: number; names: number }>(
        await store.db.execute(sql`
          select count(*)::int as assets, count(distinct asset_key)::int as keys, count(distinct name)::int as names
          from assets where workflow_id = ${id}`),
      );
      expect(counts).toEqual({ assets: ROWS, keys: ROWS, names: ROWS });
      const [edges] = rowsOf<{ n: number; keys: number }>(
        await store.db.execute(sql`select count(*)::int as n, count(distinct edge_key)::int as keys from dependencies where workflow_id = ${id}`),
      );
      // Every third generated host names its virtualisation host: those are dependency edges.
      expect(edges!.n).toBeGreaterThan(ROWS / 4);
      expect(edges!.keys).toBe(edges!.n);
      // The steps staged them as rows; once promoted into the inventory, none are left behind.
      const [staged] = rowsOf<{ assets: number; edges: number }>(
        await store.db.execute(
          sql`select (select count(*)::int from staged_assets where workflow_id = ${id}) as assets, (select count(*)::int from staged_dependencies where workflow_id = ${id}) as edges`,
        ),
      );
      expect(staged).toEqual({ assets: 0, edges: 0 });

      // The upload was streamed into parts as it arrived, and the workflow's file names them.
      const [file] = rowsOf<{ parts: number; size: number }>(
        await store.db.execute(sql`select (select count(*)::int from upload_parts p where p.upload_id = f.upload_id) as parts, f.size_bytes::int as size from dataset_files f where f.workflow_id = ${id}`),
      );
      expect(file).toEqual({ parts: Math.ceil(Buffer.byteLength(csv) / FILE_PART_BYTES), size: Buffer.byteLength(csv) });

      const runs = (await store.listStepRuns(id, { limit: 100 })).items;
      expect(runs.map((r) => [r.phase, r.outcome])).toEqual(STEP_PHASES.map((phase) => [phase, 'succeeded']));
      const page = (await (await service.app.request(`/workflows/${id}/assets?limit=2`)).json()) as { items: unknown[] };
      expect(page.items).toHaveLength(2);
    }, 300_000);
  });
}

describe('an export too large for a step thread', () => {
  it('is refused at upload with 413 STEP_OUT_OF_MEMORY, nothing stored, and the service goes on', async () => {
    const { store } = await testDatabase('pglite');
    await truncateAll(store);
    const logger = testLogger();
    const service = wireService({
      store,
      logger,
      maxUploadBytes: 100 * 1024 * 1024,
      stepWorkers: 1,
      stepWorkerMaxMb: 32,
      steps: (hooks) => createStepActors({ store, logger, ...hooks }),
    });
    try {
      const res = await service.app.request('/workflows?name=huge', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: generateLargeExport(100_000) });
      expect(res.status).toBe(413);
      const body = (await res.json()) as { code: string; message: string; hint: string };
      expect(body).toMatchObject({ code: 'STEP_OUT_OF_MEMORY', hint: expect.stringMatching(/split it .* then upload it again\.$/) });
      expect(body.message).toMatch(/Reading the upload needed more memory than a step thread may use \(STEP_WORKER_MAX_MB=32\)/);
      expect((await store.listWorkflows({ limit: 10 })).items).toEqual([]);
      const small = await service.app.request('/workflows?name=small', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: generateLargeExport(100) });
      expect(small.status).toBe(201);
    } finally {
      await service.engine.stop();
    }
  }, 120_000);
});
