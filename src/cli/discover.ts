import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { openDatabase, type DatabaseHandle } from '../db/client.ts';
import { createStore } from '../db/store.ts';
import { ARTIFACT, type ClassificationRecord, type DependencyRecord } from '../engine/artifacts.ts';
import { WorkflowQueries } from '../engine/queries.ts';
import { WorkflowEngine } from '../engine/engine.ts';
import { createStepActors } from '../engine/steps.ts';
import type { WorkflowView } from '../engine/view.ts';
import type { MappingOutput, ValidationOutput } from '../handlers/types.ts';
import { STEP_PHASES } from '../machine/table.ts';
import { viewSchema } from '../server/responses.ts';

const USAGE = `Usage: npm run discover -- [options] <file>...

Runs one discovery workflow over the given CMDB export files, in-process, and prints a summary.

Options:
  --json             print the final snapshot view as JSON instead of the summary
  --review           stop at the mapping review point (reviewMappings: true) instead of approving
                     low-confidence mappings automatically
  --data-dir <dir>   keep the embedded database in <dir> (default: in memory)
  --quiet            no progress lines
  -h, --help         this text

DATABASE_URL, when set, runs against that PostgreSQL database instead.

Exit status: 0 completed (or stopped at the review asked for with --review), 1 failed, 2 bad usage,
3 stopped at the mapping review for a reason a person must settle (no identity column, records
quarantined).`;

export interface DiscoveryRun {
  view: WorkflowView;
  mappings: MappingOutput | null;
  classification: ClassificationRecord | null;
  dependencies: DependencyRecord | null;
  validation: ValidationOutput | null;
}

export interface DiscoverOptions {
  files: { name: string; content: Uint8Array }[];
  /** Approve a review that only asks about low-confidence mappings; others stay for a person. */
  autoApprove: boolean;
  /** The workflow's reviewMappings option; left out it stops only when the mapping needs a person. */
  reviewMappings?: boolean;
  database: { url: string } | { dataDir: string | null };
  onProgress?: (line: string) => void;
}

