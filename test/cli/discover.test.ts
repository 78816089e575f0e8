import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover, exitCode, isLowConfidence, jsonView, summarize } from '../../src/cli/discover.ts';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.ts';

const EVAL = join(import.meta.dirname, '../fixtures/eval');
const exportFile = (dir: string, name: string) => ({ name, content: new Uint8Array(readFileSync(join(EVAL, dir, name))) });

describe('npm run discover', () => {
  let handle: DatabaseHandle;

  beforeAll(async () => {
    handle = await openDatabase({ dataDir: null });
  }, 60_000);

  afterAll(async () => {
    await handle.close();
  });

  const run = (files: { name: string; content: Uint8Array }[], reviewMappings?: boolean) =>
    discover({ files, autoApprove: reviewMappings !== true, ...(reviewMappings === undefined ? {} : { reviewMappings }), database: { dataDir: null } }, handle);

  it('exits 1 on a header-only export, printing the code and the hint', async () => {
    const result = await run([exportFile('header-only', 'cmdb_ci.csv')]);
    expect(result.view.status).toBe('failed');
    expect(exitCode(result.view, false)).toBe(1);
    expect(summarize(result)).toMatch(/error NO_RECORDS in data_source_analysis: .*\n {2}hint: Export the table again/);
  });

  it('does not approve a review a person must settle, and exits 3 with the reasons printed', async () => {
    const result = await run([exportFile('no-identity', 'auslastung.csv')]);
    expect(result.view.status).toBe('awaiting_review');
    expect(exitCode(result.view, false)).toBe(3);
    expect(summarize(result)).toContain('NO_IDENTITY_COLUMN: auslastung.csv');
  });

  it('approves low-confidence mappings by itself and completes, printing what decided each mapping', async () => {
    const result = await run([{ name: 'odd.csv', content: new TextEncoder().encode('Obj,Wert\nweb01,1\nweb02,2\n') }]);
    expect(result.view.status).toBe('completed');
    expect(exitCode(result.view, false)).toBe(0);
    expect(summarize(result)).toMatch(/odd\.csv\s+Obj\s+name\s+0\.\d\d\s+values\s+values: 100% host-like names/);
  });

  it('stops where --review asks and counts that as success', async () => {
    const result = await run([exportFile('snow-db-view-prefixed', 'u_cmdb_server_app_view.csv')], true);
    expect(result.view.status).toBe('awaiting_review');
    expect(exitCode(result.view, true)).toBe(0);
  });

  it('prints with --json exactly the WorkflowView the API documents', async () => {
    const result = await run([{ name: 'odd.csv', content: new TextEncoder().encode('Obj,Wert\nweb01,1\nweb02,2\n') }]);
    expect(() => jsonView(result.view)).not.toThrow();
    expect(() => jsonView({ ...result.view, extra: 1 } as typeof result.view)).toThrow();
  });

  it('tells low-confidence reasons from the ones a person must settle', () => {
    expect(isLowConfidence('LOW_CONFIDENCE: t.csv: identity column "a" → name has low confidence 0.5')).toBe(true);
    expect(isLowConfidence('NO_IDENTITY_COLUMN: t.csv: no column maps to an identity field')).toBe(false);
    expect(isLowConfidence('TOO_MANY_QUARANTINED: t.csv: 6 of 10 records')).toBe(false);
  });
});
