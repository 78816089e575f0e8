import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

function samples(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/samples.ts', ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('npm run samples', () => {
  it('prints one line, no stack, for a folder that does not exist', async () => {
    const result = await samples('/no/such/folder');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('samples: /no/such/folder: no such folder.');
    expect(result.stdout).toBe('');
  }, 60_000);

  it('prints one line for a file given instead of a folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'samples-'));
    writeFileSync(join(dir, 'a.csv'), 'name\nweb01\n');
    const result = await samples(join(dir, 'a.csv'));
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`samples: ${join(dir, 'a.csv')}: not a folder; give the folder that holds the exports.`);
  }, 60_000);
});
