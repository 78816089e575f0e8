import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { wireService } from '../../src/server/service.ts';
import { testDatabase } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps } from '../support/steps.ts';

describe('API description', () => {
  let engine: WorkflowEngine;
  let app: ReturnType<typeof wireService>['app'];

  beforeAll(async () => {
    const { store } = await testDatabase('pglite');
    ({ engine, app } = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: () => fakeSteps() }));
  });
  afterAll(() => engine.stop());

  it('documents every route the app serves, and nothing it does not serve', async () => {
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && !r.path.includes('/assets/') && r.path !== '/' && !r.path.startsWith('/ui'))
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1')}`),
    );
    const doc = (await (await app.request('/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    expect([...served].sort()).toEqual([...documented].sort());
  });

  it('describes request bodies and queries from the validating zod schemas', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { oneOf?: unknown[]; properties?: Record<string, unknown> } }> }; parameters: { name: string; in: string }[] }>> };
    const events = doc.paths['/workflows/{id}/events']!.post!;
    expect(events.requestBody!.content['application/json']!.schema.oneOf).toHaveLength(4);
    expect(doc.paths['/workflows']!.get!.parameters.filter((p) => p.in === 'query').map((p) => p.name)).toEqual(['status', 'phase', 'limit', 'cursor']);
  });

  it('serves an interactive reference whose assets come from the project itself', async () => {
    const html = await (await app.request('/docs')).text();
    expect(html).toContain('/docs/assets/swagger-ui-bundle.js');
    expect(html).not.toMatch(/https?:\/\//);
    const bundle = await app.request('/docs/assets/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toContain('javascript');
    expect((await app.request('/docs/assets/nope.js')).status).toBe(404);
  });
});
