import { sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client.ts';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { createStepActors, createStepBodies } from '../../src/engine/steps.ts';
import { analyseDependencies, analyseSource, classifyAssets, mapFields, parseInputs, validateRecords } from '../../src/handlers/index.ts';
import { STEP_PHASES } from '../../src/machine/table.ts';
import { wireService } from '../../src/server/service.ts';
import { cmfIntakeCsv, serviceNowCiCsv, serviceNowRelCsv, utf8 } from '../fixtures/generate.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';

describe('the real pipeline through the engine', () => {
  let store: WorkflowStore;

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
  });

  it('handlers leave their inputs untouched, so steps may share one parsed copy', async () => {
    const { csv, cis } = serviceNowCiCsv({ rows: 200, seed: 3 });
    const files = [
      { name: 'cmdb_ci.csv', content: utf8(csv) },
      { name: 'cmdb_rel_ci.csv', content: utf8(serviceNowRelCsv(cis, { seed: 3, unknownEndpoints: 2 })) },
    ];
    const tables = await parseInputs(files);
    const pristine = structuredClone(tables);
    const analysis = analyseSource(tables);
    const validation = validateRecords(tables, analysis);
    const { mappings } = mapFields(tables, analysis);
    const { assets } = classifyAssets(tables, analysis, mappings, validation.quarantine);
    analyseDependencies(tables, analysis, mappings, assets);
    expect(tables).toEqual(pristine);
  });

  it('runs ServiceNow CIs plus relations to completed, and a second integration run duplicates nothing', async () => {
    let engine: WorkflowEngine | null = null;
    try {
      const wired = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 24, steps: (hooks) => createStepActors({ store, logger: testLogger(), ...hooks }) });
      engine = wired.engine;
      const { csv, cis } = serviceNowCiCsv({ rows: 120, seed: 5 });
      const created = await engine.create({
        name: 'snow',
        files: [
          { name: 'cmdb_ci.csv', format: 'csv', content: utf8(csv) },
          { name: 'cmdb_rel_ci.csv', format: 'csv', content: utf8(serviceNowRelCsv(cis, { seed: 5, unknownEndpoints: 3 })) },
          { name: 'intake.csv', format: 'csv', content: utf8(cmfIntakeCsv()) },
        ],
        autoStart: true,
      });
      const settle = async () => {
        for (let i = 0; i < 500; i++) {
          const row = await store.getWorkflow(created.id);
          if (row?.status === 'completed' || row?.status === 'failed') return row;
          await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error('did not settle');
      };
      expect((await settle()).status).toBe('completed');
      const view = await wired.queries.get(created.id);
      const ops = view.context.database_operations as { assets: { inserted: number }; dependencies: { inserted: number } };
      const assets = await store.listAssets(created.id, { limit: 1000 });
      const edges = await store.listDependencies(created.id, { limit: 1000 });
      expect(ops.assets.inserted).toBe(assets.items.length);
      expect(ops.dependencies.inserted).toBe(edges.items.length);
      expect(edges.items.length).toBeGreaterThan(0);
      // A crash and a restore run the integration step again: it changes nothing the second time.
      const bodies = createStepBodies({ store, logger: testLogger() });
      const rerun = await bodies.database_integration({ workflowId: created.id, phase: 'database_integration', attempt: 2, timeoutMs: 60_000 }, new AbortController().signal);
      const counts = rerun.outputs.database_operations as { assets: Record<string, number>; dependencies: Record<string, number> };
      expect(counts.assets).toEqual({ inserted: 0, updated: 0, unchanged: assets.items.length, deleted: 0 });
      expect(counts.dependencies).toEqual({ inserted: 0, updated: 0, unchanged: edges.items.length, deleted: 0 });
      expect((await store.listAssets(created.id, { limit: 1000 })).items).toHaveLength(assets.items.length);
      const runs = await store.listStepRuns(created.id, { limit: 100 });
      expect(runs.items.map((r) => r.phase)).toEqual([...STEP_PHASES]);
    } finally {
      await engine?.stop();
    }
  });
});

