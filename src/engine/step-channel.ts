// The line between a step's worker thread and the main thread, for the rows a step reads or makes
// in bulk: the staged assets it reads and the staging rows it writes travel a batch at a time
// through a MessagePort, with a small window of batches in flight, so neither side ever holds all
// of them (at 300,000 assets, some 260 MB of JSON each way). The main thread talks to the database
// (PostgreSQL, or PGlite in its own thread, both through pg); the worker only computes.
import type { MessagePort } from 'node:worker_threads';
import type { StoredFile } from '../db/artifacts.ts';
import type { InventoryKind, StagedColumn } from '../db/inventory.ts';

/** Batches sent and not yet taken, each way: a few megabytes. */
const WINDOW = 4;

/** What the main thread does for a step in a worker: the database side of its bulk rows. */
export interface StepHost {
  /**
   * The workflow's uploaded files, asked for only when the worker has not parsed them already. A
   * file whose bytes are a whole ArrayBuffer is moved to the worker, not copied: hand over buffers
   * nothing else uses (the store reads them anew each time).
   */
  files(): Promise<StoredFile[]>;
  /** Replaces the workflow's staging rows of one table with these COPY text parts, taken as they come. */
  stage(kind: InventoryKind, parts: AsyncIterable<Uint8Array>): Promise<void>;
  /** The workflow's staged rows of one table, newline-separated JSON, a batch at a time. */
  readStaged(kind: InventoryKind, column: StagedColumn): AsyncIterable<string>;
}

type ToMain =
  | { type: 'stage'; kind: InventoryKind }
  | { type: 'part'; part: Uint8Array }
  | { type: 'end' }
  | { type: 'read'; kind: InventoryKind; column: StagedColumn }
  | { type: 'more' }
  | { type: 'files' };

type ToWorker =
  | { type: 'files'; files?: StoredFile[]; error?: string }
  | { type: 'ack' } | { type: 'staged'; error?: string } | { type: 'batch'; part: Uint8Array } | { type: 'read-end'; error?: string };

/** A queue of messages with one waiting reader. */
class Inbox<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | null = null;

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
    this.wake = null;
  }

  async take(): Promise<T> {
    while (this.items.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.items.shift()!;
  }
}

/**
 * The main thread's end: serves the worker's requests with the host until closed. The first
 * failure of the host is kept, so the step fails with it (a database error keeps its code) rather
 * than with the worker's copy of its message.
 */
export function serveStepChannel(port: MessagePort, host: StepHost): { failure: () => unknown; close: () => void } {
  let failure: unknown = null;
  let parts: Inbox<Uint8Array | null | Error> | null = null;
  let credits: Inbox<true> | null = null;
  let closed = false;
  const send = (message: ToWorker, transfer: ArrayBuffer[] = []) => {
    if (!closed) port.postMessage(message, transfer);
  };
  const fail = (error: unknown) => {
    failure ??= error;
    return error instanceof Error ? error.message : String(error);
  };

  async function* take(inbox: Inbox<Uint8Array | null | Error>): AsyncGenerator<Uint8Array> {
    for (;;) {
      const part = await inbox.take();
      if (part === null) return;
      if (part instanceof Error) throw part;
      send({ type: 'ack' });
      yield part;
    }
  }

  port.on('message', (message: ToMain) => {
    switch (message.type) {
      case 'stage': {
        const inbox = (parts = new Inbox());
        host.stage(message.kind, take(inbox)).then(
          () => send({ type: 'staged' }),
          (error: unknown) => send({ type: 'staged', error: fail(error) }),
        );
        break;
      }
      case 'part':
        parts?.push(message.part);
        break;
      case 'end':
        parts?.push(null);
        break;
      case 'read': {
        const inbox = (credits = new Inbox());
        for (let i = 0; i < WINDOW; i++) inbox.push(true);
        void (async () => {
          const encoder = new TextEncoder();
          for await (const batch of host.readStaged(message.kind, message.column)) {
            await inbox.take();
            const part = encoder.encode(batch);
            send({ type: 'batch', part }, [part.buffer as ArrayBuffer]);
          }
          send({ type: 'read-end' });
        })().catch((error: unknown) => send({ type: 'read-end', error: fail(error) }));
        break;
      }
      case 'more':
        credits?.push(true);
        break;
      case 'files':
        host.files().then(
          // Moved, not copied, where a file's bytes are a buffer of their own (a big upload read from its parts).
          (files) => send({ type: 'files', files }, files.map((f) => f.content).filter(ownsItsBuffer).map((c) => c.buffer as ArrayBuffer)),
          (error: unknown) => send({ type: 'files', error: fail(error) }),
        );
        break;
    }
  });
  return {
    failure: () => failure,
    close: () => {
      closed = true;
      // A staging write still waiting for parts ends with an error: its transaction rolls back.
      parts?.push(new Error('The step ended before all its staging rows were sent.'));
      port.close();
    },
  };
}

/** The worker's end: staging rows out and staged rows in, a window of batches at a time. */
export function workerChannel(port: MessagePort) {
  const inbox = new Inbox<ToWorker>();
  port.on('message', (message: ToWorker) => inbox.push(message));
  const send = (message: ToMain, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

  return {
    /** Sends one table's staging rows; resolves once the main thread has written them all. */
    async stage(kind: InventoryKind, chunks: Iterable<string>): Promise<void> {
      const encoder = new TextEncoder();
      send({ type: 'stage', kind });
      let inFlight = 0;
      for (const chunk of chunks) {
        while (inFlight >= WINDOW) {
          const reply = await inbox.take();
          if (reply.type === 'ack') inFlight -= 1;
          else if (reply.type === 'staged') throw new Error(reply.error ?? 'The staging write ended early.');
        }
        const part = encoder.encode(chunk);
        send({ type: 'part', part }, [part.buffer as ArrayBuffer]);
        inFlight += 1;
      }
      send({ type: 'end' });
      for (;;) {
        const reply = await inbox.take();
        if (reply.type === 'staged') {
          if (reply.error) throw new Error(reply.error);
          return;
        }
      }
    },

    /** The workflow's uploaded files, copied from the main thread. */
    async files(): Promise<StoredFile[]> {
      send({ type: 'files' });
      for (;;) {
        const reply = await inbox.take();
        if (reply.type !== 'files') continue;
        if (!reply.files) throw new Error(reply.error ?? 'The files did not come.');
        return reply.files;
      }
    },

    /** One column of the staged rows of one table, a batch of newline-separated JSON at a time. */
    async *read(kind: InventoryKind, column: StagedColumn): AsyncGenerator<string> {
      const decoder = new TextDecoder();
      send({ type: 'read', kind, column });
      for (;;) {
        const reply = await inbox.take();
        if (reply.type === 'read-end') {
          if (reply.error) throw new Error(reply.error);
          return;
        }
        if (reply.type !== 'batch') continue;
        send({ type: 'more' });
        yield decoder.decode(reply.part);
      }
    },

    close: () => port.close(),
  };
}

/** Whether a view covers the whole of its ArrayBuffer, so moving that buffer moves nothing else. */
function ownsItsBuffer(view: Uint8Array): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && !(view.buffer instanceof SharedArrayBuffer);
}
