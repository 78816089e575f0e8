import type { EventLoad, Percentiles } from './load.ts';
import type { Mode } from './options.ts';
import type { LatencyResult, LinearResult, PhaseResult, PipelineResult, ScaleSize, ThroughputResult } from './phases.ts';

export interface Target {
  name: string;
  value: number;
  /** Human form of the bar, e.g. "< 100 ms". */
  bar: string;
  met: boolean;
}

export interface BenchMeta {
  mode: Mode;
  database: 'postgres' | 'pglite';
  databaseName: string;
  server: string | null;
  startedAt: string;
  seconds: number;
  node: string;
  cpus: number;
  isolated: boolean;
  logLevel: 'silent' | 'info';
}

type Merged = Partial<Omit<LatencyResult, 'floor'>> &
  Partial<Omit<ThroughputResult, 'floor'>> &
  Partial<LinearResult> &
  Partial<PipelineResult> & {
    floor?: { latency?: LatencyResult['floor']['latency']; throughput?: ThroughputResult['floor']['throughput'] };
    scale?: { sizes: ScaleSize[] };
  };

export type BenchResults = Omit<Merged, 'scale'> & {
  meta: BenchMeta;
  scale?: {
    sizes: ScaleSize[];
    /** At the largest size measured. */
    bytesPerLiveWorkflow: number;
    /** Restore time of 10,000 live workflows (of the largest size when 10,000 was not run). */
    restoreSeconds10k: number;
  };
  targets: Target[];
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Merges phase results: objects key by key, arrays (scale sizes) end to end. */
function merge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(from)) {
    const existing = into[key];
    if (Array.isArray(existing) && Array.isArray(value)) into[key] = [...(existing as unknown[]), ...(value as unknown[])];
    else if (isObject(existing) && isObject(value)) into[key] = merge({ ...existing }, value);
    else into[key] = value;
  }
  return into;
}

export function assemble(parts: PhaseResult[], meta: BenchMeta): BenchResults {
  const merged = parts.reduce<Record<string, unknown>>((acc, part) => merge(acc, part as unknown as Record<string, unknown>), {}) as Merged;
  const { scale, ...rest } = merged;
  const results: BenchResults = { meta, ...rest, targets: [] };
  if (scale && scale.sizes.length > 0) {
    const sizes = [...scale.sizes].sort((a, b) => a.n - b.n);
    const largest = sizes.at(-1)!;
    const tenK = sizes.find((s) => s.n === 10_000) ?? largest;
    results.scale = { sizes, bytesPerLiveWorkflow: largest.bytesPerLiveWorkflow, restoreSeconds10k: tenK.restoreSeconds };
  }
  results.targets = targets(results);
  return results;
}

function targets(r: BenchResults): Target[] {
  const list: Target[] = [];
  const add = (name: string, value: number | undefined, bar: string, met: (v: number) => boolean) => {
    if (value !== undefined && Number.isFinite(value)) list.push({ name, value, bar, met: met(value) });
  };
  add('state update p99 at c32 (ms)', r.latency?.c32.latency.p99, '< 100 ms', (v) => v < 100);
  if (r.latency && r.floor?.latency) {
    add('state update p99 at c32 / floor p99', r.latency.c32.latency.p99 / r.floor.latency.c32.p99, '<= 3x', (v) => v <= 3);
  }
  add('state update p50 at c1 (ms)', r.latency?.c1.latency.p50, '< 2 ms', (v) => v < 2);
  if (r.throughput && r.floor?.throughput) {
    add('durable throughput c32 / floor', r.throughput.c32.workflowsPerSec / r.floor.throughput.c32.workflowsPerSec, '>= 0.5', (v) => v >= 0.5);
  }
  add('memory per live workflow (bytes)', r.scale?.bytesPerLiveWorkflow, '< 20 KB', (v) => v < 20 * 1024);
  add('restore 10,000 (s)', r.scale?.restoreSeconds10k, '< 10 s', (v) => v < 10);
  add('linear: 10x workflows / 10x time', r.linear?.ratio, '<= 1.2', (v) => v <= 1.2);
  add('pipeline time / parse-only time', r.pipeline?.ratio, '<= 5x', (v) => v <= 5);
  add('/healthz p99 during the pipeline (ms)', r.pipeline?.underLoad.healthz.p99, '<= 200 ms', (v) => v <= 200);
  add('small workflow during the pipeline (s)', r.pipeline?.underLoad.smallWorkflowSeconds, '< 5 s', (v) => v < 5);
  add('peak RSS, 20 concurrent 3,000-row workflows (MB)', r.pipeline?.concurrent ? r.pipeline.concurrent.peakRssBytes / 1048576 : undefined, '<= 512 MB', (v) => v <= 512);
  add('peak RSS during the big export (MB)', r.pipeline ? r.pipeline.peakRssBytes / 1048576 : undefined, '<= 1,024 MB', (v) => v <= 1024);
  add('snapshot at 100k rows (bytes)', r.snapshot?.bytes100k, '< 16 KB', (v) => v < 16 * 1024);
  return list;
}