describe('staged assets and edges', () => {
  let store: WorkflowStore;

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
  });

  const run = (bodies: ReturnType<typeof createStepBodies>, workflowId: string, phase: 'dependency_analysis' | 'database_integration') =>
    bodies[phase]({ workflowId, phase, attempt: 1, timeoutMs: 60_000 }, new AbortController().signal);

  async function classified(): Promise<{ id: string; bodies: ReturnType<typeof createStepBodies> }> {
    const { csv, cis } = serviceNowCiCsv({ rows: 60, seed: 9 });
    const at = new Date();
    const id = crypto.randomUUID();
    await store.createWorkflow(
      { id, name: 't', phase: 'pending', status: 'pending', snapshot: {}, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
      { workflowId: id, seq: 1, eventType: 'x', event: {}, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
      [
        { name: 'cmdb_ci.csv', format: 'csv', content: utf8(csv) },
        { name: 'cmdb_rel_ci.csv', format: 'csv', content: utf8(serviceNowRelCsv(cis, { seed: 9 })) },
      ],
    );
    const bodies = createStepBodies({ store, logger: testLogger() });
    for (const phase of ['data_source_analysis', 'data_validation', 'field_mapping', 'asset_classification'] as const)
      await bodies[phase]({ workflowId: id, phase, attempt: 1, timeoutMs: 60_000 }, new AbortController().signal);
    return { id, bodies };
  }

  it('classifies again and stages anew, rather than build a smaller graph, when the staged assets are gone or cut short', async () => {
    const { id, bodies } = await classified();
    expect((await run(bodies, id, 'dependency_analysis')).outputs.dependencies).not.toHaveProperty('restagedAssets');
    const expected = await store.getArtifact(id, 'dependencies');
    const stagedCount = async () => rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from staged_assets where workflow_id = ${id}`))[0]!.n;
    const count = await stagedCount();
    expect(count).toBeGreaterThan(0);
    for (const cut of [sql`delete from staged_assets where workflow_id = ${id}`, sql`delete from staged_assets where workflow_id = ${id} and seq >= 10`]) {
      await store.db.execute(cut);
      expect((await run(bodies, id, 'dependency_analysis')).outputs.dependencies).toMatchObject({ restagedAssets: true });
      expect(await stagedCount()).toBe(count);
      expect(await store.getArtifact(id, 'dependencies')).toEqual(expected);
    }
  });

  it('integrates a workflow an older version classified, whose assets and edges are in its artefacts', async () => {
    const { id, bodies } = await classified();
    await run(bodies, id, 'dependency_analysis');
    // What an older version stored: the full outputs as artefacts, nothing staged.
    const tables = await parseInputs((await store.loadFiles(id)).map((f) => ({ name: f.name, content: f.content })));
    const analysis = analyseSource(tables);
    const validation = validateRecords(tables, analysis);
    const { mappings } = mapFields(tables, analysis);
    const classification = classifyAssets(tables, analysis, mappings, validation.quarantine);
    const dependencies = analyseDependencies(tables, analysis, mappings, classification.assets);
    await store.dropStaged(id);
    await store.putArtifact(id, 'asset_classes', classification);
    await store.putArtifact(id, 'dependencies', dependencies);
    const output = await run(createStepBodies({ store, logger: testLogger() }), id, 'database_integration');
    expect(output.outputs.database_operations).toMatchObject({ assets: { inserted: classification.assets.length }, dependencies: { inserted: dependencies.edges.length } });
    expect(dependencies.edges.length).toBeGreaterThan(0);
    expect((await store.listAssets(id, { limit: 1000 })).items.map((a) => a.assetKey).sort()).toEqual(classification.assets.map((a) => a.asset_key).sort());
  });
});

describe('never a silent success, through the engine', () => {
  let store: WorkflowStore;
  let wired: ReturnType<typeof wireService>;

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    wired = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 24, steps: (hooks) => createStepActors({ store, logger: testLogger(), ...hooks }) });
    return () => wired.engine.stop();
  });

  async function settled(id: string, after = 0) {
    for (let i = 0; i < 500; i++) {
      const view = await wired.queries.get(id);
      if (view.version > after && ['completed', 'failed', 'awaiting_review'].includes(view.status)) return view;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('did not settle');
  }

  const create = (csv: string, options?: { reviewMappings?: boolean }) =>
    wired.engine.create({ name: 't', files: [{ name: 'things.csv', format: 'csv', content: utf8(csv) }], autoStart: true, ...(options ? { options } : {}) });

  it('fails a header-only upload at once with NO_RECORDS and a hint', async () => {
    const view = await settled((await create('sys_id,name,ip_address\r\n')).id);
    expect(view.status).toBe('failed');
    expect(view.errors.at(-1)).toMatchObject({ code: 'NO_RECORDS', phase: 'data_source_analysis', attempt: 1, retryable: false, hint: expect.stringContaining('rows') });
  });

  it('stops at the review when no column identifies the records, and a reviewer override lets it complete with the records kept', async () => {
    const created = await create('Ding,Wert\nalpha,1\nbeta,2\n');
    const waiting = await settled(created.id);
    expect(waiting.status).toBe('awaiting_review');
    expect(waiting.review?.reasons[0]).toMatch(/^NO_IDENTITY_COLUMN: things\.csv: .*Columns considered: "Ding" → attributes/);
    await wired.engine.send(created.id, { type: 'APPROVE_MAPPINGS', overrides: { Ding: 'name' } });
    const done = await settled(created.id, waiting.version);
    expect(done.status).toBe('completed');
    expect(done.context.validation_results).toMatchObject({ records: 2, quarantined: 0 });
    expect((await store.listAssets(created.id, { limit: 10 })).items.map((asset) => asset.name).sort()).toEqual(['alpha', 'beta']);
    expect((await wired.queries.quarantine(created.id, { limit: 10 })).items).toEqual([]);
  });

  it('fails with NO_IDENTITY_COLUMN when the approved mappings still identify nothing', async () => {
    const created = await create('Ding,Wert\nalpha,1\nbeta,2\n');
    const waiting = await settled(created.id);
    await wired.engine.send(created.id, { type: 'APPROVE_MAPPINGS' });
    const failed = await settled(created.id, waiting.version);
    expect(failed.status).toBe('failed');
    expect(failed.errors.at(-1)).toMatchObject({ code: 'NO_IDENTITY_COLUMN', phase: 'field_mapping', retryable: false });
  });

  it('with reviewMappings: false never stops: a blocking problem fails at once, a low-confidence mapping goes on', async () => {
    const blocked = await settled((await create('Ding,Wert\nalpha,1\nbeta,2\n', { reviewMappings: false })).id);
    expect(blocked.status).toBe('failed');
    expect(blocked.errors.at(-1)).toMatchObject({ code: 'NO_IDENTITY_COLUMN', attempt: 1 });
    const unsure = 'Obj,Wert\nweb01,1\nweb02,2\n';
    expect((await settled((await create(unsure)).id)).status).toBe('awaiting_review');
    expect((await settled((await create(unsure, { reviewMappings: false })).id)).status).toBe('completed');
  });
});
