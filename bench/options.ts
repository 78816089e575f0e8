import { fileURLToPath } from 'node:url';

export type Mode = 'tiny' | 'quick' | 'full';

export const PHASES = ['latency', 'throughput', 'scale', 'linear', 'pipeline'] as const;
export type PhaseName = (typeof PHASES)[number];

/** How much work each measurement does in a mode. */
export interface Sizes {
  /** Workflows parked at review that the latency clients send events to. */
  latencyWorkflows: number;
  latencyRequestsC1: number;
  latencyRequestsC32: number;
  /** Requests discarded before timing starts, per concurrency. */
  warmupRequests: number;
  throughputWorkflows: number;
  throughputWorkflowsC1: number;
  /** Seconds each raw-commit floor runs for. */
  floorSeconds: number;
  scaleSizes: readonly [number, number];
  /** Latency requests sent while the scale workflows are live. */
  scaleLatencyRequests: number;
  linearSizes: readonly [number, number];
  pipelineRows: number;
  snapshotSmallRows: number;
  /** Workflows run at once, and rows each, for the concurrent peak-RSS figure (before the big export). */
  concurrentWorkflows: number;
  concurrentRows: number;
}

export const SIZES: Readonly<Record<Mode, Sizes>> = {
  tiny: {
    latencyWorkflows: 64,
    latencyRequestsC1: 40,
    latencyRequestsC32: 128,
    warmupRequests: 8,
    throughputWorkflows: 20,
    throughputWorkflowsC1: 10,
    floorSeconds: 0.3,
    scaleSizes: [40, 120],
    scaleLatencyRequests: 64,
    linearSizes: [10, 100],
    pipelineRows: 500,
    snapshotSmallRows: 100,
    concurrentWorkflows: 3,
    concurrentRows: 200,
  },
  quick: {
    latencyWorkflows: 256,
    latencyRequestsC1: 1_000,
    latencyRequestsC32: 3_000,
    warmupRequests: 200,
    throughputWorkflows: 300,
    throughputWorkflowsC1: 150,
    floorSeconds: 2,
    scaleSizes: [1_000, 10_000],
    scaleLatencyRequests: 2_000,
    linearSizes: [300, 3_000],
    // 100k rows take minutes in database_integration today (see the README of the bench).
    pipelineRows: 20_000,
    snapshotSmallRows: 100,
    concurrentWorkflows: 20,
    concurrentRows: 3_000,
  },
  full: {
    latencyWorkflows: 1_024,
    latencyRequestsC1: 3_000,
    latencyRequestsC32: 20_000,
    warmupRequests: 500,
    throughputWorkflows: 2_000,
    throughputWorkflowsC1: 2_000,
    floorSeconds: 5,
    scaleSizes: [1_000, 10_000],
    scaleLatencyRequests: 5_000,
    linearSizes: [1_000, 10_000],
    pipelineRows: 100_000,
    snapshotSmallRows: 100,
    concurrentWorkflows: 20,
    concurrentRows: 3_000,
  },
};

export interface BenchOptions {
  mode: Mode;
  sizes: Sizes;
  /** Where results.json goes. */
  out: string;
  /** PostgreSQL server to create the scratch database on; null runs on in-memory PGlite. */
  databaseUrl: string | null;
  phases: PhaseName[];
  /** Run each phase in its own Node process (clean memory figures); PGlite always runs in process. */
  isolate: boolean;
  /** The service's log level during the run; lines go to /dev/null, so this measures their cost only. */
  logLevel: 'silent' | 'info';
}

export const DEFAULT_OUT = fileURLToPath(new URL('./results.json', import.meta.url));
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export class UsageError extends Error {}

export const USAGE = `Usage: npm run bench -- [--quick | --tiny] [--out FILE] [--only latency,throughput,scale,linear,pipeline]
                          [--pglite] [--in-process] [--log silent|info] [--rows N]

  --quick       smaller sizes, under 2 minutes
  --tiny        seconds; checks that the suite runs (used by the test suite)
  --out FILE    where to write the results (default bench/results.json)
  --only LIST   run only these measurements
  --pglite      run on in-memory PGlite instead of PostgreSQL (DATABASE_URL is then ignored)
  --in-process  run every measurement in this process (memory figures then carry earlier phases)
  --rows N      rows of the pipeline's export (default 100,000; 20,000 with --quick)
  --log LEVEL   service log level; lines go to /dev/null (default info, as the service runs)

PostgreSQL: DATABASE_URL (default ${DEFAULT_DATABASE_URL}) names the server; the suite creates and
drops its own database discovery_bench_<pid> on it and touches no other. With --tiny and no
DATABASE_URL the suite runs on PGlite.`;

/** Parses argv and the environment; throws UsageError with a message naming the bad argument. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  let mode: Mode = 'full';
  let out = DEFAULT_OUT;
  let phases: PhaseName[] = [...PHASES];
  let pglite = false;
  let isolate = true;
  let logLevel: BenchOptions['logLevel'] = 'info';
  let pipelineRows: number | null = null;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const value = (): string => {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${arg} needs a value.`);
      index += 1;
      return next;
    };
    if (arg === '--quick') mode = 'quick';
    else if (arg === '--tiny') mode = 'tiny';
    else if (arg === '--out') out = value();
    else if (arg === '--pglite') pglite = true;
    else if (arg === '--in-process') isolate = false;
    else if (arg === '--rows') {
      const text = value();
      const rows = Number(text.replace(/_/g, ''));
      if (!Number.isInteger(rows) || rows < 100) throw new UsageError(`--rows takes a whole number of at least 100, not "${text}".`);
      pipelineRows = rows;
    }
    else if (arg === '--log') {
      const level = value();
      if (level !== 'silent' && level !== 'info') throw new UsageError(`--log takes silent or info, not "${level}".`);
      logLevel = level;
    } else if (arg === '--only') {
      const names = value().split(',').map((n) => n.trim()).filter(Boolean);
      const unknown = names.filter((n) => !(PHASES as readonly string[]).includes(n));
      if (unknown.length > 0) throw new UsageError(`--only: unknown measurement(s) ${unknown.join(', ')}; choose from ${PHASES.join(', ')}.`);
      phases = names as PhaseName[];
    } else if (arg === '--help' || arg === '-h') throw new UsageError('');
    else throw new UsageError(`Unknown argument "${arg}".`);
  }
  const fromEnv = env.DATABASE_URL ? env.DATABASE_URL : null;
  // Tiny runs are the test suite's smoke run: embedded unless a server is configured.
  const databaseUrl = pglite ? null : mode === 'tiny' ? fromEnv : (fromEnv ?? DEFAULT_DATABASE_URL);
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new UsageError(`DATABASE_URL must be a postgres:// or postgresql:// URL, not "${databaseUrl}".`);
  }
  const sizes = pipelineRows === null ? SIZES[mode] : { ...SIZES[mode], pipelineRows };
  return { mode, sizes, out, databaseUrl, phases, isolate: isolate && databaseUrl !== null, logLevel };
}
