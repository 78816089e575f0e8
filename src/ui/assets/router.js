// History-API routing: /ui/ is the list, /ui/workflows/<id> a workflow, the hash its tab.
import { useEffect, useState } from './html.js';

const listeners = new Set();
let focusPending = false;
let lastPath = location.pathname;

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const listener of listeners) listener();
}

export function useLocation() {
  const [loc, setLoc] = useState(() => ({ path: location.pathname, search: location.search, hash: location.hash }));
  useEffect(() => {
    const update = () => {
      if (location.pathname !== lastPath) {
        lastPath = location.pathname;
        focusPending = true;
      }
      setLoc({ path: location.pathname, search: location.search, hash: location.hash });
    };
    listeners.add(update);
    addEventListener('popstate', update);
    addEventListener('hashchange', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
      removeEventListener('hashchange', update);
    };
  }, []);
  return loc;
}

export function matchRoute(path) {
  const detail = /^\/ui\/workflows\/([^/]+)\/?$/.exec(path);
  if (detail) return { name: 'detail', id: decodeURIComponent(detail[1]) };
  return { name: 'list' };
}

/** Same-origin links into the console change the route without a page load. */
export function interceptLinks(root) {
  root.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest?.('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/ui/')) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash !== location.hash) return;
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}

/** After an in-app navigation the new page's heading takes focus once it is rendered for good. */
export function useHeadingFocus(ready) {
  useEffect(() => {
    if (!ready || !focusPending) return;
    focusPending = false;
    requestAnimationFrame(() => document.getElementById('page-title')?.focus());
  }, [ready]);
}
