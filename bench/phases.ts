import { sql } from 'drizzle-orm';
import type { WorkflowRow } from '../src/db/schema.ts';
import type { Logger } from '../src/engine/logger.ts';
import { parseInputs } from '../src/handlers/index.ts';
import { STEP_PHASES, type Phase } from '../src/machine/table.ts';
import { generateLargeExport, utf8 } from '../test/fixtures/generate.ts';
import {
  openFloorClient,
  openPhaseDatabase,
  settledCommitCounters,
  type BenchTarget,
  type CommitCounters,
  type PhaseDatabase,
} from './database.ts';
import { collectGarbage, runWorkflows, seconds, startBenchService } from './harness.ts';
import { eventLoad, floorCommitsPerSec, floorLatency, percentiles, round3, type EventLoad, type Percentiles } from './load.ts';
import type { Sizes } from './options.ts';

export interface PhaseContext {
  target: BenchTarget;
  sizes: Sizes;
  logger: Logger;
  /** Say what is happening (to stderr, so a child's stdout stays clean). */
  progress: (message: string) => void;
}

/** Which measurement a (child) process runs; scale runs once per size so each has a clean heap. */
export type Job = { phase: 'latency' } | { phase: 'throughput' } | { phase: 'scale'; size: number } | { phase: 'linear' } | { phase: 'pipeline' };

export interface LatencyResult {
  latency: { c1: EventLoad; c32: EventLoad; workflows: number };
  floor: { latency: { c1: Percentiles; c32: Percentiles } };
}

export interface ThroughputRun {
  workflows: number;
  seconds: number;
  workflowsPerSec: number;
  stateChangesPerSec: number;
}

export interface ThroughputResult {
  throughput: {
    c32: ThroughputRun;
    c1: ThroughputRun;
    /** The same c32 run split over two instances (two engines with their own pools, writers and heartbeats, in this one process). */
    twoInstancesC32?: ThroughputRun;
    /** pg_stat_database xact_commit delta per workflow at c32 (every transaction, reads included); on PGlite the write transactions. */
    commitsPerWorkflow: number;
    /** Transactions that wrote (transaction ids consumed) per workflow at c32. */
    writeTransactionsPerWorkflow: number;
    stateChangesPerWorkflow: number;
    /** State writes per workflow (the creating insert plus each persisted change): the floor's unit. */
    writesPerWorkflow: number;
    /** Group commits of the writer per workflow at c32. */
    batchesPerWorkflow: number;
    commitSource: 'pg_stat_database' | 'transaction ids';
  };
  floor: { throughput: { c32: { commitsPerSec: number; workflowsPerSec: number }; c1: { commitsPerSec: number; workflowsPerSec: number } } };
}

export interface ScaleSize {
  n: number;
  /** RSS growth per live workflow, after full GCs. */
  bytesPerLiveWorkflow: number;
  heapBytesPerLiveWorkflow: number;
  restoreSeconds: number;
  /** Event latency at concurrency 32 while all n are live. */
  latencyC32: EventLoad;
}

export interface ScaleResult {
  scale: { sizes: ScaleSize[] };
}

export interface LinearResult {
  linear: { small: { n: number; seconds: number }; large: { n: number; seconds: number }; ratio: number };
}

export interface PipelinePhaseTime {
  seconds: number;
  rowsPerSec: number;
}

export interface PipelineResult {
  pipeline: {
    rows: number;
    bytes: number;
    seconds: number;
    rowsPerSec: number;
    parseOnlySeconds: number;
    parseOnlyRowsPerSec: number;
    /** Pipeline time over parse-only time. */
    ratio: number;
    peakRssBytes: number;
    /** Peak RSS above the idle service (database open, nothing run), scaled to 100,000 rows of the export. */
    peakRssMbPer100kRows: number;
    /** While the big export runs: /healthz over loopback HTTP every 100 ms, and a 100-row workflow started 1 s in. */
    underLoad: { healthz: Percentiles & { failures?: number }; smallWorkflowSeconds: number };
    phases: Record<Phase, PipelinePhaseTime>;
    /** Many mid-sized exports at once, run before the big one so the peak RSS is theirs. */
    concurrent?: { workflows: number; rows: number; seconds: number; peakRssBytes: number };
  };
  snapshot: { bytes100: number; bytes100k: number; smallRows: number; largeRows: number; storedBytes100k: number };
}

