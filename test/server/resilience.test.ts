import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { createStepActors, type FaultConfig } from '../../src/engine/steps.ts';
import type { StepInput, StepOutput } from '../../src/machine/machine.ts';
import { STEP_PHASES, type Phase } from '../../src/machine/table.ts';
import { wireService } from '../../src/server/service.ts';
import { DRIVERS, testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps, hang, outputsFor } from '../support/steps.ts';

type Body = (input: StepInput, signal: AbortSignal) => Promise<StepOutput>;
const noopBodies = Object.fromEntries(STEP_PHASES.map((p) => [p, async () => outputsFor(p)])) as unknown as Record<Phase, Body>;

/** A seeded PRNG so a failing run can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const driver of DRIVERS) {
  describe(`resilience on ${driver}`, () => {
    let store: WorkflowStore;
    let engine: WorkflowEngine;
    let app: ReturnType<typeof wireService>['app'];
    const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    beforeEach(async () => {
      store = (await testDatabase(driver)).store;
      await truncateAll(store);
    });
    afterEach(() => engine.stop());

    it('completes 300 workflows with 20% of step attempts failing transiently, counting every retry', async () => {
      const faults: FaultConfig = { transient: 0.2, timeout: 0, slow: 0, slowMs: 0 };
      ({ engine, app } = wireService({
        store,
        logger: testLogger(),
        maxUploadBytes: 1 << 20,
        steps: (hooks) => createStepActors({ store, logger: testLogger(), faults, random: mulberry32(42), ...hooks }, noopBodies),
      }));
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) {
        const res = await app.request(
          '/workflows',
          json({ name: `wf${i}`, files: [{ name: 'a.csv', content: 'name\nweb01\n' }], options: { retry: { retries: 12, initialDelayMs: 1, maxDelayMs: 5 } } }),
        );
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { id: string }).id);
      }
      const deadline = Date.now() + 60_000;
      let rows = await Promise.all(ids.map((id) => store.getWorkflow(id)));
      while (rows.some((r) => r?.status !== 'completed' && r?.status !== 'failed') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        rows = await Promise.all(ids.map((id) => store.getWorkflow(id)));
      }
      expect(rows.filter((r) => r?.status !== 'completed').map((r) => [r?.id, r?.status])).toEqual([]);
      await engine.idle();
      const metrics = await (await app.request('/metrics')).text();
      const sum = (name: string) =>
        [...metrics.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
      const attempts = sum('discovery_step_attempts_total');
      const retries = sum('discovery_step_retries_total');
      const failures = sum('discovery_step_failures_total');
      expect(attempts).toBe(300 * 6 + failures);
      expect(retries).toBe(failures);
      // 20% of about 2,250 attempts: far from zero, far from all.
      expect(failures / attempts).toBeGreaterThan(0.12);
      expect(failures / attempts).toBeLessThan(0.28);
      const stats = (await (await app.request('/stats')).json()) as { phases: { attempts: number; failed: number }[] };
      expect(stats.phases.reduce((n, p) => n + p.attempts, 0)).toBe(attempts);
      expect(stats.phases.reduce((n, p) => n + p.failed, 0)).toBe(failures);
    }, 120_000);

    it('200 concurrent events to one workflow: each applied or answered 409, versions contiguous, nothing twice', async () => {
      ({ engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps({ data_validation: hang() }) }));
      const { id } = (await (await app.request('/workflows', json({ files: [{ name: 'a.csv', content: 'name\nx\n' }] }))).json()) as { id: string };
      // Park it in data_validation, where CANCEL then RETRY, RETRY then CANCEL... can alternate.
      for (let i = 0; i < 100 && (await store.getWorkflow(id))?.phase !== 'data_validation'; i++) await new Promise((r) => setTimeout(r, 10));
      const events = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? { type: 'CANCEL', reason: `c${i}` } : { type: 'RETRY' }));
      const responses = await Promise.all(events.map((e) => app.request(`/workflows/${id}/events`, json(e))));
      const statuses = responses.map((r) => r.status);
      expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
      const applied = statuses.filter((s) => s === 200).length;
      expect(applied).toBeGreaterThan(1);
      await engine.idle();
      const history = (await store.getHistory(id, { limit: 1000 })).items;
      expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i + 1));
      const external = history.filter((h) => h.eventType === 'CANCEL' || h.eventType === 'RETRY');
      expect(external).toHaveLength(applied);
      const reasons = external.filter((h) => h.eventType === 'CANCEL').map((h) => (h.event as { reason: string }).reason);
      expect(new Set(reasons).size).toBe(reasons.length);
      const row = await store.getWorkflow(id);
      expect(row!.version).toBe(history.at(-1)!.seq);
      expect(row!.status).toBe(history.at(-1)!.status);
    });
  });
}

describe('bad input and strangers', () => {
  let store: WorkflowStore;
  let engine: WorkflowEngine;
  let app: ReturnType<typeof wireService>['app'];
  let seedId: string;
  let seedBefore: unknown;

  const request = (path: string, init: RequestInit = {}) => app.request(path, init);

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    // The first step never finishes, so every workflow made here stays active and takes CANCEL.
    ({ engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 64 * 1024, steps: () => fakeSteps({ data_source_analysis: hang() }) }));
    const res = await request('/workflows', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'seed', files: [{ name: 'seed.csv', content: 'name\nweb01\n' }], options: { autoStart: false } }),
    });
    seedId = ((await res.json()) as { id: string }).id;
    seedBefore = await store.getWorkflow(seedId);
  });
  afterEach(() => engine.stop());

  const expectError = async (res: Response) => {
    expect(res.status, `${res.status}`).toBeLessThan(500);
    if (res.status >= 400) {
      const body = (await res.json()) as { code: unknown; message: unknown };
      expect(typeof body.code).toBe('string');
      expect(typeof body.message).toBe('string');
    }
  };

  it('never answers 5xx to fuzzed create bodies, event bodies, paths, queries, headers and files', async () => {
    const anyJson = fc.jsonValue({ maxDepth: 3 });
    // Text PostgreSQL cannot store, and nesting deep enough to overflow a recursive walk.
    const nasty = fc.constantFrom('a\u0000b', '\u0000', 'x\ud800', '\udfffy', 'ok\ud800\udc00ok', `${'['.repeat(5_000)}1${']'.repeat(5_000)}`, `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`);
    const text = (maxLength: number) => fc.oneof(fc.string({ maxLength }), nasty);
    const deepJson = fc.constantFrom(
      `[${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}]`,
      `${'['.repeat(5_000)}{"name":"x"}${']'.repeat(5_000)}`,
      '[{"name":"web\\u0000"}]',
      '[{"name":"web\\ud800"}]',
      '[{"na\\udc00me":"web"}]',
    );
    const fileContent = fc.oneof(
      text(300),
      deepJson,
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
      fc.constantFrom('name,ip\n"unterminated', '{"records": [', '\uFEFF\uFEFF,,,\r\n\r\n', 'a;b;c\n1;2', '\u0000\u0001\u0002', '[{"model":"dcim.device"}]'),
    );
    const createBody = fc.oneof(
      anyJson,
      fc.record({
        name: fc.oneof(text(300), anyJson),
        files: fc.array(
          fc.record({
            name: fc.oneof(text(300), fc.constantFrom('a.csv', 'b.json', 'c.xlsx', '../../etc/passwd')),
            content: fileContent,
            format: fc.oneof(fc.constantFrom('csv', 'json', 'xlsx', 'xml'), anyJson),
            encoding: fc.constantFrom('utf8', 'base64', 'hex'),
          }, { requiredKeys: ['name', 'content'] }),
          { maxLength: 3 },
        ),
        options: fc.oneof(anyJson, fc.record({ retry: anyJson, reviewMappings: anyJson, autoStart: fc.boolean() })),
      }, { requiredKeys: [] }),
    );
    const eventBody = fc.oneof(
      anyJson,
      fc.record(
        { type: fc.constantFrom('START', 'RETRY', 'CANCEL', 'APPROVE_MAPPINGS', 'start', ''), fromPhase: anyJson, reason: fc.oneof(anyJson, nasty), overrides: fc.oneof(anyJson, nasty.map((k) => ({ [k]: 'hostname' }))) },
        { requiredKeys: ['type'] },
      ),
    );
    const segment = fc.oneof(fc.string({ maxLength: 60 }), fc.uuid(), fc.constantFrom('..', '%00', "1' or '1'='1", 'stream'));
    const contentType = fc.constantFrom('application/json', 'text/csv', 'text/plain', 'application/xml', '', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16');

    await fc.assert(
      fc.asyncProperty(createBody, contentType, async (body, type) => {
        await expectError(await request('/workflows', { method: 'POST', headers: type ? { 'content-type': type } : {}, body: JSON.stringify(body) }));
      }),
      { numRuns: 150, seed: 7 },
    );
    await fc.assert(
      fc.asyncProperty(eventBody, fc.oneof(fc.constant(seedId), segment), async (body, id) => {
        await expectError(
          await request(`/workflows/${encodeURIComponent(id)}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        );
      }),
      { numRuns: 150, seed: 8 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('', '/history', '/steps', '/assets', '/dependencies', '/quarantine', '/mappings'),
        fc.oneof(fc.constant(seedId), segment),
        fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'phase', 'raw', 'type', 'since', 'x', 'name\u0000'), text(40)),
        async (suffix, id, query) => {
          const qs = new URLSearchParams(query).toString();
          await expectError(await request(`/workflows/${encodeURIComponent(id)}${suffix}?${qs}`));
          await expectError(await request(`/workflows?${qs}`));
          await expectError(await request(`/stats?${qs}`));
        },
      ),
      { numRuns: 100, seed: 9 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('x-correlation-id', 'idempotency-key', 'authorization', 'last-event-id', 'content-type'), fc.string({ maxLength: 200 }).filter((s) => !/[\r\n\0]/.test(s) && /^[\x20-\x7e]*$/.test(s))),
        async (headers) => {
          await expectError(await request('/workflows', { headers }));
          await expectError(await request(`/workflows/${seedId}/events`, { method: 'POST', headers, body: '{"type":"CANCEL"}' }));
        },
      ),
      { numRuns: 100, seed: 10 },
    );
    await expectError(await request('/workflows', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"files":[{"name":"a.csv","content":"' + 'x'.repeat(200_000) + '"}]}' }));
    await engine.idle();
    expect(await store.getWorkflow(seedId)).toEqual(seedBefore);
  }, 120_000);

  it('answers 400 with a code to deep nesting, NUL and lone surrogates wherever they come in, and stores nothing', async () => {
    const deepArrays = `${'['.repeat(5_000)}{"name":"x"}${']'.repeat(5_000)}`;
    const deepRecord = `[{"name":"x","d":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]`;
    // Under this suite's 64 KB upload limit.
    const deepFile = `[{"name":"x","d":${'{"a":'.repeat(8_000)}1${'}'.repeat(8_000)}}]`;
    const post = async (path: string, body: string, type = 'application/json') => request(path, { method: 'POST', headers: { 'content-type': type }, body });
    const envelope = (patch: Record<string, unknown>, file: Record<string, unknown> = {}) =>
      JSON.stringify({ name: 'ok', files: [{ name: 'a.csv', content: 'name\nweb01\n', ...file }], ...patch });
    const cases: [string, Promise<Response>, string, RegExp][] = [
      ['JSON export 5,000 deep', post('/workflows', deepArrays), 'JSON_TOO_DEEP', /64 levels/],
      ['record 20,000 deep', post('/workflows', deepRecord), 'JSON_TOO_DEEP', /64 levels/],
      ['file 8,000 deep', post('/workflows', envelope({}, { name: 'a.json', content: deepFile })), 'JSON_TOO_DEEP', /a\.json/],
      ['NUL in the name', post('/workflows', envelope({ name: 'dc\u00001' })), 'INVALID_REQUEST', /name: holds a NUL/],
      ['lone surrogate in the name', post('/workflows', envelope({ name: 'dc\ud8001' })), 'INVALID_REQUEST', /name: holds a NUL character \(U\+0000\) or an unpaired surrogate/],
      ['NUL in a file name', post('/workflows', envelope({}, { name: 'a\u0000.csv' })), 'INVALID_REQUEST', /files\.0\.name/],
      ['NUL in ?filename=', post('/workflows?filename=a%00.csv', 'name\nweb01\n', 'text/csv'), 'INVALID_REQUEST', /query: filename/],
      ['NUL in ?name=', post('/workflows?name=a%00', 'name\nweb01\n', 'text/csv'), 'INVALID_REQUEST', /query: name/],
      ['NUL in a list filter', Promise.resolve(request('/workflows?cursor=%00')), 'INVALID_REQUEST', /query: cursor/],
      ['NUL in an asset filter', Promise.resolve(request(`/workflows/${seedId}/assets?type=%00`)), 'INVALID_REQUEST', /query: type/],
      ['escaped NUL in a JSON file', post('/workflows', envelope({}, { name: 'a.json', content: '[{"name":"web\\u0000"}]' })), 'UNSTORABLE_TEXT', /a\.json" row 1, column "name"/],
      ['escaped lone surrogate in a JSON export', post('/workflows', '[{"name":"web01","os":"x\\ud800"}]'), 'UNSTORABLE_TEXT', /row 1, column "os"/],
      ['one NUL in a long CSV', post('/workflows', 'name,os\n' + 'web,linux\n'.repeat(200) + 'w\u0000b,linux\n', 'text/csv'), 'UNSTORABLE_TEXT', /row 201, column "name"/],
      ['NUL in a CANCEL reason', post(`/workflows/${seedId}/events`, JSON.stringify({ type: 'CANCEL', reason: 'x\u0000' })), 'INVALID_REQUEST', /reason/],
      ['lone surrogate in a CANCEL reason', post(`/workflows/${seedId}/events`, JSON.stringify({ type: 'CANCEL', reason: '\udc00' })), 'INVALID_REQUEST', /reason/],
      ['lone surrogate in an override key', post(`/workflows/${seedId}/events`, JSON.stringify({ type: 'APPROVE_MAPPINGS', overrides: { 'a\ud800': 'hostname' } })), 'INVALID_REQUEST', /overrides/],
    ];
    for (const [label, response, code, message] of cases) {
      const res = await response;
      const body = (await res.json()) as { code: string; message: string };
      expect([res.status, body.code], label).toEqual([400, code]);
      expect(body.message, label).toMatch(message);
      expect(body.message, label).not.toMatch(/\u0000|[\ud800-\udfff]/);
    }
    await engine.idle();
    expect(await store.getWorkflow(seedId)).toEqual(seedBefore);
    expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(1);
  });

  it('stores SQL injection strings as text and changes nothing else', async () => {
    const evil = ["'; drop table workflows; --", "\" or 1=1 --", "x'); delete from workflow_transitions; --", '$1::jsonb', "\\'; truncate assets; --"];
    for (const s of evil) {
      const res = await request(`/workflows?name=${encodeURIComponent(s)}&filename=${encodeURIComponent(s + '.csv')}`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: `name,${s}\n${s},${s}\n`,
      });
      expect(res.status).toBe(201);
      const { id, name } = (await res.json()) as { id: string; name: string };
      expect(name).toBe(s);
      const event = await request(`/workflows/${id}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-correlation-id': 'abc' },
        body: JSON.stringify({ type: 'CANCEL', reason: s }),
      });
      expect(event.status).toBe(200);
      await expectError(await request(`/workflows?status=${encodeURIComponent(s)}&cursor=${encodeURIComponent(s)}`));
      await expectError(await request(`/workflows/${encodeURIComponent(s)}/history`));
      const history = (await (await request(`/workflows/${id}/history`)).json()) as { items: { event: { reason?: string } }[] };
      expect(history.items.some((h) => h.event.reason === s)).toBe(true);
      expect((await store.loadFiles(id))[0]!.name).toBe(`${s}.csv`);
    }
    await engine.idle();
    expect(await store.getWorkflow(seedId)).toEqual(seedBefore);
    expect((await store.listWorkflows({ limit: 100 })).items).toHaveLength(evil.length + 1);
    expect((await store.getHistory(seedId, { limit: 10 })).items).toHaveLength(1);
  });
});

describe('what errors reveal', () => {
  it('never puts a stack trace, SQL text or file path in a response', async () => {
    const { store } = await testDatabase('pglite');
    await truncateAll(store);
    const leaky = new Error('Failed query: select "id" from "workflows" where "id" = $1\n    at WorkflowStore.getWorkflow (/work/main/src/db/store.ts:211:7)');
    const broken = Object.create(store) as WorkflowStore;
    broken.getWorkflow = () => Promise.reject(leaky);
    broken.listWorkflows = () => Promise.reject(leaky);
    broken.countWithStatus = () => Promise.reject(leaky);
    const { engine, app } = wireService({ store: broken, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps() });
    try {
      for (const [path, init] of [
        ['/workflows/00000000-0000-4000-8000-000000000000', {}],
        ['/workflows', {}],
        ['/healthz', {}],
        ['/workflows/00000000-0000-4000-8000-000000000000/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"START"}' }],
      ] as [string, RequestInit][]) {
        const res = await app.request(path, init);
        const text = await res.text();
        expect(res.status, path).toBeGreaterThanOrEqual(500);
        expect(text).not.toMatch(/select|workflows"|\/work\/|store\.ts|\bat\s+\w+\./i);
        expect(JSON.parse(text)).toHaveProperty('code');
      }
    } finally {
      await engine.stop();
    }
  });
});
