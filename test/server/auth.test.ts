import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowStore } from '../../src/db/store.ts';
import type { WorkflowEngine } from '../../src/engine/engine.ts';
import { loadConfig } from '../../src/server/config.ts';
import { wireService } from '../../src/server/service.ts';
import { testDatabase, truncateAll } from '../support/db.ts';
import { fakeSteps } from '../support/steps.ts';

const READER = 'reader-token-0123456789abcdef';
const WRITER = 'writer-token-0123456789abcdef';
const API_KEYS = [
  { name: 'dashboard', token: READER, role: 'read' as const },
  { name: 'importer', token: WRITER, role: 'write' as const },
];

describe('security', () => {
  let store: WorkflowStore;
  let engine: WorkflowEngine;
  let app: ReturnType<typeof wireService>['app'];
  let logLines: string[];

  const setup = (options: { apiKeys?: typeof API_KEYS; corsOrigins?: string[] } = {}) => {
    logLines = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    ({ engine, app } = wireService({ store, logger: pino({ level: 'debug' }, sink), maxUploadBytes: 1 << 20, steps: () => fakeSteps(), ...options }));
  };
  const post = (path: string, body: unknown, token?: string) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  const createBody = { files: [{ name: 'a.csv', content: 'name\nweb01\n' }], options: { autoStart: false } };

  beforeEach(async () => {
    store = (await testDatabase('pglite')).store;
    await truncateAll(store);
  });
  afterEach(() => engine.stop());

  it('is open without API keys', async () => {
    setup();
    expect((await post('/workflows', createBody)).status).toBe(201);
  });

  it('answers 401 without a valid key and 403 for a role that may not act', async () => {
    setup({ apiKeys: API_KEYS });
    const missing = await app.request('/workflows');
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await app.request('/workflows', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await app.request('/workflows', { headers: { authorization: `Basic ${READER}` } })).status).toBe(401);
    expect((await app.request('/workflows', { headers: { authorization: `Bearer ${READER}` } })).status).toBe(200);
    const forbidden = await post('/workflows', createBody, READER);
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { message: string }).message).toMatch(/dashboard.*read.*needs write/);
    expect((await store.listWorkflows({ limit: 10 })).items).toHaveLength(0);
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await app.request('/openapi.json')).status).toBe(200);
  });

  it('records who sent each event and never logs a token', async () => {
    setup({ apiKeys: API_KEYS });
    const created = (await (await post('/workflows', createBody, WRITER)).json()) as { id: string };
    expect((await post(`/workflows/${created.id}/events`, { type: 'START' }, WRITER)).status).toBe(200);
    const history = (await (await app.request(`/workflows/${created.id}/history`, { headers: { authorization: `Bearer ${READER}` } })).json()) as {
      items: { seq: number; actor: string | null }[];
    };
    expect(history.items.slice(0, 2).map((h) => h.actor)).toEqual(['importer', 'importer']);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(WRITER);
    expect(logLines.join('\n')).not.toContain(READER);
  });

  it('sends secure headers and no CORS headers unless origins are configured', async () => {
    setup();
    const res = await app.request('/healthz', { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    await engine.stop();
    setup({ corsOrigins: ['https://cmdb.example.com'] });
    const allowed = await app.request('/healthz', { headers: { origin: 'https://cmdb.example.com' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://cmdb.example.com');
  });

  it('binds to loopback only when no keys are configured, unless anonymous access is allowed', () => {
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0', ALLOW_ANONYMOUS: '1' }).host).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0', API_KEYS: `ops:${WRITER}:admin` }).host).toBe('0.0.0.0');
    expect(() => loadConfig({ API_KEYS: 'ops:short:admin' })).toThrow(/API_KEYS.*shorter than 16/);
    expect(() => loadConfig({ API_KEYS: `ops:${WRITER}:root` })).toThrow(/API_KEYS.*name:token:role/);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ FAULT_INJECTION: 'transient=2' })).toThrow(/FAULT_INJECTION/);
    expect(loadConfig({ FAULT_INJECTION: 'transient=0.2,slow=0.1' }).faults).toMatchObject({ transient: 0.2, slow: 0.1, timeout: 0 });
  });

  it('says in one line why HOST was not used when it binds loopback instead', () => {
    expect(loadConfig({ HOST: '0.0.0.0' }).notices).toEqual([
      'HOST=0.0.0.0 ignored: binding 127.0.0.1 because no API_KEYS are set and anyone reaching 0.0.0.0 could change workflows; set API_KEYS, or ALLOW_ANONYMOUS=1 to bind 0.0.0.0 anyway',
    ]);
    expect(loadConfig({}).notices).toEqual([]);
    expect(loadConfig({ HOST: '0.0.0.0', ALLOW_ANONYMOUS: '1' }).notices).toEqual([]);
  });

  it('refuses to start when one token is listed twice, naming the keys and never the token', () => {
    const run = () => loadConfig({ API_KEYS: `ops:${WRITER}:admin,ci:${READER}:read,dash:${WRITER}:read` });
    expect(run).toThrow('API_KEYS: "ops" (admin) and "dash" (read) have the same token; give every key its own token');
    expect(run).not.toThrow(WRITER);
  });
});
