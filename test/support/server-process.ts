import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(import.meta.dirname, '../..');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Everything it printed so far, stdout and stderr, line by line. */
  lines: string[];
}

const children = new Set<ChildProcess>();

/** Spawns src/server/main.ts with `env`; its output lines collect in `lines`. */
export function spawnServer(env: Record<string, string>): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', LOG_PRETTY: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.on('exit', () => children.delete(child));
  createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  return { child, lines, exited };
}

/** Starts the real service process and resolves once it logs its address. */
export function startServer(env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  const { child, lines, exited } = spawnServer(env);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${lines.join('\n')}`)), timeoutMs);
    // Ready once it has restored its workflows (it listens, answering 503, before that).
    const check = setInterval(() => {
      const url = lines.map(listeningUrl).find((u) => u !== null);
      if (url && lines.some((line) => line.includes('"msg":"discovery flow ready"'))) {
        clearInterval(check);
        clearTimeout(timer);
        resolve({ child, url, lines });
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(check);
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${lines.join('\n')}`));
    });
  });
}

export function listeningUrl(line: string): string | null {
  try {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    return entry.msg === 'discovery flow listening' && entry.url ? entry.url : null;
  } catch {
    return null;
  }
}

/** Sends `signal` and resolves with the exit code (null after SIGKILL). */
export function stopServer(server: { child: ChildProcess }, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve(server.child.exitCode);
    server.child.removeAllListeners('exit');
    server.child.on('exit', (code) => {
      children.delete(server.child);
      resolve(code);
    });
    server.child.kill(signal);
  });
}

/** Kills every server a test left running, so none outlives the file against a recreated database. */
export function killServers(): void {
  for (const child of children) child.kill('SIGKILL');
}

export async function poll<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
