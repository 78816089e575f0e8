import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REQUIRED_FIELDS } from '../../bench/report.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function valueAt(results: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), results);
}

describe('the benchmark suite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs in tiny mode and writes every field of results.json as a finite number', async () => {
    const out = join(dir, 'results.json');
    // PGlite unless DATABASE_URL names a server (the suite then makes and drops its own database there).
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--tiny', '--out', out], {
      cwd: ROOT,
      env: process.env,
      timeout: 110_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toContain('targets met:');
    const results: unknown = JSON.parse(readFileSync(out, 'utf8'));
    const notFinite = REQUIRED_FIELDS.filter((path) => {
      const value = valueAt(results, path);
      return typeof value !== 'number' || !Number.isFinite(value);
    });
    expect(notFinite).toEqual([]);
    expect(valueAt(results, 'meta.mode')).toBe('tiny');
  }, 120_000);
});
