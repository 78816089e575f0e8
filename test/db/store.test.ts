import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../../src/db/client.ts';
import { encodeInventory } from '../../src/db/inventory.ts';
import { FILE_PART_BYTES } from '../../src/db/uploads.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidCursorError } from '../../src/db/paging.ts';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowChange } from '../../src/db/workflows.ts';
import type { TopPhase } from '../../src/machine/table.ts';
import { GroupCommitWriter } from '../../src/engine/writer.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';

async function seedWorkflow(store: WorkflowStore, overrides: { name?: string; createdAt?: Date } = {}): Promise<string> {
  const id = randomUUID();
  const at = overrides.createdAt ?? new Date();
  await store.createWorkflow(
    { id, name: overrides.name ?? 'wf', phase: 'pending', status: 'pending', snapshot: { value: 'pending' }, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
    { workflowId: id, seq: 1, eventType: 'workflow.created', event: { type: 'workflow.created' }, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
    [{ name: 'a.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') }],
  );
  return id;
}

function change(workflowId: string, expectedVersion: number, phase: TopPhase = 'data_source_analysis'): WorkflowChange {
  return {
    workflowId,
    expectedVersion,
    phase,
    status: 'running',
    snapshot: { value: { [phase]: 'running' }, n: expectedVersion },
    machineVersion: 1,
    at: new Date(),
    transition: { eventType: 'START', event: { type: 'START' }, fromPhase: 'pending', toPhase: phase, value: { [phase]: 'running' }, status: 'running' },
  };
}

for (const driver of DRIVERS) {
  describe(`WorkflowStore on ${driver}`, () => {
    let store: WorkflowStore;

    beforeEach(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
    });

    it('creates a workflow with its first audit row and its files', async () => {
      const id = await seedWorkflow(store);
      expect(await store.getWorkflow(id)).toMatchObject({ id, version: 1, status: 'pending' });
      expect((await store.getHistory(id, { limit: 10 })).items.map((r) => r.seq)).toEqual([1]);
      const files = await store.loadFiles(id);
      expect(files).toHaveLength(1);
      expect(new TextDecoder().decode(files[0]!.content)).toBe('name\nweb01\n');
    });

    it('stores a file larger than one part as an upload, a part a row, and reads every byte back in order beside small files', async () => {
      const id = randomUUID();
      const at = new Date();
      const large = randomBytes(FILE_PART_BYTES * 2 + 12_345);
      const exact = randomBytes(FILE_PART_BYTES);
      await store.createWorkflow(
        { id, name: 'parts', phase: 'pending', status: 'pending', snapshot: { value: 'pending' }, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
        { workflowId: id, seq: 1, eventType: 'workflow.created', event: { type: 'workflow.created' }, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
        [
          { name: 'a.csv', format: 'csv', content: new TextEncoder().encode('name\nweb01\n') },
          { name: 'big.bin', format: null, content: large },
          { name: 'exact.bin', format: null, content: exact },
        ],
      );
      const files = await store.loadFiles(id);
      expect(files.map((f) => f.name)).toEqual(['a.csv', 'big.bin', 'exact.bin']);
      expect(Buffer.from(files[1]!.content).equals(large)).toBe(true);
      expect(Buffer.from(files[2]!.content).equals(exact)).toBe(true);
      expect(new TextDecoder().decode(files[0]!.content)).toBe('name\nweb01\n');
      const parts = rowsOf<{ idx: number; n: number }>(
        await store.db.execute(sql`select f.idx, count(*)::int as n from dataset_files f join upload_parts p on p.upload_id = f.upload_id where f.workflow_id = ${id} group by f.idx order by f.idx`),
      );
      expect(parts).toEqual([{ idx: 1, n: 3 }]);
      expect((await store.listFiles(id)).map((f) => f.sizeBytes)).toEqual([11, large.byteLength, exact.byteLength]);
      // Read into one buffer of the recorded size, its own, so it can be moved to a step thread.
      expect(files[1]!.content.byteLength).toBe(files[1]!.content.buffer.byteLength);
      // Parts that do not add up to the recorded size are refused, never returned cut short or overrun.
      await store.db.execute(sql`update dataset_files set size_bytes = size_bytes - 1 where workflow_id = ${id} and idx = 1`);
      await expect(store.loadFiles(id)).rejects.toThrow(/holds more bytes than its recorded size/);
      await store.db.execute(sql`update dataset_files set size_bytes = size_bytes + 2 where workflow_id = ${id} and idx = 1`);
      await expect(store.loadFiles(id)).rejects.toThrow(new RegExp(`holds ${large.byteLength} bytes, not its recorded size, ${large.byteLength + 1}`));
    });

    it('reads a file an older version stored in dataset_file_parts', async () => {
      const id = await seedWorkflow(store);
      const large = randomBytes(FILE_PART_BYTES + 99);
      await store.db.execute(sql`insert into dataset_files (workflow_id, idx, name, format, size_bytes, content) values (${id}, 1, 'old.csv', 'csv', ${large.byteLength}, null)`);
      for (let part = 0; part * FILE_PART_BYTES < large.byteLength; part++) {
        const bytes = large.subarray(part * FILE_PART_BYTES, (part + 1) * FILE_PART_BYTES).toString('base64');
        await store.db.execute(sql`insert into dataset_file_parts (workflow_id, idx, part, content) values (${id}, 1, ${part}, decode(${bytes}, 'base64'))`);
      }
      const file = (await store.loadFiles(id))[1];
      expect(Buffer.from(file!.content).equals(large)).toBe(true);
    });

    it('keeps a streamed upload until a workflow names it: dropUpload and expireUploads delete only the unnamed', async () => {
      const named = await store.storeUpload(randomBytes(FILE_PART_BYTES + 1));
      const unnamed = await store.storeUpload(randomBytes(10));
      const fresh = await store.storeUpload(randomBytes(10));
      expect(Buffer.from(await store.readUpload(unnamed)).length).toBe(10);
      const id = randomUUID();
      const at = new Date();
      await store.createWorkflow(
        { id, name: 'streamed', phase: 'pending', status: 'pending', snapshot: { value: 'pending' }, machineVersion: 1, version: 1, createdAt: at, updatedAt: at },
        { workflowId: id, seq: 1, eventType: 'workflow.created', event: { type: 'workflow.created' }, fromPhase: null, toPhase: 'pending', value: 'pending', status: 'pending', at },
        [{ name: 'big.csv', format: 'csv', upload: named }],
      );
      const partsOf = async (upload: { id: string }) =>
        rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from upload_parts where upload_id = ${upload.id}`))[0]!.n;
      // A workflow's upload is never dropped, even when asked.
      await store.dropUpload(named.id);
      expect(await partsOf(named)).toBe(2);
      expect((await store.loadFiles(id))[0]!.content.byteLength).toBe(FILE_PART_BYTES + 1);
      // An hour later, only the upload no workflow names is gone; a younger one is left to finish.
      await store.db.execute(sql`update upload_parts set created_at = now() - interval '2 hours' where upload_id in (${named.id}, ${unnamed.id})`);
      expect(await store.expireUploads(60 * 60 * 1000)).toBe(1);
      expect([await partsOf(named), await partsOf(unnamed), await partsOf(fresh)]).toEqual([2, 0, 1]);
      await store.dropUpload(fresh.id);
      expect(await partsOf(fresh)).toBe(0);
    });

    it('persists contiguous changes with gapless audit seq equal to the version', async () => {
      const id = await seedWorkflow(store);
      await store.persistChanges([change(id, 1), change(id, 2, 'data_validation'), change(id, 3, 'field_mapping')]);
      const row = await store.getWorkflow(id);
      expect(row).toMatchObject({ version: 4, phase: 'field_mapping' });
      expect(row!.snapshot).toEqual({ value: { field_mapping: 'running' }, n: 3 });
      const history = (await store.getHistory(id, { limit: 10 })).items;
      expect(history.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
      // The global audit ids grow with seq, and the store reads them back after any id.
      const ids = history.map((r) => r.id);
      expect([...ids].sort((x, y) => x - y)).toEqual(ids);
      expect((await store.listTransitionsAfterId(ids[1]!, 10)).map((r) => r.seq)).toEqual([3, 4]);
    });

    it('writes nothing for a workflow whose version is stale, and commits the others of the batch', async () => {
      const a = await seedWorkflow(store);
      const b = await seedWorkflow(store);
      await store.persistChanges([change(a, 1)]);
      const result = await store.persistChanges([change(b, 1), change(a, 1), change(a, 2)]);
      expect(result.conflicts).toEqual([a]);
      // Only b's audit row was written; its global id is answered, a's are not.
      expect([...result.auditIds.keys()]).toEqual([`${b}:2`]);
      expect((await store.getWorkflow(b))!.version).toBe(2);
      expect((await store.getWorkflow(a))!.version).toBe(2);
      expect((await store.getHistory(a, { limit: 10 })).items.map((r) => r.seq)).toEqual([1, 2]);
      expect((await store.getHistory(b, { limit: 10 })).items.map((r) => r.seq)).toEqual([1, 2]);
    });

    it('stores step runs in the same statement as the changes', async () => {
      const a = await seedWorkflow(store);
      const at = new Date();
      const run = { workflowId: a, phase: 'data_source_analysis' as const, attempt: 1, startedAt: at, endedAt: new Date(at.getTime() + 5), outcome: 'succeeded' as const, error: null };
      await store.persistChanges([change(a, 1)], [run, { ...run, attempt: 2, outcome: 'failed', error: { code: 'X' } }]);
      await store.persistChanges([], [{ ...run, attempt: 3 }]);
      const runs = (await store.listStepRuns(a, { limit: 10 })).items;
      expect(runs.map((r) => [r.attempt, r.outcome, r.durationMs, r.error])).toEqual([
        [1, 'succeeded', 5, null],
        [2, 'failed', 5, { code: 'X' }],
        [3, 'succeeded', 5, null],
      ]);
    });

    it('group commit: the conflicting workflow loses, the others in the batch commit', async () => {
      const a = await seedWorkflow(store);
      const b = await seedWorkflow(store);
      await store.persistChanges([change(a, 1)]);
      const writer = new GroupCommitWriter(store);
      const results = await Promise.allSettled([writer.enqueue(change(b, 1)), writer.enqueue(change(a, 1)), writer.enqueue(change(b, 2))]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((await store.getWorkflow(b))!.version).toBe(3);
      expect((await store.getWorkflow(a))!.version).toBe(2);
    });

    it('lists workflows newest first with a cursor and filters', async () => {
      const base = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await seedWorkflow(store, { name: `wf${i}`, createdAt: new Date(base + i * 1000) }));
      const first = await store.listWorkflows({ limit: 2 });
      expect(first.items.map((r) => r.name)).toEqual(['wf4', 'wf3']);
      const second = await store.listWorkflows({ limit: 2, cursor: first.nextCursor! });
      expect(second.items.map((r) => r.name)).toEqual(['wf2', 'wf1']);
      const third = await store.listWorkflows({ limit: 2, cursor: second.nextCursor! });
      expect(third).toMatchObject({ nextCursor: null });
      expect(third.items.map((r) => r.name)).toEqual(['wf0']);
      await store.persistChanges([change(ids[0]!, 1)]);
      expect((await store.listWorkflows({ limit: 10, status: 'running' })).items.map((r) => r.id)).toEqual([ids[0]]);
      await expect(store.listWorkflows({ limit: 2, cursor: 'garbage' })).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it('replaces assets idempotently: inserted, then unchanged, then updated and deleted', async () => {
      const id = await seedWorkflow(store);
      const asset = (key: string, os: string) => ({
        assetKey: key,
        name: key,
        assetType: 'server',
        assetSubtype: 'virtual',
        environment: 'production',
        osFamily: os,
        application: null,
        data: { asset_key: key, os_family: os },
      });
      expect(await store.replaceAssets(id, [asset('a', 'linux'), asset('b', 'linux')])).toEqual({ inserted: 2, updated: 0, unchanged: 0, deleted: 0 });
      expect(await store.replaceAssets(id, [asset('a', 'linux'), asset('b', 'linux')])).toEqual({ inserted: 0, updated: 0, unchanged: 2, deleted: 0 });
      expect(await store.replaceAssets(id, [asset('a', 'windows'), asset('c', 'linux')])).toEqual({ inserted: 1, updated: 1, unchanged: 0, deleted: 1 });
      const page = await store.listAssets(id, { limit: 10 });
      expect(page.items.map((r) => [r.assetKey, r.osFamily])).toEqual([
        ['a', 'windows'],
        ['c', 'linux'],
      ]);
    });

    it('stores every character a text or JSON value can hold, unchanged (COPY text escapes on Postgres)', async () => {
      const id = await seedWorkflow(store);
      const awkward = 'tab\there\nnew line\r\\N back\\slash "quoted" \\ é 漢字 🙂 ,;|';
      const row = {
        assetKey: `key ${awkward}`,
        name: awkward,
        assetType: 'server',
        assetSubtype: null,
        environment: '\\N',
        osFamily: '',
        application: null,
        data: { text: awkward, nested: [awkward, null, 1.5, { '\\N': '\t' }], empty: '' },
      };
      expect(await store.replaceAssets(id, [row])).toEqual({ inserted: 1, updated: 0, unchanged: 0, deleted: 0 });
      const [stored] = (await store.listAssets(id, { limit: 10 })).items;
      expect(stored).toMatchObject(row);
      expect(await store.replaceAssets(id, [row])).toEqual({ inserted: 0, updated: 0, unchanged: 1, deleted: 0 });
    });

    it('replaces dependency edges idempotently', async () => {
      const id = await seedWorkflow(store);
      const edge = { edgeKey: 'flow|a|b|tcp|443', sourceKey: 'a', targetKey: 'b', type: 'connects_to', origin: 'flow', port: 443, count: 3, data: {} };
      expect(await store.replaceDependencies(id, [edge])).toMatchObject({ inserted: 1 });
      expect(await store.replaceDependencies(id, [edge])).toMatchObject({ inserted: 0, unchanged: 1 });
      expect(await store.replaceDependencies(id, [])).toMatchObject({ deleted: 1 });
    });

    it('stages rows, reads them back in order in batches, promotes them, and takes a promotion run again after the drop as done', async () => {
      const id = await seedWorkflow(store);
      const rows = Array.from({ length: 12_001 }, (_, i) => ({
        assetKey: `k${String(12_001 - i).padStart(5, '0')}`,
        name: `host ${i}\twith tab`,
        assetType: 'server',
        assetSubtype: null,
        environment: null,
        osFamily: 'linux',
        application: null,
        data: { i, note: 'line\nbreak \\ "q"' },
      }));
      await store.stageInventory(id, encodeInventory('assets', id, rows.slice(0, 5)));
      // Staging again replaces what was staged: a step that runs twice leaves its second output only.
      await store.stageInventory(id, encodeInventory('assets', id, rows));
      const batches: string[] = [];
      for await (const batch of store.readStaged(id, 'assets')) batches.push(batch);
      expect(batches.length).toBeGreaterThan(1);
      const read = batches.flatMap((b) => b.split('\n')).map((line) => JSON.parse(line) as { i: number; note: string });
      expect(read).toEqual(rows.map((r) => r.data));
      expect(await store.promoteInventory(id, 'assets', rows.length)).toEqual({ inserted: rows.length, updated: 0, unchanged: 0, deleted: 0 });
      expect(await store.promoteInventory(id, 'assets', rows.length)).toEqual({ inserted: 0, updated: 0, unchanged: rows.length, deleted: 0 });
      await store.dropStaged(id);
      const left: string[] = [];
      for await (const batch of store.readStaged(id, 'assets')) left.push(batch);
      expect(left).toEqual([]);
      // A crash after the drop and before the step was recorded runs it again: the inventory already holds them all.
      expect(await store.promoteInventory(id, 'assets', rows.length)).toEqual({ inserted: 0, updated: 0, unchanged: rows.length, deleted: 0 });
      // Staged rows that are not the ones counted are refused, and the inventory is left as it was.
      await store.stageInventory(id, encodeInventory('assets', id, rows.slice(0, 10)));
      await expect(store.promoteInventory(id, 'assets', rows.length)).rejects.toMatchObject({ code: 'STAGING_MISMATCH', status: 409, retryable: false });
      expect((await store.listAssets(id, { limit: 1 })).items).toHaveLength(1);
      const [count] = rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from assets where workflow_id = ${id}`));
      expect(count!.n).toBe(rows.length);
    });

    it('stores and overwrites artifacts by key', async () => {
      const id = await seedWorkflow(store);
      expect(await store.getArtifact(id, 'x')).toBeNull();
      await store.putArtifact(id, 'x', { v: 1 });
      await store.putArtifact(id, 'x', { v: 2 });
      expect(await store.getArtifact(id, 'x')).toEqual({ v: 2 });
    });

    it('stores artefacts as JSON text and still reads those an older version stored as bytes or jsonb', async () => {
      const id = await seedWorkflow(store);
      const awkward = { text: 'nul \u0000 lone \ud800 tab\t 漢字 🙂', n: [1.5, null] };
      await store.putArtifact(id, 'new', awkward);
      expect(await store.getArtifact(id, 'new')).toEqual(awkward);
      const [stored] = rowsOf<{ json: string | null; body: unknown }>(await store.db.execute(sql`select json, body from artifacts where workflow_id = ${id} and key = 'new'`));
      expect(stored).toMatchObject({ json: JSON.stringify(awkward), body: null });
      await store.db.execute(sql`insert into artifacts (workflow_id, key, body) values (${id}, 'bytes', convert_to(${JSON.stringify({ v: 'b' })}, 'UTF8'))`);
      await store.db.execute(sql`insert into artifacts (workflow_id, key, data) values (${id}, 'jsonb', ${JSON.stringify({ v: 'j' })}::jsonb)`);
      expect(await store.getArtifact(id, 'bytes')).toEqual({ v: 'b' });
      expect(await store.getArtifact(id, 'jsonb')).toEqual({ v: 'j' });
    });
  });
}