/** The fields the issue asks results.json to hold, as dotted paths. */
export const REQUIRED_FIELDS = [
  'latency.c1.p50',
  'latency.c1.p95',
  'latency.c1.p99',
  'latency.c32.p50',
  'latency.c32.p95',
  'latency.c32.p99',
  'floor.latency.c1.p50',
  'floor.latency.c1.p99',
  'floor.latency.c32.p50',
  'floor.latency.c32.p99',
  'throughput.c32.workflowsPerSec',
  'throughput.c1.workflowsPerSec',
  'floor.throughput.c32.workflowsPerSec',
  'throughput.commitsPerWorkflow',
  'scale.bytesPerLiveWorkflow',
  'scale.restoreSeconds10k',
  'linear.ratio',
  'pipeline.rowsPerSec',
  'pipeline.parseOnlyRowsPerSec',
  'pipeline.peakRssMbPer100kRows',
  'pipeline.underLoad.healthz.p50',
  'pipeline.underLoad.healthz.p99',
  'pipeline.underLoad.smallWorkflowSeconds',
  'snapshot.bytes100',
  'snapshot.bytes100k',
] as const;

/**
 * results.json: the flat fields the issue names (latency.c1.p50 is milliseconds, not an object),
 * with the detail next to them.
 */
export function toJson(r: BenchResults): Record<string, unknown> {
  const latency = (load: EventLoad | undefined) => (load ? { ...load.latency, errors: load.errors, requestsPerSec: load.requestsPerSec } : undefined);
  return {
    ...r,
    latency: r.latency ? { c1: latency(r.latency.c1), c32: latency(r.latency.c32), workflows: r.latency.workflows } : undefined,
  };
}

// ---- the printed table ----

const fmt = (value: number | undefined, digits = 2): string => {
  if (value === undefined || !Number.isFinite(value)) return '-';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
};

const ratio = (value: number | undefined, floor: number | undefined): string =>
  value !== undefined && floor !== undefined && floor !== 0 && Number.isFinite(value / floor) ? `${(value / floor).toFixed(2)}x` : '';

type Row = [string, string, string, string, string];