/** What run.ts hands a child process (as JSON in CHILD_REQUEST_ENV). */
export interface ChildRequest {
  job: Job;
  url: string;
  sizes: Sizes;
  logLevel: 'silent' | 'info';
  resultFile: string;
}

export const CHILD_REQUEST_ENV = 'DISCOVERY_BENCH_REQUEST';

export type PhaseResult = LatencyResult | ThroughputResult | ScaleResult | LinearResult | PipelineResult;

const C32 = 32;

/** 1. Event round trips over loopback HTTP against a single-row upsert through `pg`, both at c1 and c32. */
export async function latencyPhase(ctx: PhaseContext): Promise<LatencyResult> {
  const { sizes } = ctx;
  const db = await openPhaseDatabase(ctx.target);
  const service = startBenchService(db, { logger: ctx.logger, steps: 'noop' });
  try {
    const url = await service.listen();
    ctx.progress(`latency: parking ${sizes.latencyWorkflows} workflows at review`);
    const ids = await runWorkflows(service, sizes.latencyWorkflows, { concurrency: C32, park: true });
    service.tracker.recording = false;
    service.tracker.clear();
    const doc = await snapshotJson(db, ids[0]!);
    const nextEvent = new Map<string, 'CANCEL' | 'RETRY'>();
    const c1Options = { concurrency: 1, requests: sizes.latencyRequestsC1, warmup: sizes.warmupRequests, nextEvent };
    const c32Options = { concurrency: C32, requests: sizes.latencyRequestsC32, warmup: sizes.warmupRequests, nextEvent };
    ctx.progress('latency: floor at c1');
    const floorC1 = await withFloor(ctx.target, 1, (client) => floorLatency(client, doc, c1Options));
    ctx.progress('latency: events at c1');
    const c1 = await eventLoad(url, ids, c1Options);
    ctx.progress('latency: floor at c32');
    const floorC32 = await withFloor(ctx.target, C32, (client) => floorLatency(client, doc, c32Options));
    ctx.progress('latency: events at c32');
    const c32 = await eventLoad(url, ids, c32Options);
    await service.engine.idle();
    return { latency: { c1, c32, workflows: ids.length }, floor: { latency: { c1: floorC1, c32: floorC32 } } };
  } finally {
    await service.stop();
    await db.close();
  }
}

/** 2. Six no-op steps per workflow through the engine, against raw commits/s expressed in workflows. */
export async function throughputPhase(ctx: PhaseContext): Promise<ThroughputResult> {
  const { sizes } = ctx;
  await warmUp(ctx);
  ctx.progress(`throughput: ${sizes.throughputWorkflows} workflows at c32`);
  const before = await settledCommitCounters(ctx.target);
  const c32 = await throughputRun(ctx, sizes.throughputWorkflows, C32);
  const after = await settledCommitCounters(ctx.target);
  ctx.progress(`throughput: ${sizes.throughputWorkflowsC1} workflows at c1`);
  const c1 = await throughputRun(ctx, sizes.throughputWorkflowsC1, 1);
  ctx.progress(`throughput: ${sizes.throughputWorkflows} workflows at c32 over two instances`);
  const two = await twoInstanceRun(ctx, sizes.throughputWorkflows, C32);
  const n = sizes.throughputWorkflows;
  // Each probe read is a transaction of its own, with a transaction id.
  const writeTransactions = after.xid - before.xid - 1;
  const commits = commitDelta(before, after) ?? writeTransactions;
  const stateChangesPerWorkflow = c32.changes / n;
  const writesPerWorkflow = stateChangesPerWorkflow + 1;
  const doc = JSON.stringify({ ...c32.sampleSnapshot });
  ctx.progress('throughput: floor commits/s at c32 and c1');
  const floorC32 = await withFloor(ctx.target, C32, (client) => floorCommitsPerSec(client, doc, { concurrency: C32, seconds: sizes.floorSeconds }));
  const floorC1 = await withFloor(ctx.target, 1, (client) => floorCommitsPerSec(client, doc, { concurrency: 1, seconds: sizes.floorSeconds }));
  return {
    throughput: {
      c32: c32.run,
      c1: c1.run,
      twoInstancesC32: two,
      commitsPerWorkflow: round3(commits / n),
      writeTransactionsPerWorkflow: round3(writeTransactions / n),
      stateChangesPerWorkflow: round3(stateChangesPerWorkflow),
      writesPerWorkflow: round3(writesPerWorkflow),
      batchesPerWorkflow: round3(c32.batches / n),
      commitSource: before.xactCommit === null ? 'transaction ids' : 'pg_stat_database',
    },
    floor: {
      throughput: {
        c32: { commitsPerSec: floorC32, workflowsPerSec: round3(floorC32 / writesPerWorkflow) },
        c1: { commitsPerSec: floorC1, workflowsPerSec: round3(floorC1 / writesPerWorkflow) },
      },
    },
  };
}

