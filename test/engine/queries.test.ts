import { beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import { ARTIFACT } from '../../src/engine/artifacts.ts';
import { WorkflowEngine } from '../../src/engine/engine.ts';
import { WorkflowQueries } from '../../src/engine/queries.ts';
import type { FieldMapping, QuarantinedRecord } from '../../src/handlers/types.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps } from '../support/steps.ts';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';

describe('engine queries', () => {
  let store: WorkflowStore;
  let queries: WorkflowQueries;
  let id: string;

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    queries = new WorkflowQueries({ store, maxUploadBytes: 1 << 20 });
    const engine = new WorkflowEngine({ store, steps: fakeSteps(), logger: testLogger() });
    const file = { name: 'a.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') };
    id = (await engine.create({ name: 'q', files: [file], autoStart: false })).id;
    await engine.send(id, { type: 'CANCEL', reason: 'test' });
    await engine.stop();
  });

  it('reads the committed view, and answers 404 for an unknown id on every per-workflow read', async () => {
    expect(await queries.get(id)).toMatchObject({ id, name: 'q', status: 'failed', version: 2 });
    expect((await queries.get(id, { raw: true })).raw).toBeDefined();
    for (const read of [
      () => queries.get(UNKNOWN),
      () => queries.history(UNKNOWN, { limit: 1 }),
      () => queries.steps(UNKNOWN, { limit: 1 }),
      () => queries.assets(UNKNOWN, { limit: 1 }),
      () => queries.dependencies(UNKNOWN, { limit: 1 }),
      () => queries.quarantine(UNKNOWN, { limit: 1 }),
      () => queries.mappings(UNKNOWN, { limit: 1 }),
    ]) {
      await expect(read()).rejects.toMatchObject({ code: 'WORKFLOW_NOT_FOUND', status: 404 });
    }
  });

  it('lists views and pages the history', async () => {
    const list = await queries.list({ limit: 10 });
    expect(list.items.map((v) => [v.id, v.status])).toEqual([[id, 'failed']]);
    const first = await queries.history(id, { limit: 1 });
    expect(first.items.map((h) => [h.seq, h.eventType])).toEqual([[1, 'workflow.created']]);
    const second = await queries.history(id, { limit: 1, cursor: first.nextCursor! });
    expect(second.items.map((h) => [h.seq, h.eventType, h.toPhase])).toEqual([[2, 'CANCEL', 'failed']]);
    // A resuming stream's replay: the changes after seq 1, the newest with the current view.
    const view = await queries.get(id);
    const replayed = [];
    for await (const change of queries.changesAfter(view, 1)) replayed.push([change.seq, change.eventType, change.view?.status ?? null]);
    expect(replayed).toEqual([[2, 'CANCEL', 'failed']]);
  });

  it('pages the stored quarantine and mappings, empty before their step ran', async () => {
    expect(await queries.quarantine(id, { limit: 10 })).toEqual({ items: [], nextCursor: null });
    // Stored 0-based (indexes into the table), answered 1-based (row 1 is the first record after the header).
    const quarantine: QuarantinedRecord[] = [0, 1, 2].map((row) => ({ table: 't', row, record: {}, findings: [] }));
    await store.putArtifact(id, ARTIFACT.validation, { tables: [], findings: [], quarantine });
    const page = await queries.quarantine(id, { limit: 2 });
    expect(page.items.map((r) => r.row)).toEqual([1, 2]);
    expect((await queries.quarantine(id, { limit: 2, cursor: page.nextCursor! })).items.map((r) => r.row)).toEqual([3]);

    const mappings: FieldMapping[] = [{ file: 'a.csv', source: 'name', target: 'name', confidence: 1, reason: 'name', decidedBy: 'header', evidence: ['header "name" is the field name'] }];
    await store.putArtifact(id, ARTIFACT.mappings, { mappings, lowConfidence: false, reviewReasons: [] });
    expect((await queries.mappings(id, { limit: 10 })).items).toEqual(mappings);
  });

  it('refuses overrides that name no column the mapping step saw', async () => {
    await expect(queries.checkOverrides(id, { anything: 'name' })).resolves.toBeUndefined();
    await store.putArtifact(id, ARTIFACT.mappings, { mappings: [{ file: 'a.csv', source: 'name', target: 'name', confidence: 1, reason: 'name' }], lowConfidence: false, reviewReasons: [] });
    await expect(queries.checkOverrides(id, { name: 'hostname', 'a.csv:name': 'hostname' })).resolves.toBeUndefined();
    await expect(queries.checkOverrides(id, { nmae: 'hostname' })).rejects.toMatchObject({ code: 'UNKNOWN_COLUMN', status: 400, details: { unknown: ['nmae'] } });
  });

  it('reports per-phase statistics for every step phase and counts workflows needing migration', async () => {
    const stats = await queries.stats(new Date(Date.now() - 60_000));
    expect(stats.workflows).toEqual({ failed: 1 });
    expect(stats.phases).toHaveLength(6);
    expect(stats.phases[0]).toMatchObject({ phase: 'data_source_analysis', attempts: 0, successRate: null });
    expect(await queries.needsMigration()).toBe(0);
    await store.setStatus(id, 'needs_migration');
    expect(await queries.needsMigration()).toBe(1);
    expect(await queries.get(id)).toMatchObject({ status: 'needs_migration', accepted: [] });
  });
});
