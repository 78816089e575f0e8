import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { uiRoutes } from '../../src/server/routes/ui.ts';

describe('console routes', () => {
  const app = uiRoutes();

  it('redirects / to /ui/ and answers the same page at /ui/ and /ui/workflows/:id', async () => {
    const root = await app.request('/');
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui/');
    const list = await app.request('/ui/');
    const detail = await app.request('/ui/workflows/3f1c0a52-7d0e-4b8e-9a43-5d3c2e1f0a9b');
    expect(list.status).toBe(200);
    expect(list.headers.get('content-type')).toContain('text/html');
    const html = await list.text();
    expect(await detail.text()).toBe(html);
    // The CSP allows no inline script: the page has only external module scripts.
    expect(html).toMatch(/<script type="module" src="\/ui\/assets\/main\.js"><\/script>/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('serves the vendored modules with their bare imports pointed at console URLs', async () => {
    const hooks = await app.request('/ui/vendor/preact-hooks.mjs');
    expect(hooks.status).toBe(200);
    expect(hooks.headers.get('content-type')).toContain('text/javascript');
    const source = await hooks.text();
    expect(source).toContain('from"/ui/vendor/preact.mjs"');
    expect(source).not.toMatch(/from\s*["']preact["']/);
    expect(source).not.toContain('sourceMappingURL');
    for (const file of ['preact.mjs', 'htm.mjs', 'cytoscape.mjs']) {
      expect((await app.request(`/ui/vendor/${file}`)).status).toBe(200);
    }
  });

  it('compresses for clients that accept gzip and answers 304 to a matching ETag', async () => {
    const plain = await app.request('/ui/assets/app.css');
    const body = await plain.text();
    const etag = plain.headers.get('etag');
    expect(etag).toBeTruthy();
    const zipped = await app.request('/ui/assets/app.css', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await zipped.arrayBuffer())).toString()).toBe(body);
    const again = await app.request('/ui/assets/app.css', { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
  });

  it('answers the vocabularies the console needs from the API constants', async () => {
    const meta = (await (await app.request('/ui/meta.json')).json()) as { phases: string[]; statuses: string[]; mappingTargets: string[] };
    expect(meta.phases).toHaveLength(6);
    expect(meta.statuses).toContain('awaiting_review');
    expect(meta.mappingTargets).toContain('business_service');
    expect(meta.mappingTargets).toContain('attributes');
  });

  it('404s a file that is not part of the console, including path tricks', async () => {
    for (const path of ['/ui/assets/nope.js', '/ui/assets/..%2F..%2Fserver%2Fapp.ts', '/ui/vendor/pg.mjs', '/ui/other']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('NOT_FOUND');
    }
  });
});
