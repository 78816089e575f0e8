// The console's entry: header, routing between the list and a workflow, the API key.
import { askForKey, auth, forgetKey } from './api.js';
import { DetailPage } from './detail-view.js';
import { html, render, useEffect, useState } from './html.js';
import { useReadOnly } from './hooks.js';
import { ListPage } from './list-view.js';
import { interceptLinks, matchRoute, useLocation } from './router.js';

const LIVE_TEXT = { live: 'Live', reconnecting: 'Reconnecting…', closed: 'Not live', ended: 'Final state: no more updates' };

function KeyControl() {
  const [key, setKey] = useState(auth.key);
  const readOnly = useReadOnly();
  useEffect(() => auth.subscribe(() => setKey(auth.key)), []);
  if (!key) return null;
  return html`<div class="key-control">
    <span class="muted small">${readOnly ? 'read-only key' : 'API key set'}</span>
    <button type="button" class="link" onClick=${() => {
      forgetKey();
      askForKey('Enter the API key to use from now on.').then(() => location.reload(), () => undefined);
    }}>Change key</button>
  </div>`;
}

function App({ meta }) {
  const loc = useLocation();
  const route = matchRoute(loc.path);
  const [live, setLive] = useState(null);

  useEffect(() => {
    document.title = route.name === 'detail' ? 'Workflow · Discovery Flow' : 'Workflows · Discovery Flow';
  }, [loc.path]);

  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="/ui/">Discovery Flow</a>
      <nav aria-label="Main" class="row">
        <a href="/ui/" aria-current=${route.name === 'list' ? 'page' : undefined}>Workflows</a>
        <a href="/docs">API docs</a>
      </nav>
      <span class=${`live live-${live ?? 'none'}`} role="status" aria-live="polite">${live ? LIVE_TEXT[live] : ''}</span>
      <${KeyControl} />
    </header>
    <main id="main">
      ${route.name === 'detail'
        ? html`<${DetailPage} key=${route.id} id=${route.id} meta=${meta} hash=${loc.hash} setLive=${setLive} />`
        : html`<${ListPage} meta=${meta} search=${loc.search} setLive=${setLive} />`}
    </main>
  </div>`;
}

async function start() {
  const root = document.getElementById('app');
  interceptLinks(document.body);
  try {
    const res = await fetch('/ui/meta.json');
    if (!res.ok) throw new Error(`meta.json answered ${res.status}`);
    const meta = await res.json();
    root.textContent = '';
    render(html`<${App} meta=${meta} />`, root);
  } catch (error) {
    root.innerHTML = '';
    const p = document.createElement('p');
    p.className = 'error';
    p.textContent = `The console could not start: ${error.message}`;
    root.append(p);
  }
}

void start();
