// The web console: static files from src/ui and browser modules straight from node_modules.
// No build step — the browser loads ES modules; the few bare imports inside the vendored
// modules are rewritten to our URLs here, because an inline import map would break the CSP.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Hono, type Context } from 'hono';
import { VOCABULARY } from '../../engine/view.ts';

const UI_ROOT = fileURLToPath(new URL('../../ui/', import.meta.url));
const ASSET_DIR = join(UI_ROOT, 'assets');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Browser builds the console loads, by the name it loads them under. */
const VENDOR: Record<string, { pkg: string; file: string }> = {
  'preact.mjs': { pkg: 'preact', file: 'dist/preact.mjs' },
  'preact-hooks.mjs': { pkg: 'preact', file: 'hooks/dist/hooks.mjs' },
  'htm.mjs': { pkg: 'htm', file: 'dist/htm.mjs' },
  // Loaded lazily, only when a dependency graph is drawn.
  'cytoscape.mjs': { pkg: 'cytoscape', file: 'dist/cytoscape.esm.min.mjs' },
};

const BARE_IMPORT = /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(preact\/hooks|preact|htm)\2/g;
const VENDOR_URL: Record<string, string> = { preact: '/ui/vendor/preact.mjs', 'preact/hooks': '/ui/vendor/preact-hooks.mjs', htm: '/ui/vendor/htm.mjs' };

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer> | null;
  type: string;
  etag: string;
}

function toAsset(text: string | Uint8Array, type: string): Asset {
  const body = new Uint8Array(typeof text === 'string' ? Buffer.from(text) : text);
  const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
  // Small files are not worth the gzip framing.
  const gzip = body.byteLength > 1024 ? new Uint8Array(gzipSync(body, { level: 9 })) : null;
  return { body, gzip, type, etag };
}

/** The folder of an installed package: up from its main entry to the package.json naming it (not every package exports ./package.json). */
function packageRoot(pkg: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(pkg));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`Cannot find the folder of package ${pkg}.`);
    dir = up;
  }
}

/** A vendored module with its source-map comment dropped and its bare imports pointed at our URLs. */
function readVendor(name: string): Asset | null {
  const entry = VENDOR[name];
  if (!entry) return null;
  const source = readFileSync(join(packageRoot(entry.pkg), entry.file), 'utf8')
    .replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n')
    .replace(BARE_IMPORT, (_m, lead: string, quote: string, spec: string) => `${lead}${quote}${VENDOR_URL[spec]}${quote}`);
  return toAsset(source, TYPES['.mjs']!);
}

function send(c: Context, asset: Asset): Response {
  const headers: Record<string, string> = {
    'content-type': asset.type,
    etag: asset.etag,
    // Revalidate every time: an upgrade must never leave a stale module next to a new one.
    'cache-control': 'no-cache',
    vary: 'Accept-Encoding',
  };
  if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, headers);
  if (asset.gzip && /\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
    return c.body(asset.gzip, 200, { ...headers, 'content-encoding': 'gzip' });
  }
  return c.body(asset.body, 200, headers);
}

/** Which vocabularies the console needs, from the same constants the API validates with. */
function metaAsset(): Asset {
  return toAsset(
    JSON.stringify(VOCABULARY),
    TYPES['.json']!,
  );
}

/**
 * The console: `/` redirects to `/ui/`; `/ui/` and `/ui/workflows/:id` answer the same page (the
 * browser routes); `/ui/assets/*` and `/ui/vendor/*` its modules. Mount at '/' before the API-key
 * middleware: the page and its code are public, every API call it makes carries the key.
 */
export function uiRoutes(): Hono {
  const routes = new Hono();
  const files = new Set(readdirSync(ASSET_DIR).filter((f) => TYPES[extname(f)]));
  const cache = new Map<string, Asset>();
  const cached = (key: string, load: () => Asset | null): Asset | null => {
    let asset = cache.get(key);
    if (!asset) {
      const loaded = load();
      if (!loaded) return null;
      asset = loaded;
      cache.set(key, asset);
    }
    return asset;
  };
  const page = (c: Context) => send(c, cached('index.html', () => toAsset(readFileSync(join(UI_ROOT, 'index.html')), TYPES['.html']!))!);
  const notFound = (c: Context) => c.json({ code: 'NOT_FOUND', message: `No console file at ${c.req.path}.` }, 404);

  routes.get('/', (c) => c.redirect('/ui/', 302));
  routes.get('/ui', (c) => c.redirect('/ui/', 302));
  routes.get('/ui/', page);
  routes.get('/ui/workflows/:id', page);
  routes.get('/ui/meta.json', (c) => send(c, cached('meta.json', metaAsset)!));
  routes.get('/ui/assets/:file', (c) => {
    const file = c.req.param('file');
    if (!files.has(file)) return notFound(c);
    return send(c, cached(`assets/${file}`, () => toAsset(readFileSync(join(ASSET_DIR, file)), TYPES[extname(file)]!))!);
  });
  routes.get('/ui/vendor/:file', (c) => {
    const asset = cached(`vendor/${c.req.param('file')}`, () => readVendor(c.req.param('file')));
    return asset ? send(c, asset) : notFound(c);
  });
  routes.all('/ui/*', notFound);
  return routes;
}
