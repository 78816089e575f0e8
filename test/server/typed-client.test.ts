import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { createStepActors } from '../../src/engine/steps.ts';
import { wireService } from '../../src/server/service.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';

const ROOT = join(import.meta.dirname, '../..');
// Inside the repository (gitignored), so the client resolves openapi-fetch from our node_modules.
const WORK = join(ROOT, 'test-results', `typed-client-${process.pid}`);

interface ClientResult {
  status: string;
  servers: { name: string | null; type: string; row: number }[];
  notFoundCode: string | null;
}

function tsc(project: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

describe('a typed client generated from the served OpenAPI document', () => {
  let engine: WorkflowEngine;
  let server: ServerType;
  let baseUrl: string;

  beforeAll(async () => {
    const { store } = await testDatabase('pglite');
    await truncateAll(store);
    const wired = wireService({ store, logger: testLogger(), maxUploadBytes: 1 << 20, steps: (hooks) => createStepActors({ store, logger: testLogger(), ...hooks }) });
    engine = wired.engine;
    await new Promise<void>((resolve) => {
      server = serve({ fetch: wired.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await engine.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(WORK, { recursive: true, force: true });
  });

  it('generates types with openapi-typescript, type-checks an openapi-fetch client without casts, and runs create → poll → assets', async () => {
    // The document as served, JSON text (openapi-typescript reads a string as the document itself).
    const doc = await (await fetch(`${baseUrl}/openapi.json`)).text();
    const types = astToString(await openapiTS(doc));
    // The success answers have schemas: the view and the pages are typed, not `never` or unknown.
    expect(types).toContain('"application/json": components["schemas"]["WorkflowView"]');
    expect(types).toContain('"application/json": components["schemas"]["AssetPage"]');
    mkdirSync(WORK, { recursive: true });
    writeFileSync(join(WORK, 'api.ts'), types);
    copyFileSync(join(ROOT, 'test/fixtures/typed-client/client.ts'), join(WORK, 'client.ts'));
    writeFileSync(
      join(WORK, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023', 'DOM'],
          types: [],
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          verbatimModuleSyntax: true,
          noEmit: true,
        },
        files: ['client.ts', 'api.ts'],
      }),
    );
    const checked = await tsc(join(WORK, 'tsconfig.json'));
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);

    // The client module compiled above; its own types are checked by tsc, here only its result is.
    const client = (await import(pathToFileURL(join(WORK, 'client.ts')).href)) as { createPollRead: (baseUrl: string, csv: string) => Promise<ClientResult> };
    const { createPollRead } = client;
    const result = await createPollRead(baseUrl, 'name,ip_address,os\nweb01,10.0.0.1,Ubuntu 22.04\nweb02,10.0.0.2,Windows Server 2022\n');
    expect(result.status).toBe('completed');
    expect(result.servers.map((s) => [s.name, s.type, s.row]).sort()).toEqual([
      ['web01', 'server', 1],
      ['web02', 'server', 2],
    ]);
    expect(result.notFoundCode).toBe('WORKFLOW_NOT_FOUND');
  }, 120_000);
});
