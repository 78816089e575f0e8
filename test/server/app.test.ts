import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client.ts';
import { FILE_PART_BYTES } from '../../src/db/uploads.ts';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { DataError } from '../../src/handlers/errors.ts';
import type { Phase } from '../../src/machine/table.ts';
import { createStepActors } from '../../src/engine/steps.ts';
import { wireService } from '../../src/server/service.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps, outputsFor, type StepBehaviour } from '../support/steps.ts';

const CSV = 'name,ip_address\nweb01,10.0.0.1\n';

/** A request body as a stream of chunks of this size, so it has no Content-Length. */
function chunked(bytes: Buffer, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(new Uint8Array(bytes.subarray(offset, offset + size)));
      offset += size;
    },
  });
}

for (const driver of DRIVERS) {
  describe(`HTTP API on ${driver}`, () => {
    let store: WorkflowStore;
    let engine: WorkflowEngine;
    let app: ReturnType<typeof wireService>['app'];

    // Every engine a test made is stopped after it: a test that sets up again replaces the one
    // beforeEach made, and an engine left running would go on claiming other tests' workflows.
    const engines: WorkflowEngine[] = [];
    const setup = (steps: Partial<Record<Phase, StepBehaviour>> = {}, maxUploadBytes = 1024 * 1024) => {
      ({ engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes, steps: () => fakeSteps(steps) }));
      engines.push(engine);
    };
    const json = (body: unknown, headers: Record<string, string> = {}) => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const create = async (body: unknown = { name: 'demo', files: [{ name: 'servers.csv', content: CSV }] }) => {
      const res = await app.request('/workflows', json(body));
      expect(res.status).toBe(201);
      return (await res.json()) as { id: string; status: string; version: number };
    };
    const waitFor = async (id: string, statuses: string[]) => {
      for (let i = 0; i < 500; i++) {
        const view = (await (await app.request(`/workflows/${id}`)).json()) as { status: string };
        if (statuses.includes(view.status)) return view;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`workflow ${id} never reached ${statuses.join('|')}`);
    };

    beforeEach(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
      setup();
    });
    afterEach(async () => {
      await Promise.all(engines.splice(0).map((e) => e.stop()));
    });

    it('creates a workflow from a JSON body, runs it and returns the snapshot view', async () => {
      const res = await app.request('/workflows', json({ name: 'demo', files: [{ name: 'servers.csv', content: CSV }] }, { 'x-correlation-id': 'req-42' }));
      expect(res.status).toBe(201);
      expect(res.headers.get('x-correlation-id')).toBe('req-42');
      const created = (await res.json()) as Record<string, unknown>;
      expect(res.headers.get('location')).toBe(`/workflows/${created.id}`);
      expect(created).toMatchObject({ name: 'demo', phase: 'data_source_analysis', status: 'running', version: 2, correlationId: 'req-42' });
      const done = (await waitFor(created.id as string, ['completed'])) as Record<string, unknown>;
      expect(done).toMatchObject({ phase: 'completed', value: 'completed' });
      expect(done.flags).toMatchObject({ data_source_analysis_complete: true, database_integration_complete: true });
      expect(Object.keys(done.context as object)).toEqual(
        expect.arrayContaining(['cmdb_data', 'source_analysis', 'validation_results', 'field_mappings', 'asset_classes', 'dependencies', 'database_operations']),
      );
      expect(done).toHaveProperty('attempts.data_source_analysis', 1);
      expect(done).not.toHaveProperty('raw');
      const raw = (await (await app.request(`/workflows/${created.id}?raw=true`)).json()) as { raw: { status: string } };
      expect(raw.raw.status).toBe('done');
    });

    it('accepts a raw text/csv body with ?name=', async () => {
      const res = await app.request('/workflows?name=racks', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
      expect(res.status).toBe(201);
      const created = (await res.json()) as { id: string; name: string };
      expect(created.name).toBe('racks');
      const files = await store.loadFiles(created.id);
      expect(files.map((f) => [f.name, f.format])).toEqual([['racks.csv', 'csv']]);
    });

    it('keeps an extension that ?name= already has (foo.csv stays foo.csv)', async () => {
      const res = await app.request('/workflows?name=foo.csv', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
      expect(res.status).toBe(201);
      const created = (await res.json()) as { id: string; name: string };
      expect(created.name).toBe('foo.csv');
      expect((await store.loadFiles(created.id)).map((f) => f.name)).toEqual(['foo.csv']);
    });

    it('accepts multipart/form-data uploads of one or several files, as curl -F and browsers send them', async () => {
      const one = new FormData();
      one.append('file', new Blob([CSV], { type: 'text/csv' }), 'servers.csv');
      const res = await app.request('/workflows', { method: 'POST', body: one });
      expect(res.status).toBe(201);
      const created = (await res.json()) as { id: string; name: string };
      expect(created.name).toBe('servers.csv');
      expect((await store.loadFiles(created.id)).map((f) => f.name)).toEqual(['servers.csv']);

      const several = new FormData();
      several.append('name', 'dc1');
      several.append('autoStart', 'false');
      several.append('files', new Blob([CSV], { type: 'text/csv' }), 'a.csv');
      several.append('files', new Blob([JSON.stringify([{ name: 'db01', ip: '10.0.0.9' }])], { type: 'application/json' }), 'b.json');
      const res2 = await app.request('/workflows', { method: 'POST', body: several });
      expect(res2.status).toBe(201);
      const second = (await res2.json()) as { id: string; name: string; status: string };
      expect(second).toMatchObject({ name: 'dc1', status: 'pending' });
      expect((await store.loadFiles(second.id)).map((f) => f.name)).toEqual(['a.csv', 'b.json']);

      const empty = new FormData();
      empty.append('name', 'nothing');
      const res3 = await app.request('/workflows', { method: 'POST', body: empty });
      expect(res3.status).toBe(400);
      expect(await res3.json()).toMatchObject({ code: 'NO_FILES' });
      const unknown = new FormData();
      unknown.append('colour', 'blue');
      unknown.append('file', new Blob([CSV]), 'a.csv');
      expect((await app.request('/workflows', { method: 'POST', body: unknown })).status).toBe(400);
      for (const body of [undefined, '--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nname\nweb01\n']) {
        const cut = await app.request('/workflows', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, ...(body ? { body } : {}) });
        expect(cut.status).toBe(400);
        expect(await cut.json()).toMatchObject({ code: 'INVALID_MULTIPART' });
      }
    });

    it('answers 400 listing the asset types for an unknown ?type=', async () => {
      const created = await create();
      await waitFor(created.id, ['completed']);
      const res = await app.request(`/workflows/${created.id}/assets?type=spaceship`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('INVALID_REQUEST');
      expect(body.message).toContain('server, database, application');
      expect((await app.request(`/workflows/${created.id}/assets?type=server`)).status).toBe(200);
    });

    it('accepts a raw JSON export that is not the envelope', async () => {
      const res = await app.request('/workflows?name=export', json([{ name: 'db01', ip: '10.0.0.9' }]));
      expect(res.status).toBe(201);
      const created = (await res.json()) as { id: string };
      expect((await store.loadFiles(created.id))[0]).toMatchObject({ name: 'export.json', format: 'json' });
    });

    it('keeps a created workflow pending without autoStart and starts it on START', async () => {
      const created = await create({ files: [{ name: 'a.csv', content: CSV }], options: { autoStart: false } });
      expect(created.status).toBe('pending');
      const res = await app.request(`/workflows/${created.id}/events`, json({ type: 'START' }));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ phase: 'data_source_analysis', version: 2 });
    });

    it('answers 409 with the accepted events when the state does not take the event', async () => {
      const created = await create({ files: [{ name: 'a.csv', content: CSV }], options: { autoStart: false } });
      const res = await app.request(`/workflows/${created.id}/events`, json({ type: 'RETRY' }));
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ code: 'EVENT_NOT_ACCEPTED', phase: 'pending', status: 'pending', accepted: ['START', 'CANCEL'] });
    });

    it('rejects bad input with 4xx and a code and a message, changing nothing', async () => {
      const created = await create({ files: [{ name: 'a.csv', content: CSV }], options: { autoStart: false } });
      const cases: [RequestInit & { path?: string }, number, string][] = [
        [{ ...json({ type: 'JUMP' }), path: `/workflows/${created.id}/events` }, 400, 'UNKNOWN_EVENT'],
        [{ ...json({ type: 'RETRY', fromPhase: 'nowhere' }), path: `/workflows/${created.id}/events` }, 400, 'INVALID_REQUEST'],
        [{ ...json({ type: 'START', extra: 1 }), path: `/workflows/${created.id}/events` }, 400, 'INVALID_REQUEST'],
        [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":', path: `/workflows/${created.id}/events` }, 400, 'INVALID_JSON'],
        [{ method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'START', path: `/workflows/${created.id}/events` }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        [{ ...json({ type: 'START' }), path: '/workflows/not-a-uuid/events' }, 400, 'INVALID_REQUEST'],
        [{ ...json({ type: 'START' }), path: '/workflows/00000000-0000-4000-8000-000000000000/events' }, 404, 'WORKFLOW_NOT_FOUND'],
        [json({ files: [] }), 400, 'INVALID_REQUEST'],
        [json({ files: [{ name: 'a.csv', content: '' }] }), 400, 'EMPTY_FILE'],
        [json({ files: [{ name: 'a.xlsx', encoding: 'base64', content: '!!!' }] }), 400, 'INVALID_FILE_ENCODING'],
        [json({ files: [{ name: 'a.csv', content: CSV }], options: { retry: { retries: -1 } } }), 400, 'INVALID_REQUEST'],
        [{ method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ];
      for (const [init, status, code] of cases) {
        const { path = '/workflows', ...request } = init;
        const res = await app.request(path, request);
        const body = (await res.json()) as { code: string; message: string };
        expect([res.status, body.code], `${request.method} ${path} ${String(request.body).slice(0, 40)}`).toEqual([status, code]);
        expect(body.message.length).toBeGreaterThan(10);
      }
      const after = await store.getWorkflow(created.id);
      expect(after).toMatchObject({ version: 1, status: 'pending' });
      expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(1);
    });

    it('answers 400 naming the file when an upload cannot be read, and stores nothing', async () => {
      for (const [name, content] of [
        ['servers.json', '{"records": ['],
        ['legacy.xls', 'binary'],
        ['book.xlsx', 'not a zip'],
      ]) {
        const res = await app.request('/workflows', json({ files: [{ name: 'ok.csv', content: CSV }, { name, content }] }));
        expect(res.status).toBe(400);
        const body = (await res.json()) as { code: string; message: string; hint: string; file: string };
        expect(body).toMatchObject({ code: 'UNREADABLE_FILE', file: name });
        expect(body.message).toContain(name);
        expect(body.hint.length).toBeGreaterThan(10);
      }
      expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(0);
    });

    it('answers 413 naming the limit when the files are too large', async () => {
      setup({}, 1024);
      const res = await app.request('/workflows', json({ files: [{ name: 'big.csv', content: 'x'.repeat(2048) }] }));
      expect(res.status).toBe(413);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('PAYLOAD_TOO_LARGE');
      expect(body.message).toMatch(/MB/);
    });

    it('streams a raw CSV larger than one part into upload parts as it arrives, which the new workflow names', async () => {
      setup({}, 8 * 1024 * 1024);
      const rows = Array.from({ length: 60_000 }, (_, i) => `web${i},10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      const csv = Buffer.from(`name,ip_address\n${rows.join('\n')}\n`);
      expect(csv.length).toBeGreaterThan(FILE_PART_BYTES);
      // Sent in 64 KiB chunks with no Content-Length, as curl -T or a proxy sends it.
      const res = await app.request('/workflows?name=big&autoStart=false', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: chunked(csv, 65_536), duplex: 'half' } as RequestInit);
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const [file] = rowsOf<{ upload_id: string | null; size_bytes: number | string; parts: number }>(
        await store.db.execute(sql`select f.upload_id, f.size_bytes, (select count(*)::int from upload_parts p where p.upload_id = f.upload_id) as parts from dataset_files f where f.workflow_id = ${id}`),
      );
      expect(file).toMatchObject({ parts: Math.ceil(csv.length / FILE_PART_BYTES) });
      expect(Number(file!.size_bytes)).toBe(csv.length);
      expect(file!.upload_id).not.toBeNull();
      expect(Buffer.from((await store.loadFiles(id))[0]!.content).equals(csv)).toBe(true);
    });

    it('refuses a streamed raw body over the limit with 413, and keeps none of it', async () => {
      setup({}, 1536 * 1024);
      const res = await app.request('/workflows?name=big', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: chunked(Buffer.alloc(2 * 1024 * 1024, 'a,b\n'), 65_536), duplex: 'half' } as RequestInit);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
      expect(rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from upload_parts`))[0]!.n).toBe(0);
      expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(0);
    });

    it('streams each file of a form larger than one part into upload parts, and refuses a form over the limit keeping none of it', async () => {
      setup({}, 2 * 1024 * 1024);
      const rows = Array.from({ length: 60_000 }, (_, i) => `web${i},10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      const big = Buffer.from(`name,ip_address\n${rows.join('\n')}\n`);
      expect(big.length).toBeGreaterThan(FILE_PART_BYTES);
      const form = new FormData();
      form.append('name', 'streamed form');
      form.append('autoStart', 'false');
      form.append('file', new Blob([CSV], { type: 'text/csv' }), 'small.csv');
      form.append('file', new Blob([big], { type: 'text/csv' }), 'big.csv');
      const res = await app.request('/workflows', { method: 'POST', body: form });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const files = await store.loadFiles(id);
      expect(files.map((f) => f.name)).toEqual(['small.csv', 'big.csv']);
      expect(Buffer.from(files[1]!.content).equals(big)).toBe(true);
      const stored = rowsOf<{ name: string; parts: number }>(
        await store.db.execute(sql`select f.name, (select count(*)::int from upload_parts p where p.upload_id = f.upload_id) as parts from dataset_files f where f.workflow_id = ${id} order by f.idx`),
      );
      expect(stored).toEqual([{ name: 'small.csv', parts: 0 }, { name: 'big.csv', parts: Math.ceil(big.length / FILE_PART_BYTES) }]);

      expect(big.length * 2).toBeGreaterThan(2 * 1024 * 1024);
      // Two files that each fit, but not together: 413 naming the limit per workflow, and the first one's parts are gone.
      await truncateAll(store);
      const over = new FormData();
      over.append('file', new Blob([big]), 'one.csv');
      over.append('file', new Blob([big]), 'two.csv');
      const refused = await app.request('/workflows', { method: 'POST', body: over });
      expect(refused.status).toBe(413);
      expect(await refused.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('the 2 MB upload limit') });
      expect(rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from upload_parts`))[0]!.n).toBe(0);
      expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(0);

      // A text part refused after a large file was streamed in: 400, and its parts are gone too.
      const badField = new FormData();
      badField.append('file', new Blob([big]), 'one.csv');
      badField.append('reviewMappings', 'maybe');
      expect((await app.request('/workflows', { method: 'POST', body: badField })).status).toBe(400);
      expect(rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from upload_parts`))[0]!.n).toBe(0);
    });

    it('answers 400 for a large raw file it cannot read, and deletes the parts it streamed in', async () => {
      setup({}, 8 * 1024 * 1024);
      const res = await app.request('/workflows?name=binary', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: Buffer.alloc(FILE_PART_BYTES * 2, 0) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('UNREADABLE_FILE');
      expect(rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from upload_parts`))[0]!.n).toBe(0);
      expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(0);
    });

    it('lists workflows newest first, filtered and paginated', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await create({ name: `wf${i}`, files: [{ name: 'a.csv', content: CSV }], options: { autoStart: false } })).id);
      const page = (await (await app.request('/workflows?limit=2&status=pending')).json()) as { items: { name: string }[]; nextCursor: string };
      expect(page.items.map((w) => w.name)).toEqual(['wf2', 'wf1']);
      const next = (await (await app.request(`/workflows?limit=2&cursor=${page.nextCursor}`)).json()) as { items: { name: string }[]; nextCursor: null };
      expect(next).toMatchObject({ nextCursor: null });
      expect(next.items.map((w) => w.name)).toEqual(['wf0']);
      expect((await app.request('/workflows?status=bogus')).status).toBe(400);
      expect((await app.request('/workflows?cursor=abc')).status).toBe(400);
    });

    it('returns the audit trail with gapless seq and camelCase fields', async () => {
      const created = await create();
      await waitFor(created.id, ['completed']);
      const history = (await (await app.request(`/workflows/${created.id}/history`)).json()) as { items: Record<string, unknown>[]; nextCursor: null };
      expect(history.items.map((h) => h.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(history.items[1]).toMatchObject({ seq: 2, eventType: 'START', event: { type: 'START' }, fromPhase: 'pending', toPhase: 'data_source_analysis' });
      expect(history.items[1]).toHaveProperty('at');
      expect(history.items[1]).toHaveProperty('value');
      const paged = (await (await app.request(`/workflows/${created.id}/history?limit=3`)).json()) as { items: { seq: number }[]; nextCursor: string };
      const rest = (await (await app.request(`/workflows/${created.id}/history?limit=10&cursor=${paged.nextCursor}`)).json()) as { items: { seq: number }[] };
      expect([...paged.items, ...rest.items].map((h) => h.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('retries a failed workflow from the failed phase through the API', async () => {
      let broken = true;
      setup({
        dependency_analysis: () => {
          if (broken) throw new DataError('BAD_RELATIONS', 'relations.csv row 3: parent is empty');
          return outputsFor('dependency_analysis');
        },
      });
      const created = await create();
      const failed = (await waitFor(created.id, ['failed'])) as unknown as { errors: { code: string; phase: string }[] };
      expect(failed.errors.at(-1)).toMatchObject({ code: 'BAD_RELATIONS', phase: 'dependency_analysis' });
      broken = false;
      const res = await app.request(`/workflows/${created.id}/events`, json({ type: 'RETRY' }));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ phase: 'dependency_analysis' });
      await waitFor(created.id, ['completed']);
    });

    it('cancels a running workflow with a reason', async () => {
      setup({ data_source_analysis: (_i, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))) });
      const created = await create();
      const res = await app.request(`/workflows/${created.id}/events`, json({ type: 'CANCEL', reason: 'wrong export' }));
      expect(res.status).toBe(200);
      const view = (await res.json()) as { status: string; errors: { code: string; message: string }[] };
      expect(view.status).toBe('failed');
      expect(view.errors.at(-1)!.code).toBe('CANCELLED');
      expect(view.errors.at(-1)!.message).toContain('wrong export');
    });

    it('reports health and unknown routes', async () => {
      expect(await (await app.request('/healthz')).json()).toMatchObject({ status: 'ok', database: 'reachable' });
      const res = await app.request('/nope');
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' });
    });

    it('pages the inventory lists and answers 404 for an unknown workflow', async () => {
      const created = await create();
      await waitFor(created.id, ['completed']);
      for (const list of ['assets', 'dependencies', 'quarantine', 'mappings', 'steps']) {
        const res = await app.request(`/workflows/${created.id}/${list}`);
        expect(res.status, list).toBe(200);
        expect(await res.json()).toMatchObject({ items: expect.any(Array), nextCursor: null });
        expect((await app.request(`/workflows/00000000-0000-4000-8000-000000000000/${list}`)).status).toBe(404);
      }
    });
  });
}

