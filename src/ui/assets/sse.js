// Server-Sent Events over fetch rather than EventSource: EventSource cannot send the
// Authorization header an API key needs.
import { askForKey, authHeaders } from './api.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function parseBlock(block) {
  const event = { type: 'message', id: null, data: [] };
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event.type = value;
    else if (field === 'id') event.id = value;
    else if (field === 'data') event.data.push(value);
  }
  return event.data.length ? { ...event, data: event.data.join('\n') } : null;
}

/**
 * Opens `path` as an event stream and calls `on[eventType](data, id)` with parsed JSON (the API sends
 * every change as an unnamed `message` whose data is a WorkflowChange; comments are heartbeats).
 * Reconnects after a dropped connection (numeric ids are sent back as Last-Event-ID); when the
 * server ends the stream itself, `onEnd` decides: return true to reconnect. Returns a closer.
 */
export function openStream(path, { on = {}, onOpen, onEnd = () => false, onStatus } = {}) {
  const controller = new AbortController();
  let stopped = false;
  let lastId = null;
  let delay = 500;

  const run = async () => {
    while (!stopped) {
      let endedByServer = false;
      try {
        const headers = { accept: 'text/event-stream', ...authHeaders() };
        if (lastId !== null && /^\d+$/.test(lastId)) headers['last-event-id'] = lastId;
        const res = await fetch(path, { headers, signal: controller.signal, cache: 'no-store' });
        if (res.status === 401) {
          await askForKey();
          continue;
        }
        if (res.status === 204) {
          // The workflow is at rest and we have seen its last change: nothing more will come.
          onStatus?.('ended');
          return;
        }
        if (res.status >= 400 && res.status < 500) {
          // Not found, forbidden...: asking again will not help.
          onStatus?.('closed');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
        delay = 500;
        onStatus?.('live');
        onOpen?.();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let match;
          while ((match = /\r?\n\r?\n/.exec(buffer))) {
            const event = parseBlock(buffer.slice(0, match.index));
            buffer = buffer.slice(match.index + match[0].length);
            if (!event) continue;
            if (event.id !== null) lastId = event.id;
            const handler = on[event.type];
            if (handler) handler(JSON.parse(event.data), event.id);
          }
        }
        endedByServer = true;
      } catch (error) {
        if (stopped) return;
        if (error?.status === 401) {
          onStatus?.('closed');
          return;
        }
      }
      if (stopped) return;
      if (endedByServer && !onEnd()) {
        onStatus?.('ended');
        return;
      }
      onStatus?.('reconnecting');
      await sleep(delay);
      delay = Math.min(delay * 2, 10_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller.abort();
  };
}
