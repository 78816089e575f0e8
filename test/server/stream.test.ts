import { EventSource } from 'eventsource';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import type { Phase } from '../../src/machine/table.ts';
import { wireService } from '../../src/server/service.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps, hang, outputsFor, type StepBehaviour } from '../support/steps.ts';

interface Change {
  workflowId: string;
  seq: number;
  auditId: number;
  eventType: string;
  status: string;
  view: { id: string; status: string; version: number } | null;
}

const BASE = 'http://discovery.test';

async function until(done: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SSE with the eventsource package', () => {
  let store: WorkflowStore;
  let engine: WorkflowEngine;
  let app: ReturnType<typeof wireService>['app'];
  const sources: EventSource[] = [];
  /** Requests the EventSources made, by path and Last-Event-ID. */
  let connections: { path: string; lastEventId: string | null; status: number }[];

  const setup = (steps: Partial<Record<Phase, StepBehaviour>> = {}) => {
    ({ engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps(steps), sse: { heartbeatMs: 100, retryMs: 50 } }));
  };
  /** An EventSource whose requests go to the app itself (no port), counted. */
  const open = (path: string) => {
    const source = new EventSource(`${BASE}${path}`, {
      fetch: async (url, init) => {
        const headers = new Headers(init?.headers);
        const res = await app.request(String(url), { ...init, headers });
        connections.push({ path, lastEventId: headers.get('last-event-id'), status: res.status });
        return res;
      },
    });
    sources.push(source);
    return source;
  };
  const create = async () => {
    const res = await app.request('/workflows', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sse', files: [{ name: 'a.csv', content: 'name\nweb01\n' }] }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const settled = async (id: string) => {
    for (let i = 0; i < 1000; i++) {
      const row = await store.getWorkflow(id);
      if (row?.status === 'completed' || row?.status === 'failed') return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('workflow did not settle');
  };

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    connections = [];
    setup();
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) source.close();
    await engine.stop();
  });

  it('gets a finished workflow’s changes in onmessage, then stops on the 204 of the next connection', async () => {
    const id = await create();
    await settled(id);
    await engine.idle();
    const messages: { id: string; change: Change }[] = [];
    let errored = false;
    const source = open(`/workflows/${id}/stream`);
    source.onmessage = (event) => messages.push({ id: event.lastEventId, change: JSON.parse(event.data) as Change });
    source.onerror = () => (errored = true);
    await until(() => source.readyState === EventSource.CLOSED, 'the EventSource to stop');
    expect(errored).toBe(true);
    expect(messages.map((m) => [m.id, m.change.view?.status])).toEqual([['8', 'completed']]);
    // One connection that sent the state, one that got 204, and no more however long we wait.
    await new Promise((r) => setTimeout(r, 300));
    expect(connections.map((c) => [c.lastEventId, c.status])).toEqual([
      [null, 200],
      ['8', 204],
    ]);
  });

  it('follows a running workflow to its end with the retry interval the server sent', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    setup({ field_mapping: async (input) => (await gate, outputsFor(input.phase)) });
    const id = await create();
    const source = open(`/workflows/${id}/stream`);
    const seqs: number[] = [];
    source.onmessage = (event) => seqs.push((JSON.parse(event.data) as Change).seq);
    await until(() => seqs.length > 0, 'the first message');
    release();
    await until(() => source.readyState === EventSource.CLOSED, 'the EventSource to stop');
    // Gapless: every seq from the first one seen to the completed one (8), each once.
    expect(seqs).toEqual(Array.from({ length: 8 - seqs[0]! + 1 }, (_, i) => seqs[0]! + i));
    expect(connections.at(-1)).toMatchObject({ lastEventId: '8', status: 204 });
  });

  it('sends retry: first and a heartbeat comment while nothing happens', async () => {
    setup({ data_source_analysis: hang() });
    const id = await create();
    const controller = new AbortController();
    const res = await app.request(`/workflows/${id}/stream`, { signal: controller.signal });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes(': heartbeat')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    await reader.cancel().catch(() => {});
    expect(text.startsWith('retry: 50\n\n')).toBe(true);
    expect(text).toContain('\n\n: heartbeat\n\n');
  });

  it('resumes /workflows/stream from Last-Event-ID: the changes committed while away, by global id, then live ones', async () => {
    const source = open('/workflows/stream');
    const seen: { id: number; change: Change }[] = [];
    source.onmessage = (event) => seen.push({ id: Number(event.lastEventId), change: JSON.parse(event.data) as Change });
    await until(() => source.readyState === EventSource.OPEN, 'the stream to open');
    const first = await create();
    await settled(first);
    await until(() => seen.some((s) => s.change.workflowId === first && s.change.status === 'completed'), 'the first workflow to complete on the stream');
    source.close();
    const lastId = seen.at(-1)!.id;
    expect(seen.map((s) => s.id)).toEqual([...seen.map((s) => s.id)].sort((a, b) => a - b));

    // Away: a second workflow runs to its end.
    const second = await create();
    await settled(second);
    await engine.idle();

    const res = await app.request('/workflows/stream', { headers: { 'last-event-id': String(lastId) } });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"status":"completed"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel().catch(() => {});
    const replayed = text
      .split('\n\n')
      .filter((b) => b.includes('data:'))
      .map((b) => ({ id: Number(/^id: ?(\d+)/m.exec(b)![1]), change: JSON.parse(/^data: ?(.*)$/m.exec(b)![1]!) as Change }));
    expect(replayed.every((r) => r.id > lastId && r.change.workflowId === second && r.id === r.change.auditId)).toBe(true);
    // Everything the second workflow did, in order, none of the first's again.
    expect(replayed.map((r) => r.change.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
