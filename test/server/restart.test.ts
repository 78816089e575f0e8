import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { DRIVERS, freshPostgresUrl } from '../support/db.ts';

const ROOT = join(import.meta.dirname, '../..');
const CSV = ['name,fqdn,ip_address,os,environment', 'web01,web01.example.com,10.0.0.1,Ubuntu 22.04,prod', 'db01,db01.example.com,10.0.0.2,Windows Server 2019,prod'].join('\n');

interface Server {
  child: ChildProcess;
  url: string;
  lines: string[];
}

/** Starts the real service process and resolves once it logs its address. */
function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', LOG_PRETTY: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${lines.join('\n')}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'discovery flow listening' && entry.url) {
          clearTimeout(timer);
          resolve({ child, url: entry.url, lines });
        }
      } catch {
        // not a log line
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${lines.join('\n')}`));
    });
  });
}

function kill(server: Server, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    server.child.removeAllListeners('exit');
    server.child.on('exit', (code) => resolve(code));
    server.child.kill(signal);
  });
}

async function poll<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

for (const driver of DRIVERS) {
  describe(`the real server process on ${driver}`, () => {
    it('resumes a workflow killed with SIGKILL mid-step and completes it after a restart', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'discovery-e2e-'));
      dirs.push(dataDir);
      const env: Record<string, string> =
        driver === 'pglite' ? { DATA_DIR: dataDir, DATABASE_URL: '' } : { DATABASE_URL: await freshPostgresUrl(process.env.DATABASE_URL!, 'e2e') };
      // Every step attempt is slow, so the kill lands while one is in flight.
      const first = await startServer({ ...env, FAULT_INJECTION: 'slow=1,slowMs=1500' });
      const res = await fetch(`${first.url}/workflows?name=e2e`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: CSV });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      await poll(
        async () => (await (await fetch(`${first.url}/workflows/${id}`)).json()) as { phase: string; status: string },
        (v) => v.phase === 'data_validation' && v.status === 'running',
      );
      expect(await kill(first, 'SIGKILL')).toBeNull();

      const second = await startServer(env);
      try {
        const done = await poll(
          async () => (await (await fetch(`${second.url}/workflows/${id}`)).json()) as { status: string; attempts: Record<string, number> },
          (v) => v.status === 'completed' || v.status === 'failed',
        );
        expect(done.status).toBe('completed');
        expect(done.attempts.data_validation).toBe(1);
        const history = (await (await fetch(`${second.url}/workflows/${id}/history`)).json()) as { items: { seq: number; toPhase: string }[] };
        expect(history.items.map((h) => h.seq)).toEqual(history.items.map((_, i) => i + 1));
        expect(history.items.at(-1)!.toPhase).toBe('completed');
        const assets = (await (await fetch(`${second.url}/workflows/${id}/assets`)).json()) as { items: { name: string }[] };
        expect(assets.items.map((a) => a.name).sort()).toEqual(['db01', 'web01']);
        expect(second.lines.join('\n')).toContain('workflow restored');
      } finally {
        expect(await kill(second, 'SIGTERM')).toBe(0);
      }
    }, 120_000);
  });
}
