import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

interface LintTotals {
  errors: number;
  warnings: number;
}

const ROOT = join(import.meta.dirname, '../..');

/** Runs `redocly lint` (the recommended rules of the committed redocly.yaml) on a document; resolves with its totals and problems. */
function redoclyLint(doc: unknown): Promise<{ totals: LintTotals; problems: { ruleId: string; message: string }[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
  const file = join(dir, 'openapi.json');
  writeFileSync(file, JSON.stringify(doc));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', file, '--format=json', `--config=${join(ROOT, 'redocly.yaml')}`],
      { cwd: ROOT, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (_error, stdout) => {
        try {
          const report = JSON.parse(stdout) as { totals: LintTotals; problems: { ruleId: string; message: string }[] };
          resolve(report);
        } catch (error) {
          reject(new Error(`redocly printed no JSON report: ${String(error)}: ${stdout.slice(0, 500)}`));
        }
      },
    );
  });
}

type Doc = {
  servers?: { url: string }[];
  components?: { securitySchemes?: Record<string, unknown> };
  paths: Record<string, Record<string, Op>>;
};
type Op = {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }>; headers?: Record<string, unknown> }>;
};

describe('the served OpenAPI document', () => {
  const engines: WorkflowEngine[] = [];
  const served = async (apiKeys: boolean): Promise<Doc> => {
    const { store } = await testDatabase('pglite');
    const wired = wireService({
      store,
      logger: testLogger(),
      maxUploadBytes: 1 << 20,
      steps: () => fakeSteps(),
      apiKeys: apiKeys ? [{ name: 'ops', token: 'a-long-enough-token-1234', role: 'admin' }] : [],
    });
    engines.push(wired.engine);
    // As the README's curl examples reach it.
    const res = await wired.app.request('http://localhost:3000/openapi.json');
    expect(res.status).toBe(200);
    return (await res.json()) as Doc;
  };
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.stop()));
  });

  it.each([false, true])('passes redocly lint with the recommended rules: 0 errors, 0 warnings (API keys %s)', async (apiKeys) => {
    const report = await redoclyLint(await served(apiKeys));
    expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 90_000);

  it('is refused by the same lint when an operation loses its operationId and the servers are gone', async () => {
    const doc = await served(false);
    delete doc.servers;
    delete doc.paths['/workflows']!.post!.operationId;
    const report = await redoclyLint(doc);
    expect(report.totals.errors + report.totals.warnings).toBeGreaterThan(0);
    expect(report.problems.map((p) => p.ruleId)).toEqual(expect.arrayContaining(['operation-operationId']));
  }, 90_000);

  it('gives every operation an operationId, summary, tag, a success with content, the Error schema on every 4xx/5xx, and its headers', async () => {
    const doc = await served(true);
    expect(doc.servers).toEqual([{ url: '/', description: 'This instance' }]);
    expect(doc.components?.securitySchemes).toMatchObject({ bearerAuth: { type: 'http', scheme: 'bearer' } });
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        expect(op.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
        ids.add(op.operationId!);
        expect(op.summary, where).toBeTruthy();
        expect(op.tags?.length, where).toBe(1);
        const success = Object.entries(op.responses).filter(([status]) => status.startsWith('2') && status !== '204');
        expect(success.length, where).toBeGreaterThan(0);
        for (const [, answer] of success) expect(Object.keys(answer.content ?? {}).length, where).toBeGreaterThan(0);
        for (const [status, answer] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue;
          expect(answer.content?.['application/json']?.schema?.$ref, `${where} ${status}`).toBe('#/components/schemas/Error');
        }
        expect(op.responses['503']?.headers, where).toHaveProperty('Retry-After');
        const isPublic = ['/healthz', '/openapi.json', '/docs'].includes(path);
        expect(op.security, where).toEqual(isPublic ? [] : [{ bearerAuth: [] }]);
        if (!isPublic) expect(Object.keys(op.responses), where).toEqual(expect.arrayContaining(['401', '403']));
        expect(op.parameters?.some((p) => p.in === 'header' && p.name === 'X-Correlation-Id'), where).toBe(true);
      }
    }
    expect(ids.size).toBe(Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0));
    const headerNames = (op: Op) => (op.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name);
    expect(headerNames(doc.paths['/workflows']!.post!)).toContain('Idempotency-Key');
    expect(headerNames(doc.paths['/workflows/{id}/events']!.post!)).toContain('Idempotency-Key');
    expect(headerNames(doc.paths['/workflows/{id}/stream']!.get!)).toContain('Last-Event-ID');
    expect(headerNames(doc.paths['/workflows/stream']!.get!)).toContain('Last-Event-ID');
    expect(Object.keys(doc.paths['/workflows']!.post!.responses)).toEqual(expect.arrayContaining(['201', '400', '409', '413', '415', '422', '500', '503']));
  });

  it('drops the bearer scheme and the 401/403 answers when API keys are off', async () => {
    const doc = await served(false);
    expect(doc.components?.securitySchemes).toBeUndefined();
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) {
        expect(op.security).toEqual([]);
        expect(op.responses['401']).toBeUndefined();
      }
    }
  });
});
