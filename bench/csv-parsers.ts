// The CSV parser decision (issue 12): the hand-written parser (src/handlers/csv.ts) against
// csv-parse, sync and streaming, on every CSV fixture in the repository plus generated exports.
// Prints, per fixture, whether both give the same records, and the speed of each on the large ones.
// Numbers only: nothing here fails on a slow machine.
//   npm run bench:csv            (100,000-row export; BENCH_CSV_ROWS to change)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parse as parseStream } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { decodeText } from '../src/handlers/decode.ts';
import { detectDelimiter, parseCsvRecords } from '../src/handlers/csv.ts';
import { generateLargeExport, messySpreadsheetRows, rvtoolsVinfoCsv, serviceNowCiCsv, toCsv } from '../test/fixtures/generate.ts';

const options = (delimiter: string) => ({ delimiter, relax_quotes: true, relax_column_count: true, skip_empty_lines: false, record_delimiter: ['\r\n', '\n', '\r'] });

function csvParseSync(text: string, delimiter: string): string[][] | Error {
  try {
    return parseSync(text, options(delimiter)) as string[][];
  } catch (error) {
    return error as Error;
  }
}

async function csvParseStreaming(text: string, delimiter: string): Promise<number> {
  let records = 0;
  const parser = Readable.from([text]).pipe(parseStream(options(delimiter)));
  for await (const _record of parser) records++;
  return records;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.(csv|tsv|txt)$/i.test(name) ? [path] : [];
  });
}

function firstDifference(a: string[][], b: string[][]): string | null {
  if (a.length !== b.length) return `${a.length} vs ${b.length} records`;
  for (let i = 0; i < a.length; i++) {
    if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) return `record ${i + 1}: ${JSON.stringify(a[i]).slice(0, 80)} vs ${JSON.stringify(b[i]).slice(0, 80)}`;
  }
  return null;
}

function best(run: () => void, times = 5): number {
  let fastest = Infinity;
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    run();
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}

async function bestAsync(run: () => Promise<unknown>, times = 3): Promise<number> {
  let fastest = Infinity;
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await run();
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}

const rows = Number(process.env.BENCH_CSV_ROWS ?? 100_000);
const fixtures: { name: string; text: string }[] = [
  ...files('test/fixtures').map((path) => ({ name: path.replace('test/fixtures/', ''), text: decodeText(path, readFileSync(path)).text })),
  { name: 'generated: ServiceNow cmdb_ci', text: serviceNowCiCsv({ rows: 2_000 }).csv },
  { name: 'generated: RVTools vInfo', text: rvtoolsVinfoCsv({ rows: 2_000 }) },
  { name: 'generated: messy spreadsheet', text: toCsv(messySpreadsheetRows()) },
  { name: 'generated: quotes, CRLF, stray quotes', text: 'name,notes\r\n"web01","said ""hi"""\r\nweb02,6" rack\r\n"db01","multi\nline"\r\n"app01"x,tail\r\n' },
];

let identical = 0;
console.log(`CSV parsers on ${fixtures.length} fixtures: same records?`);
for (const { name, text } of fixtures) {
  const delimiter = detectDelimiter(text);
  const mine = parseCsvRecords(text, delimiter);
  const theirs = csvParseSync(text, delimiter);
  const difference = theirs instanceof Error ? `csv-parse refused it: ${theirs.message.slice(0, 100)}` : firstDifference(mine, theirs);
  if (!difference) identical++;
  console.log(`  ${difference ? 'DIFFERENT' : 'same     '} ${name}${difference ? ` — ${difference}` : ''}`);
}
console.log(`  ${identical}/${fixtures.length} identical`);

const large = generateLargeExport(rows);
const delimiter = detectDelimiter(large);
const handMs = best(() => parseCsvRecords(large, delimiter));
const syncMs = best(() => csvParseSync(large, delimiter), 3);
const streamMs = await bestAsync(() => csvParseStreaming(large, delimiter));
const mb = Buffer.byteLength(large) / 1e6;
console.log(`\n${rows.toLocaleString('en')} rows, ${mb.toFixed(1)} MB (best of several runs)`);
console.log(`  hand-written          ${handMs.toFixed(0).padStart(6)} ms  ${(mb / (handMs / 1000)).toFixed(0).padStart(4)} MB/s`);
console.log(`  csv-parse (sync)      ${syncMs.toFixed(0).padStart(6)} ms  ${(mb / (syncMs / 1000)).toFixed(0).padStart(4)} MB/s  ${(syncMs / handMs).toFixed(1)}x the hand-written`);
console.log(`  csv-parse (stream)    ${streamMs.toFixed(0).padStart(6)} ms  ${(mb / (streamMs / 1000)).toFixed(0).padStart(4)} MB/s  ${(streamMs / handMs).toFixed(1)}x the hand-written`);
