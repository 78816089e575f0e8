import { parseArgs } from 'node:util';
import { evaluateAll, type ExportScore, type Ratio, share, sum } from './evaluate.ts';

const USAGE = `Usage: npm run eval -- [--samples <dir>] [--verbose] [<folder>]

Scores every labelled export under <folder> (default test/fixtures/eval): column-mapping accuracy,
asset-type accuracy and edge precision/recall, per export and overall. Exports that stand for a
shared sample are read from --samples (default ../shared/samples, or SAMPLES_DIR) and skipped when
it is absent. Exits 1 when an export does not end as its truth file expects.`;

function cell(ratio: Ratio): string {
  const value = share(ratio);
  return value === null ? '-' : `${(value * 100).toFixed(1)}% (${ratio.hit}/${ratio.total})`;
}

function pad(rows: string[][]): string {
  const widths = rows[0].map((_, index) => Math.max(...rows.map((row) => row[index].length)));
  return rows.map((row) => row.map((text, index) => text.padEnd(widths[index])).join('  ').trimEnd()).join('\n');
}

/** The table `npm run eval` prints, also pasted into the README. */
export function formatScores(scores: ExportScore[]): string {
  const rows = [['export', 'outcome', 'mapping', 'types', 'edge precision', 'edge recall']];
  for (const score of scores) {
    const counted = score.edgesByCount ? ' by count' : '';
    rows.push([`${score.name}${score.shared ? ' (shared)' : ''}`, `${score.outcome}${score.outcomeOk ? '' : ' UNEXPECTED'}`, cell(score.mapping), cell(score.types), cell(score.edgePrecision) + (score.edgePrecision.total ? counted : ''), cell(score.edgeRecall) + (score.edgeRecall.total ? counted : '')]);
  }
  const run = scores.filter((score) => score.outcome !== 'skipped');
  for (const [title, group] of [['overall, in-repo exports', run.filter((score) => !score.shared)], ['overall, all', run]] as const) {
    const ok = group.filter((score) => score.outcomeOk).length;
    rows.push([title, `${ok}/${group.length} as expected`, cell(sum(group, (s) => s.mapping)), cell(sum(group, (s) => s.types)), cell(sum(group, (s) => s.edgePrecision)), cell(sum(group, (s) => s.edgeRecall))]);
  }
  return pad(rows);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { samples: { type: 'string' }, verbose: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const scores = await evaluateAll(positionals[0] ?? 'test/fixtures/eval', values.samples ?? process.env.SAMPLES_DIR ?? '../shared/samples');
  console.log(formatScores(scores));
  for (const score of scores) {
    if (score.misses.length === 0 || (!values.verbose && score.outcomeOk && score.outcome !== 'completed')) continue;
    if (!values.verbose && score.outcomeOk) continue;
    console.log(`\n${score.name}: ${score.description}`);
    for (const miss of score.misses.slice(0, values.verbose ? 50 : 10)) console.log(`  ${miss}`);
  }
  process.exitCode = scores.every((score) => score.outcomeOk) ? 0 : 1;
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
