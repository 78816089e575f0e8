import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { threadId, type MessagePort } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { StoredFile } from '../db/artifacts.ts';
import { isAppError } from '../errors.ts';
import type { Table } from '../handlers/types.ts';
import type { StepOutput } from '../machine/machine.ts';
import type { ArtifactName } from './artifacts.ts';
import { workerChannel } from './step-channel.ts';
import { COMPUTE_STEPS, collectStaged, type ComputePhase, type FileSummary, type StepIo, type StepRequest } from './step-logic.ts';
import { readFiles } from './uploads.ts';

/** One step for a worker thread: bytes in (the upload, the artefacts it needs as stored JSON), bytes out. */
export interface StepTask {
  phase: ComputePhase;
  request: StepRequest;
  /** The uploaded files' names and sizes; their content is asked for only if this thread has not parsed them. */
  files: FileSummary[];
  artifacts: Partial<Record<ArtifactName, Uint8Array>>;
  /** The uploads its files were streamed into (uploadKey): the tables checkUpload parsed may be kept under it. */
  upload?: string | null;
  /** The line to the main thread for the step's bulk rows (staged assets in, staging rows out). */
  port: MessagePort;
}

/** An upload to check before anything is stored: parsed here, so a big one never stalls the API's thread. */
export interface CheckTask {
  phase: 'check_upload';
  files: StoredFile[];
  /** The uploads the files were streamed into (uploadKey): the parsed tables are kept under it for the first step. */
  upload: string | null;
}

/** An artefact to store as-is: already JSON-encoded by the worker. */
export interface ArtifactSave {
  key: string;
  bytes: Uint8Array;
}

/** An error as it crosses the thread boundary; structured clone would keep only its message. */
export interface SerialisedError {
  name: string;
  message: string;
  app?: { code: string; status: number; hint: string | undefined; details: Record<string, unknown>; retryable: boolean };
}

/** What piscina posts back: the result, with the encoded artefacts' buffers moved rather than copied. */
export interface MovedResult {
  readonly [transferableSymbol]: ArrayBuffer[];
  readonly [valueSymbol]: StepTaskResult;
}

export type CheckTaskResult = { ok: true; threadId: number } | { ok: false; error: SerialisedError; threadId: number };

export type StepTaskResult =
  | { ok: true; summary: StepOutput; saves: ArtifactSave[]; threadId: number }
  | { ok: false; error: SerialisedError; threadId: number };

// Consecutive steps of a workflow often land on the same worker: keep its parsed upload for them.
// A workflow's files never change, so an entry is never stale.
const MAX_PARSED_WORKFLOWS = 2;
const parsed = new Map<string, Promise<Table[]>>();

/** dependency_analysis is the last step to read the records: it takes them out of the cache. */
const LAST_READER: ComputePhase = 'dependency_analysis';

function keep(key: string, tables: Promise<Table[]>): void {
  parsed.set(key, tables);
  while (parsed.size > MAX_PARSED_WORKFLOWS) parsed.delete(parsed.keys().next().value!);
}

/** The workflow's tables: parsed by an earlier step here, or by the check of its upload here, or now. */
function parsedTables(workflowId: string, upload: string | null, files: () => Promise<StoredFile[]>, last: boolean): Promise<Table[]> {
  let tables = parsed.get(workflowId) ?? (upload === null ? undefined : parsed.get(upload));
  if (tables) {
    parsed.delete(workflowId);
    if (upload !== null) parsed.delete(upload);
  } else {
    tables = files().then(readFiles);
    tables.catch(() => parsed.delete(workflowId));
  }
  if (!last) keep(workflowId, tables);
  return tables;
}

export function serialiseError(error: unknown): SerialisedError {
  if (isAppError(error)) {
    const { name, message, code, status, hint, details, retryable } = error;
    return { name, message, app: { code, status, hint, details, retryable } };
  }
  return error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
}

