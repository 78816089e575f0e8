import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { createStepActors } from '../../src/engine/steps.ts';
import { TransientError } from '../../src/machine/errors.ts';
import type { StepInput, StepOutput } from '../../src/machine/machine.ts';
import { STEP_PHASES, type Phase } from '../../src/machine/table.ts';
import { wireService } from '../../src/server/service.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { outputsFor } from '../support/steps.ts';

type Body = (input: StepInput, signal: AbortSignal) => Promise<StepOutput>;

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads a whole SSE response (the stream ends by itself after a terminal state). */
async function readSse(res: Response): Promise<SseEvent[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('data:'))
    .map((block) => {
      const event: SseEvent = { data: '' };
      for (const line of block.split('\n')) {
        const [key, ...rest] = line.split(':');
        const value = rest.join(':').trimStart();
        if (key === 'id') event.id = value;
        if (key === 'event') event.event = value;
        if (key === 'data') event.data += value;
      }
      return event;
    });
}

describe('observability', () => {
  let store: WorkflowStore;
  let engine: WorkflowEngine;
  let app: ReturnType<typeof wireService>['app'];

  // A test that sets up again replaces the engine beforeEach made: both are stopped after it.
  const engines: WorkflowEngine[] = [];
  const setup = (bodies: Partial<Record<Phase, Body>> = {}) => {
    const all = Object.fromEntries(STEP_PHASES.map((p) => [p, bodies[p] ?? (async () => outputsFor(p))])) as Record<Phase, Body>;
    ({ engine, app } = wireService({
      store,
      logger: testLogger(),
      maxUploadBytes: 1 << 20,
      steps: (hooks) => createStepActors({ store, logger: testLogger(), ...hooks }, all),
    }));
    engines.push(engine);
  };
  const create = async (options: Record<string, unknown> = {}) => {
    const res = await app.request('/workflows', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'obs', files: [{ name: 'a.csv', content: 'name\nweb01\n' }], options }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const settle = async (id: string) => {
    for (let i = 0; i < 500; i++) {
      const row = await store.getWorkflow(id);
      if (row?.status === 'completed' || row?.status === 'failed') return row;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('workflow did not settle');
  };

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
    setup();
  });
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.stop()));
  });

  it('exposes step, workflow, persistence and HTTP metrics in Prometheus format', async () => {
    let calls = 0;
    setup({
      data_validation: async () => {
        calls += 1;
        if (calls === 1) throw new TransientError('busy');
        return outputsFor('data_validation');
      },
    });
    const id = await create({ retry: { initialDelayMs: 1 } });
    await settle(id);
    await app.request(`/workflows/${id}`);
    const res = await app.request('/metrics');
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('discovery_step_attempts_total{phase="data_validation"} 2');
    expect(text).toContain('discovery_step_retries_total{phase="data_validation"} 1');
    expect(text).toContain('discovery_step_failures_total{phase="data_validation"} 1');
    expect(text).toContain('discovery_workflows_total{status="started"} 1');
    expect(text).toContain('discovery_workflows_total{status="completed"} 1');
    expect(text).toMatch(/discovery_step_duration_seconds_count\{phase="data_validation",outcome="failed"\} 1/);
    expect(text).toMatch(/discovery_state_persist_seconds_count \d+/);
    expect(text).toContain('http_request_duration_seconds_count{method="GET",route="/workflows/:id",status="200"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('reports per-phase rates, retries and durations from the database', async () => {
    let calls = 0;
    setup({
      field_mapping: async () => {
        calls += 1;
        if (calls === 1) throw new TransientError('busy');
        return outputsFor('field_mapping');
      },
    });
    await settle(await create({ retry: { initialDelayMs: 1 } }));
    const stats = (await (await app.request('/stats')).json()) as {
      workflows: Record<string, number>;
      phases: { phase: string; attempts: number; succeeded: number; failed: number; retries: number; successRate: number; p95Ms: number }[];
    };
    expect(stats.workflows).toEqual({ completed: 1 });
    const mapping = stats.phases.find((p) => p.phase === 'field_mapping')!;
    expect(mapping).toMatchObject({ attempts: 2, succeeded: 1, failed: 1, retries: 1, successRate: 0.5 });
    expect(mapping.p95Ms).toBeGreaterThanOrEqual(0);
    expect(stats.phases.find((p) => p.phase === 'data_source_analysis')).toMatchObject({ attempts: 1, successRate: 1 });
    const future = (await (await app.request('/stats?since=2999-01-01T00:00:00Z')).json()) as { phases: { attempts: number }[] };
    expect(future.phases.every((p) => p.attempts === 0)).toBe(true);
    expect((await app.request('/stats?since=yesterday')).status).toBe(400);
  });

  it('lists every step attempt with its outcome and error record', async () => {
    let calls = 0;
    setup({
      asset_classification: async () => {
        calls += 1;
        if (calls === 1) throw new TransientError('busy');
        return outputsFor('asset_classification');
      },
    });
    const id = await create({ retry: { initialDelayMs: 1 } });
    await settle(id);
    const steps = (await (await app.request(`/workflows/${id}/steps`)).json()) as { items: { phase: string; attempt: number; outcome: string; error: { code: string } | null; durationMs: number }[] };
    const classification = steps.items.filter((s) => s.phase === 'asset_classification');
    expect(classification.map((s) => [s.attempt, s.outcome, s.error?.code ?? null])).toEqual([
      [1, 'failed', 'TRANSIENT'],
      [2, 'succeeded', null],
    ]);
    expect(steps.items).toHaveLength(7);
  });

  it('streams every committed change of a workflow over SSE as unnamed messages and ends after the terminal state', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    setup({ data_source_analysis: async () => (await gate, outputsFor('data_source_analysis')) });
    const id = await create();
    const res = await app.request(`/workflows/${id}/stream`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reading = readSse(res);
    release();
    const events = await reading;
    const versions = events.map((e) => Number(e.id));
    expect(versions).toEqual([2, 3, 4, 5, 6, 7, 8]);
    // Unnamed, so EventSource.onmessage gets them; one shape: the change and the view after it.
    expect(events.every((e) => e.event === undefined)).toBe(true);
    const changes = events.map((e) => JSON.parse(e.data) as { seq: number; auditId: number; eventType: string; toPhase: string; view: { id: string; status: string; version: number } });
    expect(changes[0]).toMatchObject({ seq: 2, eventType: 'START', toPhase: 'data_source_analysis', view: { id, status: 'running', version: 2 } });
    expect(changes.at(-1)).toMatchObject({ seq: 8, toPhase: 'completed', view: { id, status: 'completed', version: 8 } });
    expect(changes.every((c) => c.auditId > 0)).toBe(true);
  });

  it('resumes a stream from Last-Event-ID with the missed changes, then answers 204 once the client has seen the end', async () => {
    const id = await create();
    await settle(id);
    await engine.idle();
    const events = await readSse(await app.request(`/workflows/${id}/stream`, { headers: { 'last-event-id': '5' } }));
    expect(events.map((e) => e.id)).toEqual(['6', '7', '8']);
    const changes = events.map((e) => JSON.parse(e.data) as { seq: number; toPhase: string; view: { status: string } | null });
    expect(changes.map((c) => [c.seq, c.toPhase, c.view?.status ?? null])).toEqual([
      [6, 'dependency_analysis', null],
      [7, 'database_integration', null],
      [8, 'completed', 'completed'],
    ]);
    const again = await app.request(`/workflows/${id}/stream`, { headers: { 'last-event-id': '8' } });
    expect(again.status).toBe(204);
    expect((await app.request(`/workflows/${id}/stream`, { headers: { 'last-event-id': 'x' } })).status).toBe(400);
  });

  it('streams the changes of every workflow on /workflows/stream', async () => {
    const controller = new AbortController();
    const res = await app.request('/workflows/stream', { signal: controller.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const ids = [await create(), await create()];
    const seen = new Map<string, string[]>();
    let buffer = '';
    const decoder = new TextDecoder();
    while ([...seen.values()].filter((s) => s.includes('completed')).length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').find((l) => l.startsWith('data:'));
        if (!data) continue;
        const change = JSON.parse(data.slice(5)) as { workflowId: string; status: string };
        seen.set(change.workflowId, [...(seen.get(change.workflowId) ?? []), change.status]);
      }
    }
    controller.abort();
    await reader.cancel().catch(() => {});
    expect([...seen.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) expect(seen.get(id)!.at(-1)).toBe('completed');
  });
});
