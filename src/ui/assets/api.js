// Every call to the service goes through here: JSON, the API key as a Bearer token, and the
// read-only flag of the key (a `read` key gets 403 on every POST, so its UI offers no actions).
const KEY = 'discovery-flow.api-key';
const READ_ONLY = 'discovery-flow.read-only';
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The service answered HTTP ${status}.`);
    this.status = status;
    this.code = body?.code ?? `HTTP_${status}`;
    this.body = body ?? {};
  }
}

function notify() {
  for (const listener of listeners) listener();
}

export const auth = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  get readOnly() {
    return sessionStorage.getItem(READ_ONLY) === '1';
  },
  subscribe(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

function setReadOnly(value) {
  if (auth.readOnly === value) return;
  sessionStorage.setItem(READ_ONLY, value ? '1' : '0');
  notify();
}

export function authHeaders() {
  const key = auth.key;
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** A random Idempotency-Key, so a double click or a retried request applies once. */
export function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// A harmless POST: a `read` key is refused by the auth layer (403) before anything is parsed; any
// other key gets a 400 for the empty event. Nothing is changed either way.
const PROBE = '/workflows/00000000-0000-4000-8000-000000000000/events';

async function checkKey(key) {
  const res = await fetch(PROBE, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
  return res.status;
}

let dialog = null;
function keyDialog() {
  if (dialog) return dialog;
  dialog = document.createElement('dialog');
  dialog.className = 'key-dialog';
  dialog.setAttribute('aria-labelledby', 'key-dialog-title');
  dialog.innerHTML = `
    <form method="dialog" class="stack">
      <h2 id="key-dialog-title">API key needed</h2>
      <p class="key-message" id="key-dialog-message"></p>
      <label for="api-key-input">API key</label>
      <input id="api-key-input" name="key" type="password" autocomplete="off" required minlength="16" aria-describedby="key-dialog-message">
      <p class="muted">Kept in this browser tab only (session storage) and sent as <code>Authorization: Bearer …</code>.</p>
      <div class="row">
        <button type="submit" value="ok" class="primary">Use key</button>
        <button type="submit" value="cancel" formnovalidate>Cancel</button>
      </div>
    </form>`;
  document.body.append(dialog);
  return dialog;
}

let pending = null;

/** Asks for a key once, however many requests were refused at the same time. */
export function askForKey(message = 'This service needs an API key.') {
  pending ??= new Promise((resolve, reject) => {
    const d = keyDialog();
    const input = d.querySelector('input');
    d.querySelector('.key-message').textContent = message;
    input.value = '';
    const onClose = async () => {
      const key = input.value.trim();
      if (d.returnValue !== 'ok' || !key) {
        d.removeEventListener('close', onClose);
        pending = null;
        reject(new ApiError(401, { code: 'UNAUTHORIZED', message: 'No API key was given; the console cannot read from the service.' }));
        return;
      }
      const status = await checkKey(key).catch(() => 0);
      if (status === 401) {
        d.querySelector('.key-message').textContent = 'That key was not accepted. Check the token, or ask an admin for a key.';
        input.value = '';
        d.showModal();
        return;
      }
      d.removeEventListener('close', onClose);
      sessionStorage.setItem(KEY, key);
      setReadOnly(status === 403);
      pending = null;
      notify();
      resolve(key);
    };
    d.returnValue = '';
    d.addEventListener('close', onClose);
    d.showModal();
    input.focus();
  });
  return pending;
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(READ_ONLY);
  notify();
}

/** JSON over HTTP; a 401 asks for a key and repeats the request, a 403 on a POST marks the key read-only. */
export async function api(path, { method = 'GET', body, signal, idempotent = false } = {}) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const headers = { accept: 'application/json', ...authHeaders() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotent) headers['idempotency-key'] = requestId();
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    if (res.status === 401) {
      await askForKey(auth.key ? 'The stored API key was not accepted; enter another one.' : 'This service needs an API key.');
      continue;
    }
    const data = await res.json().catch(() => null);
    if (res.status === 403 && method !== 'GET') setReadOnly(true);
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
  throw new ApiError(401, { code: 'UNAUTHORIZED', message: 'The service did not accept the API key.' });
}

/** Every page of a `{ items, nextCursor }` list, up to `max` items. */
export async function fetchAll(path, { limit = 1000, max = 20000, signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { signal });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && items.length < max);
  return { items, truncated: Boolean(cursor) };
}
