import { describe, expect, it } from 'vitest';
import { generateLargeExport } from '../fixtures/generate.ts';
import { file, runPipeline } from './run-pipeline.ts';

describe('a generated large export', () => {
  it('goes through all six steps with one asset per row and implied edges', async () => {
    const rows = 20_000;
    const result = await runPipeline([file('large.csv', generateLargeExport(rows))]);
    expect(result.tables[0].rows).toHaveLength(rows);
    expect(result.analysis.tables[0].source.system).toBe('servicenow');
    expect(result.validation.quarantine).toHaveLength(0);
    expect(result.classes.summary.assets).toBe(rows);
    expect(result.classes.summary.byType).toMatchObject({ server: expect.any(Number), software: expect.any(Number) });
    expect(result.dependencies.summary.edgesByType.runs_on).toBeGreaterThan(rows);
    expect(result.dependencies.summary.applicationGroups.length).toBeLessThanOrEqual(100);
  });

  it('is deterministic for a given row count', () => {
    expect(generateLargeExport(50)).toBe(generateLargeExport(50));
  });
});