function commitDelta(before: CommitCounters, after: CommitCounters): number | null {
  if (before.xactCommit === null || after.xactCommit === null) return null;
  return after.xactCommit - before.xactCommit - 1;
}

/** One engine on its own pool; the pool is closed before returning so its backends publish their statistics. */
async function throughputRun(ctx: PhaseContext, count: number, concurrency: number) {
  const db = await openPhaseDatabase(ctx.target);
  const service = startBenchService(db, { logger: ctx.logger, steps: 'noop' });
  try {
    const started = performance.now();
    const ids = await runWorkflows(service, count, { concurrency });
    await service.engine.idle();
    const elapsed = seconds(started);
    const { changes, batches } = service.engine.writerStats;
    const sampleSnapshot = (await db.store.getWorkflow(ids[0]!))?.snapshot ?? {};
    const run: ThroughputRun = {
      workflows: count,
      seconds: round3(elapsed),
      workflowsPerSec: round3(count / elapsed),
      stateChangesPerSec: round3(changes / elapsed),
    };
    return { run, changes, batches, sampleSnapshot };
  } finally {
    await service.stop();
    await db.close();
  }
}

/**
 * Two instances on one database, each taking half the workflows at half the concurrency. Both run in
 * this process, so they share its event loop as well as the machine's cores: the ratio to one
 * instance shows the cost of coordination (heartbeats, claims, two writers), not scaling.
 */
async function twoInstanceRun(ctx: PhaseContext, count: number, concurrency: number): Promise<ThroughputRun> {
  const dbs = [await openPhaseDatabase(ctx.target), await openPhaseDatabase(ctx.target)];
  const services = dbs.map((db) => startBenchService(db, { logger: ctx.logger, steps: 'noop' }));
  try {
    const started = performance.now();
    const half = Math.ceil(count / 2);
    await Promise.all(services.map((service, i) => runWorkflows(service, i === 0 ? half : count - half, { concurrency: Math.max(1, Math.floor(concurrency / 2)) })));
    await Promise.all(services.map((service) => service.engine.idle()));
    const elapsed = seconds(started);
    const changes = services.reduce((sum, service) => sum + service.engine.writerStats.changes, 0);
    return { workflows: count, seconds: round3(elapsed), workflowsPerSec: round3(count / elapsed), stateChangesPerSec: round3(changes / elapsed) };
  } finally {
    for (const service of services) await service.stop();
    for (const db of dbs) await db.close();
  }
}

/** A few workflows through a throwaway engine, so the timed runs do not pay for JIT warm-up. */
async function warmUp(ctx: PhaseContext): Promise<void> {
  const db = await openPhaseDatabase(ctx.target);
  const service = startBenchService(db, { logger: ctx.logger, steps: 'noop' });
  try {
    await runWorkflows(service, Math.min(200, ctx.sizes.throughputWorkflows), { concurrency: C32 });
  } finally {
    await service.stop();
    await db.close();
  }
}

