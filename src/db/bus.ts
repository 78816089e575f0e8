import type { Client } from 'pg';
import { CHANNELS, type Channel } from './cluster.ts';

/** Notifications from the other instances (and this one) sharing the database. */
export interface Bus {
  /** Calls `handler` for every notification on the service's channels. */
  subscribe(handler: (channel: Channel, payload: string) => void): () => void;
  /**
   * Calls `handler` once listening (again): after a reconnect notifications may have been missed,
   * so whoever relies on them rescans the tables.
   */
  onListening(handler: () => void): () => void;
  /** Whether notifications arrive now. */
  readonly listening: boolean;
  close(): Promise<void>;
}

export interface BusOptions {
  connectTimeoutMs: number;
  onLost?: (error: Error) => void;
}

/**
 * A dedicated connection that LISTENs on the service's channels (a pooled connection cannot: the pool
 * hands it to others). When it drops it is opened again with backoff (0.25 s doubling to 5 s), and
 * the `onListening` handlers run so that nothing missed meanwhile is lost for good.
 */
export async function listenOn(url: string, options: BusOptions): Promise<Bus> {
  const { default: pg } = await import('pg');
  const handlers = new Set<(channel: Channel, payload: string) => void>();
  const listeningHandlers = new Set<() => void>();
  const channels = new Set<string>(Object.values(CHANNELS));
  let client: Client | null = null;
  let closed = false;
  let listening = false;
  let delay = 250;
  let timer: NodeJS.Timeout | null = null;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: options.connectTimeoutMs, keepAlive: true });
    let failed = false;
    const fail = (error: Error) => {
      if (failed) return;
      failed = true;
      listening = false;
      options.onLost?.(error);
      c.removeAllListeners('notification');
      void c.end().catch(() => {});
      if (client === c) client = null;
      schedule();
    };
    c.on('error', fail);
    c.on('end', () => fail(new Error('listening connection ended')));
    c.on('notification', (message) => {
      if (!channels.has(message.channel)) return;
      for (const handler of handlers) handler(message.channel as Channel, message.payload ?? '');
    });
    try {
      await c.connect();
      for (const channel of channels) await c.query(`LISTEN ${channel}`);
    } catch (error) {
      fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
    listening = true;
    delay = 250;
    for (const handler of listeningHandlers) handler();
  };

  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, 5_000);
  };

  await connect();
  return {
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    onListening(handler) {
      listeningHandlers.add(handler);
      return () => listeningHandlers.delete(handler);
    },
    get listening() {
      return listening;
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = null;
      listening = false;
      if (c) {
        c.removeAllListeners('end');
        c.removeAllListeners('error');
        c.on('error', () => {});
        await c.end().catch(() => {});
      }
    },
  };
}

/** The embedded database serves one process: there is nobody to hear from, so nothing ever arrives. */
export function silentBus(): Bus {
  return {
    subscribe: () => () => {},
    onListening: () => () => {},
    listening: false,
    close: async () => {},
  };
}
