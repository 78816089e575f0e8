import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { killServers, spawnServer } from '../support/server-process.ts';

afterAll(() => killServers());

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 1;
}

describe('start-up', () => {
  it('started while PostgreSQL is down: retries with one line per try naming host:port, then exits 1 with one line', async () => {
    const port = await closedPort();
    const started = Date.now();
    const { lines, exited } = spawnServer({ DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${port}/nowhere`, DB_STARTUP_WAIT_SECONDS: '2' });
    expect(await exited).toBe(1);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(2_000);
    expect(elapsed).toBeLessThan(20_000);
    const tries = lines.filter((l) => l.startsWith('{') && l.includes(`127.0.0.1:${port}`) && l.includes('not reachable'));
    expect(tries.length).toBeGreaterThanOrEqual(2);
    for (const line of tries) expect((JSON.parse(line) as { msg: string }).msg).toMatch(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port} not reachable \\(ECONNREFUSED\\); trying again in \\d+\\.\\d s$`));
    const last = lines.at(-1)!;
    expect(last).toMatch(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port} was not reachable within 2 s`));
    expect(lines.join('\n')).not.toMatch(/\n\s+at |secret/);
  }, 60_000);
});