function parseBytes(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

/**
 * Parses the upload to check it. The tables of a streamed upload are kept for its first step (if it
 * lands on this thread, it reads and parses nothing); otherwise they are dropped.
 */
async function checkUpload(task: CheckTask): Promise<CheckTaskResult> {
  try {
    const tables = await readFiles(task.files);
    if (task.upload !== null) keep(task.upload, Promise.resolve(tables));
    return { ok: true, threadId };
  } catch (error) {
    return { ok: false, error: serialiseError(error), threadId };
  } finally {
    collectAfterTask();
  }
}

// A step leaves hundreds of megabytes of garbage behind (the parsed records, the encoded rows);
// V8 collects it only when this thread next allocates enough, which is the next step's start, so
// the two peaks add up. A full collection between steps, here in the worker, keeps them apart.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const COLLECT_ABOVE_BYTES = 128 * 1048576;

/** What the heap held after the last full collection here. */
let liveAfterCollection = 0;

function collect(): void {
  gc();
  liveAfterCollection = getHeapStatistics().used_heap_size;
}

function collectAfterTask(): void {
  if (getHeapStatistics().used_heap_size > COLLECT_ABOVE_BYTES) collect();
}

/**
 * Garbage a step may pile up while it streams rows before it is collected: 96 MB, or half of what
 * the last collection left when that is more (so a far bigger heap is not collected over and over).
 * V8 lets an old generation grow to about twice what it held at its last collection; classifying
 * 300,000 rows, that was 200 MB of garbage on top of the records, and the peak of the process.
 */
const GARBAGE_ALLOWANCE_BYTES = 96 * 1048576;

function collectIfGrown(): void {
  const allowance = Math.max(GARBAGE_ALLOWANCE_BYTES, liveAfterCollection / 2);
  if (getHeapStatistics().used_heap_size > liveAfterCollection + allowance) collect();
}

/** The rows a step stages, collecting between chunks when the garbage has grown past the allowance. */
function* collectingAsItGrows(chunks: Iterable<string>): Generator<string> {
  for (const chunk of chunks) {
    collectIfGrown();
    yield chunk;
  }
}

/** The piscina handler: runs one step body on the task's bytes; failures come back as data, never thrown. */
export async function runStepTask(task: StepTask | CheckTask): Promise<unknown> {
  if (task.phase === 'check_upload') return checkUpload(task);
  const saves: ArtifactSave[] = [];
  const encoder = new TextEncoder();
  const channel = workerChannel(task.port);
  const io: StepIo = {
    load: async (name) => {
      if (name === 'tables') return parsedTables(task.request.workflowId, task.upload ?? null, () => channel.files(), task.phase === LAST_READER) as never;
      if (name === 'graphAssets') return collectStaged(channel.read('assets', 'links')) as never;
      const bytes = task.artifacts[name as ArtifactName];
      // The main thread sends every artefact the step needs, or fails the step before sending it.
      if (!bytes) throw new Error(`The task for ${task.phase} carries no ${name} artefact.`);
      return parseBytes(bytes) as never;
    },
    files: async () => task.files,
    save: async (key, value) => {
      saves.push({ key, bytes: encoder.encode(JSON.stringify(value)) });
    },
    // Before the rows stream out: what the step built them from (dependency_analysis: the graph and
    // the assets' views, 200 MB at 300k) is garbage by then, and collected before the encoding adds its own.
    stage: (encoded) => {
      collectAfterTask();
      return channel.stage(encoded.kind, collectingAsItGrows(encoded.chunks));
    },
  };
  try {
    const summary = await COMPUTE_STEPS[task.phase].run(task.request, io);
    const result: StepTaskResult = { ok: true, summary, saves, threadId };
    // Moved, not copied: the encoded artefacts can be tens of megabytes.
    const moved: MovedResult = { [transferableSymbol]: saves.map((s) => s.bytes.buffer as ArrayBuffer), [valueSymbol]: result };
    return move(moved) as MovedResult;
  } catch (error) {
    return { ok: false, error: serialiseError(error), threadId };
  } finally {
    channel.close();
    collectAfterTask();
  }
}