describe('row numbers with the real steps', () => {
  let store: WorkflowStore;
  let engine: WorkflowEngine;

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
  });
  afterEach(async () => {
    await engine.stop();
  });

  it('counts rows from 1 after the header in the quarantine and the assets, as the messages, CLI and console do', async () => {
    const wired = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: (hooks) => createStepActors({ store, logger: testLogger(), ...hooks }) });
    engine = wired.engine;
    const csv = 'name,ip_address,os\nweb01,10.0.0.1,Ubuntu 22.04\nweb02,10.0.0.2,Ubuntu 22.04\n,,Ubuntu 22.04\nweb03,10.0.0.3,Ubuntu 22.04\n';
    const res = await wired.app.request('/workflows?name=rows.csv&reviewMappings=false', { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    for (let i = 0; i < 500 && (await store.getWorkflow(id))?.status !== 'completed'; i++) await new Promise((r) => setTimeout(r, 20));
    const quarantine = (await (await wired.app.request(`/workflows/${id}/quarantine`)).json()) as { items: { row: number; findings: { row: number; code: string }[] }[] };
    // The third record (line 4 of the file) has no identity.
    expect(quarantine.items.map((q) => [q.row, q.findings.map((f) => [f.row, f.code])])).toEqual([[3, [[3, 'NO_IDENTITY']]]]);
    const assets = (await (await wired.app.request(`/workflows/${id}/assets`)).json()) as { items: { name: string; source_row: number }[] };
    expect(assets.items.map((a) => [a.name, a.source_row]).sort()).toEqual([
      ['web01', 1],
      ['web02', 2],
      ['web03', 4],
    ]);
  });
});

