/**
 * The entry of a worker thread (or child process) that owns one PGlite and serves it over the wire
 * protocol on 127.0.0.1. Started by startPgliteServer; the bench also starts it with
 * `server: 'pglite-socket'` to measure the upstream socket server.
 * Tells its parent `{ port }` once listening (or `{ error }`), and closes on the message 'close'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { serveWire } from './pglite-relay.ts';

export interface PgliteWorkerData {
  dataDir: string | null;
  server?: 'relay' | 'pglite-socket';
  maxConnections?: number;
  /** The relay's password (see WireOptions.password). */
  password?: string;
}

type Send = (message: unknown) => void;
const channel: { send: Send; on(listener: (message: unknown) => void): void } | null = parentPort
  ? { send: (m) => parentPort!.postMessage(m), on: (l) => parentPort!.on('message', l) }
  : process.send
    ? { send: (m) => process.send!(m), on: (l) => process.on('message', l) }
    : null;
if (!channel) throw new Error('pglite-worker runs in a worker thread or a forked child');

const config: PgliteWorkerData = parentPort ? workerData : JSON.parse(process.env.PGLITE_WORKER_DATA ?? '{}');

try {
  const db = config.dataDir ? await PGlite.create(config.dataDir) : await PGlite.create();
  let port: number;
  let stop: () => Promise<void>;
  if (config.server === 'pglite-socket') {
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: config.maxConnections ?? 100 });
    await server.start();
    port = Number(server.getServerConn().split(':').pop());
    stop = () => server.stop();
  } else {
    const server = await serveWire(db, { password: config.password });
    port = server.port;
    stop = () => server.close();
  }
  channel.on(async (message) => {
    if (message !== 'close') return;
    await stop();
    await db.close();
    channel.send({ closed: true });
    parentPort?.close();
    if (!parentPort) process.disconnect?.();
  });
  channel.send({ port });
} catch (error) {
  channel.send({ error: error instanceof Error ? error.stack ?? error.message : String(error) });
}
