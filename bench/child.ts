// Entry of one measurement in its own Node process (started by run.ts with --expose-gc): a clean
// heap for the memory figures and a peak RSS that belongs to this measurement alone.
import { writeFileSync } from 'node:fs';
import { benchLogger } from './harness.ts';
import { CHILD_REQUEST_ENV, runJob, type ChildRequest } from './phases.ts';

async function main(): Promise<void> {
  const raw = process.env[CHILD_REQUEST_ENV];
  if (!raw) throw new Error(`${CHILD_REQUEST_ENV} is not set: this file is started by bench/run.ts.`);
  const request = JSON.parse(raw) as ChildRequest;
  const result = await runJob(request.job, {
    target: { kind: 'postgres', url: request.url },
    sizes: request.sizes,
    logger: benchLogger(request.logLevel),
    progress: (message) => process.stderr.write(`  ${message}\n`),
  });
  writeFileSync(request.resultFile, JSON.stringify(result));
}

main().then(
  // Pools and sockets are closed; exit anyway so a stray timer cannot keep a finished child alive.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
