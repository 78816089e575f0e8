// The labelled evaluation holds floors over the exports in the repository, so a regression fails CI.
// The shared samples (outside the repository) are scored by `npm run eval` when present, not here.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateAll, type ExportScore, share, sum } from '../../src/cli/evaluate.ts';
import { formatScores } from '../../src/cli/eval.ts';

const EVAL = join(import.meta.dirname, '../fixtures/eval');

describe('labelled evaluation', () => {
  let scores: ExportScore[] = [];

  it('runs at least 12 in-repo exports, 4 of them relation exports, each ending as its truth expects', async () => {
    scores = (await evaluateAll(EVAL, join(EVAL, 'no-shared-samples-here'))).filter((score) => !score.shared);
    expect(scores.length).toBeGreaterThanOrEqual(12);
    expect(scores.filter((score) => score.edgeRecall.total > 0).length).toBeGreaterThanOrEqual(4);
    expect(scores.filter((score) => !score.outcomeOk).map((score) => `${score.name}: ${score.outcome}`)).toEqual([]);
  }, 60_000);

  it('holds the floors: mapping >= 95%, asset types >= 90%, edge recall >= 95%', () => {
    expect(share(sum(scores, (score) => score.mapping))).toBeGreaterThanOrEqual(0.95);
    expect(share(sum(scores, (score) => score.types))).toBeGreaterThanOrEqual(0.9);
    expect(share(sum(scores, (score) => score.edgeRecall))).toBeGreaterThanOrEqual(0.95);
  });

  it('prints one row per export and the overall rows', () => {
    const table = formatScores(scores).split('\n');
    expect(table[0]).toMatch(/^export\s+outcome\s+mapping\s+types\s+edge precision\s+edge recall$/);
    expect(table).toHaveLength(scores.length + 3);
    expect(table.at(-2)).toMatch(/^overall, in-repo exports\s+\d+\/\d+ as expected/);
  });
});
