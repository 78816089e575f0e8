// The benchmark suite: `npm run bench [-- --quick | --tiny] [--out FILE]`. Prints one table and
// writes results.json. Numbers only: nothing here fails on a slow machine.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratch, resetTables, type Scratch } from './database.ts';
import { benchLogger } from './harness.ts';
import { parseOptions, USAGE, UsageError, type BenchOptions } from './options.ts';
import { CHILD_REQUEST_ENV, runJob, type ChildRequest, type Job, type PhaseResult } from './phases.ts';
import { assemble, renderTable, toJson } from './report.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

function jobsOf(options: BenchOptions): Job[] {
  return options.phases.flatMap((phase): Job[] => (phase === 'scale' ? options.sizes.scaleSizes.map((size) => ({ phase, size })) : [{ phase }]));
}

function describe(job: Job): string {
  return job.phase === 'scale' ? `scale (${job.size.toLocaleString('en-US')})` : job.phase;
}

/** Runs one job in a fresh `node --expose-gc --import tsx` process and reads back its result. */
async function runInChild(job: Job, url: string, options: BenchOptions, workDir: string): Promise<PhaseResult> {
  const resultFile = join(workDir, `${job.phase}-${job.phase === 'scale' ? job.size : 0}.json`);
  const request: ChildRequest = { job, url, sizes: options.sizes, logLevel: options.logLevel, resultFile };
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD], {
    env: { ...process.env, [CHILD_REQUEST_ENV]: JSON.stringify(request) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`The ${describe(job)} measurement exited with code ${code}.`);
  return JSON.parse(readFileSync(resultFile, 'utf8')) as PhaseResult;
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message) console.error(error.message);
      console.error(USAGE);
      process.exit(2);
    }
    throw error;
  }
  const startedAt = new Date();
  const started = performance.now();
  const server = options.databaseUrl ? new URL(options.databaseUrl).host : null;
  console.error(`bench (${options.mode}) on ${server ? `PostgreSQL at ${server}` : 'in-memory PGlite'}`);
  const scratch: Scratch = await createScratch(options.databaseUrl);
  const workDir = mkdtempSync(join(tmpdir(), 'discovery-bench-'));
  let dropped = false;
  const cleanUp = async () => {
    if (dropped) return;
    dropped = true;
    rmSync(workDir, { recursive: true, force: true });
    await scratch.drop();
  };
  const onSignal = () => {
    console.error('interrupted: dropping the scratch database');
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const parts: PhaseResult[] = [];
  try {
    const logger = benchLogger(options.logLevel);
    for (const job of jobsOf(options)) {
      console.error(`${describe(job)}…`);
      await resetTables(scratch.target);
      const jobStarted = performance.now();
      if (options.isolate && scratch.target.kind === 'postgres') {
        parts.push(await runInChild(job, scratch.target.url, options, workDir));
      } else {
        parts.push(
          await runJob(job, { target: scratch.target, sizes: options.sizes, logger, progress: (message) => console.error(`  ${message}`) }),
        );
      }
      console.error(`  done in ${((performance.now() - jobStarted) / 1000).toFixed(1)} s`);
    }
  } finally {
    await cleanUp();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const results = assemble(parts, {
    mode: options.mode,
    database: options.databaseUrl ? 'postgres' : 'pglite',
    databaseName: scratch.name,
    server,
    startedAt: startedAt.toISOString(),
    seconds: Math.round((performance.now() - started) / 100) / 10,
    node: process.version,
    cpus: cpus().length,
    isolated: options.isolate,
    logLevel: options.logLevel,
  });
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(toJson(results), null, 2)}\n`);
  console.log(renderTable(results));
  console.error(`results written to ${options.out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
