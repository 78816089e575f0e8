import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../db/client.ts';
import { discover } from './discover.ts';

/** Why `dir` cannot be read as a folder of exports, in a few words, or null when it can. */
function folderProblem(dir: string): string | null {
  try {
    return statSync(dir).isDirectory() ? null : 'not a folder; give the folder that holds the exports.';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such folder.';
    if (code === 'EACCES') return 'permission denied.';
    return `cannot be read (${code ?? (error as Error).message}).`;
  }
}

/** Runs every export in a folder through its own workflow and prints what each yielded; exits 1 if any failed. */
async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) {
    console.error('Usage: npm run samples -- <folder of CMDB exports>');
    process.exit(2);
  }
  const problem = folderProblem(dir);
  if (problem) {
    console.error(`samples: ${dir}: ${problem}`);
    process.exit(2);
  }
  const names = readdirSync(dir).filter((n) => /\.(csv|json|xlsx)$/i.test(n)).sort();
  const handle = await openDatabase(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : { dataDir: null });
  let failures = 0;
  try {
    for (const name of names) {
      const started = Date.now();
      try {
        const run = await discover({ files: [{ name, content: new Uint8Array(readFileSync(join(dir, name))) }], autoApprove: true, database: { dataDir: null } }, handle);
        const mapped = (run.mappings?.mappings ?? []).filter((m) => m.target !== 'attributes');
        const status = run.view.status;
        if (status !== 'completed') failures += 1;
        console.log(`\n== ${name}: ${status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        if (status === 'failed') console.log(`   error: ${JSON.stringify(run.view.errors.at(-1))}`);
        for (const reason of status === 'awaiting_review' ? (run.view.review?.reasons ?? []) : []) console.log(`   review: ${reason}`);
        console.log(`   mapped columns (${mapped.length}): ${mapped.map((m) => `${m.source}->${m.target}`).join(', ')}`);
        console.log(`   assets by type: ${JSON.stringify(run.classification?.summary.byType ?? {})}`);
        console.log(`   edges: ${run.dependencies?.summary.edges ?? 0} ${JSON.stringify(run.dependencies?.summary.edgesByType ?? {})}`);
        console.log(`   quarantined: ${run.validation?.quarantine.length ?? 0}`);
      } catch (error) {
        failures += 1;
        console.log(`\n== ${name}: CRASHED: ${(error as Error).stack ?? String(error)}`);
      }
    }
  } finally {
    await handle.close();
  }
  console.log(`\nsamples: ${names.length - failures} of ${names.length} completed`);
  process.exit(failures > 0 ? 1 : 0);
}

void main();