/**
 * 3. n workflows parked at review, live in one engine: memory per live workflow, time to restore
 * them all in a new engine, and event latency with them live. One workflow is run to review for
 * real; the other n - 1 rows are copies of it under new ids (the engine would write the same rows,
 * only slower), so 10,000 cost seconds to set up.
 */
export async function scalePhase(ctx: PhaseContext, n: number): Promise<ScaleResult> {
  const { sizes } = ctx;
  const db = await openPhaseDatabase(ctx.target);
  try {
    const first = startBenchService(db, { logger: ctx.logger, steps: 'noop' });
    let template: string;
    try {
      [template] = (await runWorkflows(first, 1, { concurrency: 1, park: true })) as [string];
    } finally {
      await first.stop();
    }
    ctx.progress(`scale: ${n} workflows parked at review`);
    await cloneWorkflow(db, template, n - 1);
    await collectGarbage();
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    const service = startBenchService(db, { logger: ctx.logger, steps: 'noop' });
    try {
      const started = performance.now();
      const { restored } = await service.engine.restoreAll();
      const restoreSeconds = seconds(started);
      if (restored !== n) throw new Error(`restoreAll brought back ${restored} workflows, expected ${n}.`);
      await collectGarbage();
      const memory = process.memoryUsage();
      const bytesPerLiveWorkflow = Math.max(0, memory.rss - rssBefore) / n;
      const heapBytesPerLiveWorkflow = Math.max(0, memory.heapUsed - heapBefore) / n;
      ctx.progress(`scale: event latency at c32 with ${n} live`);
      service.tracker.recording = false;
      const url = await service.listen();
      const ids = await sampleIds(db, Math.min(n, Math.max(C32, 1_024)));
      const latencyC32 = await eventLoad(url, ids, { concurrency: C32, requests: sizes.scaleLatencyRequests, warmup: Math.min(sizes.warmupRequests, 200) });
      await service.engine.idle();
      return {
        scale: {
          sizes: [
            {
              n,
              bytesPerLiveWorkflow: Math.round(bytesPerLiveWorkflow),
              heapBytesPerLiveWorkflow: Math.round(heapBytesPerLiveWorkflow),
              restoreSeconds: round3(restoreSeconds),
              latencyC32,
            },
          ],
        },
      };
    } finally {
      await service.stop();
    }
  } finally {
    await db.close();
  }
}

async function cloneWorkflow(db: PhaseDatabase, templateId: string, copies: number): Promise<void> {
  if (copies <= 0) return;
  // The snapshot names its workflow id (context.workflowId): the copy gets its own.
  await db.handle.db.execute(sql`
    insert into workflows (id, name, phase, status, snapshot, machine_version, version, correlation_id, owner, lease_until, created_at, updated_at)
    select g.id, t.name, t.phase, t.status, replace(t.snapshot::text, t.id, g.id)::jsonb, t.machine_version, t.version, null, null, null, now(), now()
    from workflows t, (select gen_random_uuid()::text as id from generate_series(1, ${copies}::int)) g
    where t.id = ${templateId}`);
}

async function sampleIds(db: PhaseDatabase, count: number): Promise<string[]> {
  const result = await db.handle.db.execute(sql`select id from workflows order by id limit ${count}`);
  return (result as unknown as { rows: { id: string }[] }).rows.map((r) => r.id);
}