function bar(done: number, total: number, width = 18): string {
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** Runs one workflow to a settled state and gathers its results. */
export async function discover(options: DiscoverOptions, handle?: DatabaseHandle): Promise<DiscoveryRun> {
  const db = handle ?? (await openDatabase(options.database));
  const store = createStore(db.db);
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  let settle: (view: WorkflowView) => void = () => {};
  const settled = new Promise<WorkflowView>((resolve) => (settle = resolve));
  let workflowId = '';
  let phaseStarted = Date.now();
  let lastPhase = '';
  const onCommitted = (view: WorkflowView) => {
    if (view.id !== workflowId && workflowId !== '') return;
    if (view.phase !== lastPhase) {
      const now = Date.now();
      if (lastPhase && (STEP_PHASES as readonly string[]).includes(lastPhase)) {
        const done = STEP_PHASES.indexOf(lastPhase as (typeof STEP_PHASES)[number]) + 1;
        options.onProgress?.(`${bar(done, STEP_PHASES.length)} ${lastPhase.padEnd(22)} ${((now - phaseStarted) / 1000).toFixed(2)} s`);
      }
      lastPhase = view.phase;
      phaseStarted = now;
    }
    if (view.status === 'backoff') options.onProgress?.(`    retrying ${view.phase} at ${view.wakeAt}: ${view.errors.at(-1)?.message ?? ''}`);
    if (view.status === 'completed' || view.status === 'failed' || view.status === 'awaiting_review') settle(view);
  };
  const steps = createStepActors({ store, logger });
  const engine = new WorkflowEngine({ store, steps, logger, onCommitted });
  try {
    const created = await engine.create({
      name: options.files.map((f) => f.name).join(', '),
      files: options.files.map((f) => ({ name: f.name, format: null, content: f.content })),
      autoStart: false,
      ...(options.reviewMappings === undefined ? {} : { options: { reviewMappings: options.reviewMappings } }),
    });
    workflowId = created.id;
    await engine.send(created.id, { type: 'START' });
    let view = await settled;
    if (view.status === 'awaiting_review' && options.autoApprove && (view.review?.reasons ?? []).every(isLowConfidence)) {
      options.onProgress?.(`    mappings approved automatically: ${view.review?.reasons.join('; ') ?? ''}`);
      const next = new Promise<WorkflowView>((resolve) => (settle = resolve));
      await engine.send(created.id, { type: 'APPROVE_MAPPINGS' });
      view = await next;
    }
    await engine.idle();
    const final = await new WorkflowQueries({ store, maxUploadBytes: Number.POSITIVE_INFINITY }).get(created.id);
    return {
      view: final,
      mappings: await store.getArtifact<MappingOutput>(created.id, ARTIFACT.mappings),
      classification: await store.getArtifact<ClassificationRecord>(created.id, ARTIFACT.assets),
      dependencies: await store.getArtifact<DependencyRecord>(created.id, ARTIFACT.dependencies),
      validation: await store.getArtifact<ValidationOutput>(created.id, ARTIFACT.validation),
    };
  } finally {
    await engine.stop();
    if (!handle) await db.close();
  }
}

/** A review reason that only says a mapping is unsure: the CLI may approve it as mapped. */
export function isLowConfidence(reason: string): boolean {
  return reason.startsWith('LOW_CONFIDENCE: ');
}

/** 0 completed, 1 failed, 3 waiting for a person at the mapping review (0 when --review asked for it). */
export function exitCode(view: WorkflowView, reviewAsked: boolean): number {
  if (view.status === 'completed') return 0;
  if (view.status === 'awaiting_review') return reviewAsked ? 0 : 3;
  return 1;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

function counts(record: Record<string, number>): string {
  return Object.entries(record)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

/** The human summary: mapping table, assets by type, dependencies, quarantine. */
export function summarize(run: DiscoveryRun): string {
  const out: string[] = [];
  const { view } = run;
  out.push(`workflow ${view.id}: ${view.status}`);
  for (const error of view.status === 'failed' ? view.errors.slice(-1) : []) {
    out.push(`  error ${error.code} in ${error.phase}: ${error.message}`, `  hint: ${error.hint}`);
  }
  if (view.status === 'awaiting_review') {
    out.push('  waiting at the mapping review:', ...(view.review?.reasons ?? []).map((reason) => `    ${reason}`));
    out.push(`  approve with: curl -X POST .../workflows/${view.id}/events -d '{"type":"APPROVE_MAPPINGS","overrides":{"<column>":"<field>"}}'`);
  }
  if (run.mappings) {
    out.push('', 'Field mappings');
    const rows = run.mappings.mappings.map((m) => [m.file, m.source, m.target, m.confidence.toFixed(2), m.decidedBy, m.evidence[0] ?? '']);
    out.push(table([['file', 'column', 'target', 'conf', 'decided by', 'evidence'], ...rows]));
  }
  if (run.classification) {
    const s = run.classification.summary;
    out.push('', `Assets: ${s.assets}`, `  by type: ${counts(s.byType)}`, `  by environment: ${counts(s.byEnvironment)}`);
    out.push(`  by OS family: ${counts(s.byOsFamily)}`, `  unknown: ${(s.unknownShare * 100).toFixed(1)}%`);
  }
  if (run.dependencies) {
    const s = run.dependencies.summary;
    out.push('', `Dependencies: ${s.edges} edges, ${s.nodes} nodes, ${s.unresolvedEndpoints} unresolved endpoints, ${s.cycles} cycles`);
    out.push(`  by type: ${counts(s.edgesByType)}`, `  application groups: ${s.applicationGroups.length}`);
  }
  if (run.validation) {
    const q = run.validation.quarantine;
    out.push('', `Quarantined records: ${q.length}`);
    for (const record of q.slice(0, 10)) {
      out.push(`  ${record.table} row ${record.row + 1}: ${record.findings.map((f) => f.message).join('; ')}`);
    }
    if (q.length > 10) out.push(`  ... ${q.length - 10} more (GET /workflows/:id/quarantine)`);
  }
  return out.join('\n');
}

/** The view as `--json` prints it: checked against the API's WorkflowView schema, so scripts read one shape from both. */
export function jsonView(view: WorkflowView): WorkflowView {
  viewSchema.strict().parse(view);
  return view;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      review: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const files = positionals.map((path) => {
    try {
      return { name: basename(path), content: new Uint8Array(readFileSync(path)) };
    } catch (error) {
      console.error(`Cannot read ${path}: ${(error as Error).message}`);
      process.exit(2);
    }
  });
  const url = process.env.DATABASE_URL;
  const run = await discover({
    files,
    autoApprove: !values.review,
    ...(values.review ? { reviewMappings: true } : {}),
    database: url ? { url } : { dataDir: values['data-dir'] ?? null },
    onProgress: values.quiet || values.json ? undefined : (line) => console.error(line),
  });
  console.log(values.json ? JSON.stringify(jsonView(run.view), null, 2) : summarize(run));
  process.exit(exitCode(run.view, values.review));
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
