// Create a workflow by dropping (or choosing) CMDB files, with the review and retry options.
import { api } from './api.js';
import { html, useRef, useState } from './html.js';
import { navigate } from './router.js';

const DEFAULTS = { retries: 3, initialDelayMs: 1000, factor: 2, maxDelayMs: 30000, timeoutSeconds: 300, jitter: false };

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

async function encodeFile(file) {
  if (/\.xlsx$/i.test(file.name)) return { name: file.name, encoding: 'base64', content: toBase64(await file.arrayBuffer()) };
  return { name: file.name, content: await file.text() };
}

function retryOptions(policy) {
  const retry = {};
  if (policy.retries !== DEFAULTS.retries) retry.retries = policy.retries;
  if (policy.initialDelayMs !== DEFAULTS.initialDelayMs) retry.initialDelayMs = policy.initialDelayMs;
  if (policy.factor !== DEFAULTS.factor) retry.factor = policy.factor;
  if (policy.maxDelayMs !== DEFAULTS.maxDelayMs) retry.maxDelayMs = policy.maxDelayMs;
  if (policy.timeoutSeconds !== DEFAULTS.timeoutSeconds) retry.timeoutMs = Math.round(policy.timeoutSeconds * 1000);
  if (policy.jitter) retry.jitter = true;
  return Object.keys(retry).length ? retry : undefined;
}

const kb = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);

export function UploadPanel({ onCreated }) {
  const [files, setFiles] = useState([]);
  const [name, setName] = useState('');
  const [review, setReview] = useState(false);
  const [policy, setPolicy] = useState(DEFAULTS);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const input = useRef(null);

  const add = (list) => {
    const added = [...list];
    setFiles((current) => [...current.filter((f) => !added.some((a) => a.name === f.name)), ...added]);
    setError(null);
  };
  const number = (key) => (event) => setPolicy({ ...policy, [key]: Number(event.currentTarget.value) });

  const submit = async (event) => {
    event.preventDefault();
    if (files.length === 0) {
      setError('Choose or drop at least one file.');
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const retry = retryOptions(policy);
      const body = {
        ...(name.trim() ? { name: name.trim() } : {}),
        files: await Promise.all(files.map(encodeFile)),
        // Unticked leaves reviewMappings out: the workflow still stops when the mapping evidence is weak.
        options: { ...(review ? { reviewMappings: true } : {}), ...(retry ? { retry } : {}) },
      };
      const view = await api('/workflows', { method: 'POST', body, idempotent: true });
      setFiles([]);
      setName('');
      if (input.current) input.current.value = '';
      onCreated?.(view);
      navigate(`/ui/workflows/${view.id}`);
    } catch (e) {
      setError(e.message + (e.body?.hint ? ` ${e.body.hint}` : ''));
    } finally {
      setBusy(false);
    }
  };

  return html`<section class="panel upload" aria-labelledby="upload-title">
    <h2 id="upload-title">New workflow</h2>
    <form onSubmit=${submit} class="stack">
      <div
        class=${`dropzone${dragging ? ' dragging' : ''}`}
        data-testid="dropzone"
        onDragOver=${(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave=${() => setDragging(false)}
        onDrop=${(e) => {
          e.preventDefault();
          setDragging(false);
          if (e.dataTransfer?.files?.length) add(e.dataTransfer.files);
        }}
      >
        <label for="file-input">Drop CMDB files here, or choose them</label>
        <input
          id="file-input"
          ref=${input}
          type="file"
          multiple
          accept=".csv,.tsv,.txt,.json,.xlsx"
          aria-describedby="file-help"
          onChange=${(e) => add(e.currentTarget.files)}
        />
        <p id="file-help" class="muted">CSV, TSV, JSON (ServiceNow, Azure Migrate, NetBox…) or .xlsx. Several files make one workflow.</p>
      </div>
      ${files.length > 0 &&
      html`<ul class="file-list" aria-label="Files to upload">
        ${files.map(
          (f) => html`<li key=${f.name}>
            <span>${f.name}</span> <span class="muted">${kb(f.size)}</span>
            <button type="button" class="link" aria-label=${`Remove ${f.name}`} onClick=${() => setFiles(files.filter((x) => x !== f))}>Remove</button>
          </li>`,
        )}
      </ul>`}
      <div class="field">
        <label for="workflow-name">Name</label>
        <input id="workflow-name" value=${name} placeholder=${files.map((f) => f.name).join(', ') || 'dc1 servers'} onInput=${(e) => setName(e.currentTarget.value)} />
      </div>
      <div class="check">
        <input id="review-mappings" type="checkbox" checked=${review} onChange=${(e) => setReview(e.currentTarget.checked)} />
        <label for="review-mappings">Stop for a mapping review before classification</label>
      </div>
      <details class="retry-policy">
        <summary>Retry policy</summary>
        <fieldset>
          <legend class="sr-only">Retry policy for transient failures and timeouts</legend>
          <div class="grid-fields">
            <div class="field"><label for="retry-retries">Retries</label>
              <input id="retry-retries" type="number" min="0" max="100" value=${policy.retries} onInput=${number('retries')} /></div>
            <div class="field"><label for="retry-initial">First delay (ms)</label>
              <input id="retry-initial" type="number" min="0" step="100" value=${policy.initialDelayMs} onInput=${number('initialDelayMs')} /></div>
            <div class="field"><label for="retry-factor">Factor</label>
              <input id="retry-factor" type="number" min="1" max="10" step="0.5" value=${policy.factor} onInput=${number('factor')} /></div>
            <div class="field"><label for="retry-max">Longest delay (ms)</label>
              <input id="retry-max" type="number" min="0" step="1000" value=${policy.maxDelayMs} onInput=${number('maxDelayMs')} /></div>
            <div class="field"><label for="retry-timeout">Attempt timeout (s)</label>
              <input id="retry-timeout" type="number" min="1" value=${policy.timeoutSeconds} onInput=${number('timeoutSeconds')} /></div>
            <div class="check"><input id="retry-jitter" type="checkbox" checked=${policy.jitter} onChange=${(e) => setPolicy({ ...policy, jitter: e.currentTarget.checked })} />
              <label for="retry-jitter">Full jitter</label></div>
          </div>
        </fieldset>
      </details>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <div><button type="submit" class="primary" disabled=${busy}>${busy ? 'Uploading…' : 'Create and start'}</button></div>
    </form>
  </section>`;
}
