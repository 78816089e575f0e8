import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { PgliteWorkerData } from './pglite-worker.ts';

export interface PgliteServer {
  /** A `pg` connection string for the served database. */
  url: string;
  /** Closes the server and the database, then ends the worker. */
  close(): Promise<void>;
}

const WORKER = new URL('./pglite-worker.ts', import.meta.url);

export interface PgliteServerOptions {
  /** 'worker' (default): a worker thread of this process; 'process': a child process. */
  isolate?: 'worker' | 'process';
  /** The bench only: serve with @electric-sql/pglite-socket instead of the relay. */
  server?: PgliteWorkerData['server'];
  maxConnections?: number;
  /** How long opening may take before it fails (default 60 s). */
  startTimeoutMs?: number;
  /** Called once if the worker ends (a crash, an abort of PGlite's WebAssembly) without close(). */
  onExit?: (error: Error) => void;
}

/**
 * Opens PGlite on dataDir (in memory when null) off this thread, in a worker thread, served over the
 * PostgreSQL wire protocol on a free port of 127.0.0.1, so the service can talk `pg` to it.
 */
export async function startPgliteServer(dataDir: string | null, options: PgliteServerOptions = {}): Promise<PgliteServer> {
  // A fresh secret per start, so other users of the machine cannot reach the database through the port:
  // the worker gets it through workerData (a child process through its environment, which only this user can read).
  const password = options.server === 'pglite-socket' ? undefined : randomBytes(24).toString('hex');
  const data: PgliteWorkerData = { dataDir, server: options.server, maxConnections: options.maxConnections, password };
  let send: (message: unknown) => void;
  let onMessage: (listener: (message: unknown) => void) => void;
  let exited: Promise<void>;
  let kill: () => void;
  let lastError: Error | undefined;
  if (options.isolate === 'process') {
    const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, PGLITE_WORKER_DATA: JSON.stringify(data) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    send = (m) => child.send(m as string);
    onMessage = (l) => child.on('message', l);
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    kill = () => child.kill('SIGKILL');
  } else {
    // Node 20 does not apply --import hooks to a worker's own entry: the worker registers tsx first.
    const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(WORKER.href)}); })`;
    const worker = new Worker(boot, { eval: true, workerData: data });
    worker.on('error', (error) => {
      lastError = error;
      failed(error);
    });
    send = (m) => worker.postMessage(m);
    onMessage = (l) => worker.on('message', l);
    exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    kill = () => void worker.terminate();
  }
  let failed: (error: Error) => void = () => {};
  const port = await new Promise<number>((resolve, reject) => {
    failed = reject;
    const timer = setTimeout(() => {
      kill();
      reject(new Error('PGlite server did not start in time'));
    }, options.startTimeoutMs ?? 60_000);
    onMessage((m) => {
      const message = m as { port?: number; error?: string };
      if (message.port !== undefined) {
        clearTimeout(timer);
        resolve(message.port);
      } else if (message.error !== undefined) {
        clearTimeout(timer);
        kill();
        reject(new Error(`PGlite server failed to start: ${message.error}`));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error('PGlite server exited before it started'));
    });
  });
  let closing: Promise<void> | null = null;
  void exited.then(() => {
    if (!closing) options.onExit?.(new Error(`The embedded database (PGlite) stopped${lastError ? `: ${lastError.message}` : ''}`, { cause: lastError }));
  });
  return {
    url: `postgres://postgres:${password ?? 'postgres'}@127.0.0.1:${port}/postgres?sslmode=disable`,
    close: () =>
      (closing ??= (async () => {
        send('close');
        const timer = setTimeout(kill, 10_000); // a wedged worker is ended all the same
        await exited;
        clearTimeout(timer);
      })()),
  };
}