describe('Idempotency-Key', () => {
  let store: WorkflowStore;
  let engine: WorkflowEngine;
  let app: ReturnType<typeof wireService>['app'];
  const post = (path: string, body: unknown, key?: string) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
    });
  const body = { name: 'once', files: [{ name: 'a.csv', content: CSV }], options: { autoStart: false } };

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    ({ engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps() }));
  });
  afterEach(() => engine.stop());

  it('returns the first response for a repeated create and creates one workflow', async () => {
    const first = await post('/workflows', body, 'create-1');
    const again = await post('/workflows', body, 'create-1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as { id: string }).id).toBe(((await first.json()) as { id: string }).id);
    expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(1);
    const reused = await post('/workflows', { ...body, name: 'other' }, 'create-1');
    expect(reused.status).toBe(422);
    expect(await reused.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect((await post('/workflows', body, 'bad key with spaces')).status).toBe(400);
  });

  it('reads a raw body over one part whole when it carries a key (its hash needs it), stores it in parts, and replays a repeat', async () => {
    await engine.stop();
    ({ engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 8 << 20, steps: () => fakeSteps() }));
    const csv = Buffer.from(`name,ip_address\n${Array.from({ length: 60_000 }, (_, i) => `web${i},10.1.${(i >> 8) & 255}.${i & 255}`).join('\n')}\n`);
    expect(csv.length).toBeGreaterThan(FILE_PART_BYTES);
    const raw = () => app.request('/workflows?name=keyed&autoStart=false', { method: 'POST', headers: { 'content-type': 'text/csv', 'idempotency-key': 'raw-1' }, body: csv });
    const first = await raw();
    expect(first.status).toBe(201);
    const again = await raw();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const { id } = (await first.json()) as { id: string };
    expect(((await again.json()) as { id: string }).id).toBe(id);
    expect(Buffer.from((await store.loadFiles(id))[0]!.content).equals(csv)).toBe(true);
    expect(rowsOf<{ n: number }>(await store.db.execute(sql`select count(*)::int as n from upload_parts`))[0]!.n).toBe(Math.ceil(csv.length / FILE_PART_BYTES));
  });

  it('reads a form its key already read, and replays a repeat', async () => {
    const form = new FormData();
    form.append('autoStart', 'false');
    form.append('file', new Blob([CSV], { type: 'text/csv' }), 'keyed.csv');
    // The same bytes twice, as a client's retry sends them (a new FormData would get a new boundary).
    const encoded = new Request('http://local/', { method: 'POST', body: form });
    const bytes = await encoded.arrayBuffer();
    const headers = { 'content-type': encoded.headers.get('content-type')!, 'idempotency-key': 'form-1' };
    const send = () => app.request('/workflows', { method: 'POST', headers, body: bytes });
    const first = await send();
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: string };
    const again = await send();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await store.loadFiles(id)).map((f) => new TextDecoder().decode(f.content))).toEqual([CSV]);
    expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(1);
  });

  it('applies a repeated event once', async () => {
    const { id } = (await (await post('/workflows', body)).json()) as { id: string };
    const first = await post(`/workflows/${id}/events`, { type: 'START' }, 'start-1');
    const again = await post(`/workflows/${id}/events`, { type: 'START' }, 'start-1');
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(await again.json()).toEqual(await first.json());
    expect((await post(`/workflows/${id}/events`, { type: 'START' })).status).toBe(409);
    const history = await store.getHistory(id, { limit: 100 });
    expect(history.items.filter((h) => h.eventType === 'START')).toHaveLength(1);
  });

  it('frees the key of a request that failed, so a retry with it runs', async () => {
    const { id } = (await (await post('/workflows', body)).json()) as { id: string };
    for (let i = 0; i < 2; i++) {
      const res = await post(`/workflows/${id}/events`, { type: 'RETRY' }, 'k-1');
      expect(res.status).toBe(409);
      expect(res.headers.get('idempotent-replayed')).toBeNull();
      expect(await res.json()).toMatchObject({ code: 'EVENT_NOT_ACCEPTED' });
    }
  });
});