/** 4. Wall time of n and 10n workflows through all six steps at c32: 1.0 is linear. */
export async function linearPhase(ctx: PhaseContext): Promise<LinearResult> {
  const [small, large] = ctx.sizes.linearSizes;
  await warmUp(ctx);
  const timeRun = async (count: number) => {
    ctx.progress(`linear: ${count} workflows at c32`);
    const db = await openPhaseDatabase(ctx.target);
    const service = startBenchService(db, { logger: ctx.logger, steps: 'noop' });
    try {
      const started = performance.now();
      await runWorkflows(service, count, { concurrency: C32 });
      await service.engine.idle();
      return round3(seconds(started));
    } finally {
      await service.stop();
      await db.close();
    }
  };
  // The small run is short enough for one hiccup of this shared machine to swing it: take the median of three.
  const smallRuns = [await timeRun(small), await timeRun(small), await timeRun(small)].sort((a, b) => a - b);
  const smallSeconds = smallRuns[1]!;
  const largeSeconds = await timeRun(large);
  return {
    linear: {
      small: { n: small, seconds: smallSeconds },
      large: { n: large, seconds: largeSeconds },
      ratio: round3(largeSeconds / smallSeconds / (large / small)),
    },
  };
}

/** 5 and 6. A generated export through the six real steps on this database, against parsing it alone. */
export async function pipelinePhase(ctx: PhaseContext): Promise<PipelineResult> {
  const { sizes } = ctx;
  const db = await openPhaseDatabase(ctx.target);
  const service = startBenchService(db, { logger: ctx.logger, steps: 'real' });
  const idleRssBytes = process.memoryUsage().rss;
  try {
    ctx.progress(`pipeline: ${sizes.snapshotSmallRows} rows`);
    const smallRun = await pipelineRun(db, service, sizes.snapshotSmallRows);
    ctx.progress(`pipeline: ${sizes.concurrentWorkflows} workflows of ${sizes.concurrentRows} rows at once`);
    const concurrentContent = utf8(generateLargeExport(sizes.concurrentRows, 11));
    await collectGarbage();
    const concurrentStarted = performance.now();
    await runWorkflows(service, sizes.concurrentWorkflows, {
      concurrency: sizes.concurrentWorkflows,
      files: [{ name: 'mid.csv', format: 'csv', content: concurrentContent }],
    });
    const concurrent = {
      workflows: sizes.concurrentWorkflows,
      rows: sizes.concurrentRows,
      seconds: round3(seconds(concurrentStarted)),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    await collectGarbage();
    ctx.progress(`pipeline: generating ${sizes.pipelineRows} rows`);
    const content = utf8(generateLargeExport(sizes.pipelineRows));
    ctx.progress(`pipeline: ${sizes.pipelineRows} rows through six steps, /healthz sampled meanwhile`);
    const url = await service.listen();
    const probe = sampleHealthz(url);
    const small = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const started = performance.now();
      await runWorkflows(service, 1, { concurrency: 1, files: [{ name: 'small.csv', format: 'csv', content: utf8(generateLargeExport(100, 7)) }] });
      return seconds(started);
    })();
    const largeRun = await pipelineRun(db, service, sizes.pipelineRows, content).finally(() => probe.stop());
    const healthz = await probe.done;
    const smallWorkflowSeconds = await small;
    const rows = sizes.pipelineRows;
    // Read before the parse-only rounds below, which run here and would otherwise set the peak.
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    await collectGarbage();
    ctx.progress('pipeline: parse only');
    const parseTimes: number[] = [];
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      const tables = await parseInputs([{ name: 'large.csv', content, format: 'csv' }], { maxBytes: Number.MAX_SAFE_INTEGER });
      parseTimes.push(seconds(started));
      if (tables[0]?.rows.length !== sizes.pipelineRows) throw new Error(`parse-only read ${tables[0]?.rows.length} rows, expected ${sizes.pipelineRows}.`);
    }
    const parseOnlySeconds = parseTimes.sort((a, b) => a - b)[1]!;
    const phases = Object.fromEntries(
      STEP_PHASES.map((phase) => {
        const s = largeRun.phaseSeconds[phase] ?? Number.NaN;
        return [phase, { seconds: round3(s), rowsPerSec: Math.round(rows / s) }];
      }),
    ) as Record<Phase, PipelinePhaseTime>;
    return {
      pipeline: {
        rows,
        bytes: content.byteLength,
        seconds: round3(largeRun.seconds),
        rowsPerSec: Math.round(rows / largeRun.seconds),
        parseOnlySeconds: round3(parseOnlySeconds),
        parseOnlyRowsPerSec: Math.round(rows / parseOnlySeconds),
        ratio: round3(largeRun.seconds / parseOnlySeconds),
        peakRssBytes,
        peakRssMbPer100kRows: Math.round((peakRssBytes - idleRssBytes) / 1048576 / (rows / 100_000)),
        underLoad: { healthz, smallWorkflowSeconds: round3(smallWorkflowSeconds) },
        phases,
        concurrent,
      },
      snapshot: {
        bytes100: smallRun.snapshotBytes,
        bytes100k: largeRun.snapshotBytes,
        smallRows: sizes.snapshotSmallRows,
        largeRows: rows,
        storedBytes100k: largeRun.storedBytes,
      },
    };
  } finally {
    await service.stop();
    await db.close();
  }
}

