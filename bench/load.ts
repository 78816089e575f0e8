import { Agent, request } from 'node:http';
import type { FloorClient } from './database.ts';

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Timed samples (warm-up excluded). */
  n: number;
}

/** Nearest-rank percentiles of milliseconds. */
export function percentiles(samples: number[]): Percentiles {
  if (samples.length === 0) return { p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN, n: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  return { p50: round3(at(0.5)), p95: round3(at(0.95)), p99: round3(at(0.99)), max: round3(sorted.at(-1)!), n: sorted.length };
}

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * `concurrency` closed-loop workers share `total` operations (the first `warmup` of them untimed);
 * worker k only ever gets k as its lane, so lanes can own disjoint keys. Returns milliseconds.
 */
export async function closedLoop(
  concurrency: number,
  total: number,
  warmup: number,
  operation: (lane: number, index: number) => Promise<void>,
): Promise<{ samples: number[]; seconds: number }> {
  const samples: number[] = [];
  let issued = 0;
  let timedFrom = 0;
  const worker = async (lane: number) => {
    while (issued < warmup + total) {
      const index = issued++;
      if (index === warmup) timedFrom = performance.now();
      const started = performance.now();
      await operation(lane, index);
      if (index >= warmup) samples.push(performance.now() - started);
    }
  };
  const begun = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, lane) => worker(lane)));
  const ended = performance.now();
  return { samples, seconds: (ended - (warmup > 0 ? timedFrom || begun : begun)) / 1000 };
}

type EventType = 'CANCEL' | 'RETRY';

export interface EventLoad {
  latency: Percentiles;
  requestsPerSec: number;
  /** Responses other than 200: each is a bug or an overload, and is reported. */
  errors: number;
}

/**
 * POST /workflows/:id/events over keep-alive HTTP. Each lane owns the workflows whose index modulo
 * the concurrency is its number, so two requests never race on one workflow; each workflow
 * alternates CANCEL (review -> failed) and RETRY (failed -> field_mapping, which runs the step
 * again and parks at review): every request is a real persisted change.
 */
export async function eventLoad(
  url: string,
  ids: string[],
  options: { concurrency: number; requests: number; warmup: number; nextEvent?: Map<string, EventType> },
): Promise<EventLoad> {
  const { concurrency } = options;
  if (ids.length < concurrency) throw new Error(`${concurrency} concurrent clients need at least ${concurrency} workflows, got ${ids.length}.`);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const lanes = Array.from({ length: concurrency }, (_, lane) => ids.filter((_, index) => index % concurrency === lane));
  const cursor = new Array<number>(concurrency).fill(0);
  // Shared between loads on the same workflows: each must go on from where the last one left it.
  const nextEvent = options.nextEvent ?? new Map<string, EventType>();
  let errors = 0;
  let firstError: string | null = null;
  const { host, port } = new URL(url);
  try {
    const run = await closedLoop(concurrency, options.requests, options.warmup, async (lane) => {
      const own = lanes[lane]!;
      const id = own[cursor[lane]! % own.length]!;
      cursor[lane]! += 1;
      const type = nextEvent.get(id) ?? 'CANCEL';
      const { status, body } = await post(agent, host, port, `/workflows/${id}/events`, JSON.stringify({ type }));
      if (status === 200) {
        nextEvent.set(id, type === 'CANCEL' ? 'RETRY' : 'CANCEL');
      } else {
        // Out of step (a 409 names the events the workflow accepts now): follow it from here on.
        if (status === 409) nextEvent.set(id, body.includes('"RETRY"') ? 'RETRY' : 'CANCEL');
        errors += 1;
        firstError ??= `${status} ${body.slice(0, 300)}`;
      }
    });
    if (firstError) console.error(`  event load: ${errors} non-200 responses, first: ${firstError}`);
    return { latency: percentiles(run.samples), requestsPerSec: round3(run.samples.length / run.seconds), errors };
  } finally {
    agent.destroy();
  }
}

function post(agent: Agent, host: string, port: string, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: host.replace(/:\d+$/, ''),
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The floor's latency: single-row jsonb upserts, one commit each, at the same concurrency; each lane its own rows. */
export async function floorLatency(client: FloorClient, doc: string, options: { concurrency: number; requests: number; warmup: number }): Promise<Percentiles> {
  const run = await closedLoop(options.concurrency, options.requests, options.warmup, (lane, index) =>
    client.upsert(`row-${lane}-${index % 64}`, doc),
  );
  return percentiles(run.samples);
}

/** The floor's rate: as many single-row commits as `concurrency` closed loops manage in `seconds`. */
export async function floorCommitsPerSec(client: FloorClient, doc: string, options: { concurrency: number; seconds: number }): Promise<number> {
  let commits = 0;
  const deadline = performance.now() + options.seconds * 1000;
  const started = performance.now();
  const worker = async (lane: number) => {
    let index = 0;
    while (performance.now() < deadline) {
      await client.upsert(`rate-${lane}-${index++ % 64}`, doc);
      commits += 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, lane) => worker(lane)));
  return round3(commits / ((performance.now() - started) / 1000));
}
