import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { createStepActors, createStepBodies } from '../../src/engine/steps.ts';
import { TransientError } from '../../src/machine/errors.ts';
import { loadConfig } from '../../src/server/config.ts';
import { wireService } from '../../src/server/service.ts';
import { startTelemetry, type Telemetry } from '../../src/server/telemetry.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const CSV = 'name,ip_address,os\nweb01,10.0.0.1,Ubuntu 22.04\nweb02,10.0.0.2,Ubuntu 22.04\n';

describe('OpenTelemetry traces', () => {
  let store: WorkflowStore;
  let engine: WorkflowEngine | null = null;
  let telemetry: Telemetry | null = null;

  /** The service with the real steps, data_validation failing once (a backoff), and a tracer. */
  const wire = (tracerOf: Telemetry, logger = testLogger()) => {
    let calls = 0;
    const wired = wireService({
      store,
      logger,
      maxUploadBytes: 1 << 20,
      tracer: tracerOf.tracer,
      steps: (hooks) => {
        const deps = { store, logger, ...hooks };
        const bodies = createStepBodies(deps);
        const validate = bodies.data_validation;
        bodies.data_validation = async (input, signal) => {
          calls += 1;
          if (calls === 1) throw new TransientError('busy', { code: 'LOCK_TIMEOUT' });
          return validate(input, signal);
        };
        return createStepActors(deps, bodies);
      },
    });
    engine = wired.engine;
    return wired;
  };
  const waitFor = async (id: string, statuses: string[]) => {
    for (let i = 0; i < 1000; i++) {
      const row = await store.getWorkflow(id);
      if (row && statuses.includes(row.status)) return row;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`workflow never reached ${statuses.join('|')}`);
  };

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
  });
  afterEach(async () => {
    await engine?.stop();
    await telemetry?.shutdown();
    engine = null;
    telemetry = null;
  });

  it('makes one trace per workflow under the caller’s traceparent: HTTP span, workflow span, a span per step attempt, waits as spans', async () => {
    const exporter = new InMemorySpanExporter();
    telemetry = startTelemetry({ tracesUrl: 'http://unused.invalid/v1/traces', serviceName: 'test' }, exporter);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(...chunk.toString().split('\n').filter(Boolean)), done()) }));
    const { app } = wire(telemetry, logger);
    const res = await app.request('/workflows', {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ name: 'traced', files: [{ name: 'servers.csv', content: CSV }], options: { reviewMappings: true, retry: { initialDelayMs: 50 } } }),
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; traceId: string | null };
    expect(created.traceId).toBe(TRACE_ID);
    await waitFor(created.id, ['awaiting_review']);
    const approved = await app.request(`/workflows/${created.id}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'APPROVE_MAPPINGS' }),
    });
    expect(approved.status).toBe(200);
    await waitFor(created.id, ['completed']);
    expect(((await (await app.request(`/workflows/${created.id}`)).json()) as { traceId: string }).traceId).toBe(TRACE_ID);
    await engine!.idle();
    await telemetry.flush();

    const spans = exporter.getFinishedSpans();
    const named = (name: string) => spans.filter((s) => s.name === name);
    const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
    const [http] = named('POST /workflows');
    expect(http).toBeDefined();
    expect(http!.kind).toBe(SpanKind.SERVER);
    expect(http!.spanContext().traceId).toBe(TRACE_ID);
    expect(parentOf(http!)).toBe(CALLER_SPAN);
    expect(http!.attributes['http.response.status_code']).toBe(201);
    const [workflow] = named('workflow');
    expect(parentOf(workflow!)).toBe(http!.spanContext().spanId);
    expect(workflow!.attributes['workflow.id']).toBe(created.id);

    // Every step attempt is a child of the workflow span, in the caller's trace, with phase, attempt and outcome.
    const steps = spans.filter((s) => s.name.startsWith('step '));
    expect(steps.every((s) => s.spanContext().traceId === TRACE_ID && parentOf(s) === workflow!.spanContext().spanId)).toBe(true);
    const validation = named('step data_validation').sort((a, b) => Number(a.attributes['step.attempt']) - Number(b.attributes['step.attempt']));
    expect(validation.map((s) => [s.attributes['step.attempt'], s.attributes['step.outcome'], s.attributes['error.code'] ?? null, s.status.code])).toEqual([
      [1, 'failed', 'LOCK_TIMEOUT', SpanStatusCode.ERROR],
      [2, 'succeeded', null, SpanStatusCode.UNSET],
    ]);
    expect(named('step database_integration')).toHaveLength(1);
    // Six phases, the retried validation, and the mapping run again after the approval.
    expect(steps).toHaveLength(8);

    // The backoff and the review wait are spans of the trace, from their start to the next change.
    const [backoff] = named('wait backoff');
    expect(backoff!.attributes).toMatchObject({ 'workflow.phase': 'data_validation', 'step.attempt': 1 });
    expect(Number(backoff!.attributes['backoff.delay_ms'])).toBeGreaterThanOrEqual(0);
    const [review] = named('wait review');
    expect(review!.attributes['workflow.phase']).toBe('field_mapping');
    expect([backoff, review].every((w) => parentOf(w!) === workflow!.spanContext().spanId)).toBe(true);
    // The approval is a request of its own (no traceparent sent): a server span in a trace of its own.
    expect(named('POST /workflows/:id/events').map((s) => s.spanContext().traceId === TRACE_ID)).toEqual([false]);

    // The trace id is in the logs of the request and of the steps.
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; traceId?: string; phase?: string });
    expect(logged.find((l) => l.msg === 'request')?.traceId).toBe(TRACE_ID);
    expect(logged.find((l) => l.msg === 'step finished' && l.phase === 'data_source_analysis')?.traceId).toBe(TRACE_ID);
  });

  it('exports over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, and has no tracer provider without it', async () => {
    expect(loadConfig({}).tracing).toBeNull();
    const bodies: { path: string; type: string; body: string }[] = [];
    const receiver: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        bodies.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
    try {
      const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, OTEL_SERVICE_NAME: 'discovery-test' });
      expect(config.tracing?.tracesUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/traces$/);
      telemetry = startTelemetry(config.tracing!);
      const { app } = wire(telemetry);
      const res = await app.request('/workflows', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'exported', files: [{ name: 'servers.csv', content: CSV }], options: { reviewMappings: false, retry: { initialDelayMs: 10 } } }),
      });
      const { id, traceId } = (await res.json()) as { id: string; traceId: string };
      await waitFor(id, ['completed']);
      await engine!.idle();
      await telemetry.flush();
      expect(bodies.length).toBeGreaterThan(0);
      expect(bodies.every((b) => b.path === '/v1/traces' && b.type.includes('application/json'))).toBe(true);
      type Otlp = { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string; traceId: string }[] }[] }[] };
      const exported = bodies.flatMap((b) => (JSON.parse(b.body) as Otlp).resourceSpans);
      expect(exported[0]!.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'discovery-test' } });
      const spans = exported.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
      const names = spans.map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(['POST /workflows', 'workflow', 'step data_source_analysis', 'step database_integration', 'wait backoff']));
      // JSON OTLP carries ids as hex: the workflow's spans are in the trace its view names.
      expect(spans.filter((s) => s.name.startsWith('step ')).every((s) => s.traceId === traceId)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