/** GETs /healthz every 100 ms (one at a time) until stopped; the event loop's stalls show up as its latency. */
function sampleHealthz(url: string): { stop: () => void; done: Promise<Percentiles & { failures: number }> } {
  let running = true;
  let failures = 0;
  const done = (async () => {
    const samples: number[] = [];
    while (running) {
      const started = performance.now();
      // A stall longer than the server's keep-alive timeout can reset the reused connection: that is
      // a failed probe (counted at the time it took), not the end of the measurement.
      const ok = await fetch(`${url}/healthz`)
        .then((res) => res.arrayBuffer().then(() => res.status < 500))
        .catch(() => false);
      samples.push(performance.now() - started);
      if (!ok) failures += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { ...percentiles(samples), failures };
  })();
  return { stop: () => (running = false), done };
}

async function pipelineRun(db: PhaseDatabase, service: ReturnType<typeof startBenchService>, rows: number, content = utf8(generateLargeExport(rows))) {
  const started = performance.now();
  const [id] = (await runWorkflows(service, 1, { concurrency: 1, files: [{ name: 'export.csv', format: 'csv', content }] })) as [string];
  const elapsed = seconds(started);
  const runs = await db.store.listStepRuns(id, { limit: 100 });
  const phaseSeconds: Partial<Record<Phase, number>> = {};
  for (const run of runs.items) {
    if (run.outcome !== 'succeeded') throw new Error(`Step ${run.phase} of the pipeline run ended ${run.outcome}: ${JSON.stringify(run.error)}`);
    phaseSeconds[run.phase as Phase] = (phaseSeconds[run.phase as Phase] ?? 0) + (run.durationMs ?? 0) / 1000;
  }
  const result = await db.handle.db.execute(
    sql`select octet_length(snapshot::text)::int as bytes, pg_column_size(snapshot)::int as stored from workflows where id = ${id}`,
  );
  const row = (result as unknown as { rows: { bytes: number; stored: number }[] }).rows[0]!;
  return { seconds: elapsed, phaseSeconds, snapshotBytes: Number(row.bytes), storedBytes: Number(row.stored) };
}

async function snapshotJson(db: PhaseDatabase, id: string): Promise<string> {
  const row: WorkflowRow | null = await db.store.getWorkflow(id);
  return JSON.stringify(row?.snapshot ?? {});
}

async function withFloor<T>(target: BenchTarget, concurrency: number, body: (client: Awaited<ReturnType<typeof openFloorClient>>) => Promise<T>): Promise<T> {
  const client = await openFloorClient(target, concurrency);
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

/** Runs one job in this process. */
export function runJob(job: Job, ctx: PhaseContext): Promise<PhaseResult> {
  switch (job.phase) {
    case 'latency':
      return latencyPhase(ctx);
    case 'throughput':
      return throughputPhase(ctx);
    case 'scale':
      return scalePhase(ctx, job.size);
    case 'linear':
      return linearPhase(ctx);
    case 'pipeline':
      return pipelinePhase(ctx);
  }
}