export function renderTable(r: BenchResults): string {
  const rows: Row[] = [];
  const target = (name: string): string => {
    const t = r.targets.find((x) => x.name === name);
    return t ? `${t.bar} ${t.met ? 'MET' : 'MISSED'}` : '';
  };
  const section = (title: string) => rows.push([title, '', '', '', '']);
  const latencyRows = (label: string, load: Percentiles, floor: Percentiles | undefined, targets: Partial<Record<'p50' | 'p99', string>>) => {
    for (const q of ['p50', 'p95', 'p99'] as const) {
      rows.push([`  ${label} ${q} (ms)`, fmt(load[q]), fmt(floor?.[q]), ratio(load[q], floor?.[q]), targets[q as 'p50' | 'p99'] ?? '']);
    }
  };
  if (r.latency) {
    section(`1. state update over HTTP (${r.latency.workflows} workflows; floor: 1-row jsonb upsert via pg)`);
    latencyRows('c1 ', r.latency.c1.latency, r.floor?.latency?.c1, { p50: target('state update p50 at c1 (ms)') });
    latencyRows('c32', r.latency.c32.latency, r.floor?.latency?.c32, {
      p99: [target('state update p99 at c32 (ms)'), target('state update p99 at c32 / floor p99').replace('<= 3x', 'vs floor <= 3x')].join('; '),
    });
    rows.push(['  requests/s c1 | c32', `${fmt(r.latency.c1.requestsPerSec, 0)} | ${fmt(r.latency.c32.requestsPerSec, 0)}`, '', '', '']);
    const errors = r.latency.c1.errors + r.latency.c32.errors;
    // Always shown: a 503 under plain load (a deadlock, a failed batch) is a defect, not noise.
    rows.push(['  non-200 responses c1 + c32', String(errors), '', '', `= 0 ${errors === 0 ? 'MET' : 'MISSED'}`]);
  }
  if (r.throughput) {
    const t = r.throughput;
    section(`2. durable throughput, 6 no-op steps (floor: 1-row commits/s / ${fmt(t.writesPerWorkflow, 1)} writes per workflow)`);
    const f = r.floor?.throughput;
    rows.push([`  workflows/s c32 (${t.c32.workflows})`, fmt(t.c32.workflowsPerSec, 1), fmt(f?.c32.workflowsPerSec, 1), ratio(t.c32.workflowsPerSec, f?.c32.workflowsPerSec), target('durable throughput c32 / floor')]);
    rows.push([`  workflows/s c1 (${t.c1.workflows})`, fmt(t.c1.workflowsPerSec, 1), fmt(f?.c1.workflowsPerSec, 1), ratio(t.c1.workflowsPerSec, f?.c1.workflowsPerSec), '']);
    if (t.twoInstancesC32) {
      rows.push([`  two instances c32, one process (${t.twoInstancesC32.workflows}; ratio to one)`, fmt(t.twoInstancesC32.workflowsPerSec, 1), fmt(t.c32.workflowsPerSec, 1), ratio(t.twoInstancesC32.workflowsPerSec, t.c32.workflowsPerSec), 'no scaling on 2 cores']);
    }
    rows.push(['  state changes/s c32 | c1', `${fmt(t.c32.stateChangesPerSec, 0)} | ${fmt(t.c1.stateChangesPerSec, 0)}`, '', '', '']);
    rows.push([`  commits per workflow (${t.commitSource})`, fmt(t.commitsPerWorkflow), '', '', '']);
    rows.push(['  write transactions | group commits per workflow', `${fmt(t.writeTransactionsPerWorkflow)} | ${fmt(t.batchesPerWorkflow)}`, '', '', '']);
  }
  if (r.scale) {
    section('3. scale: workflows live at the mapping review point');
    for (const s of r.scale.sizes) {
      rows.push([`  ${s.n.toLocaleString('en-US')} live: RSS bytes per workflow`, fmt(s.bytesPerLiveWorkflow, 0), '', '', s === r.scale.sizes.at(-1) ? target('memory per live workflow (bytes)') : '']);
      rows.push([`  ${s.n.toLocaleString('en-US')} live: heap bytes per workflow`, fmt(s.heapBytesPerLiveWorkflow, 0), '', '', '']);
      rows.push([`  ${s.n.toLocaleString('en-US')} live: restore all (s)`, fmt(s.restoreSeconds, 3), '', '', s.n === 10_000 ? target('restore 10,000 (s)') : '']);
      const floor = r.floor?.latency?.c32;
      rows.push([`  ${s.n.toLocaleString('en-US')} live: c32 p50 | p99 (ms)`, `${fmt(s.latencyC32.latency.p50)} | ${fmt(s.latencyC32.latency.p99)}`, floor ? `${fmt(floor.p50)} | ${fmt(floor.p99)}` : '', ratio(s.latencyC32.latency.p99, floor?.p99), '']);
    }
  }
  if (r.linear) {
    const l = r.linear;
    section('4. linear scaling, all six steps at c32');
    rows.push([`  ${l.small.n.toLocaleString('en-US')} workflows (s)`, fmt(l.small.seconds), '', '', '']);
    rows.push([`  ${l.large.n.toLocaleString('en-US')} workflows (s)`, fmt(l.large.seconds), fmt(l.small.seconds * (l.large.n / l.small.n)), ratio(l.large.seconds, l.small.seconds * (l.large.n / l.small.n)), target('linear: 10x workflows / 10x time')]);
  }
  if (r.pipeline) {
    const p = r.pipeline;
    section(`5. pipeline, ${p.rows.toLocaleString('en-US')}-row export through the six real steps (floor: parse only)`);
    rows.push(['  rows/s end to end', fmt(p.rowsPerSec, 0), fmt(p.parseOnlyRowsPerSec, 0), '', '']);
    rows.push(['  seconds end to end', fmt(p.seconds), fmt(p.parseOnlySeconds), `${fmt(p.ratio)}x`, target('pipeline time / parse-only time')]);
    for (const [phase, time] of Object.entries(p.phases)) rows.push([`    ${phase} rows/s (s)`, `${fmt(time.rowsPerSec, 0)} (${fmt(time.seconds)})`, '', '', '']);
    rows.push(['  peak RSS (MB) | above idle, per 100k rows', `${fmt(p.peakRssBytes / 1048576, 0)} | ${fmt(p.peakRssMbPer100kRows, 0)}`, '', '', target('peak RSS during the big export (MB)')]);
    const h = p.underLoad.healthz;
    rows.push(['  under load: /healthz p50 | p99 | max (ms)', `${fmt(h.p50)} | ${fmt(h.p99)} | ${fmt(h.max)}`, '', '', target('/healthz p99 during the pipeline (ms)')]);
    if (h.failures) rows.push(['  under load: /healthz probes that failed (connection reset)', fmt(h.failures), '', '', '']);
    rows.push(['  under load: 100-row workflow started meanwhile (s)', fmt(p.underLoad.smallWorkflowSeconds), '', '', target('small workflow during the pipeline (s)')]);
    if (p.concurrent) {
      const c = p.concurrent;
      rows.push([`  ${c.workflows} workflows of ${c.rows.toLocaleString('en-US')} rows at once: seconds | peak RSS (MB)`, `${fmt(c.seconds)} | ${fmt(Math.round(c.peakRssBytes / 1048576))}`, '', '', target('peak RSS, 20 concurrent 3,000-row workflows (MB)')]);
    }
  }
  if (r.snapshot) {
    section('6. persisted snapshot (JSON bytes)');
    rows.push([`  at ${r.snapshot.smallRows.toLocaleString('en-US')} rows`, fmt(r.snapshot.bytes100, 0), '', '', '']);
    rows.push([`  at ${r.snapshot.largeRows.toLocaleString('en-US')} rows`, fmt(r.snapshot.bytes100k, 0), '', '', target('snapshot at 100k rows (bytes)')]);
  }
  const header: Row = ['measure', 'value', 'floor', 'ratio', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((row) => row[1] !== '' || i === 0).map((row) => (i === 0 && row[1] === '' ? 0 : row[i].length))));
  const line = (row: Row) => (row[1] === '' && row[2] === '' && row[4] === '' ? row[0] : row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : i < 4 ? cell.padStart(widths[i]!) : cell)).join('  ').trimEnd());
  const m = r.meta;
  const title = `Discovery Flow bench (${m.mode}) on ${m.database}${m.server ? ` ${m.server}` : ''}, node ${m.node}, ${m.cpus} CPUs, log ${m.logLevel}, ${fmt(m.seconds, 0)} s`;
  const met = r.targets.filter((t) => t.met).length;
  return [title, line(header), ...rows.map(line), `targets met: ${met}/${r.targets.length}`].join('\n');
}
